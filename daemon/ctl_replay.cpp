// nudgectl replay: rebuild State from the log offline and print it. Sends nothing.
//
// Output carries ids, groups, titles and times: never names, addresses or free text.

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "daemon/ctl.h"
#include "events/planner.h"
#include "events/replay.h"

namespace nudged::ctl {
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

Json state_json(const State& state) {
  std::unordered_map<std::string, int64_t> per_target;
  for (const auto& [id, r] : state.registrations()) {
    if (!r.cancelled) ++per_target[r.session_id ? *r.session_id : *r.series_id];
  }
  Json sessions = Json::array();
  for (const SessionState* s : sorted_values(state.sessions())) {
    sessions.push_back(Json{{"session_id", s->session_id},
                            {"group", s->group},
                            {"title", s->title},
                            {"starts_at", format_rfc3339(s->starts_at)},
                            {"time_zone", s->time_zone.name},
                            {"duration_minutes", s->duration_minutes},
                            {"revision", s->revision},
                            {"cancelled", s->cancelled},
                            {"registrations", per_target[s->session_id]}});
  }
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
    const ParticipantState* p = state.participant(r->participant_id);
    Json j{{"registration_id", r->registration_id}};
    if (r->session_id) j["session_id"] = *r->session_id;
    if (r->series_id) j["series_id"] = *r->series_id;
    j["participant_id"] = r->participant_id;
    j["participant_erased"] = p != nullptr && p->erased;
    j["channels"] = r->channels;
    j["sms_consent"] = r->sms_consent;
    j["discreet"] = r->discreet;
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

void print_text(const Json& j, const ReplayStats& stats, double seconds) {
  std::cout << "Sessions (" << j["sessions"].size() << ")\n";
  for (const Json& s : j["sessions"]) {
    std::cout << "  " << s["session_id"].get<std::string>() << "  "
              << s["starts_at"].get<std::string>() << " " << s["time_zone"].get<std::string>()
              << "  group " << s["group"].get<std::string>() << "  \""
              << s["title"].get<std::string>() << "\"  " << s["registrations"] << " registered"
              << (s["cancelled"].get<bool>() ? "  CANCELLED" : "") << "\n";
  }
  std::cout << "Series (" << j["series"].size() << ")\n";
  for (const Json& s : j["series"]) {
    std::cout << "  " << s["series_id"].get<std::string>() << "  " << s["rrule"].get<std::string>()
              << " from " << s["first_starts_at"].get<std::string>() << " "
              << s["time_zone"].get<std::string>() << "  group " << s["group"].get<std::string>()
              << "  " << s["registrations"] << " registered"
              << (s["cancelled"].get<bool>() ? "  CANCELLED" : "") << "\n";
    for (const auto& [date, o] : s["occurrence_changes"].items()) {
      std::cout << "    " << date << ": "
                << (o["cancelled"].get<bool>()
                        ? std::string("cancelled")
                        : "moved to " + o.value("starts_at", std::string("(same time)")))
                << "\n";
    }
  }
  std::cout << "Registrations (" << j["registrations"].size() << ")\n";
  for (const Json& r : j["registrations"]) {
    std::cout << "  " << r["registration_id"].get<std::string>() << "  "
              << (r.contains("session_id") ? "session " + r["session_id"].get<std::string>()
                                           : "series " + r["series_id"].get<std::string>())
              << "  participant " << r["participant_id"].get<std::string>() << "  via ";
    bool first = true;
    for (const Json& c : r["channels"]) {
      std::cout << (first ? "" : ", ") << c.get<std::string>();
      first = false;
    }
    for (const Json& a : r["accommodations"]) {
      std::cout << "  " << a["kind"].get<std::string>()
                << (a["arranged"].get<bool>() ? " (arranged)" : " (requested)");
    }
    if (r["discreet"].get<bool>()) std::cout << "  discreet";
    if (r["participant_erased"].get<bool>()) std::cout << "  ERASED";
    if (r["cancelled"].get<bool>()) std::cout << "  CANCELLED";
    std::cout << "\n";
  }
  std::cout << "Plan as of " << j["at"].get<std::string>() << " (" << j["plan"].size() << ")\n";
  for (const Json& n : j["plan"]) {
    std::cout << "  " << n["due_at"].get<std::string>() << "  " << n["kind"].get<std::string>()
              << " by " << n["channel"].get<std::string>() << "  session "
              << n["session_id"].get<std::string>();
    if (!n["registration_id"].is_null()) {
      std::cout << "  registration " << n["registration_id"].get<std::string>();
    }
    if (n.contains("action")) std::cout << "  (missed: to be recorded as expired)";
    std::cout << "\n";
  }
  std::cout << "Replayed " << stats.events << " events up to position " << stats.last_position
            << " in " << seconds << " s.\n";
}

}  // namespace

int replay(const Context& ctx, const ReplayOptions& opt) {
  TimePoint at = std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
  if (!opt.at.empty()) {
    Result<Instant> t = parse_rfc3339(opt.at);
    if (!t) {
      std::cerr << "nudgectl: --at: " << t.status().message() << "\n";
      return kExitUsage;
    }
    at = t->utc;
  }
  auto store = open_store(ctx);
  if (!store) return kExitBadInput;
  State state;
  auto start = std::chrono::steady_clock::now();
  Result<ReplayStats> stats = nudged::replay(*store, state);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!stats) {
    std::cerr << "nudgectl: replay stopped: " << stats.status().message() << "\n";
    return kExitBadInput;
  }
  Json j = state_json(state);
  j["at"] = format_utc_millis(at);
  j["plan"] = plan_json(plan(state, ctx.plan, at));
  if (opt.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    print_text(j, *stats, seconds);
  }
  return kExitOk;
}

}  // namespace nudged::ctl
