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

// {"position", "sessions", "series", "registrations"}. "sessions" holds the single sessions and
// the occurrences of series ("<series_id>@<date>", with "series_id") from `now` to 60 days
// after it (SPEC §3: occurrences become sessions), ordered by session id. A registration's
// "discreet" is what applies: the registrant's choice, else their group's discreet_default.
nlohmann::ordered_json state_json(const State& state, const PlanConfig& plan, TimePoint now);

// [{"notification_id", "kind", "channel", "due_at", "session_id", "registration_id"}...]
nlohmann::ordered_json plan_json(const std::vector<Notification>& plan);

}  // namespace nudged
