// Series expansion: the occurrences of a `series.scheduled` RRULE (RFC 5545, via libical).
//
// A series repeats at a local wall-clock time ("second Tuesday at 19:00 in New York"), so the
// rule is expanded in local time and each occurrence is then placed on the time line with the
// tz database: 19:00 stays 19:00 across DST changes. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/event.h"
#include "events/status.h"
#include "events/time.h"

namespace nudged {

class State;
struct NewEvent;

struct Occurrence {
  std::string local_date;  // "2027-02-09": the id suffix, "<series_id>@<local_date>"
  TimePoint starts_at;
};

// Checks that `rrule` is a rule libical understands (FREQ=..., no DTSTART inside).
Status check_rrule(std::string_view rrule);
// What a new series.scheduled must also meet (POST /v1/events, and imports of a series the log
// does not hold; replay takes what a log holds): at most one meeting a day, since a meeting is
// named by its local date. No FREQ finer than DAILY, and at most one BYHOUR, BYMINUTE and BYSECOND.
Status check_new_rrule(std::string_view rrule);

// What a new series.scheduled must meet as a whole (HTTP and imports of series the log does not
// hold yet): check_new_rrule, and its first_starts_at is the rule's first meeting. RFC 5545
// leaves a DTSTART the rule does not produce undefined; libical skips it, so the first meeting
// would silently vanish (FREQ=DAILY;BYHOUR=10 from 19:00, BYDAY=MO,WE from a Tuesday). A rule
// with no meeting at all (COUNT, UNTIL or `until` leaving none, BYMONTH=2;BYMONTHDAY=30) is
// refused too: its registrants would be confirmed for a meeting that does not exist. So is a
// first_starts_at in the second pass of a local time that comes twice (clocks going back): the
// rule places that time at the first pass, as RFC 5545 does, so the first meeting would move.
Status check_new_series(const SeriesScheduled& series);

// check_new_series for an imported series.scheduled (admin socket, `nudgectl events import`)
// whose series the log (`state`) does not hold yet: ok for any other event, and for a series
// already in the log (an old log re-imported: its events go in as duplicates, whatever rule
// was accepted when they were written). A refusal names "data.<field>".
Status check_imported_series(const State& state, const NewEvent& event);

// The series' meeting on `local_date` (strictly "YYYY-MM-DD", a real date) in its time zone, as
// the rule, COUNT, UNTIL and `until` give it from `first_starts_at`, where the rule put it (a
// meeting moved on its own keeps its date's id); nullopt when "<series_id>@<local_date>" names
// none of its meetings.
std::optional<Occurrence> occurrence_on(const SeriesScheduled& series, std::string_view local_date);

// How often a series meets, in plain words for its readers: "every week", "every 2 weeks",
// "every month", "on the second Tuesday of each month". Empty when the rule says more than
// that (several days a week, BYMONTHDAY, BYSETPOS...) or is not a rule: a message then only
// says that more meetings follow, rather than risk saying something wrong.
std::string describe_rrule(std::string_view rrule);

// Occurrences starting in [from, to), in order, at most `limit` of them. `first` is the first
// occurrence (it gives the local time of day and the first date); `until`, when set, bounds the
// series as well as any UNTIL or COUNT in the rule.
Result<std::vector<Occurrence>> expand_series(std::string_view rrule, const Instant& first,
                                              const std::string& zone, TimePoint from, TimePoint to,
                                              const Instant* until = nullptr, size_t limit = 1000);

}  // namespace nudged
