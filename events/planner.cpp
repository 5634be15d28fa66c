#include "events/planner.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <span>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "events/series.h"

namespace nudged {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr auto kQuietMargin = minutes(15);
// Deadlines for notices not tied to one meeting (a series registration's confirmation, a
// series cancelled): a week to get through.
constexpr auto kLooseDeadline = hours(7 * 24);

// "20270111T190000Z": compact, sortable, and free of characters that need escaping anywhere.
std::string compact_utc(TimePoint t) {
  auto s = date::floor<seconds>(t);
  auto day = date::floor<date::days>(s);
  date::year_month_day ymd{day};
  date::hh_mm_ss<seconds> tod{s - day};
  int year = int(ymd.year());
  if (year < 0 || year > 9999) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ", year, unsigned(ymd.month()),
                  unsigned(ymd.day()), int(tod.hours().count()), int(tod.minutes().count()),
                  int(tod.seconds().count()));
    return buf;
  }
  // Digit by digit (this is part of every notification id, made many times per plan).
  char buf[16];
  char* p = put_digits(buf, static_cast<unsigned>(year), 4);
  p = put_digits(p, unsigned(ymd.month()), 2);
  p = put_digits(p, unsigned(ymd.day()), 2);
  *p++ = 'T';
  p = put_digits(p, static_cast<unsigned>(tod.hours().count()), 2);
  p = put_digits(p, static_cast<unsigned>(tod.minutes().count()), 2);
  p = put_digits(p, static_cast<unsigned>(tod.seconds().count()), 2);
  *p++ = 'Z';
  return std::string(buf, p);
}

std::string subject_of(const Notification& n) {
  switch (n.kind) {
    case NotificationKind::kRoster:
      return n.session_id + "/facilitator" + std::to_string(n.recipient_index);
    case NotificationKind::kAccommodationConfirmed:
      return n.registration_id + "/" + n.accommodation_kind;
    case NotificationKind::kAccommodationRequest:
    case NotificationKind::kAccommodationEscalation:
      return n.registration_id + "/coordinator" + std::to_string(n.recipient_index) +
             (n.kind == NotificationKind::kAccommodationEscalation ? "/" + n.session_id : "");
    case NotificationKind::kReminder:
    case NotificationKind::kChanged:
      return n.registration_id + "/" + n.session_id;
    case NotificationKind::kConfirmation:
      return n.registration_id;
  }
  return n.registration_id;
}

// The notification id of SPEC §4: kind, subject, channel, nominal due instant, revision.
// Readable on purpose: an operator can tell from the id alone what it was.
std::string make_id(NotificationKind kind, const std::string& subject, const std::string& channel,
                    TimePoint nominal_due, int64_t revision) {
  std::string id(kind_name(kind));
  id += ':';
  id += subject;
  id += ':';
  id += channel;
  id += ':';
  id += compact_utc(nominal_due);
  id += ":r";
  id += std::to_string(revision);
  return id;
}

seconds grace_of(const Offset& o) {
  return seconds(o.unit == Offset::Unit::kExact ? o.amount : o.amount * 86400);
}

int64_t longest_offset_seconds(const PlanConfig& config) {
  int64_t longest = 0;
  auto consider = [&](const Policy& p) {
    for (const auto* list : {&p.email_reminders, &p.sms_reminders}) {
      for (const Offset& o : *list)
        longest = std::max<int64_t>(longest, grace_of(o).count());
    }
    longest = std::max<int64_t>(longest, grace_of(p.accommodation_lead).count());
    longest = std::max<int64_t>(longest, grace_of(p.roster_before).count());
  };
  consider(config.defaults);
  for (const auto& [id, g] : config.groups)
    consider(g.policy);
  return longest + 86400;  // a day more: a DST shift cannot push one out of the window
}

PlannedSession from_single(const SessionState& s) {
  PlannedSession p;
  p.session_id = s.session_id;
  p.single = &s;
  p.group = s.group;
  p.title = s.title;
  p.starts_at = s.starts_at.utc;
  p.generated_start = s.starts_at.utc;
  p.time_zone = s.time_zone.name;
  p.duration_minutes = s.duration_minutes;
  p.revision = s.revision;
  p.revision_at = s.revision_at;
  p.scheduled_at = s.scheduled_at;
  p.cancelled = s.cancelled;
  p.last_change = s.last_change;
  p.facilitators = &s.facilitators;
  return p;
}

// An occurrence: the series' definition (`d`: the current one, or one a retime replaced) with
// the occurrence's own changes laid over it.
PlannedSession from_occurrence(const SeriesState& series, const SeriesScheduled& d,
                               const std::string& date, TimePoint generated) {
  PlannedSession p;
  p.session_id = occurrence_id(d.series_id, date);
  p.series = &series;
  p.group = d.group;
  p.title = d.title;
  p.starts_at = generated;
  p.generated_start = generated;
  p.time_zone = d.time_zone.name;
  p.duration_minutes = d.duration_minutes;
  p.revision = series.revision * 10000;
  p.revision_at = series.revision_at;
  p.scheduled_at = series.scheduled_at;
  p.facilitators = &d.facilitators;
  // A series cancelled cancels the occurrences that had not started by then.
  p.cancelled = series.cancelled && generated > series.cancelled_at;
  if (auto it = series.overrides.find(date); it != series.overrides.end()) {
    const OccurrenceOverride& o = it->second;
    p.change = &o;
    if (o.starts_at) p.starts_at = o.starts_at->utc;
    if (o.time_zone) p.time_zone = o.time_zone->name;
    if (o.update.title) p.title = *o.update.title;
    if (o.update.duration_minutes) p.duration_minutes = *o.update.duration_minutes;
    if (o.update.facilitators) p.facilitators = &*o.update.facilitators;
    p.revision += o.revision;
    p.revision_at = std::max(p.revision_at, o.revision_at);
    p.cancelled = p.cancelled || o.cancelled;
    p.last_change = o.last_change;
    if (p.last_change) {
      // As the occurrence's revision was when the change was made: neither the series
      // scheduled again since nor a later update of the occurrence makes its notice new.
      p.last_change->revision = p.last_change->series_revision * 10000 + p.last_change->revision;
      if (!p.last_change->old_starts_at && !p.last_change->cancelled) {
        p.last_change->old_starts_at = Instant{generated, 0, false};
      }
    }
  }
  return p;
}

