#include "events/policy.h"

#include <date/tz.h>

#include <charconv>
#include <optional>

#include "events/personal.h"

namespace nudged {

namespace {

// The text as quoted in an error: a long one is cut in the middle, so the unit at its end (the
// part that tells "99...9h" from "99...9x") still shows.
std::string quoted_duration(std::string_view text) {
  constexpr size_t kMax = 24;
  if (text.size() <= kMax) return "\"" + std::string(text) + "\"";
  return "\"" + std::string(text.substr(0, kMax - 4)) + "..." +
         std::string(text.substr(text.size() - 1)) + "\"";
}

}  // namespace

Result<Offset> parse_offset(std::string_view text) {
  auto bad = [&] {
    return Status::invalid("",
                           quoted_duration(text) + " is not a duration such as 30s, 90m, 2h or 7d");
  };
  auto too_long = [&] {
    return Status::invalid("", quoted_duration(text) + " is longer than 366 days");
  };
  if (text.size() < 2) return bad();
  std::string_view digits = text.substr(0, text.size() - 1);
  char unit = text.back();
  if (unit != 's' && unit != 'm' && unit != 'h' && unit != 'd') return bad();
  int64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (end != digits.data() + digits.size() || n < 0) return bad();
  if (ec == std::errc::result_out_of_range) return too_long();
  if (ec != std::errc()) return bad();
  switch (unit) {
    case 's':
      return n <= 366LL * 86400 ? Result<Offset>(Offset::seconds(n)) : too_long();
    case 'm':
      return n <= 366LL * 1440 ? Result<Offset>(Offset::seconds(n * 60)) : too_long();
    case 'h':
      return n <= 366LL * 24 ? Result<Offset>(Offset::seconds(n * 3600)) : too_long();
    default:  // 'd'
      return n <= 366 ? Result<Offset>(Offset::days(n)) : too_long();
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

// "HH:MM" as minutes after midnight. Exact positions, not sscanf: "%d" would also take a sign
// or leading spaces ("+1:00", " 1:00").
static std::optional<int> parse_clock(std::string_view t) {
  auto digit = [&](size_t i) { return t[i] >= '0' && t[i] <= '9'; };
  if (t.size() != 5 || t[2] != ':' || !digit(0) || !digit(1) || !digit(3) || !digit(4)) {
    return std::nullopt;
  }
  int h = (t[0] - '0') * 10 + (t[1] - '0');
  int m = (t[3] - '0') * 10 + (t[4] - '0');
  if (h > 23 || m > 59) return std::nullopt;
  return h * 60 + m;
}

Result<QuietHours> parse_quiet_hours(std::string_view text) {
  if (text.empty()) return QuietHours{};
  auto bad = [&] {
    return Status::invalid("", "\"" + std::string(text.substr(0, 20)) +
                                   "\" is not a window such as 21:00-08:00 (or \"\" for none)");
  };
  if (text.size() != 11 || text[5] != '-') return bad();
  std::optional<int> start = parse_clock(text.substr(0, 5));
  std::optional<int> end = parse_clock(text.substr(6));
  if (!start || !end || *start == *end) return bad();
  return QuietHours{true, *start, *end};
}

Result<StaffAddress> parse_staff_address(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::invalid("", "must be channel:address, such as email:access@example.org");
  }
  return StaffAddress{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

std::string medium_of(const std::string& channel_name) {
  return channel_name == "sms" ? "sms" : "email";
}

void index_coordinators(PlanConfig& plan, const Sealer& sealer) {
  plan.coordinator_opt_outs.clear();
  for (const StaffAddress& c : plan.coordinators)
    plan.coordinator_opt_outs.push_back({medium_of(c.channel), sealer.blind_index(c.address)});
}

}  // namespace nudged
