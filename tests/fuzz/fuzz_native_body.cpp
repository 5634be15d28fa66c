// libFuzzer: the native API's body decoders — POST /v1/registrations, /v1/events and the
// cancel route — with a valid signature over whatever the input is, so that the fuzzer
// reaches the JSON decoding, validation and reference checks behind it.
#include <cstddef>
#include <cstdint>

#include "daemon/signature.h"
#include "fuzz_context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static nudged::fuzz::Context ctx;
  if (size < 1) return 0;
  static const char* kPaths[] = {"/v1/registrations", "/v1/events", "/v1/registrations/r1/cancel"};
  nudged::HttpRequest r;
  r.method = "POST";
  r.path = kPaths[data[0] % 3];
  r.body.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  r.headers = {{"content-type", "application/json"},
               {"nudged-signature",
                nudged::nudged_signature(ctx.config.webhooks.secret, nudged::fuzz::kNow, r.body)}};
  if (data[0] & 0x80) r.headers.emplace_back("idempotency-key", "fuzz");
  std::vector<std::string> params;
  bool matched = false;
  const nudged::Route* route = nudged::match_route(nudged::event_routes(), r, params, matched);
  if (route == nullptr) __builtin_trap();
  nudged::fuzz::check(route->handler(r, params, ctx.ingress()));
  return 0;
}
