// JSON views of State and of a plan, shared by `nudgectl replay --json` and the daemon's admin
// API, so that both print the same fields (SPEC §6 names the plan's; outside tools read them).
//
// They carry ids, groups, titles and times: never names, addresses or free text. Pure.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "events/planner.h"
#include "events/state.h"

namespace nudged {

// {"position", "sessions", "series", "registrations"}
nlohmann::ordered_json state_json(const State& state);

// [{"notification_id", "kind", "channel", "due_at", "session_id", "registration_id"}...]
nlohmann::ordered_json plan_json(const std::vector<Notification>& plan);

}  // namespace nudged