// A registrant's zone: their own, else `fallback` (the meeting's or the series').
const date::time_zone* recipient_zone(const RegistrationState& r, const std::string& fallback) {
  if (const std::string* name = r.participant().time_zone) {
    if (const date::time_zone* z = find_zone(*name)) return z;
  }
  return find_zone(fallback);
}

// The quiet hours `t` falls in, as instants: [began, ends). nullopt outside them.
struct QuietWindow {
  TimePoint began;
  TimePoint ends;
};
std::optional<QuietWindow> quiet_window_at(TimePoint t, const QuietHours& quiet,
                                           const date::time_zone* zone) {
  if (!quiet.enabled || zone == nullptr) return std::nullopt;
  auto local = date::floor<minutes>(zone->to_local(t));
  auto day = date::floor<date::days>(local);
  int m = static_cast<int>((local - day).count());
  date::local_days began_day, ends_day;
  if (quiet.start_minute < quiet.end_minute) {  // e.g. 01:00-06:00, within one day
    if (m < quiet.start_minute || m >= quiet.end_minute) return std::nullopt;
    began_day = ends_day = day;
  } else if (m >= quiet.start_minute) {  // e.g. 23:00 in 21:00-08:00
    began_day = day;
    ends_day = day + date::days(1);
  } else if (m < quiet.end_minute) {  // e.g. 06:00 in 21:00-08:00
    began_day = day - date::days(1);
    ends_day = day;
  } else {
    return std::nullopt;
  }
  // When the local clock first reads `minute` of day `d`, at or after `not_before`. A time the
  // clocks skip (going forward) is passed when they jump: quiet hours begin or end then, not
  // some minutes after. A time that comes twice (going back) is taken in the pass `not_before`
  // is in, so a time in the repeated hour stays quiet until that pass's end.
  auto place = [&](date::local_days d, int minute, TimePoint not_before) {
    date::local_seconds local_time = d + minutes(minute);
    date::local_info info = zone->get_info(local_time);
    if (info.result == date::local_info::nonexistent) {
      return std::chrono::time_point_cast<Millis>(info.second.begin);
    }
    if (info.result == date::local_info::ambiguous) {
      TimePoint first = std::chrono::time_point_cast<Millis>(
          date::sys_seconds(local_time.time_since_epoch()) - info.first.offset);
      if (first >= not_before) return first;
      return std::chrono::time_point_cast<Millis>(date::sys_seconds(local_time.time_since_epoch()) -
                                                  info.second.offset);
    }
    return std::chrono::time_point_cast<Millis>(zone->to_sys(local_time));
  };
  return QuietWindow{place(began_day, quiet.start_minute, TimePoint::min()),
                     place(ends_day, quiet.end_minute, t)};
}

// Whether coordinator i's address has not opted out (when the daemon said what it is).
bool coordinator_reachable(const State& state, const PlanConfig& config, size_t i) {
  if (i >= config.coordinator_opt_outs.size()) return true;
  const PlanConfig::StaffOptOut& o = config.coordinator_opt_outs[i];
  return !state.opted_out(o.channel, o.match);
}

bool session_order(const PlannedSession& a, const PlannedSession& b) {
  return a.starts_at != b.starts_at ? a.starts_at < b.starts_at : a.session_id < b.session_id;
}

// Registrations sorted by target, then id.
using ByTarget = std::vector<const RegistrationState*>;

// The registrations for one target, in id order.
std::span<const RegistrationState* const> registered_for(const ByTarget& by_target,
                                                         const std::string& target) {
  auto [first, last] = std::equal_range(
      by_target.begin(), by_target.end(), target, [](const auto& a, const auto& b) {
        if constexpr (std::is_same_v<std::decay_t<decltype(a)>, std::string>) {
          return a < b->target();
        } else {
          return a->target() < b;
        }
      });
  return {first, last};
}

// Everything the rules below need about one registration's recipient.
struct Registrant {
  const RegistrationState* reg;
  const ParticipantState* person;
  const date::time_zone* zone;  // the participant's, else the session's
};

class Planner {
 public:
  Planner(const State& state, const PlanConfig& config, TimePoint now, const PlanOptions& opt,
          const std::function<void(Notification&&)>& sink)
      : state_(state), config_(config), now_(now), opt_(opt), sink_(sink) {}

