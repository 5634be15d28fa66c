#include "daemon/state_json.h"

#include <algorithm>
#include <unordered_map>

namespace nudged {
namespace {

using Json = nlohmann::ordered_json;

template <typename Map>
std::vector<const typename Map::mapped_type*> sorted_values(const Map& map) {
  std::vector<std::pair<const std::string*, const typename Map::mapped_type*>> items;
  for (const auto& [k, v] : map)
    items.emplace_back(&k, &v);
  std::sort(items.begin(), items.end(), [](auto& a, auto& b) { return *a.first < *b.first; });
  std::vector<const typename Map::mapped_type*> out;
  for (auto& [k, v] : items)
    out.push_back(v);
  return out;
}

Json accommodations_json(const RegistrationState& r) {
  Json list = Json::array();
  for (const AccommodationState& a : r.accommodations) {
    list.push_back(Json{{"kind", a.kind}, {"arranged", a.arranged}});
  }
  return list;
}

// The group a registration's session, occurrence or series belongs to ("" when unknown).
std::string group_of(const State& state, const RegistrationState& r) {
  const std::string& target = r.target();
  if (!r.for_series) {
    if (const SessionState* s = state.session(target)) return s->group;
  }
  std::string series_id = r.for_series ? target : target.substr(0, target.rfind('@'));
  auto it = state.series().find(series_id);
  return it == state.series().end() ? std::string() : it->second.definition.group;
}

}  // namespace

Json state_json(const State& state, const PlanConfig& plan, TimePoint now) {
  std::unordered_map<std::string, int64_t> per_target;
  // A series registration covers the occurrences that start after it was made.
  std::unordered_map<std::string, std::vector<TimePoint>> series_registered_at;
  for (const auto& [id, r] : state.registrations()) {
    if (r.cancelled) continue;
    ++per_target[r.target()];
    if (r.for_series) series_registered_at[r.target()].push_back(r.registered_at);
  }
  for (auto& [id, times] : series_registered_at)
    std::sort(times.begin(), times.end());
  std::vector<std::pair<std::string, Json>> listed;  // by session id
  for (const auto& [id, session] : state.sessions()) {
    const SessionState* s = &session;
    listed.emplace_back(s->session_id, Json{{"session_id", s->session_id},
                                            {"group", s->group},
                                            {"title", s->title},
                                            {"starts_at", format_rfc3339(s->starts_at)},
                                            {"time_zone", s->time_zone.name},
                                            {"duration_minutes", s->duration_minutes},
                                            {"revision", s->revision},
                                            {"cancelled", s->cancelled},
                                            {"registrations", per_target[s->session_id]}});
  }
  // Occurrences as far ahead as the planner looks (SPEC §4).
  for (const PlannedSession& p : sessions_in_window(state, now, now + PlanOptions{}.horizon)) {
    if (p.series == nullptr) continue;
    const std::string& series_id = p.series->definition.series_id;
    // Registered for this occurrence alone, or for the series before it started.
    int64_t registered = per_target[p.session_id];
    if (auto it = series_registered_at.find(series_id); it != series_registered_at.end()) {
      registered += std::lower_bound(it->second.begin(), it->second.end(), p.generated_start) -
                    it->second.begin();
    }
    listed.emplace_back(p.session_id, Json{{"session_id", p.session_id},
                                           {"series_id", series_id},
                                           {"group", p.group},
                                           {"title", p.title},
                                           {"starts_at", format_rfc3339(Instant{p.starts_at})},
                                           {"time_zone", p.time_zone},
                                           {"duration_minutes", p.duration_minutes},
                                           {"revision", p.revision},
                                           {"cancelled", p.cancelled},
                                           {"registrations", registered}});
  }
  std::stable_sort(listed.begin(), listed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  Json sessions = Json::array();
  for (auto& [id, j] : listed)
    sessions.push_back(std::move(j));
  Json series = Json::array();
  for (const SeriesState* s : sorted_values(state.series())) {
    const SeriesScheduled& d = s->definition;
    Json overrides = Json::object();
    for (const auto& [date, o] : s->overrides) {
      Json j{{"revision", o.revision}, {"cancelled", o.cancelled}};
      if (o.starts_at) j["starts_at"] = format_rfc3339(*o.starts_at);
      overrides[date] = j;
    }
    series.push_back(Json{{"series_id", d.series_id},
                          {"group", d.group},
                          {"title", d.title},
                          {"rrule", d.rrule},
                          {"first_starts_at", format_rfc3339(d.first_starts_at)},
                          {"time_zone", d.time_zone.name},
                          {"duration_minutes", d.duration_minutes},
                          {"revision", s->revision},
                          {"cancelled", s->cancelled},
                          {"occurrence_changes", overrides},
                          {"registrations", per_target[d.series_id]}});
  }
  Json registrations = Json::array();
  for (const RegistrationState* r : sorted_values(state.registrations())) {
    Json j{{"registration_id", r->registration_id()}};
    j[r->for_series ? "series_id" : "session_id"] = r->target();
    j["participant_id"] = r->participant_id();
    j["participant_erased"] = r->participant().erased;
    j["channels"] = r->channels.names();
    j["sms_consent"] = r->sms_consent;
    j["discreet"] = r->discreet.value_or(plan.policy_for(group_of(state, *r)).discreet_default);
    j["accommodations"] = accommodations_json(*r);
    j["cancelled"] = r->cancelled;
    registrations.push_back(j);
  }
  return Json{{"position", state.position()},
              {"sessions", sessions},
              {"series", series},
              {"registrations", registrations}};
}

// The plan as SPEC §6 prints it: these field names are read by outside tools.
Json plan_json(const std::vector<Notification>& plan) {
  Json list = Json::array();
  for (const Notification& n : plan) {
    Json item{
        {"notification_id", n.id},
        {"kind", std::string(kind_name(n.kind))},
        {"channel", n.channel},
        {"due_at", format_utc_millis(n.due)},
        {"session_id", n.session_id},
        {"registration_id", n.registration_id.empty() ? Json(nullptr) : Json(n.registration_id)}};
    if (n.action == Notification::Action::kExpire) item["action"] = "expire";
    list.push_back(item);
  }
  return list;
}

}  // namespace nudged
