#include "events/state.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace nudged {
namespace {

// Sealing is per subject and per event, so two sealings of one address differ: match on the
// blind index (a keyed hash of the normalised address made at intake), never on sealed bytes,
// and never on plaintext (State has none).
std::string opt_out_key(const std::string& channel, std::string_view match) {
  std::string key;
  key.reserve(channel.size() + 1 + match.size());
  key.append(channel).push_back('\n');
  key.append(match);
  return key;
}

// "ibd-monthly@2026-12-08" -> {"ibd-monthly", "2026-12-08"}; nullopt when there is no '@'
// followed by a date-shaped suffix.
std::optional<std::pair<std::string, std::string>> split_occurrence(const std::string& id) {
  size_t at = id.rfind('@');
  if (at == std::string::npos || id.size() - at - 1 != 10) return std::nullopt;
  return std::make_pair(id.substr(0, at), id.substr(at + 1));
}

template <typename T>
void set_if(std::optional<T>& from, T& to) {
  if (from) to = std::move(*from);
}

}  // namespace

namespace {
constexpr uint8_t kEmailCode = 1, kSmsCode = 2;
}  // namespace

ChannelList::ChannelList(const std::vector<std::string>& names) {
  int shift = 0;
  for (const std::string& name : names) {
    uint8_t code = name == "email" ? kEmailCode : name == "sms" ? kSmsCode : 0;
    if (code == 0 || shift == 8) continue;
    packed_ = static_cast<uint8_t>(packed_ | code << shift);
    shift += 2;
  }
}

const std::string& ChannelList::iterator::operator*() const {
  static const std::string kEmail = "email", kSms = "sms";
  return (rest_ & 3) == kSmsCode ? kSms : kEmail;
}

std::vector<std::string> ChannelList::names() const {
  std::vector<std::string> out;
  for (const std::string& name : *this)
    out.push_back(name);
  return out;
}

State::State(const State& other)
    : sessions_(other.sessions_),
      series_(other.series_),
      registrations_(other.registrations_),
      participants_(other.participants_),
      outcomes_(other.outcomes_),
      opt_outs_(other.opt_outs_),
      folded_(other.folded_),
      spellings_(other.spellings_),
      address_indexes_(other.address_indexes_),
      interned_(other.interned_),
      position_(other.position_),
      plan_input_position_(other.plan_input_position_),
      tracking_(other.tracking_),
      delta_(other.delta_),
      applied_(other.applied_),
      ignored_(other.ignored_),
      erasures_(other.erasures_) {
  // The copies still point into `other`: point them at our own keys and names.
  for (auto& [id, r] : registrations_) {
    r.id_ = &id;
    r.target_ = &*interned_.find(*r.target_);
    r.participant_ = &*participants_.find(r.participant_->first);
  }
  for (auto& [id, p] : participants_) {
    if (p.time_zone) p.time_zone = &*interned_.find(*p.time_zone);
    if (p.locale) p.locale = &*interned_.find(*p.locale);
  }
}

State& State::operator=(const State& other) {
  if (this != &other) *this = State(other);
  return *this;
}

OutcomeKey outcome_key(std::string_view notification_id) {
  // A process-wide secret: outcome keys never leave the process (State is rebuilt by replay at
  // every start), so they need only be unpredictable to whoever picks registration ids.
  static const std::array<unsigned char, crypto_shorthash_siphashx24_KEYBYTES> kKey = [] {
    std::array<unsigned char, crypto_shorthash_siphashx24_KEYBYTES> k{};
    randombytes_buf(k.data(), k.size());
    return k;
  }();
  unsigned char digest[crypto_shorthash_siphashx24_BYTES];
  static_assert(sizeof digest == 16);
  crypto_shorthash_siphashx24(digest,
                              reinterpret_cast<const unsigned char*>(notification_id.data()),
                              notification_id.size(), kKey.data());
  OutcomeKey k;
  std::memcpy(&k.hi, digest, 8);
  std::memcpy(&k.lo, digest + 8, 8);
  return k;
}

