// nudgectl replay: rebuild State from the log offline and print it. Sends nothing.
//
// Output carries ids, groups, titles and times: never names, addresses or free text.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "daemon/ctl.h"
#include "daemon/state_json.h"
#include "events/keystore.h"
#include "events/planner.h"
#include "events/replay.h"
#include "events/sodium_sealer.h"

namespace nudged::ctl {
namespace {

using Json = nlohmann::ordered_json;

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
  // Coordinators who opted out get nothing in the daemon's plan; so here too, when the keys
  // beside the log can say who they are (their addresses are matched as blind indexes).
  PlanConfig plan_config = ctx.plan;
  if (!plan_config.coordinators.empty()) {
    std::error_code ec;
    std::unique_ptr<KeyStore> keys;
    if (std::filesystem::exists(key_store_path(ctx.db_path), ec) &&
        (!ctx.master_key.empty() || std::filesystem::exists(ctx.master_key_path, ec))) {
      keys = open_keys(ctx, /*create=*/false);
    }
    if (keys) {
      index_coordinators(plan_config, SodiumSealer(*keys));
    } else {
      std::cerr << "nudgectl: no key store or master key for " << ctx.db_path
                << ": this plan does not leave out coordinators who opted out\n";
    }
  }
  Json j = state_json(state, plan_config, at);
  j["at"] = format_utc_millis(at);
  j["plan"] = plan_json(plan(state, plan_config, at));
  if (opt.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    print_text(j, *stats, seconds);
  }
  return kExitOk;
}

}  // namespace nudged::ctl
