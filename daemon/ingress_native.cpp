// The native, signed API of SPEC §5: registrations, cancellations and raw events.

#include <simdjson.h>
#include <sodium.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "daemon/ingress.h"
#include "events/series.h"

namespace nudged {
namespace {

constexpr const char* kMeta = R"({"source":"webhook:native"})";

// Checks what every signed JSON route checks, in the order a client can fix things: the
// signature first (nothing about the body is revealed to an unsigned caller), then the type.
std::optional<HttpResponse> refuse_unsigned_or_not_json(const HttpRequest& request,
                                                        const IngressContext& ctx,
                                                        bool body_optional) {
  Status s = check_nudged_signature(request, ctx);
  if (!s) return HttpResponse::error(401, "bad_signature", s.message());
  if (body_optional && request.body.empty()) return std::nullopt;
  if (!has_media_type(request, "application/json")) {
    return HttpResponse::error(415, "unsupported_media_type", "send application/json");
  }
  return std::nullopt;
}

// Parses a body that must be one JSON object; the 400 answer when it is not.
std::optional<HttpResponse> parse_object(simdjson::dom::parser& parser, const std::string& body,
                                         simdjson::dom::object& object) {
  auto err = parser.parse(body).get_object().get(object);
  if (!err) return std::nullopt;
  return HttpResponse::error(400, "malformed",
                             err == simdjson::INCORRECT_TYPE ? "the body must be a JSON object"
                                                             : "the body is not valid JSON");
}

// "reg-" and 24 hex digits: 12 of time and 12 random (see time_ordered_id: a registration's
// events are keyed by its id, so ids in time order keep the log's indexes append-mostly).
std::string fresh_registration_id() {
  return time_ordered_id("reg-", std::chrono::floor<Millis>(std::chrono::system_clock::now()), 6);
}

}  // namespace

Verdict post_registration(const HttpRequest& request, const std::vector<std::string>&,
                          const IngressContext& ctx) {
  if (auto refused = refuse_unsigned_or_not_json(request, ctx, false)) {
    return Verdict::answer(std::move(*refused));
  }
  // "ids may be omitted": a missing registration_id is made here (from the Idempotency-Key
  // when there is one, so that a retry names the same registration). It is spliced into the
  // body as text so that the strict decoder still sees every field exactly as sent.
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (std::optional<HttpResponse> refused = parse_object(parser, request.body, object)) {
    return Verdict::answer(std::move(*refused));
  }
  std::string body = request.body;
  if (object["registration_id"].error() == simdjson::NO_SUCH_FIELD) {
    std::string id = idempotent_id(request, ctx, "registrations", "reg-");
    if (id.empty()) id = fresh_registration_id();
    size_t brace = body.find('{');
    bool empty = object.begin() == object.end();
    body.insert(brace + 1, "\"registration_id\":\"" + id + "\"" + (empty ? "" : ","));
  }
  Result<NewEvent> ev =
      ctx.intake.from_data_json(EventType::kRegistrationReceived, body, kMeta,
                                idempotent_id(request, ctx, "registrations", "idem-"));
  if (!ev) {
    Status s = ev.status();
    // The data is the whole body here: name fields as the client wrote them.
    std::string field = s.field().rfind("data.", 0) == 0 ? s.field().substr(5) : s.field();
    return Verdict::answer(error_response(s.code() == Code::kMalformed
                                              ? Status::malformed(s.message(), field)
                                              : Status::invalid(field, s.message())));
  }
  const auto& reg = std::get<RegistrationReceived>(ev->data);
  std::string registration_id = reg.registration_id;
  std::string participant_id = reg.participant.participant_id.value_or("");
  std::string event_id = ev->id;
  Batch batch;
  batch.push_back(std::move(*ev));
  Verdict v = append_events(std::move(batch), ctx);
  if (v.batch.empty()) return v;
  v.accepted = [registration_id, participant_id, event_id](const std::vector<Appended>& appended) {
    nlohmann::ordered_json body = {{"registration_id", registration_id},
                                   {"participant_id", participant_id},
                                   {"event_id", event_id},
                                   {"position", appended.empty() ? 0 : appended[0].position}};
    return HttpResponse::json(202, body.dump());
  };
  return v;
}

Verdict post_registration_cancel(const HttpRequest& request, const std::vector<std::string>& params,
                                 const IngressContext& ctx) {
  if (auto refused = refuse_unsigned_or_not_json(request, ctx, true)) {
    return Verdict::answer(std::move(*refused));
  }
  const std::string& registration_id = params.at(0);
  if (ctx.ledger != nullptr && !ctx.ledger->admit(*request.header("nudged-signature"), request.path,
                                                  ctx.now_unix, ctx.config.webhooks.tolerance)) {
    return Verdict::answer(HttpResponse::error(
        401, "bad_signature", "this signature was already used for another registration"));
  }
  nlohmann::ordered_json data = {{"registration_id", registration_id}};
  if (!request.body.empty()) {
    nlohmann::json body;
    if (auto refused =
            parse_json_object(request.body, body, "the body must be a JSON object or empty")) {
      return Verdict::answer(std::move(*refused));
    }
    for (auto& [key, value] : body.items()) {
      if (key != "reason") {
        return Verdict::answer(
            HttpResponse::error(422, "invalid_field", "is not a known field", key));
      }
      data["reason"] = value;
    }
  }
  const RegistrationState* reg = ctx.state.registration(registration_id);
  if (reg == nullptr) {
    return Verdict::answer(HttpResponse::error(422, "unknown_registration",
                                               "no registration with that id", "registration_id"));
  }
  Result<NewEvent> ev =
      ctx.intake.from_data_json(EventType::kRegistrationCancelled,
                                data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                kMeta, idempotent_id(request, ctx, "cancel", "idem-"));
  if (!ev) {
    Status s = ev.status();
    std::string field = s.field().rfind("data.", 0) == 0 ? s.field().substr(5) : s.field();
    return Verdict::answer(error_response(Status::invalid(field, s.message())));
  }
  Batch batch;
  batch.push_back(std::move(*ev));
  Verdict v = append_events(std::move(batch), ctx);
  v.accepted = [registration_id](const std::vector<Appended>& appended) {
    nlohmann::ordered_json body = {{"registration_id", registration_id},
                                   {"cancelled", true},
                                   {"position", appended.empty() ? 0 : appended[0].position}};
    return HttpResponse::json(202, body.dump());
  };
  return v;
}

Verdict post_events(const HttpRequest& request, const std::vector<std::string>&,
                    const IngressContext& ctx) {
  if (auto refused = refuse_unsigned_or_not_json(request, ctx, false)) {
    return Verdict::answer(std::move(*refused));
  }
  return events_from_body(request, ctx, kMeta);
}

Verdict events_from_body(const HttpRequest& request, const IngressContext& ctx,
                         std::string_view meta) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (std::optional<HttpResponse> refused = parse_object(parser, request.body, object)) {
    return Verdict::answer(std::move(*refused));
  }
  // One envelope, or {"events": [...]} appended atomically.
  std::vector<std::string> envelopes;
  simdjson::dom::array list;
  bool is_list = object["type"].error() == simdjson::NO_SUCH_FIELD &&
                 object["events"].get_array().get(list) == simdjson::SUCCESS;
  if (is_list) {
    for (auto field : object) {
      if (field.key != "events") {
        return Verdict::answer(HttpResponse::error(422, "invalid_field", "is not a known field",
                                                   std::string(field.key)));
      }
    }
    for (simdjson::dom::element e : list)
      envelopes.push_back(simdjson::minify(e));
    if (envelopes.empty()) {
      return Verdict::answer(
          HttpResponse::error(422, "invalid_field", "must hold at least one event", "events"));
    }
    if (envelopes.size() > 1000) {
      return Verdict::answer(HttpResponse::error(
          422, "invalid_field", "may hold at most 1000 events per request", "events"));
    }
  } else {
    envelopes.push_back(request.body);
  }
  std::string base = idempotent_id(request, ctx, "events", "idem-");
  Batch batch;
  for (size_t i = 0; i < envelopes.size(); ++i) {
    std::string default_id = base.empty() ? std::string() : base + "-" + std::to_string(i);
    // An error names its place in the list ("events[2].data.rrule") when there is one.
    auto refused = [&](const Status& s) {
      return Verdict::answer(
          error_response(is_list ? s.within("events[" + std::to_string(i) + "]") : s));
    };
    Result<NewEvent> ev = ctx.intake.from_envelope_json(envelopes[i], default_id);
    if (!ev) return refused(ev.status());
    // A new series must meet at most once a day (its meetings are named by their dates), start
    // on a meeting its rule gives and have one at all. Here, not in intake: an import of a log
    // that holds an older rule must still go in.
    if (auto* series = std::get_if<SeriesScheduled>(&ev->data)) {
      if (Status rule = check_new_series(*series); !rule) return refused(rule.within("data"));
    }
    if (ev->meta == "{}") ev->meta = std::string(meta);
    batch.push_back(std::move(*ev));
  }
  return append_events(std::move(batch), ctx);
}

}  // namespace nudged