std::string occurrence_id(const std::string& series_id, const std::string& local_date) {
  return series_id + "@" + local_date;
}

void State::apply(const Envelope& envelope, EventData&& data) {
  bool settles_only = std::holds_alternative<NotificationSent>(data) ||
                      std::holds_alternative<NotificationExpired>(data) ||
                      (std::holds_alternative<NotificationFailed>(data) &&
                       std::get<NotificationFailed>(data).permanent);
  if (!settles_only) {
    plan_input_position_ = envelope.position;
    if (tracking_) note_plan_input(data);
  }
  std::visit([&](auto&& e) { on(envelope, std::move(e)); }, std::move(data));
  position_ = envelope.position;
  ++applied_;
}

void State::reserve(int64_t events) {
  // Registrations and notification outcomes are most of any real log; participants are fewer
  // than registrations. Half the events each is generous and costs 8 bytes a bucket.
  size_t n = static_cast<size_t>(std::max<int64_t>(events, 0) / 2);
  // Only ever grow: libstdc++'s reserve() rehashes to the size asked for, shrinking a table
  // that is already larger, so a small reserve before each short catch-up would rehash the
  // whole table every time. And grow at least twofold, as an insert would: reserving just
  // enough for a short catch-up picks the next prime up (about a tenth more buckets), and the
  // tables were rehashed whole every few thousand registrations.
  auto grow = [n](auto& table) {
    if (static_cast<float>(table.size() + n) >
        table.max_load_factor() * static_cast<float>(table.bucket_count())) {
      table.reserve(std::max(table.size() + n, 2 * table.size()));
    }
  };
  grow(registrations_);
  grow(participants_);
  grow(outcomes_);
}

OccurrenceOverride* State::occurrence(const std::string& session_id, int64_t* series_revision) {
  auto parts = split_occurrence(session_id);
  if (!parts) return nullptr;
  auto it = series_.find(parts->first);
  if (it == series_.end()) return nullptr;
  if (series_revision != nullptr) *series_revision = it->second.revision;
  return &it->second.overrides[parts->second];
}

void State::on(const Envelope& env, SessionScheduled&& e) {
  auto [it, inserted] = sessions_.try_emplace(e.session_id);
  SessionState& s = it->second;
  if (!inserted) ++s.revision;  // scheduled again: a full replacement of the definition
  if (inserted) s.scheduled_at = env.recorded_at;
  s.revision_at = env.recorded_at;
  s.session_id = std::move(e.session_id);
  s.group = std::move(e.group);
  s.title = std::move(e.title);
  s.starts_at = e.starts_at;
  s.time_zone = std::move(e.time_zone);
  s.duration_minutes = e.duration_minutes;
  s.join_url = std::move(e.join_url);
  s.facilitators = std::move(e.facilitators);
  s.zoom_meeting_id = std::move(e.zoom_meeting_id);
  s.capacity = e.capacity;
  s.description = std::move(e.description);
  s.cancelled = false;
  s.cancel_reason.reset();
}

namespace {

// Whether a series scheduled again meets at other times than before.
bool retimed(const SeriesScheduled& before, const SeriesScheduled& after) {
  auto until = [](const SeriesScheduled& d) {
    return d.until ? std::optional<TimePoint>(d.until->utc) : std::nullopt;
  };
  return before.rrule != after.rrule || before.first_starts_at.utc != after.first_starts_at.utc ||
         before.time_zone.name != after.time_zone.name ||
         before.duration_minutes != after.duration_minutes || until(before) != until(after);
}

}  // namespace

