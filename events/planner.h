// The planner: what each person should receive, on which channel, and when.
//
// plan() is a pure function of State, the configuration's PlanConfig and `now`: no I/O, no
// clock, no randomness. The same log and `now` give the same plan, item for item, sorted by
// (due, id). Each item has a deterministic notification id built from its kind, subject,
// channel, nominal due instant and session revision, so a replay reproduces the ids and an id
// recorded as sent (or expired, or failed for good) is never planned again. See SPEC §4 for the
// rules; the comments in planner.cpp say how each is applied. Thread-safe (reads only).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/policy.h"
#include "events/state.h"

namespace nudged {

enum class NotificationKind : uint8_t {
  kConfirmation,
  kReminder,
  kChanged,
  kAccommodationRequest,
  kAccommodationEscalation,
  kAccommodationConfirmed,
  kRoster,
};
std::string_view kind_name(NotificationKind kind);  // "session.reminder", ...

enum class RecipientRole : uint8_t { kRegistrant, kCoordinator, kFacilitator };

struct Notification {
  std::string id;
  NotificationKind kind = NotificationKind::kConfirmation;
  std::string channel;  // the configured channel name it goes out on
  RecipientRole role = RecipientRole::kRegistrant;
  int recipient_index = 0;         // into PlanConfig::coordinators, or the session's facilitators
  std::string session_id;          // a session, an occurrence "<series>@<date>", or a series
  std::string registration_id;     // empty for rosters
  std::string accommodation_kind;  // for accommodation.confirmed
  TimePoint nominal_due{};         // the due time the rules give: part of the id
  TimePoint due{};                 // when to act (after quiet hours and retries are applied)
  TimePoint deadline{};  // after this there is no point: retries stop, a missed one expires
  int64_t session_revision = 0;
  int64_t attempt = 1;  // the attempt that acting now would be
  enum class Action : uint8_t { kSend, kExpire } action = Action::kSend;
  // With kExpire: missed while the daemon was down (late_grace), rather than held up (a busy
  // or failing channel, a retry) until its deadline passed. The daemon says which.
  bool missed_while_down = false;
};

// A session as the planner sees it: a single session, or one occurrence of a series with its
// own changes laid over the series' definition.
struct PlannedSession {
  std::string session_id;
  const SessionState* single = nullptr;
  const SeriesState* series = nullptr;
  const OccurrenceOverride* change = nullptr;  // for an occurrence changed one by one
  std::string group;
  std::string title;
  TimePoint starts_at{};
  TimePoint generated_start{};  // for an occurrence: where the rule put it
  std::string time_zone;
  int64_t duration_minutes = 0;
  int64_t revision = 0;
  TimePoint revision_at{};
  TimePoint scheduled_at{};
  bool cancelled = false;
  std::optional<SessionChange> last_change;
  const std::vector<Facilitator>* facilitators = nullptr;
};

struct PlanOptions {
  // Series occurrences are expanded this far ahead of `now` (SPEC §4: at least 60 days), plus
  // the longest configured offset, so every reminder due within the horizon is planned.
  std::chrono::hours horizon{60 * 24};
  // Sessions that started this long ago are still looked at, so that what was missed while the
  // daemon was down is recorded as expired.
  std::chrono::hours lookback{7 * 24};
  // Since when the daemon has been running and sending. SPEC §4's late_grace is about due times
  // missed while the daemon was down: one that fell due since it started is never expired by
  // it, however long it waits its turn (a hung mail relay, a long queue), only by its deadline.
  // Unset (nudgectl's view, a test): as if it started at `now`.
  std::optional<TimePoint> running_since;
  // When set, only these registrations' notifications are planned (no rosters, nothing of
  // other registrations): for adding new registrations to a plan that already has the rest.
  const std::vector<const RegistrationState*>* only = nullptr;
};

std::vector<Notification> plan(const State& state, const PlanConfig& config, TimePoint now,
                               const PlanOptions& options = {});

// The same items, handed one by one to `sink` in no particular order, without holding them
// all: for a caller that keeps its own, more compact, copy of a large plan.
void plan_each(const State& state, const PlanConfig& config, TimePoint now,
               const PlanOptions& options, const std::function<void(Notification&&)>& sink);

// The deterministic id of a planned item, from its kind, subject (registration, session,
// recipient), channel, nominal due time and session revision.
std::string notification_id(const Notification& n);

// The sessions starting after `from`, in order of start then id: every single session, and
// the series occurrences up to `to`. The renderer uses the same view to describe a session.
std::vector<PlannedSession> sessions_in_window(const State& state, TimePoint from, TimePoint to);

// Finds one session or occurrence by id ("ibd-2027-01-20", "higher-ed@2027-02-09").
std::optional<PlannedSession> find_session(const State& state, const std::string& session_id);

// A meeting registered for on its own ("<series>@<date>") that its series, scheduled again at
// other times, no longer has: the meeting as it stood (its start, moved or not), cancelled,
// with the retime that dropped it as its last change. nullopt when the series still has it,
// or when it was over, cancelled on its own, or cancelled with the series by then (nothing was
// taken away that its registrants had not heard of).
std::optional<PlannedSession> find_dropped_occurrence(const State& state,
                                                      const std::string& session_id);

// How many of the configured accessibility coordinators have not opted out (all of them when
// config.coordinator_opt_outs was not filled in).
size_t coordinators_reachable(const State& state, const PlanConfig& config);

// The instant moved out of SMS quiet hours in `zone` (SPEC §4): to the end of quiet hours when
// that is at least 15 minutes before `start`, else to the last minute before quiet hours began.
TimePoint apply_quiet_hours(TimePoint due, TimePoint start, const QuietHours& quiet,
                            const date::time_zone* zone);

// What SPEC §4's quiet-hours rule reads for one SMS, as the planner read it when it planned it.
struct QuietHoursRule {
  QuietHours quiet;
  const date::time_zone* zone = nullptr;  // the recipient's (a participant's own, else the
                                          // meeting's; staff: the meeting's)
  TimePoint start{};  // the meeting's start, which quiet hours keep 15 minutes clear of; a
                      // notice about a whole series: its deadline
  // When the fact the notice answers happened (a registration, a change, an arrangement): its
  // nominal due time. None for a reminder, which the planner may move to before quiet hours.
  std::optional<TimePoint> fact;
};

// The rule for `n`: nullopt when quiet hours do not apply to it (not the sms channel, none
// configured for its group, its meeting unknown).
std::optional<QuietHoursRule> quiet_hours_rule(const State& state, const PlanConfig& config,
                                               const Notification& n);

// Whether an SMS may start to go out at `now`. The plan keeps SMS out of quiet hours, but only
// as of when it was made: one due outside them can still reach them waiting its turn (a channel's
// queue, a hung provider) or as a retry. At the moment it would go:
//   - outside quiet hours: kSend;
//   - inside, when they end at least 15 minutes before the start: kHold until `ends`;
//   - inside, when they end later than that: SPEC's alternative, the last minute before they
//     began, is past. kExpire, unless its fact happened after they began: then there never was
//     a time for it before them, and the planner sends it at once, at night (a confirmation,
//     or a change to a meeting early next morning); kSend, as planned.
struct QuietHoursVerdict {
  enum class Action : uint8_t { kSend, kHold, kExpire };
  Action action = Action::kSend;
  TimePoint began{};  // the quiet hours `now` is in (kHold, kExpire)
  TimePoint ends{};
};
QuietHoursVerdict quiet_hours_at_send(TimePoint now, const QuietHoursRule& rule);

}  // namespace nudged
