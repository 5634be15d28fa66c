#include "events/series.h"

#include <date/tz.h>
#include <libical/ical.h>

#include <cstdio>
#include <memory>
#include <optional>

#include "events/intake.h"
#include "events/state.h"

namespace nudged {
namespace {

struct IteratorFree {
  void operator()(icalrecur_iterator* it) const { icalrecur_iterator_free(it); }
};

Result<icalrecurrencetype> parse_rule(std::string_view rrule) {
  std::string text(rrule);
  icalerror_clear_errno();
  icalrecurrencetype rule = icalrecurrencetype_from_string(text.c_str());
  if (rule.freq == ICAL_NO_RECURRENCE || icalerrno != ICAL_NO_ERROR) {
    icalerror_clear_errno();
    return Status::invalid("rrule", "is not an RFC 5545 rule such as FREQ=MONTHLY;BYDAY=2TU");
  }
  return rule;
}

// Places a local wall-clock time on the time line. A time in a DST gap moves forward by the
// gap; one that occurs twice is the earlier.
TimePoint place(const date::time_zone* zone, date::local_seconds local) {
  date::local_info info = zone->get_info(local);
  if (info.result == date::local_info::nonexistent) {
    return std::chrono::time_point_cast<Millis>(date::sys_seconds(local.time_since_epoch()) -
                                                info.first.offset);
  }
  return std::chrono::time_point_cast<Millis>(zone->to_sys(local, date::choose::earliest));
}

bool is_empty(const short* list) {
  return list[0] == ICAL_RECURRENCE_ARRAY_MAX;
}
bool has_one(const short* list) {
  return !is_empty(list) && list[1] == ICAL_RECURRENCE_ARRAY_MAX;
}

// "every week", "every 2 weeks".
std::string every(int interval, const char* unit) {
  if (interval <= 1) return std::string("every ") + unit;
  return "every " + std::to_string(interval) + " " + unit + "s";
}

// BYDAY=2TU in a monthly rule: "on the second Tuesday of each month"; "" for other positions.
std::string monthly_weekday(short by_day) {
  static const char* const kDays[] = {"",          "Sunday",   "Monday", "Tuesday",
                                      "Wednesday", "Thursday", "Friday", "Saturday"};
  static const char* const kNth[] = {"", "first", "second", "third", "fourth"};
  const int day = static_cast<int>(icalrecurrencetype_day_day_of_week(by_day));
  const int nth = icalrecurrencetype_day_position(by_day);
  if (day < 1 || day > 7) return {};
  std::string position = nth == -1 ? "last" : (nth >= 1 && nth <= 4) ? kNth[nth] : "";
  if (position.empty()) return {};
  return std::string("on the ") + position + " " + kDays[day] + " of each month";
}

}  // namespace

std::string describe_rrule(std::string_view rrule) {
  Result<icalrecurrencetype> parsed = parse_rule(rrule);
  if (!parsed) return {};
  const icalrecurrencetype& r = *parsed;
  // Anything that picks several days, or days by number, is more than "every <unit>" says.
  if (!is_empty(r.by_month_day) || !is_empty(r.by_year_day) || !is_empty(r.by_week_no) ||
      !is_empty(r.by_month) || !is_empty(r.by_set_pos)) {
    return {};
  }
  const bool one_day = has_one(r.by_day);
  if (!is_empty(r.by_day) && !one_day) return {};
  const int interval = r.interval;
  switch (r.freq) {
    case ICAL_DAILY_RECURRENCE:
      return one_day ? std::string() : every(interval, "day");
    case ICAL_WEEKLY_RECURRENCE:  // BYDAY=MO: the day of its meetings, once a week
      return one_day && icalrecurrencetype_day_position(r.by_day[0]) != 0 ? std::string()
                                                                          : every(interval, "week");
    case ICAL_MONTHLY_RECURRENCE:
      if (!one_day) return every(interval, "month");
      return interval <= 1 ? monthly_weekday(r.by_day[0]) : std::string();
    case ICAL_YEARLY_RECURRENCE:
      return one_day ? std::string() : every(interval, "year");
    default:
      return {};
  }
}

Status check_rrule(std::string_view rrule) {
  return parse_rule(rrule).status();
}

Status check_new_rrule(std::string_view rrule) {
  Result<icalrecurrencetype> rule = parse_rule(rrule);
  if (!rule) return rule.status();
  auto several = [](const short* list) {
    return list[0] != ICAL_RECURRENCE_ARRAY_MAX && list[1] != ICAL_RECURRENCE_ARRAY_MAX;
  };
  if (rule->freq == ICAL_SECONDLY_RECURRENCE || rule->freq == ICAL_MINUTELY_RECURRENCE ||
      rule->freq == ICAL_HOURLY_RECURRENCE || several(rule->by_hour) || several(rule->by_minute) ||
      several(rule->by_second)) {
    return Status::invalid("rrule",
                           "must give at most one meeting a day: a meeting of a series is named "
                           "by its date (<series_id>@YYYY-MM-DD)");
  }
  return Status::ok();
}

Status check_new_series(const SeriesScheduled& series) {
  if (Status rule = check_new_rrule(series.rrule); !rule) return rule;
  const date::time_zone* zone = find_zone(series.time_zone.name);
  if (zone == nullptr) {
    return Status::invalid("time_zone", "unknown time zone " + series.time_zone.name);
  }
  const Instant* until = series.until ? &*series.until : nullptr;
  if (until != nullptr && until->utc < series.first_starts_at.utc) {
    return Status::invalid("until", "is before first_starts_at: the series would have no meeting");
  }
  // The rule's very first meeting (libical starts from first_starts_at).
  Result<std::vector<Occurrence>> first =
      expand_series(series.rrule, series.first_starts_at, series.time_zone.name, TimePoint::min(),
                    TimePoint::max(), until, 1);
  if (!first) return first.status();
  if (first->empty()) {
    return Status::invalid("rrule",
                           "gives no meeting at all from first_starts_at (check BYMONTH, "
                           "BYMONTHDAY, BYDAY, COUNT, UNTIL and until)");
  }
  auto local = date::floor<std::chrono::seconds>(zone->to_local(series.first_starts_at.utc));
  // A local time that comes twice (the clocks going back) is, for the rule as for RFC 5545 and
  // every calendar, the first of the two: a first meeting given as the second would move to the
  // first, earlier than the start given. Said so, with the start that works.
  const TimePoint placed = place(zone, local);
  if (placed < date::floor<std::chrono::seconds>(series.first_starts_at.utc)) {
    auto offset = std::chrono::duration_cast<std::chrono::minutes>(
        zone->get_info(date::floor<std::chrono::seconds>(placed)).offset);
    std::string clock = date::format("%H:%M on %Y-%m-%d", local);
    return Status::invalid(
        "first_starts_at",
        "is the second " + clock + " in " + series.time_zone.name +
            ", a time that comes twice as the clocks go back; a series meets at a local time, "
            "which calendars and nudged take as the first of the two: give " +
            format_rfc3339(Instant{placed, static_cast<int16_t>(offset.count()), false}) +
            " or another time");
  }
  const Occurrence& o = first->front();
  if (o.starts_at != place(zone, local)) {
    auto at = date::floor<std::chrono::minutes>(zone->to_local(o.starts_at));
    return Status::invalid(
        "first_starts_at",
        "is not a meeting of the rule, whose first meeting from there is " +
            date::format("%Y-%m-%d %H:%M", at) + " " + series.time_zone.name +
            ": give the date and time of the first meeting, one the rule produces");
  }
  return Status::ok();
}

Status check_imported_series(const State& state, const NewEvent& event) {
  const auto* series = std::get_if<SeriesScheduled>(&event.data);
  if (series == nullptr || state.series().count(series->series_id) > 0) return Status::ok();
  return check_new_series(*series).within("data");
}

std::optional<Occurrence> occurrence_on(const SeriesScheduled& series,
                                        std::string_view local_date) {
  std::optional<TimePoint> day = parse_local_date(local_date);
  if (!day) return std::nullopt;
  // A local date is at most 14 hours from the UTC day of the same name: two days either side.
  Result<std::vector<Occurrence>> found = expand_series(
      series.rrule, series.first_starts_at, series.time_zone.name, *day - std::chrono::hours(48),
      *day + std::chrono::hours(48), series.until ? &*series.until : nullptr);
  if (!found) return std::nullopt;
  for (Occurrence& o : *found)
    if (o.local_date == local_date) return std::move(o);
  return std::nullopt;
}

Result<std::vector<Occurrence>> expand_series(std::string_view rrule, const Instant& first,
                                              const std::string& zone_name, TimePoint from,
                                              TimePoint to, const Instant* until, size_t limit) {
  Result<icalrecurrencetype> rule = parse_rule(rrule);
  if (!rule) return rule.status();
  const date::time_zone* zone = find_zone(zone_name);
  if (zone == nullptr) return Status::invalid("time_zone", "unknown time zone " + zone_name);

  // The first occurrence as local wall-clock time in the series' zone.
  auto first_local = date::floor<std::chrono::seconds>(zone->to_local(first.utc));
  auto day = date::floor<date::days>(first_local);
  date::year_month_day ymd{day};
  date::hh_mm_ss<std::chrono::seconds> tod{first_local - day};

  icaltimetype start = icaltime_null_time();
  start.year = int(ymd.year());
  start.month = int(unsigned(ymd.month()));
  start.day = int(unsigned(ymd.day()));
  start.hour = int(tod.hours().count());
  start.minute = int(tod.minutes().count());
  start.second = int(tod.seconds().count());
  start.is_date = 0;  // floating local time: we place it in the zone ourselves

  // The rule's own UNTIL is applied here rather than by libical, which would compare it with
  // the floating local times it iterates: an UNTIL in UTC (RFC 5545 asks for one with a zoned
  // start) would let through, in a zone west of UTC, a meeting starting after it.
  std::optional<TimePoint> rule_until;
  if (!icaltime_is_null_time(rule->until)) {
    const icaltimetype& u = rule->until;
    auto day_of = date::local_days(date::year{u.year} / unsigned(u.month) / unsigned(u.day));
    auto time_of = u.is_date ? std::chrono::seconds(24 * 3600 - 1)
                             : std::chrono::hours(u.hour) + std::chrono::minutes(u.minute) +
                                   std::chrono::seconds(u.second);
    date::local_seconds local = day_of + time_of;
    rule_until =
        icaltime_is_utc(u)
            ? std::chrono::time_point_cast<Millis>(date::sys_seconds(local.time_since_epoch()))
            : place(zone, local);
    rule->until = icaltime_null_time();
  }

  std::unique_ptr<icalrecur_iterator, IteratorFree> it(icalrecur_iterator_new(*rule, start));
  if (!it) return Status::invalid("rrule", "libical cannot iterate this rule");

  std::vector<Occurrence> out;
  // A generous bound on iterations, so a rule that never reaches `to` cannot spin forever.
  for (int guard = 0; guard < 100000 && out.size() < limit; ++guard) {
    icaltimetype next = icalrecur_iterator_next(it.get());
    if (icaltime_is_null_time(next)) break;
    date::local_seconds local =
        date::local_days(date::year{next.year} / unsigned(next.month) / unsigned(next.day)) +
        std::chrono::hours(next.hour) + std::chrono::minutes(next.minute) +
        std::chrono::seconds(next.second);
    TimePoint at = place(zone, local);
    if (until != nullptr && at > until->utc) break;
    if (rule_until && at > *rule_until) break;
    if (at >= to) break;
    if (at < from) continue;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", next.year, next.month, next.day);
    out.push_back(Occurrence{buf, at});
  }
  return out;
}

}  // namespace nudged