  // Hands every planned item to the sink, in no particular order.
  void run() {
    TimePoint from = now_ - opt_.lookback;
    TimePoint to = now_ + opt_.horizon + seconds(longest_offset_seconds(config_));
    std::vector<PlannedSession> sessions = sessions_in_window(state_, from, to);

    // Registrations by what they registered for, then by id (determinism). One sorted vector
    // rather than a map of vectors: with a million pending notifications that was some 5 MB of
    // small allocations, freed after planning but kept by malloc (resident); one large block
    // goes back to the system.
    ByTarget by_target;
    if (opt_.only != nullptr) {
      by_target = *opt_.only;
    } else {
      by_target.reserve(state_.registrations().size());
      for (const auto& [id, r] : state_.registrations())
        by_target.push_back(&r);
    }
    std::sort(by_target.begin(), by_target.end(), [](auto* a, auto* b) {
      // Interned: the same target is the same string.
      int c = &a->target() == &b->target() ? 0 : a->target().compare(b->target());
      return c != 0 ? c < 0 : a->registration_id() < b->registration_id();
    });
    index_people_with_several(by_target);

    for (const RegistrationState* r : by_target)
      registration_notices(*r);
    for (const PlannedSession& s : sessions) {
      std::vector<const RegistrationState*> regs = covering(s, by_target);
      for (const RegistrationState* r : regs)
        session_notices(s, *r);
      if (opt_.only == nullptr) roster(s, regs);
    }
    if (opt_.only == nullptr) series_cancel_notices(by_target);
    if (opt_.only == nullptr) series_retimed_notices(by_target);
    if (opt_.only == nullptr) dropped_occurrence_notices(by_target);
  }

 private:
  // The registrations that cover one session: its own, and the series' registrations made
  // before the occurrence started. Cancelled registrations and erased people are left out.
  std::vector<const RegistrationState*> covering(const PlannedSession& s,
                                                 const ByTarget& by_target) const {
    std::vector<const RegistrationState*> out;
    auto add = [&](const std::string& key, bool series) {
      for (const RegistrationState* r : registered_for(by_target, key)) {
        if (r->cancelled || erased(*r)) continue;
        if (series && r->registered_at >= s.generated_start) continue;
        out.push_back(r);
      }
    };
    add(s.session_id, false);  // a single session, or one occurrence registered for by id
    if (s.series != nullptr) add(s.series->definition.series_id, true);
    return out;
  }

  static bool erased(const RegistrationState& r) { return r.participant().erased; }

  // One person, one set of reminders. Someone may hold several registrations that cover the
  // same meeting: a form sent twice without an Idempotency-Key, a second registration to add
  // text messages or an accommodation, a series and one of its meetings. A meeting's reminders
  // then go once per channel, from the first of those registrations (in order of arrival)
  // that is active and reaches them on the channel; the others stay silent on it. A channel
  // only a later one chose is its to use. Everything else stays per registration: each
  // confirmation answers something the person did and puts its own entry in their calendar,
  // so each entry gets its own change notice; the coordinator needs each accommodation ask.
  bool speaks_for(const RegistrationState& r, const PlannedSession& s,
                  const std::string& channel) const {
    const RegistrationState* first = nullptr;
    for_each_sibling(r, s, [&](const RegistrationState& q) {
      if (q.cancelled || !chose(q, channel) || !reachable(q, channel)) return;
      if (first == nullptr || arrived_before(q, *first)) first = &q;
    });
    return first == nullptr || first == &r;
  }

  // Whether the same reminder (channel, due, revision) already went out under another of the
  // person's registrations for the meeting: the one that spoke for them until it was
  // cancelled. The one that takes over must not send it again.
  bool sent_by_another(const Notification& n, const RegistrationState& r, const PlannedSession& s,
                       TimePoint nominal_due) const {
    bool sent = false;
    for_each_sibling(r, s, [&](const RegistrationState& q) {
      if (sent || &q == &r) return;
      Notification same = n;
      same.registration_id = q.registration_id();
      same.nominal_due = nominal_due;
      const NotificationOutcome* o = state_.outcome(notification_id(same));
      sent = o != nullptr && o->sent;
    });
    return sent;
  }

  static bool chose(const RegistrationState& r, const std::string& channel) {
    for (const std::string& c : r.channels) {
      if (c == channel) return true;
    }
    return false;
  }

  static bool arrived_before(const RegistrationState& a, const RegistrationState& b) {
    if (a.registered_at != b.registered_at) return a.registered_at < b.registered_at;
    return a.registration_id() < b.registration_id();
  }

  // Calls f(q) for each registration q of r's participant (r included, cancelled ones too)
  // that covers session s as covering() counts it: for s itself, or for its series before the
  // occurrence began. Nothing is looked up for people with a single registration.
  template <typename F>
  void for_each_sibling(const RegistrationState& r, const PlannedSession& s, F f) const {
    if (several_.empty()) return f(r);
    const ParticipantState* person = &r.participant();
    auto visit = [&](std::string_view target, bool series) {
      auto it = several_.find(PersonTarget{person, target});
      if (it == several_.end()) return false;
      for (size_t i = it->second.first; i < it->second.first + it->second.second; ++i) {
        const RegistrationState& q = *by_person_[i];
        if (q.for_series != series) continue;
        if (series && q.registered_at >= s.generated_start) continue;
        f(q);
      }
      return true;
    };
    bool found = visit(s.session_id, false);
    if (s.series != nullptr) found = visit(s.series->definition.series_id, true) || found;
    if (!found) f(r);  // a person with several registrations, none other for this meeting
  }

