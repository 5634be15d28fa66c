// POST /v1/webhooks/zoom: Zoom's webhook events, as Zoom sends and signs them.
//
//   endpoint.url_validation          -> {"plainToken", "encryptedToken"} (no event)
//   meeting.registration_created     -> registration.received for the session (or series)
//                                       whose zoom_meeting_id is the meeting's id
//   meeting.registration_cancelled   -> registration.cancelled
// The registration id is "zoom-<registrant id>", so Zoom's retries append nothing twice.

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "daemon/ingress.h"
#include "daemon/signature.h"

namespace nudged {
namespace {

constexpr const char* kMeta = R"({"source":"webhook:zoom"})";

// The session or series that carries this Zoom meeting id: ("session_id"|"series_id", id).
std::optional<std::pair<std::string, std::string>> find_meeting(const State& state,
                                                                const std::string& meeting) {
  for (const auto& [id, s] : state.sessions()) {
    if (s.zoom_meeting_id == meeting && !s.cancelled) return std::make_pair("session_id", id);
  }
  for (const auto& [id, s] : state.series()) {
    if (s.definition.zoom_meeting_id == meeting && !s.cancelled) {
      return std::make_pair("series_id", id);
    }
  }
  return std::nullopt;
}

std::string text_of(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return {};
}

// Registrant ids are Zoom's; keep them only when they fit our id alphabet, else hash them.
std::string registration_id_for(const std::string& registrant_id, const IngressContext& ctx) {
  bool plain = !registrant_id.empty() && registrant_id.size() <= 100;
  for (char c : registrant_id) {
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  }
  if (plain) return "zoom-" + registrant_id;
  HttpRequest fake;
  fake.headers.emplace_back("idempotency-key", registrant_id);
  return idempotent_id(fake, ctx, "zoom", "zoom-");
}

Verdict invalid(std::string code, std::string message, std::string field) {
  return Verdict::answer(HttpResponse::error(422, code, message, field));
}

}  // namespace

Verdict post_zoom(const HttpRequest& request, const std::vector<std::string>&,
                  const IngressContext& ctx) {
  const std::string* signature = request.header("x-zm-signature");
  const std::string* timestamp = request.header("x-zm-request-timestamp");
  Status s = verify_zoom(ctx.config.webhooks.zoom.secret_token, signature ? *signature : "",
                         timestamp ? *timestamp : "", request.body, ctx.now_unix,
                         ctx.config.webhooks.tolerance);
  if (!s) return Verdict::answer(HttpResponse::error(401, "bad_signature", s.message()));
  if (!has_media_type(request, "application/json")) {
    return Verdict::answer(
        HttpResponse::error(415, "unsupported_media_type", "send application/json"));
  }
  nlohmann::json body;
  if (auto refused = parse_json_object(request.body, body)) {
    return Verdict::answer(std::move(*refused));
  }
  std::string event = text_of(body, "event");
  const nlohmann::json& payload = body.contains("payload") ? body["payload"] : nlohmann::json();

  if (event == "endpoint.url_validation") {
    std::string plain = payload.is_object() ? text_of(payload, "plainToken") : "";
    if (plain.empty()) return invalid("invalid_field", "is missing", "payload.plainToken");
    nlohmann::ordered_json answer = {
        {"plainToken", plain},
        {"encryptedToken", hmac_sha256_hex(ctx.config.webhooks.zoom.secret_token, plain)}};
    return Verdict::answer(HttpResponse::json(200, answer.dump()));
  }
  bool created = event == "meeting.registration_created";
  bool cancelled = event == "meeting.registration_cancelled";
  if (!created && !cancelled) {
    // Subscribed to more than we use: say so, and do not make Zoom retry.
    return Verdict::answer(HttpResponse::json(200, R"({"ignored":true})"));
  }
  if (!payload.is_object() || !payload.contains("object") || !payload["object"].is_object()) {
    return invalid("invalid_field", "is missing", "payload.object");
  }
  const nlohmann::json& object = payload["object"];
  std::string meeting = text_of(object, "id");
  if (meeting.empty()) return invalid("invalid_field", "is missing", "payload.object.id");
  if (!object.contains("registrant") || !object["registrant"].is_object()) {
    return invalid("invalid_field", "is missing", "payload.object.registrant");
  }
  const nlohmann::json& registrant = object["registrant"];
  std::string registrant_id = text_of(registrant, "id");
  if (registrant_id.empty()) {
    return invalid("invalid_field", "is missing", "payload.object.registrant.id");
  }
  std::string registration_id = registration_id_for(registrant_id, ctx);

  nlohmann::ordered_json data;
  EventType type;
  if (created) {
    std::optional<std::pair<std::string, std::string>> target = find_meeting(ctx.state, meeting);
    if (!target) {
      spdlog::warn("zoom: registration for meeting {} which no session carries", meeting);
      return invalid("unknown_session", "no session has this zoom_meeting_id", "payload.object.id");
    }
    std::string name = text_of(registrant, "first_name");
    std::string last = text_of(registrant, "last_name");
    if (!last.empty()) name += (name.empty() ? "" : " ") + last;
    nlohmann::ordered_json participant = {{"name", name}};
    std::string email = text_of(registrant, "email");
    if (!email.empty()) participant["email"] = email;
    data = {{"registration_id", registration_id},
            {target->first, target->second},
            {"participant", participant},
            {"channels", nlohmann::json::array({"email"})},
            {"sms_consent", false},
            {"accommodations", nlohmann::json::array()}};
    type = EventType::kRegistrationReceived;
  } else {
    if (ctx.state.registration(registration_id) == nullptr) {
      return invalid("unknown_registration", "no registration for this registrant",
                     "payload.object.registrant.id");
    }
    data = {{"registration_id", registration_id}, {"reason", "cancelled in Zoom"}};
    type = EventType::kRegistrationCancelled;
  }
  Result<NewEvent> ev = ctx.intake.from_data_json(
      type, data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kMeta);
  if (!ev) {
    // Zoom's fields map onto ours: name the Zoom field a person can find in the payload.
    Status st = ev.status();
    std::string field = st.field();
    if (field.find("participant.email") != std::string::npos) {
      field = "payload.object.registrant.email";
    } else if (field.find("participant.name") != std::string::npos) {
      field = "payload.object.registrant.first_name";
    }
    return Verdict::answer(error_response(Status::invalid(field, st.message())));
  }
  Batch batch;
  batch.push_back(std::move(*ev));
  return append_events(std::move(batch), ctx);
}

}  // namespace nudged
