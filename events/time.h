// Instants, RFC 3339 text and IANA time-zone names.
//
// nudged never reads a clock in the domain: "now" is always a parameter. An Instant keeps the
// UTC time point and the UTC offset it was written with, so a time read from an event is written
// back exactly as it came ("19:00-05:00" stays that, not "00:00Z"). Thread-safe, plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "events/status.h"

namespace date {
class time_zone;
}

namespace nudged {

using Millis = std::chrono::milliseconds;
using TimePoint = std::chrono::sys_time<Millis>;

struct Instant {
  TimePoint utc{};
  int16_t offset_minutes = 0;  // as written; 0 with a "Z"
  bool has_millis = false;     // whether the text had a fractional part

  friend bool operator==(const Instant& a, const Instant& b) { return a.utc == b.utc; }
  friend auto operator<=>(const Instant& a, const Instant& b) { return a.utc <=> b.utc; }
};

// Parses "2026-12-08T19:00:00-05:00", "2026-11-26T10:00:00.123Z" (RFC 3339, 'T' or 't',
// 'Z' or 'z', fractional seconds to any length, kept to the millisecond). Rejects anything else,
// including out-of-range fields such as February 30th.
Result<Instant> parse_rfc3339(std::string_view text);

// Parses a local date, exactly "YYYY-MM-DD" and a real date (a series meeting's date in its
// id): its midnight as a TimePoint, the day's name rather than an instant in any zone. nullopt
// for anything else.
std::optional<TimePoint> parse_local_date(std::string_view text);

// Writes the instant with its own offset; milliseconds only when it had them.
std::string format_rfc3339(const Instant& instant);

// Writes `value` as exactly `width` decimal digits (zero-padded, the high digits dropped if it
// has more) at `out` and returns the end. For time stamps made many times a second, where
// snprintf's format parsing showed in profiles.
inline char* put_digits(char* out, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out + width;
}

// UTC, with milliseconds: the form of recorded_at.
std::string format_utc_millis(TimePoint t);
Instant instant_from_utc(TimePoint t);

// Finds an IANA zone ("America/New_York") in the system tz database; nullptr when unknown.
const date::time_zone* find_zone(std::string_view name);

}  // namespace nudged
