#include "daemon/schedule.h"

#include <algorithm>
#include <limits>

namespace nudged {

uint8_t Schedule::channel_index(const std::string& name) {
  for (size_t i = 0; i < channels_.size(); ++i) {
    if (channels_[i] == name) return static_cast<uint8_t>(i);
  }
  channels_.push_back(name);
  return static_cast<uint8_t>(channels_.size() - 1);
}

uint32_t Schedule::session_index(std::string&& session_id, int64_t revision) {
  auto [it, inserted] = session_index_.try_emplace(SessionRef{std::move(session_id), revision},
                                                   static_cast<uint32_t>(sessions_.size()));
  if (inserted) sessions_.push_back(&it->first);
  return it->second;
}

namespace {

// By due time; ties in a fixed order of the entry's own fields (the planner's plan() orders
// ties by id, which would mean building every id here).
bool due_order(const Scheduled& a, const Scheduled& b) {
  if (a.due != b.due) return a.due < b.due;
  if (a.registration != b.registration) return a.registration < b.registration;
  if (a.session != b.session) return a.session < b.session;
  return std::tie(a.kind, a.channel, a.role, a.recipient_index, a.accommodation) <
         std::tie(b.kind, b.channel, b.role, b.recipient_index, b.accommodation);
}

}  // namespace

void Schedule::rebuild(const State& state, const PlanConfig& config, TimePoint now,
                       std::optional<TimePoint> running_since) {
  entries_.clear();
  session_index_.clear();
  sessions_.clear();
  channels_.clear();
  PlanOptions options;
  options.running_since = running_since;
  plan_each(state, config, now, options,
            [&](Notification&& n) { entries_.push_back(compact(state, std::move(n))); });
  entries_.shrink_to_fit();
  std::sort(entries_.begin(), entries_.end(), due_order);
}

void Schedule::add(const State& state, const PlanConfig& config, TimePoint now,
                   const std::vector<const RegistrationState*>& registrations, size_t from,
                   std::optional<TimePoint> running_since) {
  PlanOptions options;
  options.only = &registrations;
  options.running_since = running_since;
  size_t middle = entries_.size();
  plan_each(state, config, now, options,
            [&](Notification&& n) { entries_.push_back(compact(state, std::move(n))); });
  std::sort(entries_.begin() + static_cast<std::ptrdiff_t>(middle), entries_.end(), due_order);
  std::inplace_merge(entries_.begin() + static_cast<std::ptrdiff_t>(std::min(from, middle)),
                     entries_.begin() + static_cast<std::ptrdiff_t>(middle), entries_.end(),
                     due_order);
}

Scheduled Schedule::compact(const State& state, Notification&& n) {
  Scheduled e;
  e.due = n.due;
  e.nominal_due = n.nominal_due;
  auto after = std::chrono::floor<std::chrono::seconds>(n.deadline - n.nominal_due).count();
  e.deadline_after_nominal_s = static_cast<int32_t>(std::clamp<int64_t>(
      after, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
  e.attempt = static_cast<uint16_t>(std::min<int64_t>(n.attempt, UINT16_MAX));
  e.kind = static_cast<uint8_t>(n.kind);
  e.role = static_cast<uint8_t>(n.role);
  e.recipient_index = static_cast<uint8_t>(std::min(n.recipient_index, 255));
  e.channel = channel_index(n.channel);
  e.expire = n.action == Notification::Action::kExpire;
  e.missed_while_down = n.missed_while_down;
  e.session = session_index(std::move(n.session_id), n.session_revision);
  if (!n.registration_id.empty()) {
    e.registration = state.registration(n.registration_id);
    if (e.registration != nullptr && !n.accommodation_kind.empty()) {
      const auto& list = e.registration->accommodations;
      for (size_t i = 0; i < list.size(); ++i) {
        if (list[i].kind == n.accommodation_kind) e.accommodation = static_cast<uint8_t>(i);
      }
    }
  }
  return e;
}

Notification Schedule::expand(const Scheduled& e) const {
  Notification n;
  n.kind = static_cast<NotificationKind>(e.kind);
  n.channel = channels_[e.channel];
  n.role = static_cast<RecipientRole>(e.role);
  n.recipient_index = e.recipient_index;
  const SessionRef& session = *sessions_[e.session];
  n.session_id = session.session_id;
  n.session_revision = session.revision;
  if (e.registration != nullptr) {
    n.registration_id = e.registration->registration_id();
    if (n.kind == NotificationKind::kAccommodationConfirmed &&
        e.accommodation < e.registration->accommodations.size()) {
      n.accommodation_kind = e.registration->accommodations[e.accommodation].kind;
    }
  }
  n.nominal_due = e.nominal_due;
  n.due = e.due;
  n.deadline = e.nominal_due + std::chrono::seconds(e.deadline_after_nominal_s);
  n.attempt = e.attempt;
  n.action = e.expire ? Notification::Action::kExpire : Notification::Action::kSend;
  n.missed_while_down = e.missed_while_down;
  n.id = notification_id(n);
  return n;
}

bool Schedule::holds(const Notification& n, size_t from) const {
  // Only [from, end) is sorted for certain: add() merges behind the daemon's cursor, and a new
  // entry may be due before the settled ones in front of it.
  auto begin = entries_.begin() + static_cast<std::ptrdiff_t>(std::min(from, entries_.size()));
  auto [first, last] =
      std::equal_range(begin, entries_.end(), n.due, [](const auto& a, const auto& b) {
        if constexpr (std::is_same_v<std::decay_t<decltype(a)>, Scheduled>) {
          return a.due < b;
        } else {
          return a < b.due;
        }
      });
  for (auto it = first; it != last; ++it) {
    // The fields an id is made of, compared before building the entry's id: many entries can
    // share a due time (every confirmation of the same millisecond), and expanding each one
    // was most of the time of a dispatch.
    const Scheduled& e = *it;
    if (static_cast<NotificationKind>(e.kind) != n.kind || channels_[e.channel] != n.channel ||
        (e.registration == nullptr ? !n.registration_id.empty()
                                   : e.registration->registration_id() != n.registration_id)) {
      continue;
    }
    Notification m = expand(e);
    if (m.id == n.id) return m.attempt == n.attempt && m.action == n.action;
  }
  return false;
}

}  // namespace nudged
