#include "events/time.h"

#include <date/date.h>
#include <date/tz.h>

#include <cstdio>
#include <stdexcept>

namespace nudged {
namespace {

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

// Without the text given: it may be anything a sender put in the wrong field (see codec.cpp).
Status bad_time() {
  return Status::invalid("", "is not an RFC 3339 time such as 2026-12-08T19:00:00-05:00");
}

}  // namespace

std::optional<TimePoint> parse_local_date(std::string_view s) {
  int y, mo, d;
  if (s.size() != 10 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d)) {
    return std::nullopt;
  }
  date::year_month_day ymd{date::year{y}, date::month(static_cast<unsigned>(mo)),
                           date::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::time_point_cast<Millis>(date::sys_days(ymd));
}

Result<Instant> parse_rfc3339(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) ||
      s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec)) {
    return bad_time();
  }
  date::year_month_day ymd{date::year{y}, date::month(static_cast<unsigned>(mo)),
                           date::day(static_cast<unsigned>(d))};
  // Leap seconds (sec == 60) are not representable in sys_time; no meeting starts on one.
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) return bad_time();

  size_t pos = 19;
  Instant out;
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      millis += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad_time();
    out.has_millis = true;
  }
  int offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return bad_time();
    }
    offset = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad_time();
  }
  if (pos != s.size()) return bad_time();

  auto local = date::sys_days(ymd) + std::chrono::hours(h) + std::chrono::minutes(mi) +
               std::chrono::seconds(sec) + Millis(millis);
  out.utc = local - std::chrono::minutes(offset);
  out.offset_minutes = static_cast<int16_t>(offset);
  return out;
}

namespace {

// Years outside 0000-9999, which RFC 3339 cannot write (and the parser never reads back): as
// snprintf writes them.
std::string format_rfc3339_printf(const Instant& in) {
  auto local = in.utc + std::chrono::minutes(in.offset_minutes);
  auto day = date::floor<date::days>(local);
  date::year_month_day ymd{day};
  date::hh_mm_ss<Millis> tod{local - day};
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", int(ymd.year()),
                        unsigned(ymd.month()), unsigned(ymd.day()), int(tod.hours().count()),
                        int(tod.minutes().count()), int(tod.seconds().count()));
  if (in.has_millis) {
    n += std::snprintf(buf + n, sizeof buf - n, ".%03d", int(tod.subseconds().count()));
  }
  if (in.offset_minutes == 0) {
    std::snprintf(buf + n, sizeof buf - n, "Z");
  } else {
    int off = in.offset_minutes < 0 ? -in.offset_minutes : in.offset_minutes;
    std::snprintf(buf + n, sizeof buf - n, "%c%02d:%02d", in.offset_minutes < 0 ? '-' : '+',
                  off / 60, off % 60);
  }
  return buf;
}

}  // namespace

// Digit by digit: this runs for every event's recorded_at and every time in an event's data.
std::string format_rfc3339(const Instant& in) {
  auto local = in.utc + std::chrono::minutes(in.offset_minutes);
  auto day = date::floor<date::days>(local);
  date::year_month_day ymd{day};
  date::hh_mm_ss<Millis> tod{local - day};
  int year = int(ymd.year());
  if (year < 0 || year > 9999) return format_rfc3339_printf(in);
  char buf[32];  // "2027-01-12T19:00:00.000+05:30"
  char* p = put_digits(buf, static_cast<unsigned>(year), 4);
  *p++ = '-';
  p = put_digits(p, unsigned(ymd.month()), 2);
  *p++ = '-';
  p = put_digits(p, unsigned(ymd.day()), 2);
  *p++ = 'T';
  p = put_digits(p, static_cast<unsigned>(tod.hours().count()), 2);
  *p++ = ':';
  p = put_digits(p, static_cast<unsigned>(tod.minutes().count()), 2);
  *p++ = ':';
  p = put_digits(p, static_cast<unsigned>(tod.seconds().count()), 2);
  if (in.has_millis) {
    *p++ = '.';
    p = put_digits(p, static_cast<unsigned>(tod.subseconds().count()), 3);
  }
  if (in.offset_minutes == 0) {
    *p++ = 'Z';
  } else {
    int off = in.offset_minutes < 0 ? -in.offset_minutes : in.offset_minutes;
    *p++ = in.offset_minutes < 0 ? '-' : '+';
    p = put_digits(p, static_cast<unsigned>(off / 60), 2);
    *p++ = ':';
    p = put_digits(p, static_cast<unsigned>(off % 60), 2);
  }
  return std::string(buf, p);
}

Instant instant_from_utc(TimePoint t) {
  Instant in;
  in.utc = t;
  in.has_millis = true;
  return in;
}

std::string format_utc_millis(TimePoint t) {
  return format_rfc3339(instant_from_utc(t));
}

const date::time_zone* find_zone(std::string_view name) {
  if (name.empty() || name.size() > 64) return nullptr;
  try {
    return date::locate_zone(name);
  } catch (const std::runtime_error&) {
    return nullptr;
  }
}

}  // namespace nudged
