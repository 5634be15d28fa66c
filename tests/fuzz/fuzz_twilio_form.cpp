// libFuzzer: the Twilio inbound-SMS form decoder, signed as Twilio signs (over the parsed
// parameters), so that every input reaches keyword handling and number normalisation.
#include <cstddef>
#include <cstdint>

#include "daemon/signature.h"
#include "fuzz_context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static nudged::fuzz::Context ctx;
  nudged::HttpRequest r;
  r.method = "POST";
  r.path = "/v1/webhooks/twilio/sms";
  r.body.assign(reinterpret_cast<const char*>(data), size);
  const nudged::TwilioWebhookConfig& t = ctx.config.webhooks.twilio;
  r.headers = {{"content-type", "application/x-www-form-urlencoded"},
               {"x-twilio-signature",
                nudged::twilio_signature(t.auth_token, t.public_url, nudged::parse_form(r.body))}};
  nudged::fuzz::check(nudged::post_twilio_sms(r, {}, ctx.ingress()));
  return 0;
}
