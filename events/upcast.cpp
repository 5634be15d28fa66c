#include "events/upcast.h"

#include <nlohmann/json.hpp>

namespace nudged {
namespace {

using Json = nlohmann::ordered_json;

// registration.received 0 -> 1. The first web form (before SPEC §3 was fixed) sent
// `"channel": "email" | "sms" | "both"` and `"sms_opt_in": bool`. Schema 1 has a `channels`
// list and `sms_consent`. Logs imported from that form are read through this step.
Status registration_received_0_to_1(Json& data) {
  if (!data.is_object()) return Status::malformed("data must be a JSON object");
  if (data.contains("channel")) {
    const Json& c = data["channel"];
    if (!c.is_string()) return Status::invalid("channel", "must be a string");
    std::string v = c.get<std::string>();
    Json list = Json::array();
    if (v == "email" || v == "both") list.push_back("email");
    if (v == "sms" || v == "both") list.push_back("sms");
    if (list.empty()) return Status::invalid("channel", "must be email, sms or both");
    data.erase("channel");
    data["channels"] = list;
  }
  if (data.contains("sms_opt_in")) {
    data["sms_consent"] = data["sms_opt_in"];
    data.erase("sms_opt_in");
  }
  return Status::ok();
}

struct Step {
  EventType type;
  int from;  // lifts `from` to `from + 1`
  Status (*apply)(Json&);
};

constexpr Step kSteps[] = {
    {EventType::kRegistrationReceived, 0, registration_received_0_to_1},
};

}  // namespace

int oldest_schema(EventType type) {
  int oldest = current_schema(type);
  for (const Step& s : kSteps) {
    if (s.type == type && s.from < oldest) oldest = s.from;
  }
  return oldest;
}

Result<std::string> upcast_data(EventType type, int schema, std::string_view json) {
  int current = current_schema(type);
  if (schema == current) return std::string(json);
  if (schema > current) {
    return Status::invalid(
        "schema", "schema " + std::to_string(schema) + " of " + std::string(event_type_name(type)) +
                      " is newer than this nudged reads (" + std::to_string(current) + ")");
  }
  if (schema < oldest_schema(type)) {
    return Status::invalid("schema", "schema " + std::to_string(schema) + " of " +
                                         std::string(event_type_name(type)) + " is not known");
  }
  Json data = Json::parse(json, nullptr, false);
  if (data.is_discarded()) return Status::malformed("data is not valid JSON");
  for (int at = schema; at < current; ++at) {
    const Step* step = nullptr;
    for (const Step& s : kSteps) {
      if (s.type == type && s.from == at) step = &s;
    }
    if (step == nullptr) {
      return Status::invalid("schema", "no upcaster from schema " + std::to_string(at));
    }
    Status s = step->apply(data);
    if (!s) return s;
  }
  return data.dump();
}

}  // namespace nudged