  // Builds the index for_each_sibling() reads: the registrations of people with more than one,
  // grouped by (person, what they registered for). A planning of only new people's
  // registrations holds all of theirs (State plans a registration alone only for a new
  // participant), so the index is complete in both kinds of run. By (person, target) rather
  // than by person, so that someone with many registrations for different meetings (a
  // shared address) costs a lookup per meeting, not a walk through all of them.
  void index_people_with_several(const ByTarget& regs) {
    by_person_ = regs;
    std::sort(by_person_.begin(), by_person_.end(), [](auto* a, auto* b) {
      if (&a->participant() != &b->participant()) return &a->participant() < &b->participant();
      return &a->target() < &b->target();  // interned: the same target is the same string
    });
    size_t kept = 0;
    for (size_t i = 0; i < by_person_.size();) {
      size_t end = i + 1;
      while (end < by_person_.size() &&
             &by_person_[end]->participant() == &by_person_[i]->participant()) {
        ++end;
      }
      if (end - i > 1) {  // keep this person's registrations, a group per target
        for (size_t j = i; j < end;) {
          size_t group_end = j + 1;
          while (group_end < end && &by_person_[group_end]->target() == &by_person_[j]->target())
            ++group_end;
          several_.emplace(PersonTarget{&by_person_[j]->participant(), by_person_[j]->target()},
                           std::make_pair(kept, group_end - j));
          for (size_t k = j; k < group_end; ++k)
            by_person_[kept++] = by_person_[k];
          j = group_end;
        }
      }
      i = end;
    }
    by_person_.resize(kept);
    by_person_.shrink_to_fit();
  }

  // Whether the registrant can be reached on `channel` at all: consent and opt-outs.
  bool reachable(const RegistrationState& r, const std::string& channel) const {
    const ParticipantState& p = r.participant();
    if (p.erased) return false;
    if (channel == "sms") {
      return r.sms_consent && !p.phone.empty() && !state_.opted_out("sms", p.phone);
    }
    if (channel == "email") return !p.email.empty() && !state_.opted_out("email", p.email);
    return false;
  }

  bool coordinator_reachable(size_t i) const {
    return nudged::coordinator_reachable(state_, config_, i);
  }

  const date::time_zone* zone_for(const RegistrationState& r, const std::string& fallback) const {
    return recipient_zone(r, fallback);
  }

  // Adds one item, unless its id is already settled (sent, expired, failed for good). Applies
  // SMS quiet hours, pending retries, and the downtime rule: a due time missed while the daemon
  // was down (before running_since) is acted on now when still before the deadline and it was
  // within late_grace when the daemon started, else recorded as expired. A due time since then
  // expires only with its deadline.
  void emit(Notification n, TimePoint nominal_due, const Policy& policy,
            const date::time_zone* zone) {
    TimePoint start = n.deadline;
    emit(std::move(n), nominal_due, policy, zone, start);
  }
  // `start` is the meeting's start, which quiet hours keep 15 minutes clear of. A reminder
  // that quiet hours move to before `not_before` (its registration, or the change that made
  // its session's time) is not sent, as one due before then is not: the confirmation or the
  // change notice, sent then, covered it. Sent at once instead, it would be a second text in
  // the middle of the recipient's night.
  void emit(Notification n, TimePoint nominal_due, const Policy& policy,
            const date::time_zone* zone, TimePoint start, TimePoint not_before = TimePoint::min()) {
    n.nominal_due = nominal_due;
    n.id = notification_id(n);
    n.due = nominal_due;
    if (const NotificationOutcome* o = state_.outcome(n.id)) {
      if (o->sent || o->expired || o->failed_permanently) return;
      n.attempt = o->attempts + 1;
      if (o->attempts > 0) n.due = o->retry_pending ? o->retry_at : now_;
    }
    if (n.channel == "sms" && policy.quiet_hours.enabled) {
      TimePoint moved = apply_quiet_hours(n.due, start, policy.quiet_hours, zone);
      // Only a first reminder may move earlier (to the last minute before quiet hours).
      // Anything else never goes before the fact that caused it or before its retry time: a
      // confirmation cannot precede its registration, so then it goes at once.
      bool may_move_earlier = n.attempt == 1 && n.kind == NotificationKind::kReminder;
      if (moved >= n.due || may_move_earlier) n.due = moved;
      if (n.due < not_before) return;
    }
    TimePoint up = opt_.running_since.value_or(now_);
    bool down = n.due < now_ && n.due < up && up > n.due + grace_of(policy.late_grace);
    bool missed = n.due < now_ && (down || now_ >= n.deadline);
    if (n.due >= n.deadline || missed) {
      n.action = Notification::Action::kExpire;
      n.missed_while_down = down;
      n.due = std::min(n.due, now_);
    }
    sink_(std::move(n));
  }

  // Confirmation, accommodation request and accommodation confirmed: due at once, once per
  // registration (not per occurrence). Their ids carry revision 0, not the session's: a later
  // update or reschedule must not make them new notifications (session.changed covers that).
  void registration_notices(const RegistrationState& r) {
    if (r.cancelled || erased(r)) return;
    // A session, one occurrence of a series ("<series>@<date>"), or a whole series.
    std::optional<PlannedSession> session;
    const SeriesState* series = nullptr;
    if (!r.for_series) {
      session = find_session(state_, r.target());
      if (!session || session->cancelled) return;  // unknown or cancelled: nothing to say
    } else {
      auto it = state_.series().find(r.target());
      if (it == state_.series().end() || it->second.cancelled) return;
      series = &it->second;
    }
    const std::string& group = session ? session->group : series->definition.group;
    const Policy& policy = config_.policy_for(group);
    // A session's notices are good until it starts; a series has no such end, so each notice
    // gets a week from the fact behind it (the registration, or an arrangement made later).
    auto deadline_from = [&](TimePoint fact) {
      return session ? session->starts_at : fact + kLooseDeadline;
    };
    // Long past: nothing left to say, and nothing worth recording as expired either.
    auto long_past = [&](TimePoint deadline) { return deadline < now_ - opt_.lookback; };
    constexpr int64_t revision = 0;
    const std::string& target = r.target();
    const std::string& meeting_zone =
        session ? session->time_zone : series->definition.time_zone.name;
    const date::time_zone* zone = zone_for(r, meeting_zone);
    // Coordinators' quiet hours are the meeting's, as for escalations: not the registrant's.
    const date::time_zone* staff_zone = find_zone(meeting_zone);

    TimePoint deadline = deadline_from(r.registered_at);
    if (!long_past(deadline)) {
      // Every registration is answered, a second one for the same meeting too (speaks_for).
      for (const std::string& channel : r.channels) {
        if (!reachable(r, channel)) continue;
        Notification n =
            base(NotificationKind::kConfirmation, channel, r, target, deadline, revision);
        emit(std::move(n), r.registered_at, policy, zone);
      }
      for (size_t i = 0; i < config_.coordinators.size() && !r.accommodations.empty(); ++i) {
        if (!coordinator_reachable(i)) continue;
        Notification n = base(NotificationKind::kAccommodationRequest,
                              config_.coordinators[i].channel, r, target, deadline, revision);
        n.role = RecipientRole::kCoordinator;
        n.recipient_index = static_cast<int>(i);
        emit(std::move(n), r.registered_at, policy, staff_zone);
      }
    }
    for (const AccommodationState& a : r.accommodations) {
      if (!a.arranged) continue;
      TimePoint due = std::max(a.arranged_at, r.registered_at);
      if (long_past(deadline_from(due))) continue;
      for (const std::string& channel : r.channels) {
        if (!reachable(r, channel)) continue;
        Notification n = base(NotificationKind::kAccommodationConfirmed, channel, r, target,
                              deadline_from(due), revision);
        n.accommodation_kind = a.kind;
        emit(std::move(n), due, policy, zone);
      }
    }
  }

