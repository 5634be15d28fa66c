#include "daemon/backoff.h"

#include <gtest/gtest.h>

#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

using std::chrono::seconds;
using testing::at;

TEST(BackoffTest, DoublesFromTenSecondsWithJitterAndACap) {
  TimePoint now = at("2027-01-01T00:00:00Z");
  auto wait = [&](int64_t attempt, double jitter) {
    return std::chrono::duration_cast<Millis>(next_retry(now, attempt, std::nullopt, jitter) - now)
        .count();
  };
  EXPECT_EQ(wait(1, 0.5), 10'000);
  EXPECT_EQ(wait(2, 0.5), 20'000);
  EXPECT_EQ(wait(3, 0.5), 40'000);
  EXPECT_EQ(wait(30, 0.5), 3'600'000);  // capped at an hour
  // ±20%: the first retry is always within 30 s (SPEC: "first retry within 30 s").
  EXPECT_EQ(wait(1, 0.0), 8'000);
  EXPECT_EQ(wait(1, 1.0), 12'000);
  EXPECT_LE(wait(1, 1.0), 30'000);
}

TEST(BackoffTest, HonoursRetryAfterWhenLonger) {
  TimePoint now = at("2027-01-01T00:00:00Z");
  EXPECT_EQ(next_retry(now, 1, seconds(120), 0.5), now + seconds(120));
  EXPECT_EQ(next_retry(now, 1, seconds(1), 0.5), now + seconds(10));
}

}  // namespace
}  // namespace nudged
