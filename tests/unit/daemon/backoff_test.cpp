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

// The probe's case: a meeting 45 s away, the provider down. Attempts at 0, 10 and 33 s; the
// backoff after the third (~40 s) lands past the start, so one last try is made 10 s after the
// failure (2 s before the start) rather than giving up 12 s early. When that fails too, nothing
// fits any more.
TEST(BackoffTest, OneLastTryBeforeTheDeadlineWhenTheBackoffOvershootsIt) {
  TimePoint first = at("2027-01-01T00:00:00Z");
  TimePoint deadline = first + seconds(45);
  std::optional<TimePoint> third =
      next_retry_before(first + seconds(33), 3, std::nullopt, 0.5, deadline);
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(*third, first + seconds(43));
  EXPECT_FALSE(next_retry_before(first + seconds(43), 4, std::nullopt, 0.5, deadline));
}

// A reminder 2 h before the meeting with the provider down: the doubling backoff's tenth try
// is ~85 min in and the next would be ~170 min: instead the last try is at the deadline less
// the margin, and only one such try is made.
TEST(BackoffTest, TheLastTryOfALongOutageIsJustBeforeTheDeadline) {
  TimePoint due = at("2027-01-01T10:00:00Z");
  TimePoint deadline = due + std::chrono::hours(2);
  TimePoint now = due;
  int64_t attempt = 1;
  std::optional<TimePoint> retry;
  while ((retry = next_retry_before(now, attempt, std::nullopt, 0.5, deadline)) &&
         *retry < deadline - kLastRetryMargin) {
    now = *retry;
    ++attempt;
  }
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(*retry, deadline - kLastRetryMargin);
  EXPECT_LT(now, due + std::chrono::minutes(90));  // the backoff alone would stop here
  EXPECT_FALSE(next_retry_before(*retry, attempt + 1, std::nullopt, 0.5, deadline));
  // A little late (the send took a while): still no second last try.
  EXPECT_FALSE(next_retry_before(*retry + seconds(3), attempt + 1, std::nullopt, 0.5, deadline));
}

TEST(BackoffTest, WellBeforeTheDeadlineTheBackoffIsUnchanged) {
  TimePoint now = at("2027-01-01T00:00:00Z");
  TimePoint deadline = now + std::chrono::hours(24);
  for (int64_t attempt : {1, 2, 5, 12}) {
    for (double jitter : {0.0, 0.5, 1.0}) {
      EXPECT_EQ(next_retry_before(now, attempt, std::nullopt, jitter, deadline),
                next_retry(now, attempt, std::nullopt, jitter));
    }
  }
  EXPECT_EQ(next_retry_before(now, 1, seconds(7), 0.0, deadline), now + seconds(8));
}

TEST(BackoffTest, NeverSoonerThanTheMinimumGapAndNothingWhenNoneFits) {
  TimePoint deadline = at("2027-01-01T12:00:00Z");
  // 15 s left: the last try cannot be at deadline - 10 s (5 s from now), so 10 s from now.
  EXPECT_EQ(next_retry_before(deadline - seconds(15), 3, std::nullopt, 0.5, deadline),
            deadline - seconds(5));
  // 10 s or less left: no try fits.
  EXPECT_FALSE(next_retry_before(deadline - seconds(10), 1, std::nullopt, 0.0, deadline));
  EXPECT_FALSE(next_retry_before(deadline - seconds(2), 1, std::nullopt, 0.0, deadline));
  EXPECT_FALSE(next_retry_before(deadline + seconds(2), 1, std::nullopt, 0.0, deadline));
}

TEST(BackoffTest, RetryAfterIsHonouredUpToTheDeadlineAndPastItGivesUp) {
  TimePoint now = at("2027-01-01T00:00:00Z");
  TimePoint deadline = now + seconds(300);
  // Asked to wait 295 s: later than the last-try margin allows, but still before the deadline.
  EXPECT_EQ(next_retry_before(now, 6, seconds(295), 0.5, deadline), now + seconds(295));
  // The backoff (~320 s) overshoots; Retry-After 100 s: the last try at deadline - 10 s.
  EXPECT_EQ(next_retry_before(now, 6, seconds(100), 0.5, deadline), deadline - kLastRetryMargin);
  // Asked to wait until the deadline or beyond: give up rather than ignore the provider.
  EXPECT_FALSE(next_retry_before(now, 1, seconds(300), 0.5, deadline));
  EXPECT_FALSE(next_retry_before(now, 1, seconds(86400), 0.5, deadline));
}

// An SMS reminder for a meeting at 22:00 New York time fails at 20:55: the backoff (5 min 20 s)
// lands at 21:00:20, in quiet hours that end the next morning, where it would be expired. The
// last try is made before they begin instead. Too late for that, or quiet hours it is merely
// held through, and the retry is the usual one.
TEST(BackoffTest, AnSmsRetryThatQuietHoursWouldExpireIsMadeBeforeTheyBegin) {
  QuietHoursRule rule;
  rule.quiet = *parse_quiet_hours("21:00-08:00");
  rule.zone = find_zone("America/New_York");
  rule.start = at("2027-01-11T22:00:00-05:00");
  TimePoint deadline = rule.start;
  TimePoint failed = at("2027-01-11T20:55:00-05:00");
  EXPECT_EQ(next_retry_before(failed, 6, std::nullopt, 0.5, deadline),
            at("2027-01-11T21:00:20-05:00"));
  EXPECT_EQ(next_retry_clear_of_quiet_hours(failed, 6, std::nullopt, 0.5, deadline, rule),
            at("2027-01-11T20:59:50-05:00"));
  // Not before the provider's Retry-After, nor sooner than the least gap: then it stays.
  EXPECT_EQ(next_retry_clear_of_quiet_hours(failed, 6, seconds(600), 0.5, deadline, rule),
            at("2027-01-11T21:05:00-05:00"));
  TimePoint too_late = at("2027-01-11T20:59:55-05:00");
  EXPECT_EQ(next_retry_clear_of_quiet_hours(too_late, 1, std::nullopt, 0.5, deadline, rule),
            at("2027-01-11T21:00:05-05:00"));
  // A meeting the next afternoon: the retry is held to 08:00, not moved.
  rule.start = deadline = at("2027-01-12T14:00:00-05:00");
  EXPECT_EQ(next_retry_clear_of_quiet_hours(failed, 6, std::nullopt, 0.5, deadline, rule),
            at("2027-01-11T21:00:20-05:00"));
  // Not an SMS (no rule): the usual retry.
  EXPECT_EQ(next_retry_clear_of_quiet_hours(failed, 6, std::nullopt, 0.5, deadline, std::nullopt),
            at("2027-01-11T21:00:20-05:00"));
}

}  // namespace
}  // namespace nudged