void State::on(const Envelope& env, SeriesScheduled&& e) {
  auto [it, inserted] = series_.try_emplace(e.series_id);
  SeriesState& s = it->second;
  if (!inserted) {
    ++s.revision;
    if (s.cancelled || retimed(s.definition, e)) {
      s.retimed_at = env.recorded_at;
      s.retimed_revision = s.revision;
      s.retimes.push_back(SeriesRetime{std::move(s.definition), env.recorded_at, s.revision,
                                       s.cancelled ? std::optional(s.cancelled_at) : std::nullopt});
    }
  }
  if (inserted) s.scheduled_at = env.recorded_at;
  s.revision_at = env.recorded_at;
  s.definition = std::move(e);
  s.cancelled = false;
  s.cancel_reason.reset();  // back after a cancel: that cancel's reason no longer applies
}

void State::on(const Envelope& env, SeriesCancelled&& e) {
  auto it = series_.find(e.series_id);
  if (it == series_.end()) {
    ++ignored_;
    return;
  }
  it->second.cancelled = true;
  it->second.cancelled_at = env.recorded_at;
  it->second.cancel_reason = std::move(e.reason);
  ++it->second.revision;
  it->second.revision_at = env.recorded_at;
}

void State::on(const Envelope& env, SessionUpdated&& e) {
  if (auto it = sessions_.find(e.session_id); it != sessions_.end()) {
    SessionState& s = it->second;
    set_if(e.title, s.title);
    set_if(e.join_url, s.join_url);
    set_if(e.duration_minutes, s.duration_minutes);
    set_if(e.facilitators, s.facilitators);
    if (e.description) s.description = std::move(e.description);
    ++s.revision;
    s.revision_at = env.recorded_at;
  } else if (OccurrenceOverride* o = occurrence(e.session_id)) {
    auto merge = [](auto& from, auto& to) {
      if (from) to = std::move(from);
    };
    merge(e.title, o->update.title);
    merge(e.join_url, o->update.join_url);
    merge(e.duration_minutes, o->update.duration_minutes);
    merge(e.facilitators, o->update.facilitators);
    merge(e.description, o->update.description);
    ++o->revision;
    o->revision_at = env.recorded_at;
  } else {
    ++ignored_;
  }
}

void State::on(const Envelope& env, SessionRescheduled&& e) {
  int64_t series_revision = 0;
  if (auto it = sessions_.find(e.session_id); it != sessions_.end()) {
    SessionState& s = it->second;
    Instant old = s.starts_at;
    s.starts_at = e.starts_at;
    if (e.time_zone) s.time_zone = std::move(*e.time_zone);
    ++s.revision;
    s.revision_at = env.recorded_at;
    s.last_change = SessionChange{s.revision, env.recorded_at, false, old};
  } else if (OccurrenceOverride* o = occurrence(e.session_id, &series_revision)) {
    // The old time of an occurrence never moved before is its generated time: the planner
    // knows it; left empty here.
    std::optional<Instant> old = o->starts_at;
    o->starts_at = e.starts_at;
    if (e.time_zone) o->time_zone = std::move(e.time_zone);
    ++o->revision;
    o->revision_at = env.recorded_at;
    o->last_change = SessionChange{o->revision, env.recorded_at, false, old, series_revision};
  } else {
    ++ignored_;
  }
}

void State::on(const Envelope& env, SessionCancelled&& e) {
  int64_t series_revision = 0;
  if (auto it = sessions_.find(e.session_id); it != sessions_.end()) {
    SessionState& s = it->second;
    s.cancelled = true;
    s.cancel_reason = std::move(e.reason);
    ++s.revision;
    s.revision_at = env.recorded_at;
    s.last_change = SessionChange{s.revision, env.recorded_at, true, std::nullopt};
  } else if (OccurrenceOverride* o = occurrence(e.session_id, &series_revision)) {
    o->cancelled = true;
    o->cancel_reason = std::move(e.reason);
    ++o->revision;
    o->revision_at = env.recorded_at;
    o->last_change =
        SessionChange{o->revision, env.recorded_at, true, std::nullopt, series_revision};
  } else {
    ++ignored_;
  }
}

