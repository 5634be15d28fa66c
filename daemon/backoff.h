// When to try a notification again after a transient failure.
//
// Exponential: 10 s, 20 s, 40 s ... capped at one hour, each spread by ±20% jitter so that a
// provider outage does not end in a thundering herd, and never sooner than the provider's own
// Retry-After. The first retry is within 30 s (10 s + 20% at most). Pure: the caller passes
// `now` and the random draw, so tests need no clock and no luck.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

#include "events/time.h"

namespace nudged {

inline TimePoint next_retry(TimePoint now, int64_t failed_attempt,
                            std::optional<std::chrono::seconds> retry_after, double jitter01) {
  using std::chrono::milliseconds;
  int64_t shift = std::clamp<int64_t>(failed_attempt - 1, 0, 20);
  int64_t base_ms = std::min<int64_t>(10'000LL << shift, 3'600'000LL);
  double factor = 0.8 + 0.4 * std::clamp(jitter01, 0.0, 1.0);
  auto wait = milliseconds(static_cast<int64_t>(static_cast<double>(base_ms) * factor));
  if (retry_after) wait = std::max<milliseconds>(wait, *retry_after);
  return now + wait;
}

}  // namespace nudged
