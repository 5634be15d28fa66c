#include "events/series.h"

#include <date/tz.h>
#include <libical/ical.h>

#include <cstdio>
#include <memory>

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

}  // namespace

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
    if (at >= to) break;
    if (at < from) continue;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", next.year, next.month, next.day);
    out.push_back(Occurrence{buf, at});
  }
  return out;
}

}  // namespace nudged