  // Reminders, change notices and escalations for one registration and one session.
  void session_notices(const PlannedSession& s, const RegistrationState& r) {
    const Policy& policy = config_.policy_for(s.group);
    const date::time_zone* session_zone = find_zone(s.time_zone);
    const date::time_zone* zone = zone_for(r, s.time_zone);

    // session.changed: the latest reschedule or cancel, to those registered before it.
    if (s.last_change && r.registered_at < s.last_change->at) {
      TimePoint deadline = s.starts_at;
      if (s.last_change->old_starts_at) {
        deadline = std::max(deadline, s.last_change->old_starts_at->utc);
      }
      for (const std::string& channel : r.channels) {
        if (!reachable(r, channel)) continue;
        Notification n = base(NotificationKind::kChanged, channel, r, s.session_id, deadline,
                              s.last_change->revision);
        emit(std::move(n), s.last_change->at, policy, zone, s.starts_at);
      }
    }
    if (s.cancelled) return;

    // Reminders due before the registration arrived, or before the session last changed, are
    // not sent: the confirmation or the change notice covered them, and a reminder sent under
    // the previous revision must not go out again under the new one.
    TimePoint effective_from = std::max(r.registered_at, s.revision_at);
    for (const std::string& channel : r.channels) {
      if (!reachable(r, channel) || !speaks_for(r, s, channel)) continue;
      const auto& offsets = channel == "sms" ? policy.sms_reminders : policy.email_reminders;
      for (const Offset& offset : offsets) {
        TimePoint due = offset_before(s.starts_at, offset, zone);
        if (due < effective_from) continue;
        Notification n =
            base(NotificationKind::kReminder, channel, r, s.session_id, s.starts_at, s.revision);
        if (sent_by_another(n, r, s, due)) continue;
        emit(std::move(n), due, policy, zone, s.starts_at, effective_from);
      }
    }

    // accommodation.escalation: accommodation_lead before start, while anything is not
    // arranged. Skipped when that moment came before the registration (the request went then);
    // at once when a reschedule brought the meeting inside the lead before it was due.
    bool pending = std::any_of(r.accommodations.begin(), r.accommodations.end(),
                               [](const AccommodationState& a) { return !a.arranged; });
    if (pending) {
      TimePoint due = offset_before(s.starts_at, policy.accommodation_lead, session_zone);
      int64_t revision = s.revision;
      if (due < effective_from) {
        std::optional<SessionChange> owed =
            owed_at_change(s, due, policy.accommodation_lead, session_zone);
        if (owed && r.registered_at < owed->at) {
          due = owed->at;
          revision = owed->revision;
          effective_from = due;
        }
      }
      if (due >= effective_from) {
        for (size_t i = 0; i < config_.coordinators.size(); ++i) {
          if (!coordinator_reachable(i)) continue;
          Notification n =
              base(NotificationKind::kAccommodationEscalation, config_.coordinators[i].channel, r,
                   s.session_id, s.starts_at, revision);
          n.role = RecipientRole::kCoordinator;
          n.recipient_index = static_cast<int>(i);
          emit(std::move(n), due, policy, session_zone);
        }
      }
    }
  }

  // A notice due `before` the start (now at `due`) that the session's last reschedule made
  // overdue: it brought the meeting closer than `before` while, under the old start, the notice
  // was still to come. Then it is owed at the change, under the change's revision (returned),
  // so that a later update of the session neither drops it nor makes it a new one. Not when
  // the notice was due before the change (it went under the old start), nor when it is due
  // after it (planned as usual).
  std::optional<SessionChange> owed_at_change(const PlannedSession& s, TimePoint due,
                                              const Offset& before,
                                              const date::time_zone* zone) const {
    const std::optional<SessionChange>& c = s.last_change;
    if (!c || c->cancelled || !c->old_starts_at || due >= c->at) return std::nullopt;
    if (offset_before(c->old_starts_at->utc, before, zone) < c->at) return std::nullopt;
    return c;
  }

