#include "events/policy.h"

#include <date/tz.h>

#include <charconv>
#include <cstdio>

namespace nudged {

Result<Offset> parse_offset(std::string_view text) {
  auto bad = [&] {
    return Status::invalid("", "\"" + std::string(text.substr(0, 20)) +
                                   "\" is not a duration such as 30s, 90m, 2h or 7d");
  };
  if (text.size() < 2) return bad();
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
  if (ec != std::errc() || end != text.data() + text.size() - 1 || n < 0) return bad();
  switch (text.back()) {
    case 's': return n <= 366LL * 86400 ? Result<Offset>(Offset::seconds(n)) : bad();
    case 'm': return n <= 366LL * 1440 ? Result<Offset>(Offset::seconds(n * 60)) : bad();
    case 'h': return n <= 366LL * 24 ? Result<Offset>(Offset::seconds(n * 3600)) : bad();
    case 'd': return n <= 366 ? Result<Offset>(Offset::days(n)) : bad();
    default: return bad();
  }
}

std::string format_offset(const Offset& o) {
  if (o.unit == Offset::Unit::kCalendarDays) return std::to_string(o.amount) + "d";
  if (o.amount % 3600 == 0) return std::to_string(o.amount / 3600) + "h";
  if (o.amount % 60 == 0) return std::to_string(o.amount / 60) + "m";
  return std::to_string(o.amount) + "s";
}

Result<std::chrono::seconds> parse_exact_duration(std::string_view text) {
  Result<Offset> o = parse_offset(text);
  if (!o) return o.status();
  if (o->unit != Offset::Unit::kExact) {
    return Status::invalid("", "\"" + std::string(text) + "\" must be in s, m or h");
  }
  return std::chrono::seconds(o->amount);
}

TimePoint offset_before(TimePoint start, const Offset& offset, const date::time_zone* zone) {
  if (offset.unit == Offset::Unit::kExact || zone == nullptr) {
    int64_t secs = offset.unit == Offset::Unit::kExact ? offset.amount : offset.amount * 86400;
    return start - std::chrono::seconds(secs);
  }
  // Same wall-clock time, N calendar days earlier, in the zone.
  auto local = zone->to_local(start);
  auto earlier = local - date::days(offset.amount);
  date::local_info info = zone->get_info(date::floor<std::chrono::seconds>(earlier));
  switch (info.result) {
    case date::local_info::unique:
      return std::chrono::time_point_cast<Millis>(zone->to_sys(earlier));
    case date::local_info::ambiguous:  // occurs twice: the first (earlier) one
      return std::chrono::time_point_cast<Millis>(zone->to_sys(earlier, date::choose::earliest));
    case date::local_info::nonexistent:  // in a gap: move forward by the gap
    default: {
      auto gap = info.second.offset - info.first.offset;
      return std::chrono::time_point_cast<Millis>(
          date::sys_time<Millis>((earlier + gap).time_since_epoch()) - info.second.offset);
    }
  }
}

Result<QuietHours> parse_quiet_hours(std::string_view text) {
  if (text.empty()) return QuietHours{};
  auto bad = [&] {
    return Status::invalid("", "\"" + std::string(text.substr(0, 20)) +
                                   "\" is not a window such as 21:00-08:00 (or \"\" for none)");
  };
  int h1, m1, h2, m2;
  char tail;
  std::string s(text);
  if (std::sscanf(s.c_str(), "%2d:%2d-%2d:%2d%c", &h1, &m1, &h2, &m2, &tail) != 4 ||
      s.size() != 11 || h1 > 23 || h2 > 23 || m1 > 59 || m2 > 59 || h1 < 0 || h2 < 0 || m1 < 0 ||
      m2 < 0) {
    return bad();
  }
  QuietHours q{true, h1 * 60 + m1, h2 * 60 + m2};
  if (q.start_minute == q.end_minute) return bad();
  return q;
}

Result<StaffAddress> parse_staff_address(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::invalid("", "must be channel:address, such as email:access@example.org");
  }
  return StaffAddress{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

}  // namespace nudged
