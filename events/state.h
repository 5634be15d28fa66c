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
#include <memory>
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
  // For one occurrence of a series: the series' revision when the change was made. The
  // occurrence's notice ids count from it, so that the series scheduled again later (a new
  // join_url, say) does not make old change notices new ones, sent a second time.
  int64_t series_revision = 0;
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
  std::optional<Personal> description;
  int64_t revision = 1;      // +1 on every update, reschedule or cancel: part of notification ids
  TimePoint revision_at{};   // when the current revision was recorded
  TimePoint scheduled_at{};  // when it was first scheduled
  bool cancelled = false;
  std::optional<Personal> cancel_reason;
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
  std::optional<Personal> cancel_reason;
  std::optional<SessionChange> last_change;
};

// A series scheduled again with other times (or back after a cancel): the definition it
// replaced. Kept, as retimes are rare, so that the planner can find the meetings the new
// definition no longer has: those registered for one of them alone must hear that it is off
// (the series' own registrants hear of the whole series).
struct SeriesRetime {
  SeriesScheduled before;
  TimePoint at{};        // recorded_at of the series.scheduled that replaced it
  int64_t revision = 0;  // the series' revision that made
  // Set when the series was cancelled at the time: its meetings after this instant had been
  // called off, and their registrants told, already.
  std::optional<TimePoint> cancelled_at;
};

struct SeriesState {
  SeriesScheduled definition;
  int64_t revision = 1;
  TimePoint revision_at{};
  TimePoint scheduled_at{};  // recorded_at of the first series.scheduled
  bool cancelled = false;
  TimePoint cancelled_at{};  // series.cancelled cancels occurrences after this instant
  // series.cancelled's reason, sealed under "series/<id>" (staff free text, as a session's):
  // its cancel notices show it as a session's do.
  std::optional<Personal> cancel_reason;
  std::map<std::string, OccurrenceOverride> overrides;  // by local date "YYYY-MM-DD"
  // The last time it was scheduled again with different times (its rule, first start, zone,
  // length or end) or back after a cancel, and the revision that made: what its registrants
  // are told of (session.changed about the whole series). Unset when never.
  std::optional<TimePoint> retimed_at;
  int64_t retimed_revision = 0;
  std::vector<SeriesRetime> retimes;  // every retime, oldest first
};

struct AccommodationState {
  std::string kind;
  std::optional<Personal> details;
  bool arranged = false;
  TimePoint arranged_at{};
  std::optional<Personal> note;
};

// Keyed by participant id in State (the id is not repeated here: one copy per person). A value
// not given is left empty (`Personal::empty()`, a null zone or locale): an address or name as
// stored is never empty, so no optional is needed. Time zones and locales have few distinct
// values: they are interned in State (8 bytes here rather than 40 for an optional string).
struct ParticipantState {
  Personal name;  // the latest registration's values
  Personal email;
  Personal phone;
  const std::string* time_zone = nullptr;  // an IANA name as given (not checked)
  const std::string* locale = nullptr;
  bool erased = false;
};

// The channels a registrant chose, in the order they gave them. The log can hold only "email"
// and "sms" (the codec refuses anything else at append, each at most once), so each is a 2-bit
// code packed into one byte rather than a vector of strings (~70 bytes a registration).
// Iterating yields the channel names.
class ChannelList {
 public:
  ChannelList() = default;
  // Names other than "email" and "sms", and any past the fourth, are not kept: validation
  // keeps them out of the log.
  explicit ChannelList(const std::vector<std::string>& names);

  class iterator {
   public:
    explicit iterator(uint8_t rest) : rest_(rest) {}
    const std::string& operator*() const;
    iterator& operator++() {
      rest_ = static_cast<uint8_t>(rest_ >> 2);
      return *this;
    }
    friend bool operator==(iterator, iterator) = default;