  // facilitator.roster: roster_before the start, to each facilitator with an address. When the
  // session was scheduled, or rescheduled, too late for that, it goes at once; when the roster's
  // time had passed before the session changed, the roster of the old revision stands (no
  // second one).
  void roster(const PlannedSession& s, const std::vector<const RegistrationState*>& regs) {
    (void)regs;  // the renderer counts them; the plan only needs the session
    if (s.cancelled || s.facilitators == nullptr) return;
    const Policy& policy = config_.policy_for(s.group);
    const date::time_zone* zone = find_zone(s.time_zone);
    TimePoint due = offset_before(s.starts_at, policy.roster_before, zone);
    int64_t revision = s.revision;
    if (due < s.revision_at) {
      if (s.revision_at == s.scheduled_at) {
        due = s.scheduled_at;
      } else if (std::optional<SessionChange> owed =
                     owed_at_change(s, due, policy.roster_before, zone)) {
        due = owed->at;
        revision = owed->revision;
      } else {
        return;
      }
    }
    for (size_t i = 0; i < s.facilitators->size(); ++i) {
      const Facilitator& f = (*s.facilitators)[i];
      // By email, else by text; never to an address that opted out.
      std::string channel;
      if (f.email && !state_.opted_out("email", *f.email)) {
        channel = "email";
      } else if (f.phone && !state_.opted_out("sms", *f.phone)) {
        channel = "sms";
      } else {
        continue;
      }
      Notification n;
      n.kind = NotificationKind::kRoster;
      n.channel = channel;
      n.role = RecipientRole::kFacilitator;
      n.recipient_index = static_cast<int>(i);
      n.session_id = s.session_id;
      n.deadline = s.starts_at;
      n.session_revision = revision;
      emit(std::move(n), due, policy, zone);
    }
  }

  // A series scheduled again at other times (or back after a cancel): one notice per series
  // registration made before, with the calendar entry of the whole series updated. Those
  // registered for one meeting that the new rule no longer has are told by
  // dropped_occurrence_notices().
  void series_retimed_notices(const ByTarget& by_target) {
    for (const auto& [id, series] : state_.series()) {
      if (series.cancelled || !series.retimed_at || *series.retimed_at < now_ - opt_.lookback) {
        continue;
      }
      const TimePoint at = *series.retimed_at;
      const Policy& policy = config_.policy_for(series.definition.group);
      for (const RegistrationState* r : registered_for(by_target, id)) {
        if (r->cancelled || erased(*r) || r->registered_at >= at) continue;
        for (const std::string& channel : r->channels) {
          if (!reachable(*r, channel)) continue;
          Notification n = base(NotificationKind::kChanged, channel, *r, id, at + kLooseDeadline,
                                series.retimed_revision * 10000);
          emit(std::move(n), at, policy, zone_for(*r, series.definition.time_zone.name));
        }
      }
    }
  }

  // A series scheduled again at other times that no longer has a meeting someone registered
  // for on its own ("<series>@<date>"): to them that meeting is cancelled, and they hear so as
  // they would of a cancel (its calendar entry removed), once. However far ahead the meeting
  // is: the planning window never lists a meeting the series no longer has. Series
  // registrants are not told here: series_retimed_notices() updates their whole series.
  void dropped_occurrence_notices(const ByTarget& by_target) {
    for (const auto& [id, series] : state_.series()) {
      // Only a retime within the lookback can owe a notice; most series have none.
      if (series.retimes.empty() || series.retimes.back().at < now_ - opt_.lookback) continue;
      const std::string prefix = id + "@";
      auto first = std::lower_bound(
          by_target.begin(), by_target.end(), prefix,
          [](const RegistrationState* r, const std::string& key) { return r->target() < key; });
      // Registrations are sorted by target: look each date up once.
      const std::string* looked_up = nullptr;
      std::optional<PlannedSession> dropped;
      for (auto it = first; it != by_target.end() && (*it)->target().starts_with(prefix); ++it) {
        const RegistrationState* r = *it;
        if (r->cancelled || erased(*r)) continue;
        if (looked_up != &r->target()) {
          looked_up = &r->target();
          dropped = find_dropped_occurrence(state_, r->target());
        }
        if (!dropped || dropped->last_change->at < now_ - opt_.lookback ||
            r->registered_at >= dropped->last_change->at) {
          continue;
        }
        const Policy& policy = config_.policy_for(dropped->group);
        for (const std::string& channel : r->channels) {
          if (!reachable(*r, channel)) continue;
          Notification n = base(NotificationKind::kChanged, channel, *r, dropped->session_id,
                                dropped->starts_at, dropped->last_change->revision);
          emit(std::move(n), dropped->last_change->at, policy, zone_for(*r, dropped->time_zone),
               dropped->starts_at);
        }
      }
    }
  }

