#include "daemon/ingress.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/link_token.h"
#include "daemon/signature.h"
#include "events/json_depth.h"
#include "events/planner.h"
#include "events/series.h"

namespace nudged {

const std::vector<Route>& event_routes() {
  static const std::vector<Route> kRoutes = {
      {"POST", "/v1/registrations", &post_registration},
      {"POST", "/v1/registrations/{id}/cancel", &post_registration_cancel},
      {"POST", "/v1/events", &post_events},
      {"POST", "/v1/webhooks/zoom", &post_zoom},
      {"POST", "/v1/webhooks/twilio/sms", &post_twilio_sms},
      {"GET,POST", "/v1/unsubscribe", &unsubscribe},
  };
  return kRoutes;
}

namespace {

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

bool method_in(std::string_view list, std::string_view method) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (list.substr(0, comma) == method) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

const Route* match_route(const std::vector<Route>& routes, const HttpRequest& request,
                         std::vector<std::string>& params, bool& path_matched) {
  path_matched = false;
  std::vector<std::string_view> have = segments(request.path);
  for (const Route& route : routes) {
    std::vector<std::string_view> want = segments(route.pattern);
    if (want.size() != have.size()) continue;
    std::vector<std::string> found;
    bool ok = true;
    for (size_t i = 0; i < want.size() && ok; ++i) {
      if (want[i].size() > 2 && want[i].front() == '{' && want[i].back() == '}') {
        found.push_back(percent_decode(have[i], false));
      } else {
        ok = want[i] == have[i];
      }
    }
    if (!ok) continue;
    path_matched = true;
    if (!method_in(route.method, request.method)) continue;
    params = std::move(found);
    return &route;
  }
  return nullptr;
}

std::string allowed_methods(const std::vector<Route>& routes, const HttpRequest& request) {
  HttpRequest probe;
  probe.path = request.path;
  auto takes = [&](const char* method) {
    probe.method = method;
    std::vector<std::string> params;
    bool path_matched = false;
    return match_route(routes, probe, params, path_matched) != nullptr;
  };
  bool get = takes("GET"), post = takes("POST");
  std::string out = get ? "GET, HEAD" : "";
  if (post) out += out.empty() ? "POST" : ", POST";
  return out;
}

HttpResponse error_response(const Status& status) {
  switch (status.code()) {
    case Code::kMalformed:
      return HttpResponse::error(400, "malformed", status.message(), status.field());
    case Code::kConflict:
      return HttpResponse::error(409, "conflict", status.message(), status.field());
    case Code::kUnavailable:
    case Code::kIo:
    case Code::kCorrupt: {
      HttpResponse r = HttpResponse::error(503, "unavailable",
                                           "the event log cannot take writes right now; retry");
      r.headers.emplace_back("Retry-After", "5");
      return r;
    }
    case Code::kNotFound:
      return HttpResponse::error(422, "not_found", status.message(), status.field());
    case Code::kInvalidField:
    case Code::kOk:
      break;
  }
  return HttpResponse::error(422, "invalid_field", status.message(), status.field());
}

bool has_media_type(const HttpRequest& request, std::string_view media_type) {
  return request.media_type() == media_type;
}

std::optional<HttpResponse> parse_json_object(std::string_view body, nlohmann::json& out,
                                              std::string_view not_object) {
  if (!json_depth_within(body)) {
    return HttpResponse::error(400, "malformed",
                               "the body nests arrays or objects more than " +
                                   std::to_string(kMaxJsonDepth) + " levels deep");
  }
  out = nlohmann::json::parse(body, nullptr, false);
  if (out.is_discarded() || !out.is_object()) {
    return HttpResponse::error(400, "malformed", not_object);
  }
  return std::nullopt;
}

Status check_nudged_signature(const HttpRequest& request, const IngressContext& ctx) {
  const std::string* header = request.header("nudged-signature");
  return verify_nudged(ctx.config.webhooks.secret, header ? *header : std::string_view(),
                       request.body, ctx.now_unix, ctx.config.webhooks.tolerance);
}

std::string idempotent_id(const HttpRequest& request, const IngressContext& ctx,
                          std::string_view route, std::string_view prefix) {
  const std::string* key = request.header("idempotency-key");
  if (key == nullptr || key->empty()) return {};
  // Domain-separated from the other uses of the same key (participant ids, link tokens).
  return std::string(prefix) +
         keyed_hex(ctx.link_key, "idempotency\n" + std::string(route) + "\n" + *key);
}

namespace {

// Whether what the event at `i` of a batch refers to exists: in the log (State), or made by an
// event earlier in the same batch. An error answer when not, naming the field.
class References {
 public:
  References(const Batch& batch, const IngressContext& ctx) : batch_(batch), ctx_(ctx) {}

