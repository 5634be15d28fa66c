// libFuzzer: the Zoom webhook decoder, signed as Zoom signs, so that every input reaches the
// payload handling (url_validation, registration_created/cancelled, the meeting lookup).
#include <cstddef>
#include <cstdint>

#include "daemon/signature.h"
#include "fuzz_context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static nudged::fuzz::Context ctx;
  nudged::HttpRequest r;
  r.method = "POST";
  r.path = "/v1/webhooks/zoom";
  r.body.assign(reinterpret_cast<const char*>(data), size);
  std::string ts = std::to_string(nudged::fuzz::kNow);
  r.headers = {
      {"content-type", "application/json"},
      {"x-zm-request-timestamp", ts},
      {"x-zm-signature", "v0=" + nudged::hmac_sha256_hex(ctx.config.webhooks.zoom.secret_token,
                                                         "v0:" + ts + ":" + r.body)}};
  nudged::fuzz::check(nudged::post_zoom(r, {}, ctx.ingress()));
  return 0;
}
