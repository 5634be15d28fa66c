// POST /v1/webhooks/twilio/sms: inbound text messages, as Twilio posts and signs them.
//
// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT -> participant.opted_out (sms, the sender)
// START, UNSTOP                                  -> participant.opted_in
// HELP, INFO                                     -> a TwiML reply saying what this number is
// The answer is always TwiML. Twilio's own opt-out handling replies to STOP, so nudged does not
// (a reply to a number that just opted out would be refused anyway).

#include <nlohmann/json.hpp>

#include "daemon/ingress.h"
#include "daemon/signature.h"
#include "events/contact.h"

namespace nudged {
namespace {

constexpr const char* kMeta = R"({"source":"sms:twilio"})";

HttpResponse twiml(std::string_view message) {
  std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>";
  if (!message.empty()) {
    body += "<Message>";
    body += message;  // our own fixed text: nothing to escape
    body += "</Message>";
  }
  body += "</Response>";
  return HttpResponse::text(200, std::move(body), "text/xml");
}

std::string keyword_of(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '.' || c == '!') {
      if (!out.empty()) break;
      continue;
    }
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

const std::string* param(const std::vector<std::pair<std::string, std::string>>& params,
                         std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name) return &v;
  }
  return nullptr;
}

}  // namespace

Verdict post_twilio_sms(const HttpRequest& request, const std::vector<std::string>&,
                        const IngressContext& ctx) {
  if (!has_media_type(request, "application/x-www-form-urlencoded")) {
    return Verdict::answer(HttpResponse::error(415, "unsupported_media_type",
                                               "send application/x-www-form-urlencoded"));
  }
  std::vector<std::pair<std::string, std::string>> params = parse_form(request.body);
  const std::string* signature = request.header("x-twilio-signature");
  const TwilioWebhookConfig& twilio = ctx.config.webhooks.twilio;
  Status s =
      verify_twilio(twilio.auth_token, signature ? *signature : "", twilio.public_url, params);
  if (!s) return Verdict::answer(HttpResponse::error(401, "bad_signature", s.message()));

  const std::string* from = param(params, "From");
  const std::string* text = param(params, "Body");
  if (from == nullptr) {
    return Verdict::answer(HttpResponse::error(422, "invalid_field", "is missing", "From"));
  }
  std::string keyword = keyword_of(text ? *text : "");
  static const char* kStop[] = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"};
  static const char* kStart[] = {"START", "UNSTOP"};
  bool stop = false, start = false;
  for (const char* k : kStop)
    stop = stop || keyword == k;
  for (const char* k : kStart)
    start = start || keyword == k;
  if (keyword == "HELP" || keyword == "INFO") {
    return Verdict::answer(
        twiml("This number sends reminders for support meetings you signed up for. "
              "Reply STOP to get no more texts, or START to get them again."));
  }
  if (!stop && !start) return Verdict::answer(twiml(""));

  Result<std::string> phone = normalize_phone(*from, "");
  if (!phone) {
    return Verdict::answer(
        HttpResponse::error(422, "invalid_field", "is not a phone number", "From"));
  }
  nlohmann::ordered_json data = {{"channel", "sms"}, {"address", *phone}};
  // Twilio retries a webhook with the same MessageSid: that, with what the text asks, makes
  // the event id. (The action too: Twilio never reuses a sid, but a test fixture or a replayed
  // capture may send STOP and then START under one, and that is two facts, not a conflict.)
  std::string id;
  if (const std::string* sid = param(params, "MessageSid"); sid && !sid->empty()) {
    HttpRequest keyed;
    keyed.headers.emplace_back("idempotency-key", *sid + (stop ? ":stop" : ":start"));
    id = idempotent_id(keyed, ctx, "twilio-sms", "twilio-");
  }
  Result<NewEvent> ev = ctx.intake.from_data_json(
      stop ? EventType::kParticipantOptedOut : EventType::kParticipantOptedIn, data.dump(), kMeta,
      id);
  if (!ev) return Verdict::answer(error_response(ev.status()));
  Verdict v;
  v.batch.push_back(std::move(*ev));
  v.accepted = [start](const std::vector<Appended>&) {
    return twiml(start ? "You will get text reminders again. Reply STOP to stop them." : "");
  };
  return v;
}

}  // namespace nudged