  std::optional<HttpResponse> check(size_t i) const {
    const EventData& data = batch_[i].data;
    if (const auto* r = std::get_if<RegistrationReceived>(&data)) return registration(i, *r);
    if (const auto* e = std::get_if<SessionUpdated>(&data)) return session_op(i, e->session_id);
    if (const auto* e = std::get_if<SessionRescheduled>(&data)) return session_op(i, e->session_id);
    if (const auto* e = std::get_if<SessionCancelled>(&data)) return session_op(i, e->session_id);
    if (const auto* e = std::get_if<SeriesCancelled>(&data)) {
      if (series_known(i, e->series_id)) return std::nullopt;
      return refuse(i, "unknown_series", "no series with that id is scheduled", "series_id");
    }
    if (const auto* e = std::get_if<RegistrationCancelled>(&data)) {
      if (registration_of(i, e->registration_id).known) return std::nullopt;
      return refuse(i, "unknown_registration", "no registration with that id", "registration_id");
    }
    if (const auto* e = std::get_if<AccommodationArranged>(&data)) return arranged(i, *e);
    if (const auto* e = std::get_if<ParticipantErased>(&data)) {
      if (participant_known(i, e->participant_id)) return std::nullopt;
      return refuse(i, "unknown_participant", "no participant with that id", "participant_id");
    }
    return std::nullopt;
  }

 private:
  std::optional<HttpResponse> refuse(size_t i, std::string_view code, std::string_view message,
                                     const std::string& field) const {
    std::string prefix = batch_.size() > 1 ? "events[" + std::to_string(i) + "].data." : "";
    return HttpResponse::error(422, code, message, prefix + field);
  }

  bool series_known(size_t i, const std::string& series_id) const {
    if (ctx_.state.series().count(series_id) > 0) return true;
    for (size_t j = 0; j < i; ++j) {
      const auto* s = std::get_if<SeriesScheduled>(&batch_[j].data);
      if (s != nullptr && s->series_id == series_id) return true;
    }
    return false;
  }

  // The definition of a series as the event at `i` would see it: the latest series.scheduled
  // earlier in the batch, else State's; nullptr when there is none.
  const SeriesScheduled* series_definition(size_t i, const std::string& series_id) const {
    for (size_t j = i; j-- > 0;) {
      const auto* s = std::get_if<SeriesScheduled>(&batch_[j].data);
      if (s != nullptr && s->series_id == series_id) return s;
    }
    auto it = ctx_.state.series().find(series_id);
    return it == ctx_.state.series().end() ? nullptr : &it->second.definition;
  }

  // A single session, known to State or scheduled earlier in the batch, or "<series>@<date>"
  // where the series' rule has a meeting on that local date: a date the rule does not give
  // (the UTC date of an evening meeting, a Wednesday of a Tuesday series, "@tuesday", after
  // COUNT) would be accepted and change nothing, and the real meeting would still happen.
  bool session_known(size_t i, const std::string& session_id) const {
    if (ctx_.state.session(session_id) != nullptr) return true;
    for (size_t j = 0; j < i; ++j) {
      if (const auto* s = std::get_if<SessionScheduled>(&batch_[j].data)) {
        if (s->session_id == session_id) return true;
      }
    }
    size_t at = session_id.rfind('@');
    if (at == std::string::npos) return false;
    const SeriesScheduled* series = series_definition(i, session_id.substr(0, at));
    return series != nullptr &&
           occurrence_on(*series, std::string_view(session_id).substr(at + 1)).has_value();
  }

  std::optional<HttpResponse> session_op(size_t i, const std::string& session_id) const {
    if (session_known(i, session_id)) return std::nullopt;
    return refuse(i, "unknown_session", "no session or series with that id is scheduled",
                  "session_id");
  }

  // A registration must name something that exists, and that is still to come: a registration
  // for a meeting cancelled or already over would be kept and never answered.
  std::optional<HttpResponse> registration(size_t i, const RegistrationReceived& r) const {
    std::string field = r.session_id ? "session_id" : "series_id";
    bool known = r.session_id ? session_known(i, *r.session_id) : series_known(i, *r.series_id);
    if (!known) {
      return refuse(i, "unknown_session", "no session or series with that id is scheduled", field);
    }
    // Whether an event earlier in the batch changes it: then the batch decides (State does not
    // know it yet), and it is taken as sent.
    const std::string& target = r.session_id ? *r.session_id : *r.series_id;
    for (size_t j = 0; j < i; ++j) {
      if (touches(batch_[j].data, target)) return std::nullopt;
    }
    if (r.series_id) {
      auto it = ctx_.state.series().find(*r.series_id);
      if (it != ctx_.state.series().end() && it->second.cancelled) {
        return refuse(i, "session_cancelled", "this series was cancelled", field);
      }
      return std::nullopt;
    }
    std::optional<PlannedSession> s = find_session(ctx_.state, *r.session_id);
    if (!s) return std::nullopt;  // not found after all (session_known checked): State decides
    if (s->cancelled) return refuse(i, "session_cancelled", "this session was cancelled", field);
    auto ends = s->starts_at + std::chrono::minutes(s->duration_minutes);
    if (std::chrono::duration_cast<std::chrono::seconds>(ends.time_since_epoch()).count() <=
        ctx_.now_unix) {
      return refuse(i, "session_over", "this session is already over", field);
    }
    return std::nullopt;
  }

