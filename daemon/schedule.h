// Schedule: the daemon's copy of the plan, compact enough for millions of pending
// notifications.
//
// The planner's Notification carries its id and ids of what it is about as strings (~300 bytes
// with the heap); a pending notification here is 40 bytes: its times, a pointer to the
// registration in State, the index of an interned (session id, revision) pair and small
// indices. The full Notification, id included, is rebuilt when it is due (expand). Entries are
// sorted by due time.
//
// Pointers into State stay valid until State changes in any way other than recording an
// outcome (std::unordered_map keeps its nodes in place); the daemon rebuilds the schedule after
// every other change. Loop thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "events/planner.h"

namespace nudged {

struct Scheduled {
  TimePoint due{};
  TimePoint nominal_due{};
  const RegistrationState* registration = nullptr;  // null for rosters
  // The session id and revision, interned in the Schedule: many entries share one pair (a
  // session's reminders), and 4 bytes here rather than a pointer and an int64 keep the entry
  // at 40 bytes, about 16 MB less per million pending notifications.
  uint32_t session = 0;
  // The deadline, as whole seconds after nominal_due (rounded down, so never later than the
  // planner's): 68 years either way in 4 bytes. The daemon needs it when a send fails, to fit
  // the retry before it (daemon/backoff.h).
  int32_t deadline_after_nominal_s = 0;
  uint16_t attempt = 1;
  uint8_t kind = 0;
  uint8_t role = 0;
  // One byte each: intake refuses more than 100 facilitators and 32 accommodations, the
  // configuration more than 100 channels and 100 coordinators (events/codec.cpp, config/).
  uint8_t recipient_index = 0;
  uint8_t channel = 0;        // index into the Schedule's channel names
  uint8_t accommodation = 0;  // index into the registration's accommodations (confirmed)
  // Bit-fields: one byte for both, which the deadline above needs to keep the entry 40 bytes.
  bool expire : 1 = false;
  bool dispatched : 1 = false;         // handed to a channel (or found in flight): not again
  bool missed_while_down : 1 = false;  // Notification::missed_while_down
};

class Schedule {
 public:
  Schedule() = default;
  // Entries refer to the interned sessions by address: no copies (moves keep the nodes).
  Schedule(const Schedule&) = delete;
  Schedule& operator=(const Schedule&) = delete;
  Schedule(Schedule&&) = default;
  Schedule& operator=(Schedule&&) = default;

  // Plans afresh and keeps the result, sorted by due time. `running_since`: see PlanOptions.
  void rebuild(const State& state, const PlanConfig& config, TimePoint now,
               std::optional<TimePoint> running_since = std::nullopt);

  // Plans only these registrations (new ones: see State::take_planning_delta) and merges their
  // entries into place among entries [from, end), leaving the entries before `from` as they
  // are. Cost: planning the few, plus one merge.
  void add(const State& state, const PlanConfig& config, TimePoint now,
           const std::vector<const RegistrationState*>& registrations, size_t from,
           std::optional<TimePoint> running_since = std::nullopt);

  // The planner's Notification for an entry, id included.
  Notification expand(const Scheduled& entry) const;

  std::vector<Scheduled>& entries() { return entries_; }
  const std::vector<Scheduled>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

  // Whether `n` (expanded earlier) is still planned as it was: same id, attempt and action.
  // Looks in entries [from, end) (the daemon passes its cursor).
  bool holds(const Notification& n, size_t from = 0) const;

 private:
  // A session (or occurrence, or series) and the revision an entry's id carries.
  struct SessionRef {
    std::string session_id;
    int64_t revision = 0;
    friend bool operator==(const SessionRef&, const SessionRef&) = default;
  };
  struct SessionRefHash {
    size_t operator()(const SessionRef& r) const noexcept {
      return std::hash<std::string>()(r.session_id) ^
             static_cast<size_t>(r.revision) * 0x9e3779b97f4a7c15ULL;
    }
  };

  uint8_t channel_index(const std::string& name);
  uint32_t session_index(std::string&& session_id, int64_t revision);
  Scheduled compact(const State& state, Notification&& n);

  std::vector<Scheduled> entries_;
  std::unordered_map<SessionRef, uint32_t, SessionRefHash> session_index_;
  std::vector<const SessionRef*> sessions_;  // by index: the keys above (nodes stay put)
  std::vector<std::string> channels_;
};

}  // namespace nudged
