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

#include "events/planner.h"
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

// The least time between a failure and its retry, and how long before the deadline the last
// try is made when the backoff overshoots it. Equal on purpose: a last try made at
// deadline - kLastRetryMargin that fails cannot have another (now + kMinRetryGap is then at or
// past the deadline), so a notification gets exactly one such try, not a burst of them.
inline constexpr std::chrono::seconds kMinRetryGap{10};
inline constexpr std::chrono::seconds kLastRetryMargin = kMinRetryGap;

// next_retry() within the notification's deadline (SPEC §4: transient failures retry until the
// deadline). The doubling backoff would otherwise give up up to one whole interval early (an
// SMS reminder due 2 h before a meeting last tried ~85 min in), and a provider back before the
// meeting would never be asked again. So when the backoff lands at or past
// deadline - kLastRetryMargin, one last try is made then (but no sooner than kMinRetryGap from
// now, nor than the provider's Retry-After). nullopt: no try fits before the deadline (a
// Retry-After reaching past it included): the notification is to expire.
inline std::optional<TimePoint> next_retry_before(TimePoint now, int64_t failed_attempt,
                                                  std::optional<std::chrono::seconds> retry_after,
                                                  double jitter01, TimePoint deadline) {
  TimePoint backoff = next_retry(now, failed_attempt, retry_after, jitter01);
  if (backoff < deadline - kLastRetryMargin) return backoff;  // the usual case, as it was
  TimePoint last = std::max(deadline - kLastRetryMargin, now + kMinRetryGap);
  if (retry_after) last = std::max<TimePoint>(last, now + *retry_after);
  if (last >= deadline) return std::nullopt;
  return last;
}

// next_retry_before() for an SMS under quiet hours (`rule`; nullopt: none apply). A retry that
// lands in quiet hours it cannot wait out (ending less than 15 minutes before the start) would
// be expired there when it came due (quiet_hours_at_send): for it their beginning is the real
// deadline, so the last try is made before they begin, as before any deadline. When none fits
// before them either, the retry is left where it was: it comes due in them and is expired then,
// saying why. Retries that quiet hours merely move to their end are unchanged.
inline std::optional<TimePoint> next_retry_clear_of_quiet_hours(
    TimePoint now, int64_t failed_attempt, std::optional<std::chrono::seconds> retry_after,
    double jitter01, TimePoint deadline, const std::optional<QuietHoursRule>& rule) {
  std::optional<TimePoint> retry =
      next_retry_before(now, failed_attempt, retry_after, jitter01, deadline);
  if (!retry || !rule) return retry;
  QuietHoursVerdict there = quiet_hours_at_send(*retry, *rule);
  if (there.action != QuietHoursVerdict::Action::kExpire) return retry;
  std::optional<TimePoint> before = next_retry_before(now, failed_attempt, retry_after, jitter01,
                                                      std::min(deadline, there.began));
  return before ? before : retry;
}

}  // namespace nudged
