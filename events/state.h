// State: everything nudged knows, as a pure fold over the event log.
//
// apply() is the only way State changes. It reads no clock (time comes from the events' own
// fields and recorded_at), does no I/O and never fails: the log was validated when it was
// written, and an event that refers to something unknown (a cancel for a registration that
// never arrived) is counted in `ignored` rather than stopping replay. Personal values stay
// sealed. State is a plain value: copy it for a what-if replay. One thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "events/event.h"

namespace nudged {

// A reschedule or cancel: what session.changed notices tell people about.
struct SessionChange {
  int64_t revision = 0;  // the revision it made
  TimePoint at{};        // recorded_at of the event
  bool cancelled = false;
  std::optional<Instant> old_starts_at;  // for a reschedule
};

struct SessionState {
  std::string session_id;
  std::string group;
  std::string title;
  Instant starts_at;
  Zone time_zone;
  int64_t duration_minutes = 0;
  std::string join_url;
  std::vector<Facilitator> facilitators;
  std::optional<std::string> zoom_meeting_id;
  std::optional<int64_t> capacity;
  std::optional<std::string> description;
  int64_t revision = 1;      // +1 on every update, reschedule or cancel: part of notification ids
  TimePoint revision_at{};   // when the current revision was recorded
  TimePoint scheduled_at{};  // when it was first scheduled
  bool cancelled = false;
  std::optional<std::string> cancel_reason;
  std::optional<SessionChange> last_change;  // the latest reschedule or cancel
};

// A change to one occurrence of a series ("<series_id>@2026-12-08"), kept until the planner
// expands the series and lays it over the generated occurrence.
struct OccurrenceOverride {
  std::optional<Instant> starts_at;
  std::optional<Zone> time_zone;
  SessionUpdated update;  // fields given by session.updated (session_id unused)
  int64_t revision = 0;   // added to the series' revision for the occurrence's revision
  TimePoint revision_at{};
  bool cancelled = false;
  std::optional<std::string> cancel_reason;
  std::optional<SessionChange> last_change;
};

struct SeriesState {
  SeriesScheduled definition;
  int64_t revision = 1;
  TimePoint revision_at{};
  TimePoint scheduled_at{};  // recorded_at of the first series.scheduled
  bool cancelled = false;
  TimePoint cancelled_at{};  // series.cancelled cancels occurrences after this instant
  std::map<std::string, OccurrenceOverride> overrides;  // by local date "YYYY-MM-DD"
};

struct AccommodationState {
  std::string kind;
  std::optional<Personal> details;
  bool arranged = false;
  TimePoint arranged_at{};
  std::optional<Personal> note;
};

struct RegistrationState {
  std::string registration_id;
  std::optional<std::string> session_id;
  std::optional<std::string> series_id;
  std::string participant_id;
  std::vector<std::string> channels;
  bool sms_consent = false;
  bool discreet = false;
  std::vector<AccommodationState> accommodations;
  TimePoint registered_at{};  // recorded_at of registration.received
  bool cancelled = false;
};

// Keyed by participant id in State (the id is not repeated here: one copy per person).
struct ParticipantState {
  Personal name;  // the latest registration's values
  std::optional<Personal> email;
  std::optional<Personal> phone;
  std::optional<Zone> time_zone;
  std::optional<std::string> locale;
  bool erased = false;
  std::vector<std::string> address_indexes;  // set on erasure: blind indexes of the addresses
};

// What the planner needs to know of a notification's past: kept small, as there is one for
// every notification ever acted on. Provider ids and error texts stay in the log.
struct NotificationOutcome {
  int32_t attempts = 0;
  bool sent = false;
  bool failed_permanently = false;
  bool expired = false;
  std::optional<Instant> retry_at;
};

// Outcomes are keyed by a 128-bit BLAKE2b digest of the notification id rather than the id
// itself (60-200 characters on the heap): a collision is as likely as guessing a random
// 128-bit key, and ids are built from caller-supplied registration ids, so the digest must be
// a cryptographic one.
struct OutcomeKey {
  uint64_t hi = 0, lo = 0;
  friend bool operator==(const OutcomeKey&, const OutcomeKey&) = default;
};
struct OutcomeKeyHash {
  size_t operator()(const OutcomeKey& k) const { return static_cast<size_t>(k.lo); }
};
OutcomeKey outcome_key(std::string_view notification_id);

// What changed the plan since it was last taken (see State::take_planning_delta): the
// registrations that can be planned on their own, and whether anything else arrived.
struct PlanningDelta {
  std::vector<std::string> new_registrations;
  bool other = false;
};

class State {
 public:
  // Folds one event in. `envelope.recorded_at` is the only time State ever sees.
  void apply(const Envelope& envelope, EventData&& data);
  void apply(const Event& event) {
    EventData copy = event.data;
    apply(event.envelope, std::move(copy));
  }

