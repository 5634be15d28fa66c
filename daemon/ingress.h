// Ingress: what the public HTTP routes of SPEC §5 decide, apart from any socket.
//
// A route gets the request and a read-only view of the daemon (State, config, the Intake that
// validates and seals) and returns a Verdict: either an answer now (an error, a Zoom URL
// validation, a TwiML reply) or a batch of events to append atomically and the answer to give
// once they are durable. Nothing here writes, so a rejected request appends nothing by
// construction, and the routes test (and fuzz) without a loop or a store.
//
// Adding a route is one function in one of the ingress_*.cpp files and one line in the table
// in ingress.cpp. Loop thread (Intake is not thread-safe).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "config/config.h"
#include "daemon/http_request.h"
#include "daemon/http_response.h"
#include "daemon/signature.h"
#include "events/intake.h"
#include "events/state.h"
#include "events/store.h"

namespace nudged {

struct IngressContext {
  const Config& config;
  const State& state;
  Intake& intake;
  const Sealer& sealer;
  std::string_view link_key;  // keys unsubscribe tokens and ids derived from Idempotency-Key
  int64_t now_unix = 0;
  // Signatures already used on routes with an id in the path (see SignatureLedger): the one
  // piece of state a route changes. Null in tests that do not need it.
  SignatureLedger* ledger = nullptr;
};

struct Verdict {
  HttpResponse reply;  // the answer, when `batch` is empty
  Batch batch;         // else: append all of it or nothing, then answer with `accepted`
  std::function<HttpResponse(const std::vector<Appended>&)> accepted;

  static Verdict answer(HttpResponse r) { return Verdict{std::move(r), {}, nullptr}; }
};

using RouteHandler = Verdict (*)(const HttpRequest&, const std::vector<std::string>& params,
                                 const IngressContext&);

struct Route {
  const char* method;   // "POST"; "GET,POST" for both
  const char* pattern;  // "/v1/registrations/{id}/cancel": {x} matches one path segment
  RouteHandler handler;
};

// The routes that turn requests into events. /healthz, /readyz and /metrics are answered by
// the App, which knows readiness and counters.
const std::vector<Route>& event_routes();

// Finds the route for a request: its pattern (a label for metrics, never the raw path) and the
// path parameters. nullptr when no route matches; `method_allowed` says whether the path
// matched under another method (405 rather than 404).
const Route* match_route(const std::vector<Route>& routes, const HttpRequest& request,
                         std::vector<std::string>& params, bool& path_matched);

// The methods the routes matching this path take, for a 405's Allow header: "POST", or
// "GET, HEAD, POST" (a GET route answers HEAD too).
std::string allowed_methods(const std::vector<Route>& routes, const HttpRequest& request);

// --- helpers shared by the route files ---------------------------------------------------

// The JSON error answer for a Status: invalid_field → 422, malformed → 400, conflict → 409,
// unavailable → 503 with Retry-After, not_found → 422.
HttpResponse error_response(const Status& status);

// 415 unless the request says it carries `media_type`.
bool has_media_type(const HttpRequest& request, std::string_view media_type);

// Parses a body that must be one JSON object into `out` with nlohmann, after checking it nests
// no deeper than kMaxJsonDepth (events/json_depth.h: nlohmann recurses once per level). The
// 400 when it does not parse, is not an object (`not_object` says so) or nests too deep.
std::optional<HttpResponse> parse_json_object(
    std::string_view body, nlohmann::json& out,
    std::string_view not_object = "the body is not a JSON object");

// Checks Nudged-Signature against [webhooks] secret and tolerance.
Status check_nudged_signature(const HttpRequest& request, const IngressContext& ctx);

// An id derived from the request's Idempotency-Key (empty without one): the same key on the
// same route gives the same id, so a retried request appends nothing new and a reused key
// with a different body is a conflict.
std::string idempotent_id(const HttpRequest& request, const IngressContext& ctx,
                          std::string_view route, std::string_view prefix);

// Route handlers, one file per integration.
Verdict post_registration(const HttpRequest&, const std::vector<std::string>&,
                          const IngressContext&);
Verdict post_registration_cancel(const HttpRequest&, const std::vector<std::string>&,
                                 const IngressContext&);
Verdict post_events(const HttpRequest&, const std::vector<std::string>&, const IngressContext&);
Verdict post_zoom(const HttpRequest&, const std::vector<std::string>&, const IngressContext&);
Verdict post_twilio_sms(const HttpRequest&, const std::vector<std::string>&, const IngressContext&);
Verdict unsubscribe(const HttpRequest&, const std::vector<std::string>&, const IngressContext&);

// The body of POST /v1/events (one envelope or {"events": [...]}) as a batch; events without
// meta get `meta`. Shared with the admin API.
Verdict events_from_body(const HttpRequest& request, const IngressContext& ctx,
                         std::string_view meta);

// The admin socket's appends: POST /v1/admin/events (as /v1/events, unsigned) and
// POST /v1/admin/erase {"participant_id": ...}.
Verdict admin_events(const HttpRequest& request, const IngressContext& ctx);
Verdict admin_erase(const HttpRequest& request, const IngressContext& ctx);

// Appends `events` (each already through Intake), rejecting registrations that refer to an
// unknown session: shared by POST /v1/events and the admin socket.
Verdict append_events(Batch batch, const IngressContext& ctx);

// The 202 body for events accepted at these positions: {"events":[{"id":..,"position":..}]}.
std::string accepted_body(const std::vector<std::string>& ids,
                          const std::vector<Appended>& appended);

}  // namespace nudged