  // A series cancelled: one notice per series registration made before the cancel.
  void series_cancel_notices(const ByTarget& by_target) {
    for (const auto& [id, series] : state_.series()) {
      if (!series.cancelled || series.cancelled_at < now_ - opt_.lookback) continue;
      const Policy& policy = config_.policy_for(series.definition.group);
      for (const RegistrationState* r : registered_for(by_target, id)) {
        if (r->cancelled || erased(*r) || r->registered_at >= series.cancelled_at) continue;
        for (const std::string& channel : r->channels) {
          if (!reachable(*r, channel)) continue;
          Notification n = base(NotificationKind::kChanged, channel, *r, id,
                                series.cancelled_at + kLooseDeadline, series.revision * 10000);
          emit(std::move(n), series.cancelled_at, policy,
               zone_for(*r, series.definition.time_zone.name));
        }
      }
      // Those registered for one occurrence ("<series>@<date>") that the cancel took away hear
      // of it too, about that occurrence, however far ahead it is (the planning window would
      // only reach it later, too late to tell them at once).
      const std::string prefix = id + "@";
      auto first = std::lower_bound(
          by_target.begin(), by_target.end(), prefix,
          [](const RegistrationState* r, const std::string& key) { return r->target() < key; });
      for (auto it = first; it != by_target.end() && (*it)->target().starts_with(prefix); ++it) {
        const RegistrationState* r = *it;
        if (r->cancelled || erased(*r) || r->registered_at >= series.cancelled_at) continue;
        std::optional<PlannedSession> occurrence = find_session(state_, r->target());
        // Not one the series cancel took: already over, or cancelled on its own before.
        if (!occurrence || occurrence->generated_start <= series.cancelled_at ||
            (occurrence->change != nullptr && occurrence->change->cancelled)) {
          continue;
        }
        for (const std::string& channel : r->channels) {
          if (!reachable(*r, channel)) continue;
          Notification n =
              base(NotificationKind::kChanged, channel, *r, occurrence->session_id,
                   std::max(occurrence->starts_at, series.cancelled_at + kLooseDeadline),
                   occurrence->revision);
          emit(std::move(n), series.cancelled_at, policy, zone_for(*r, occurrence->time_zone),
               occurrence->starts_at);
        }
      }
    }
  }

  static Notification base(NotificationKind kind, const std::string& channel,
                           const RegistrationState& r, const std::string& session_id,
                           TimePoint deadline, int64_t revision) {
    Notification n;
    n.kind = kind;
    n.channel = channel;
    n.registration_id = r.registration_id();
    n.session_id = session_id;
    n.deadline = deadline;
    n.session_revision = revision;
    return n;
  }

  const State& state_;
  const PlanConfig& config_;
  TimePoint now_;
  const PlanOptions& opt_;
  const std::function<void(Notification&&)>& sink_;
  // See index_people_with_several().
  struct PersonTarget {
    const ParticipantState* person;
    std::string_view target;
    friend bool operator==(const PersonTarget&, const PersonTarget&) = default;
  };
  struct PersonTargetHash {
    size_t operator()(const PersonTarget& k) const noexcept {
      return std::hash<const void*>()(k.person) ^ (std::hash<std::string_view>()(k.target) * 31);
    }
  };
  std::vector<const RegistrationState*> by_person_;
  // (person, target) -> [first, count) in by_person_
  std::unordered_map<PersonTarget, std::pair<size_t, size_t>, PersonTargetHash> several_;
};

}  // namespace

std::string_view kind_name(NotificationKind kind) {
  switch (kind) {
    case NotificationKind::kConfirmation:
      return "registration.confirmation";
    case NotificationKind::kReminder:
      return "session.reminder";
    case NotificationKind::kChanged:
      return "session.changed";
    case NotificationKind::kAccommodationRequest:
      return "accommodation.request";
    case NotificationKind::kAccommodationEscalation:
      return "accommodation.escalation";
    case NotificationKind::kAccommodationConfirmed:
      return "accommodation.confirmed";
    case NotificationKind::kRoster:
      return "facilitator.roster";
  }
  return "unknown";
}

void plan_each(const State& state, const PlanConfig& config, TimePoint now,
               const PlanOptions& options, const std::function<void(Notification&&)>& sink) {
  Planner(state, config, now, options, sink).run();
}

std::vector<Notification> plan(const State& state, const PlanConfig& config, TimePoint now,
                               const PlanOptions& options) {
  std::vector<Notification> out;
  plan_each(state, config, now, options, [&](Notification&& n) { out.push_back(std::move(n)); });
  std::sort(out.begin(), out.end(), [](const Notification& a, const Notification& b) {
    return a.due != b.due ? a.due < b.due : a.id < b.id;
  });
  return out;
}

std::string notification_id(const Notification& n) {
  return make_id(n.kind, subject_of(n), n.channel, n.nominal_due, n.session_revision);
}

std::vector<PlannedSession> sessions_in_window(const State& state, TimePoint from, TimePoint to) {
  std::vector<PlannedSession> out;
  // A single session is known exactly, however far ahead: only series need a horizon.
  for (const auto& [id, s] : state.sessions()) {
    if (s.starts_at.utc > from) out.push_back(from_single(s));
  }
  for (const auto& [id, series] : state.series()) {
    const SeriesScheduled& d = series.definition;
    Result<std::vector<Occurrence>> occ = expand_series(
        d.rrule, d.first_starts_at, d.time_zone.name, from, to, d.until ? &*d.until : nullptr);
    if (!occ) continue;  // checked at intake; a rule libical refuses has no occurrences
    for (const Occurrence& o : *occ) {
      PlannedSession p = from_occurrence(series, d, o.local_date, o.starts_at);
      if (p.starts_at > from && p.starts_at <= to) out.push_back(std::move(p));
    }
    // An occurrence outside the window that the plan needs all the same: one moved into it
    // from a date outside it, and one changed (moved or cancelled) within the lookback, however
    // far ahead: its change notice goes at once, not when the window reaches it (by then long
    // past its time, and recorded as expired).
    for (const auto& [date, change] : series.overrides) {
      bool moved_in =
          change.starts_at && change.starts_at->utc > from && change.starts_at->utc <= to;
      bool just_changed = change.last_change && change.last_change->at > from;
      if (!moved_in && !just_changed) continue;
      // Plain names for the bindings: clang 14 (the fuzzing build) cannot capture bindings.
      const SeriesState* in_series = &series;
      std::string occurrence = occurrence_id(d.series_id, date);
      bool listed = std::any_of(out.begin(), out.end(), [&](const PlannedSession& p) {
        return p.series == in_series && p.session_id == occurrence;
      });
      if (listed) continue;
      std::optional<PlannedSession> p = find_session(state, occurrence);
      if (p && p->starts_at > from) out.push_back(std::move(*p));
    }
  }
  std::sort(out.begin(), out.end(), session_order);
  return out;
}

