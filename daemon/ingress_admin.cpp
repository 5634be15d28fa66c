// The admin socket's writes. The socket's file mode (0660, the nudged group) is their access
// control, so they carry no signature; everything else is checked as on the public API.

#include <nlohmann/json.hpp>

#include "daemon/ingress.h"

namespace nudged {

Verdict admin_events(const HttpRequest& request, const IngressContext& ctx) {
  return events_from_body(request, ctx, R"({"source":"admin"})");
}

Verdict admin_erase(const HttpRequest& request, const IngressContext& ctx) {
  nlohmann::json body;
  if (auto refused = parse_json_object(request.body, body)) {
    return Verdict::answer(std::move(*refused));
  }
  auto it = body.find("participant_id");
  if (it == body.end() || !it->is_string() || it->get<std::string>().empty()) {
    return Verdict::answer(
        HttpResponse::error(422, "invalid_field", "is missing or not a string", "participant_id"));
  }
  std::string id = it->get<std::string>();
  const ParticipantState* p = ctx.state.participant(id);
  if (p == nullptr) {
    return Verdict::answer(HttpResponse::error(422, "unknown_participant",
                                               "no participant with that id", "participant_id"));
  }
  nlohmann::ordered_json data = {{"participant_id", id}};
  Result<NewEvent> ev = ctx.intake.from_data_json(EventType::kParticipantErased, data.dump(),
                                                  R"({"source":"admin"})");
  if (!ev) return Verdict::answer(error_response(ev.status()));
  Verdict v;
  v.batch.push_back(std::move(*ev));
  v.accepted = [id](const std::vector<Appended>& appended) {
    nlohmann::ordered_json j = {{"participant_id", id},
                                {"erased", true},
                                {"position", appended.empty() ? 0 : appended[0].position}};
    return HttpResponse::json(202, j.dump());
  };
  return v;
}

}  // namespace nudged