  static bool touches(const EventData& data, const std::string& target) {
    auto same = [&](const std::string& id) {
      return id == target ||
             (target.find('@') != std::string::npos && target.substr(0, target.rfind('@')) == id);
    };
    if (const auto* e = std::get_if<SessionScheduled>(&data)) return same(e->session_id);
    if (const auto* e = std::get_if<SeriesScheduled>(&data)) return same(e->series_id);
    if (const auto* e = std::get_if<SessionUpdated>(&data)) return same(e->session_id);
    if (const auto* e = std::get_if<SessionRescheduled>(&data)) return same(e->session_id);
    if (const auto* e = std::get_if<SessionCancelled>(&data)) return same(e->session_id);
    if (const auto* e = std::get_if<SeriesCancelled>(&data)) return same(e->series_id);
    return false;
  }

  struct FoundRegistration {
    bool known = false;
    std::vector<std::string> kinds;  // the accommodations it asked for
  };
  FoundRegistration registration_of(size_t i, const std::string& registration_id) const {
    FoundRegistration out;
    if (const RegistrationState* r = ctx_.state.registration(registration_id)) {
      out.known = true;
      for (const AccommodationState& a : r->accommodations)
        out.kinds.push_back(a.kind);
    }
    for (size_t j = 0; j < i && !out.known; ++j) {
      const auto* r = std::get_if<RegistrationReceived>(&batch_[j].data);
      if (r == nullptr || r->registration_id != registration_id) continue;
      out.known = true;
      for (const auto& a : r->accommodations.value_or(std::vector<Accommodation>{}))
        out.kinds.push_back(a.kind);
    }
    return out;
  }

  std::optional<HttpResponse> arranged(size_t i, const AccommodationArranged& e) const {
    FoundRegistration r = registration_of(i, e.registration_id);
    if (!r.known) {
      return refuse(i, "unknown_registration", "no registration with that id", "registration_id");
    }
    if (std::find(r.kinds.begin(), r.kinds.end(), e.kind) == r.kinds.end()) {
      return refuse(i, "invalid_field", "this registration did not ask for this accommodation",
                    "kind");
    }
    return std::nullopt;
  }

  bool participant_known(size_t i, const std::string& participant_id) const {
    if (ctx_.state.participant(participant_id) != nullptr) return true;
    for (size_t j = 0; j < i; ++j) {
      const auto* r = std::get_if<RegistrationReceived>(&batch_[j].data);
      if (r != nullptr && r->participant.participant_id == participant_id) return true;
    }
    return false;
  }

  const Batch& batch_;
  const IngressContext& ctx_;
};

}  // namespace

Verdict append_events(Batch batch, const IngressContext& ctx) {
  // What an event refers to must exist (SPEC §5: 422 for an unknown session, and the like):
  // State would count such an event as ignored, and the log would keep it for nothing.
  References references(batch, ctx);
  for (size_t i = 0; i < batch.size(); ++i) {
    if (std::optional<HttpResponse> refused = references.check(i)) {
      return Verdict::answer(std::move(*refused));
    }
  }
  Verdict v;
  v.batch = std::move(batch);
  std::vector<std::string> ids;
  for (const NewEvent& ev : v.batch)
    ids.push_back(ev.id);
  v.accepted = [ids](const std::vector<Appended>& appended) {
    return HttpResponse::json(202, accepted_body(ids, appended));
  };
  return v;
}

// {"events":[{"id":"...","position":N},...]}: the answer to every accepted request, written
// directly rather than through an nlohmann tree (2% of the loop under a registration load). An
// id that would need escaping in JSON takes nlohmann's way, replacing invalid UTF-8 rather than
// throwing (ids come from validated JSON, so that is only a guard).
std::string accepted_body(const std::vector<std::string>& ids,
                          const std::vector<Appended>& appended) {
  std::string body = "{\"events\":[";
  for (size_t i = 0; i < ids.size() && i < appended.size(); ++i) {
    if (i > 0) body += ',';
    body += "{\"id\":";
    bool plain = std::all_of(ids[i].begin(), ids[i].end(),
                             [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
    if (plain) {
      body += '"';
      body += ids[i];
      body += '"';
    } else {
      body += nlohmann::json(ids[i]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    body += ",\"position\":";
    body += std::to_string(appended[i].position);
    body += '}';
  }
  body += "]}";
  return body;
}

}  // namespace nudged