std::optional<PlannedSession> find_session(const State& state, const std::string& session_id) {
  if (const SessionState* s = state.session(session_id)) return from_single(*s);
  size_t at = session_id.rfind('@');
  if (at == std::string::npos) return std::nullopt;
  auto it = state.series().find(session_id.substr(0, at));
  if (it == state.series().end()) return std::nullopt;
  std::string date = session_id.substr(at + 1);
  std::optional<Occurrence> o = occurrence_on(it->second.definition, date);
  if (!o) return std::nullopt;
  return from_occurrence(it->second, it->second.definition, date, o->starts_at);
}

std::optional<PlannedSession> find_dropped_occurrence(const State& state,
                                                      const std::string& session_id) {
  size_t at = session_id.rfind('@');
  if (at == std::string::npos) return std::nullopt;
  auto it = state.series().find(session_id.substr(0, at));
  if (it == state.series().end() || it->second.retimes.empty()) return std::nullopt;
  const SeriesState& series = it->second;
  std::string date = session_id.substr(at + 1);
  if (occurrence_on(series.definition, date)) return std::nullopt;  // still one of its meetings
  // Newest first: the first definition that still had the meeting is the one the retime after
  // it replaced, so that retime dropped it (every later definition lacks it). The latest drop
  // counts, so that retimes after it, which do not touch this date, leave its notice as it is.
  for (size_t i = series.retimes.size(); i-- > 0;) {
    const SeriesRetime& retime = series.retimes[i];
    std::optional<Occurrence> o = occurrence_on(retime.before, date);
    if (!o) continue;
    PlannedSession p = from_occurrence(series, retime.before, date, o->starts_at);
    // Cancelled on its own, or over by then: nothing was taken from anyone. Cancelled with the
    // series before it came back: its registrants were told then.
    if ((p.change != nullptr && p.change->cancelled) || p.starts_at <= retime.at ||
        (retime.cancelled_at && o->starts_at > *retime.cancelled_at)) {
      return std::nullopt;
    }
    // Its notice counts from the retime alone, so that later changes to the series or to the
    // date's override never make it a new one; the calendar's SEQUENCE still tops whatever
    // the occurrence's notices carried before.
    p.cancelled = true;
    p.revision = retime.revision * 10000 + (p.change != nullptr ? p.change->revision : 0);
    p.revision_at = retime.at;
    p.last_change =
        SessionChange{retime.revision * 10000, retime.at, true, std::nullopt, retime.revision};
    return p;
  }
  return std::nullopt;
}

TimePoint apply_quiet_hours(TimePoint due, TimePoint start, const QuietHours& quiet,
                            const date::time_zone* zone) {
  std::optional<QuietWindow> window = quiet_window_at(due, quiet, zone);
  if (!window) return due;
  if (window->ends + kQuietMargin <= start) return window->ends;
  return window->began - minutes(1);
}

std::optional<QuietHoursRule> quiet_hours_rule(const State& state, const PlanConfig& config,
                                               const Notification& n) {
  if (n.channel != "sms") return std::nullopt;  // as the planner applies them: by channel name
  // The meeting the notice is about, found as the planner and the composer find it; else the
  // series a series-wide notice is about.
  std::optional<PlannedSession> session = find_session(state, n.session_id);
  if (!session && n.kind == NotificationKind::kChanged) {
    session = find_dropped_occurrence(state, n.session_id);
  }
  const SeriesState* series = nullptr;
  if (!session) {
    auto it = state.series().find(n.session_id);
    if (it == state.series().end()) return std::nullopt;
    series = &it->second;
  }
  const std::string& group = session ? session->group : series->definition.group;
  const std::string& zone_name = session ? session->time_zone : series->definition.time_zone.name;
  QuietHoursRule rule;
  rule.quiet = config.policy_for(group).quiet_hours;
  if (!rule.quiet.enabled) return std::nullopt;
  // Staff (facilitators' rosters, coordinators' requests and escalations) keep quiet hours in
  // the meeting's zone; a registrant in their own (Planner::session_notices, roster,
  // registration_notices).
  const RegistrationState* r =
      n.registration_id.empty() ? nullptr : state.registration(n.registration_id);
  bool meeting_zone = r == nullptr || n.role != RecipientRole::kRegistrant;
  rule.zone = meeting_zone ? find_zone(zone_name) : recipient_zone(*r, zone_name);
  rule.start = session ? session->starts_at : n.deadline;
  if (n.kind != NotificationKind::kReminder) rule.fact = n.nominal_due;
  return rule;
}

QuietHoursVerdict quiet_hours_at_send(TimePoint now, const QuietHoursRule& rule) {
  std::optional<QuietWindow> window = quiet_window_at(now, rule.quiet, rule.zone);
  if (!window) return {};
  QuietHoursVerdict v{QuietHoursVerdict::Action::kHold, window->began, window->ends};
  if (window->ends + kQuietMargin <= rule.start) return v;
  bool owed_since_they_began = rule.fact && *rule.fact >= window->began;
  v.action =
      owed_since_they_began ? QuietHoursVerdict::Action::kSend : QuietHoursVerdict::Action::kExpire;
  return v;
}

size_t coordinators_reachable(const State& state, const PlanConfig& config) {
  size_t n = 0;
  for (size_t i = 0; i < config.coordinators.size(); ++i) {
    n += coordinator_reachable(state, config, i) ? 1 : 0;
  }
  return n;
}

}  // namespace nudged