void State::note_plan_input(const EventData& data) {
  const auto* r = std::get_if<RegistrationReceived>(&data);
  bool alone = r != nullptr && registrations_.count(r->registration_id) == 0 &&
               participants_.count(r->participant.participant_id.value_or("")) == 0 &&
               (r->session_id ? known_target(*r->session_id) : series_.count(*r->series_id) > 0);
  if (alone) {
    delta_.new_registrations.push_back(r->registration_id);
  } else {
    delta_.other = true;
  }
}

bool State::known_target(const std::string& session_id) const {
  if (sessions_.count(session_id) > 0) return true;
  size_t at = session_id.rfind('@');
  return at != std::string::npos && series_.count(session_id.substr(0, at)) > 0;
}

void State::on(const Envelope& env, RegistrationReceived&& e) {
  // participant_id is always present in the log: intake derives it when the sender did not.
  auto person = participants_.try_emplace(e.participant.participant_id.value_or(std::string()));
  ParticipantState& p = person.first->second;
  if (e.participant.email) learn_spelling(match_key(*e.participant.email));
  if (!p.erased) {
    p.name = std::move(e.participant.name);
    set_if(e.participant.email, p.email);
    set_if(e.participant.phone, p.phone);
    if (e.participant.time_zone) p.time_zone = intern(std::move(e.participant.time_zone->name));
    if (e.participant.locale) p.locale = intern(std::move(*e.participant.locale));
  }

  auto [it, inserted] = registrations_.try_emplace(std::move(e.registration_id));
  RegistrationState& r = it->second;
  r.id_ = &it->first;
  r.participant_ = &*person.first;
  r.for_series = !e.session_id.has_value();
  r.target_ = intern(r.for_series ? std::move(e.series_id).value_or(std::string())
                                  : std::move(*e.session_id));
  r.channels = ChannelList(e.channels);
  r.sms_consent = e.sms_consent;
  r.discreet = e.discreet;
  r.accommodations.clear();
  if (e.accommodations) {
    for (Accommodation& a : *e.accommodations) {
      r.accommodations.push_back(
          AccommodationState{std::move(a.kind), std::move(a.details), false, {}, std::nullopt});
    }
  }
  r.registered_at = env.recorded_at;
  r.cancelled = false;
}

void State::on(const Envelope&, RegistrationCancelled&& e) {
  auto it = registrations_.find(e.registration_id);
  if (it == registrations_.end()) {
    ++ignored_;
    return;
  }
  it->second.cancelled = true;
}

void State::on(const Envelope& env, AccommodationArranged&& e) {
  auto it = registrations_.find(e.registration_id);
  if (it == registrations_.end()) {
    ++ignored_;
    return;
  }
  auto& list = it->second.accommodations;
  auto a = std::find_if(list.begin(), list.end(),
                        [&](const AccommodationState& s) { return s.kind == e.kind; });
  if (a == list.end()) {
    // Arranged without having been asked through the form (asked by phone, say): record it.
    list.push_back(AccommodationState{e.kind, std::nullopt, false, {}, std::nullopt});
    a = list.end() - 1;
  }
  if (!a->arranged) a->arranged_at = env.recorded_at;
  a->arranged = true;
  a->note = std::move(e.note);
}

// An opt-out holds every key of its address: the key as written keeps matching values sealed
// before lower-cased keys existed, the lower-cased one matches the mailbox however it is
// capitalised (see match_key). An opt-in of any capitalisation lifts every spelling.
void State::on(const Envelope&, ParticipantOptedOut&& e) {
  std::string_view match = match_key(e.address);
  learn_spelling(match);
  for_each_address_key(match,
                       [&](std::string_view k) { opt_outs_.insert(opt_out_key(e.channel, k)); });
}

void State::on(const Envelope&, ParticipantOptedIn&& e) {
  std::string_view match = match_key(e.address);
  learn_spelling(match);
  std::string folded;
  for_each_address_key(match, [&](std::string_view k) {
    opt_outs_.erase(opt_out_key(e.channel, k));
    folded = k;  // the last key is the lower-cased one, when it is known
  });
  if (auto it = spellings_.find(folded); it != spellings_.end()) {
    for (const std::string& k : it->second)
      opt_outs_.erase(opt_out_key(e.channel, k));
  }
}

