#include "daemon/ingress.h"

#include <sodium.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "daemon/signature.h"
#include "events/json_depth.h"

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
  std::string message = "idempotency\n";
  message += route;
  message += '\n';
  message += *key;
  unsigned char digest[16];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), reinterpret_cast<const unsigned char*>(ctx.link_key.data()),
                     ctx.link_key.size());
  char hex[sizeof digest * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(prefix) + hex;
}

bool known_session(const State& state, const std::string& session_id) {
  if (state.session(session_id) != nullptr) return true;
  size_t at = session_id.find('@');
  return at != std::string::npos && state.series().count(session_id.substr(0, at)) > 0;
}

Verdict append_events(Batch batch, const IngressContext& ctx) {
  // A registration must name something that exists, in the log or earlier in this batch.
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto* r = std::get_if<RegistrationReceived>(&batch[i].data);
    if (r == nullptr) continue;
    bool found = r->session_id ? known_session(ctx.state, *r->session_id)
                               : ctx.state.series().count(*r->series_id) > 0;
    for (size_t j = 0; j < i && !found; ++j) {
      if (const auto* s = std::get_if<SessionScheduled>(&batch[j].data)) {
        found = r->session_id && s->session_id == *r->session_id;
      } else if (const auto* s = std::get_if<SeriesScheduled>(&batch[j].data)) {
        found = (r->series_id && s->series_id == *r->series_id) ||
                (r->session_id && r->session_id->rfind(s->series_id + "@", 0) == 0);
      }
    }
    if (!found) {
      std::string field = r->session_id ? "session_id" : "series_id";
      std::string prefix = batch.size() > 1 ? "events[" + std::to_string(i) + "].data." : "";
      return Verdict::answer(HttpResponse::error(422, "unknown_session",
                                                 "no session or series with that id is scheduled",
                                                 prefix + field));
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