   private:
    uint8_t rest_;
  };
  iterator begin() const { return iterator(packed_); }
  iterator end() const { return iterator(0); }
  bool empty() const { return packed_ == 0; }
  std::vector<std::string> names() const;
  friend bool operator==(ChannelList, ChannelList) = default;

 private:
  uint8_t packed_ = 0;  // the first channel in the lowest two bits; a 0 code ends the list
};

// A list that is usually empty (most registrations ask for no accommodation): one pointer
// while it is, where a std::vector is 24 bytes. A copy copies the elements.
template <typename T>
class RareList {
 public:
  RareList() = default;
  RareList(const RareList& other) { *this = other; }
  RareList& operator=(const RareList& other) {
    if (this != &other) {
      items_ = other.items_ ? std::make_unique<std::vector<T>>(*other.items_) : nullptr;
    }
    return *this;
  }
  RareList(RareList&&) noexcept = default;
  RareList& operator=(RareList&&) noexcept = default;

  size_t size() const { return items_ ? items_->size() : 0; }
  bool empty() const { return size() == 0; }
  T* begin() { return items_ ? items_->data() : nullptr; }
  T* end() { return begin() + size(); }
  const T* begin() const { return items_ ? items_->data() : nullptr; }
  const T* end() const { return begin() + size(); }
  T& operator[](size_t i) { return (*items_)[i]; }
  const T& operator[](size_t i) const { return (*items_)[i]; }
  void push_back(T item) {
    if (!items_) items_ = std::make_unique<std::vector<T>>();
    items_->push_back(std::move(item));
  }
  void clear() { items_.reset(); }

 private:
  std::unique_ptr<std::vector<T>> items_;
};

// One registration. Kept small: there is one for every registration in the log (48 bytes;
// 112 with its node and key). Its id, its participant's id and what it registered for are not
// copied here: it points at State's own keys and interned names (State's tables never move or
// drop a node, and State's copy re-points them).
struct RegistrationState {
  RareList<AccommodationState> accommodations;
  TimePoint registered_at{};  // recorded_at of registration.received
  ChannelList channels;
  bool for_series = false;
  bool sms_consent = false;
  // As the registrant chose; absent: their group's discreet_default (so an explicit false
  // shows the group even where the default hides it).
  std::optional<bool> discreet;
  bool cancelled = false;

  // The session or occurrence ("<series>@<date>") registered for, or the whole series when
  // `for_series`: a registration names exactly one of the two (validated at intake).
  const std::string& target() const { return *target_; }
  const std::string& registration_id() const { return *id_; }
  const std::string& participant_id() const { return participant_->first; }
  const ParticipantState& participant() const { return participant_->second; }
  const std::string* session_id() const { return for_series ? nullptr : target_; }
  const std::string* series_id() const { return for_series ? target_ : nullptr; }

 private:
  friend class State;
  const std::string* target_ = nullptr;  // interned in State: a session's registrations share it
  const std::string* id_ = nullptr;      // State's key
  const std::pair<const std::string, ParticipantState>* participant_ = nullptr;  // State's entry
};

// What the planner needs to know of a notification's past: kept small, as there is one for
// every notification ever acted on (16 bytes; a node of 40 with its key). Provider ids and
// error texts stay in the log.
struct NotificationOutcome {
  int32_t attempts = 0;
  bool sent = false;
  bool failed_permanently = false;
  bool expired = false;
  bool retry_pending = false;  // a transient failure's retry_at is set
  TimePoint retry_at{};
};