// A value with two keys says which lower-cased key its first key belongs to. Values sealed
// before the second key existed have only the first: what is learnt here lets them match
// opt-outs of other spellings, and lets erasure find their opted-out copies' keys.
void State::learn_spelling(std::string_view match) {
  size_t sep = match.find(kMatchSeparator);
  if (sep == std::string_view::npos) return;
  auto [it, added] = folded_.try_emplace(std::string(match.substr(0, sep)), match.substr(sep + 1));
  if (added) spellings_[it->second].push_back(it->first);
}

void State::on(const Envelope&, ParticipantErased&& e) {
  ParticipantState& p = participants_[e.participant_id];
  p.erased = true;
  ++erasures_;
  // The blind indexes of the addresses name the keys of opted-out copies of them
  // ("address/<index>"): kept so that erasure can destroy those keys too (see events/erasure.h).
  for (const Personal* a : {&p.email, &p.phone}) {
    if (a->empty()) continue;
    std::string_view m = match_key(*a);
    if (m.size() != a->sealed.size()) address_indexes_[e.participant_id].emplace_back(m);
  }
  // The key that opens these is destroyed with the erasure; drop what we hold as well.
  p.name = Personal{};
  p.email = Personal{};
  p.phone = Personal{};
  for (auto& [id, r] : registrations_) {
    if (r.participant_id() != e.participant_id) continue;
    for (AccommodationState& a : r.accommodations) {
      a.details.reset();
      a.note.reset();
    }
  }
}

void State::on(const Envelope&, NotificationSent&& e) {
  NotificationOutcome& o = outcomes_[outcome_key(e.notification_id)];
  o.attempts = std::max(o.attempts, static_cast<int32_t>(e.attempt));
  o.sent = true;
  o.retry_pending = false;
  o.retry_at = {};
}

void State::on(const Envelope&, NotificationFailed&& e) {
  NotificationOutcome& o = outcomes_[outcome_key(e.notification_id)];
  o.attempts = std::max(o.attempts, static_cast<int32_t>(e.attempt));
  o.failed_permanently = o.failed_permanently || e.permanent;
  o.retry_pending = !e.permanent && e.retry_at.has_value();
  o.retry_at = o.retry_pending ? e.retry_at->utc : TimePoint{};
}

void State::on(const Envelope&, NotificationExpired&& e) {
  outcomes_[outcome_key(e.notification_id)].expired = true;
}

bool State::opted_out(const std::string& channel, const Personal& address) const {
  return opted_out(channel, match_key(address));
}
bool State::opted_out(const std::string& channel, std::string_view match) const {
  bool out = false;
  for_each_address_key(
      match, [&](std::string_view k) { out = out || opt_outs_.count(opt_out_key(channel, k)); });
  return out;
}

const SessionState* State::session(const std::string& id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}
const RegistrationState* State::registration(const std::string& id) const {
  auto it = registrations_.find(id);
  return it == registrations_.end() ? nullptr : &it->second;
}
const ParticipantState* State::participant(const std::string& id) const {
  auto it = participants_.find(id);
  return it == participants_.end() ? nullptr : &it->second;
}
std::vector<std::string> State::registrations_of(const std::string& participant_id) const {
  std::vector<std::string> out;
  for (const auto& [id, r] : registrations_) {
    if (r.participant_id() == participant_id) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::vector<std::string>& State::address_indexes(const std::string& participant_id) const {
  static const std::vector<std::string> kNone;
  auto it = address_indexes_.find(participant_id);
  return it == address_indexes_.end() ? kNone : it->second;
}

const NotificationOutcome* State::outcome(const std::string& id) const {
  auto it = outcomes_.find(outcome_key(id));
  return it == outcomes_.end() ? nullptr : &it->second;
}

}  // namespace nudged
