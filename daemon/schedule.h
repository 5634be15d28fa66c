// Schedule: the daemon's copy of the plan, compact enough for millions of pending
// notifications.
//
// The planner's Notification carries its id and ids of what it is about as strings (~300 bytes
// with the heap); a pending notification here is ~48 bytes: its times, a pointer to the
// registration in State, an interned session id and small indices. The full Notification, id
// included, is rebuilt when it is due (expand). Entries are sorted by due time.
//
// Pointers into State stay valid until State changes in any way other than recording an
// outcome (std::unordered_map keeps its nodes in place); the daemon rebuilds the schedule after
// every other change. Loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_set>
#include <vector>

#include "events/planner.h"

namespace nudged {

struct Scheduled {
  TimePoint due{};
  TimePoint nominal_due{};
  int64_t revision = 0;
  const RegistrationState* registration = nullptr;  // null for rosters
  const std::string* session_id = nullptr;          // interned in the Schedule
  uint16_t attempt = 1;
  uint8_t kind = 0;
  uint8_t role = 0;
  uint8_t recipient_index = 0;
  uint8_t channel = 0;        // index into the Schedule's channel names
  uint8_t accommodation = 0;  // index into the registration's accommodations (confirmed)
  bool expire = false;
  bool dispatched = false;  // handed to a channel (or found in flight): not again
};

class Schedule {
 public:
  // Plans afresh and keeps the result, sorted by due time.
  void rebuild(const State& state, const PlanConfig& config, TimePoint now);

  // Plans only these registrations (new ones: see State::take_planning_delta) and merges their
  // entries into place among entries [from, end), leaving the entries before `from` as they
  // are. Cost: planning the few, plus one merge.
  void add(const State& state, const PlanConfig& config, TimePoint now,
           const std::vector<const RegistrationState*>& registrations, size_t from);

  // The planner's Notification for an entry, id included.
  Notification expand(const Scheduled& entry) const;

  std::vector<Scheduled>& entries() { return entries_; }
  const std::vector<Scheduled>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

  // Whether `n` (expanded earlier) is still planned as it was: same id, attempt and action.
  // Looks in entries [from, end) (the daemon passes its cursor).
  bool holds(const Notification& n, size_t from = 0) const;

 private:
  uint8_t channel_index(const std::string& name);
  Scheduled compact(const State& state, Notification&& n);

  std::vector<Scheduled> entries_;
  std::unordered_set<std::string> session_ids_;  // node-based: pointers stay put
  std::vector<std::string> channels_;
};

}  // namespace nudged