// Outcomes are keyed by a 128-bit digest of the notification id rather than the id itself
// (60-200 characters on the heap). Ids are built from caller-supplied registration ids, so the
// digest must be one nobody can aim a collision at (a forged id whose digest matched another
// person's reminder would mark it sent): SipHash-2-4 with 128-bit output under a secret
// drawn at start, a keyed PRF about eight times cheaper than BLAKE2b on these ids (the planner
// looks up several per registration). Never persist an OutcomeKey or compare it across
// processes: each draws its own secret, so a stored key would match nothing in the next.
struct OutcomeKey {
  uint64_t hi = 0, lo = 0;
  friend bool operator==(const OutcomeKey&, const OutcomeKey&) = default;
};
// noexcept, so that std::unordered_map does not cache the hash in every node (8 bytes each):
// the digest is its own hash.
struct OutcomeKeyHash {
  size_t operator()(const OutcomeKey& k) const noexcept { return static_cast<size_t>(k.lo); }
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
  State() = default;
  // A copy re-points its registrations and participants at its own keys and interned names
  // (see RegistrationState, ParticipantState). Moves keep the tables' nodes where they are,
  // so the pointers stay right.
  State(const State& other);
  State& operator=(const State& other);
  State(State&&) = default;
  State& operator=(State&&) = default;

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
  // The same for an address known by its match key (Sealer::blind_index).
  bool opted_out(const std::string& channel, std::string_view match) const;
  // Calls f(key) for each key of a match (see match_key), and for the lower-cased key of a
  // one-key match (sealed before the second key existed) when a two-key value has taught it.
  template <typename F>
  void for_each_address_key(std::string_view match, F f) const {
    for_each_match(match, f);
    if (match.find(kMatchSeparator) != std::string_view::npos || folded_.empty()) return;
    if (auto it = folded_.find(std::string(match)); it != folded_.end()) f(it->second);
  }

  // Whether a session id names something known: a single session, or an occurrence
  // ("<series>@<date>", split at the last '@') of a known series.
  bool known_target(const std::string& session_id) const;
  // The single session, or nullptr (series occurrences are expanded by the planner).
  const SessionState* session(const std::string& id) const;
  const RegistrationState* registration(const std::string& id) const;
  const ParticipantState* participant(const std::string& id) const;
  const NotificationOutcome* outcome(const std::string& notification_id) const;
  // For an erased participant, the blind indexes of the addresses they had (they name the
  // keys of opted-out copies of those addresses); empty otherwise. Kept apart from
  // ParticipantState, which every participant carries.
  const std::vector<std::string>& address_indexes(const std::string& participant_id) const;

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
  void learn_spelling(std::string_view match);
  void on(const Envelope&, ParticipantErased&&);
  void on(const Envelope&, NotificationSent&&);
  void on(const Envelope&, NotificationFailed&&);
  void on(const Envelope&, NotificationExpired&&);

  void note_plan_input(const EventData& data);

  // For an occurrence id "<series>@<date>", the series' override for that date (created on
  // demand); nullptr when the id names no known series.
  // The override of a series occurrence ("<series>@<date>"), made when absent; nullptr when
  // the series is unknown. `series_revision`, when given, gets the series' revision.
  OccurrenceOverride* occurrence(const std::string& session_id, int64_t* series_revision = nullptr);
  const std::string* intern(std::string&& text) {
    return &*interned_.insert(std::move(text)).first;
  }

  // A new member must be copied in State(const State&) too (state.cpp).
  std::unordered_map<std::string, SessionState> sessions_;
  std::unordered_map<std::string, SeriesState> series_;
  std::unordered_map<std::string, RegistrationState> registrations_;
  std::unordered_map<std::string, ParticipantState> participants_;
  std::unordered_map<OutcomeKey, NotificationOutcome, OutcomeKeyHash> outcomes_;
  std::unordered_set<std::string> opt_outs_;  // "<channel>\n<match key>"
  // What two-key values taught (learn_spelling): an address's first key -> its lower-cased
  // key, and the other way round.
  std::unordered_map<std::string, std::string> folded_;
  std::unordered_map<std::string, std::vector<std::string>> spellings_;
  std::unordered_map<std::string, std::vector<std::string>> address_indexes_;  // erased only
  // Registrations' targets, participants' time zones and locales: few distinct values.
  std::unordered_set<std::string> interned_;
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
