// What the body fuzzers share: a configuration with every secret set, a State holding one
// session (with a Zoom meeting id) and one registration, and an Intake — built once, reused
// by every input (routes do not change them; they only return Verdicts).
#pragma once

#include <string>

#include "daemon/ingress.h"
#include "events/replay.h"

namespace nudged::fuzz {

constexpr int64_t kNow = 1'900'000'000;

struct Context {
  Config config;
  State state;
  PlainSealer sealer;
  Intake intake{IntakeOptions{&sealer, std::string(32, 'k'), nullptr}};
  std::string link_key = std::string(32, 'L');

  Context() {
    config.webhooks.secret = "fuzz-secret-0123456789";
    config.webhooks.zoom.secret_token = "fuzz-zoom-token";
    config.webhooks.twilio.auth_token = "fuzz-twilio-token";
    config.webhooks.twilio.public_url = "https://example.org/v1/webhooks/twilio/sms";
    add(R"({"type":"session.scheduled","data":{"session_id":"s1","group":"g","title":"t",)"
        R"("starts_at":"2030-05-01T19:00:00-04:00","time_zone":"America/New_York",)"
        R"("duration_minutes":60,"join_url":"https://z.example/j/1","facilitators":[],)"
        R"("zoom_meeting_id":"777"}})");
    add(R"({"type":"registration.received","data":{"registration_id":"r1","session_id":"s1",)"
        R"("participant":{"name":"P","email":"p@example.org"},"channels":["email"],)"
        R"("sms_consent":false}})");
  }

  void add(const std::string& envelope) {
    Result<NewEvent> ev = intake.from_envelope_json(envelope);
    if (!ev) __builtin_trap();
    Envelope env;
    env.position = state.position() + 1;
    env.id = ev->id;
    env.type = type_of(ev->data);
    state.apply(env, std::move(ev->data));
  }

  IngressContext ingress() { return IngressContext{config, state, intake, sealer, link_key, kNow}; }
};

// Every verdict must be either an answer or a batch with its `accepted`, and an error answer
// must be JSON: checked for each input.
inline void check(const Verdict& v) {
  if (!v.batch.empty() && !v.accepted) __builtin_trap();
  if (v.batch.empty() && v.reply.status == 0) __builtin_trap();
}

}  // namespace nudged::fuzz