  // Sizes the tables for a replay of about `events` more events, so that they are not rehashed
  // again and again as they grow (a large share of replay time otherwise).
  void reserve(int64_t events);

  // Whether an address (as stored: sealed) is opted out of a channel.
  bool opted_out(const std::string& channel, const Personal& address) const;

  // The single session, or nullptr (series occurrences are expanded by the planner).
  const SessionState* session(const std::string& id) const;
  const RegistrationState* registration(const std::string& id) const;
  const ParticipantState* participant(const std::string& id) const;
  const NotificationOutcome* outcome(const std::string& notification_id) const;

  // The ids of a participant's registrations, sorted. A scan: kept off the replay path, where
  // a per-participant list cost an allocation per registration.
  std::vector<std::string> registrations_of(const std::string& participant_id) const;

  const std::unordered_map<std::string, SessionState>& sessions() const { return sessions_; }
  const std::unordered_map<std::string, SeriesState>& series() const { return series_; }
  const std::unordered_map<std::string, RegistrationState>& registrations() const {
    return registrations_;
  }
  const std::unordered_map<std::string, ParticipantState>& participants() const {
    return participants_;
  }
  size_t outcome_count() const { return outcomes_.size(); }

  int64_t position() const { return position_; }  // the last event applied
  // The last event that can change the plan beyond settling its own notification: anything
  // but notification.sent, notification.expired and a permanent notification.failed. When
  // only those arrived, a planner can drop the settled items instead of planning afresh.
  int64_t plan_input_position() const { return plan_input_position_; }
  int64_t events_applied() const { return applied_; }

  // Planning deltas, for a daemon that plans incrementally. While on, every plan input is
  // noted: a registration.received for a new registration id by a new participant is one
  // whose plan depends on nothing else (no other registration changes with it), so it can be
  // planned alone; anything else marks `other`, which means: plan everything afresh. Off by
  // default, so that replays keep nothing.
  void track_planning(bool on) { tracking_ = on; }
  PlanningDelta take_planning_delta() { return std::exchange(delta_, PlanningDelta{}); }
  int64_t ignored() const { return ignored_; }
  int64_t erasures() const {
    return erasures_;
  }  // participant.erased events applied  // events that referred to nothing known

 private:
  void on(const Envelope&, SessionScheduled&&);
  void on(const Envelope&, SeriesScheduled&&);
  void on(const Envelope&, SeriesCancelled&&);
  void on(const Envelope&, SessionUpdated&&);
  void on(const Envelope&, SessionRescheduled&&);
  void on(const Envelope&, SessionCancelled&&);
  void on(const Envelope&, RegistrationReceived&&);
  void on(const Envelope&, RegistrationCancelled&&);
  void on(const Envelope&, AccommodationArranged&&);
  void on(const Envelope&, ParticipantOptedOut&&);
  void on(const Envelope&, ParticipantOptedIn&&);
  void on(const Envelope&, ParticipantErased&&);
  void on(const Envelope&, NotificationSent&&);
  void on(const Envelope&, NotificationFailed&&);
  void on(const Envelope&, NotificationExpired&&);

  void note_plan_input(const EventData& data);
  bool known_target(const std::string& session_id) const;

  // For an occurrence id "<series>@<date>", the series' override for that date (created on
  // demand); nullptr when the id names no known series.
  OccurrenceOverride* occurrence(const std::string& session_id);

  std::unordered_map<std::string, SessionState> sessions_;
  std::unordered_map<std::string, SeriesState> series_;
  std::unordered_map<std::string, RegistrationState> registrations_;
  std::unordered_map<std::string, ParticipantState> participants_;
  std::unordered_map<OutcomeKey, NotificationOutcome, OutcomeKeyHash> outcomes_;
  std::unordered_set<std::string> opt_outs_;  // "<channel>\n<sealed address>"
  int64_t position_ = 0;
  int64_t plan_input_position_ = 0;
  bool tracking_ = false;
  PlanningDelta delta_;
  int64_t applied_ = 0;
  int64_t ignored_ = 0;
  int64_t erasures_ = 0;
};

// The occurrence id of a series meeting on a local date: "<series_id>@YYYY-MM-DD".
std::string occurrence_id(const std::string& series_id, const std::string& local_date);

}  // namespace nudged
