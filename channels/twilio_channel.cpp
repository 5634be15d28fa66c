// The "twilio" channel: SMS through Twilio's Messages API, over the loop's CurlMulti.
//
//   POST {api_base}/2010-04-01/Accounts/{account_sid}/Messages.json
//   basic auth account_sid:auth_token; form fields To, From (or MessagingServiceSid), Body
//
// The number is checked and normalised to E.164 with libphonenumber first (a bad one fails for
// good without a request); the body is cut to two segments (channels/sms_text.h). Outcomes:
// 201 -> sent with the message's `sid`; 429 and 5xx -> transient, honouring Retry-After. A 4xx
// about the account rather than this recipient or message (401, 403, 404 whatever the code:
// bad credentials or account SID; and codes such as 20003, 21611 queue full, 21606 a bad
// sender; see account_level_error) -> transient, marked account-level, so that a bad token
// does not throw away every text owed. Other 4xx -> permanent. Recorded: the HTTP status,
// Twilio's error code and our words for them (channels/failure_text.h), never Twilio's
// message, which quotes the number and may quote names; 21610 (the recipient replied STOP) also
// reports the address as opted out, so the daemon records it.
//
// Settings: account_sid, auth_token, from | messaging_service_sid, api_base, timeout, ca_file.
// Loop thread only, like every channel.
#include <algorithm>
#include <array>
#include <cctype>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

#include "channels/curl_sender.h"
#include "channels/failure_text.h"
#include "channels/sms_text.h"
#include "events/contact.h"
#include "events/json_depth.h"

namespace nudged {
namespace {

constexpr int kMaxSegments = 2;
constexpr int kTwilioUnsubscribed = 21610;

// Whether a 4xx is about the sending account (credentials, its sender numbers, its settings,
// its limits) rather than this recipient or message: then every other text fails alike, and
// each succeeds once the operator has fixed the account, so it is retried, not given up.
// Codes from Twilio's error dictionary (twilio.com/docs/api/errors/<code>). Recipient- and
// message-specific ones (21211 invalid 'To', 21610 unsubscribed, 21612 unreachable, 21614 not
// a mobile, 21617 body too long...) stay permanent, as do codes not listed: retrying a request
// Twilio calls bad, for every message until its deadline, is not done on a guess.
bool account_level_error(long status, long code) {
  if (status == 401 || status == 403 || status == 404) return true;  // credentials, account SID
  switch (code) {
    case 20003:  // authentication / permission denied
    case 20005:  // account not active (suspended, closed)
    case 20404:  // resource not found: the account SID or URL is wrong
    case 20429:  // too many requests
    case 14107:  // message rate limit exceeded
    case 21212:  // invalid 'From' number
    case 21606:  // 'From' is not a message-capable number of this account
    case 21611:  // this 'From' number's queue is full: a rate condition
    // The region of the 'To' number is not enabled in the account's geographic permissions:
    // an account setting, which the operator can turn on before the meeting.
    case 21408:
    // Trial account (or no approved compliance profile) sending to an unverified number:
    // fixed by upgrading the account.
    case 21608:
      return true;
    default:
      return false;
  }
}

// Appends `s` application/x-www-form-urlencoded, byte by byte (UTF-8 passes through as %XX).
// Written straight into the string's room for the worst case, then trimmed: this runs for
// every SMS, on the loop.
void append_form_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  static constexpr auto kPlain = [] {
    std::array<bool, 256> plain{};
    for (int c = 0; c < 256; ++c)
      plain[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.' || c == '~';
    return plain;
  }();
  size_t at = out.size();
  out.resize(at + s.size() * 3);
  char* p = out.data() + at;
  for (unsigned char c : s) {
    if (kPlain[c]) {
      *p++ = static_cast<char>(c);
    } else {
      *p++ = '%';
      *p++ = kHex[c >> 4];
      *p++ = kHex[c & 15];
    }
  }
  out.resize(static_cast<size_t>(p - out.data()));
}

// The message's "sid" from a 201 answer. Message SIDs are "SM" plus hex digits, so the first
// "sid" key's string value is read directly: on the hot path a full JSON parse of the whole
// message resource cost as much as the rest of the answer's handling. Falls back to a parse
// when the shape is not the expected one.
std::string message_sid(const std::string& body) {
  size_t key = body.find("\"sid\"");
  if (key != std::string::npos) {
    size_t colon = body.find_first_not_of(" \t\r\n", key + 5);
    if (colon != std::string::npos && body[colon] == ':') {
      size_t open = body.find_first_not_of(" \t\r\n", colon + 1);
      if (open != std::string::npos && body[open] == '"') {
        size_t close = body.find('"', open + 1);
        if (close != std::string::npos) {
          std::string sid = body.substr(open + 1, close - open - 1);
          bool plain = std::all_of(sid.begin(), sid.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c));
          });
          if (plain) return sid;
        }
      }
    }
  }
  if (!json_depth_within(body)) return {};  // not Twilio's: no deeper than a few levels
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("sid") && j["sid"].is_string())
    return j["sid"].get<std::string>();
  return {};
}

struct TwilioSettings {
  std::string url;  // the Messages resource
  std::string account_sid;
  std::string auth_token;
  std::string from;
  std::string messaging_service_sid;
  std::string sender_field;  // "&From=..." or "&MessagingServiceSid=...", escaped once
  CurlSettings curl;
  // The same for every request: built once per channel. "Expect:" turns off curl's
  // 100-continue round trip, pointless for a few hundred bytes.
  std::shared_ptr<curl_slist> headers = shared_header_list(
      {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json", "Expect:"});
};

class TwilioJob final : public CurlJob {
 public:
  TwilioJob(const TwilioSettings& s, std::string to, std::string_view body)
      : CurlJob(s.curl), to_(std::move(to)) {
    if (easy_ == nullptr) return;
    form_.reserve(16 + to_.size() * 3 + s.sender_field.size() + body.size() * 3);
    form_ = "To=";
    append_form_escaped(form_, to_);
    form_ += s.sender_field;
    form_ += "&Body=";
    append_form_escaped(form_, body);
    curl_easy_setopt(easy_, CURLOPT_URL, s.url.c_str());
    curl_easy_setopt(easy_, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(easy_, CURLOPT_USERNAME, s.account_sid.c_str());
    curl_easy_setopt(easy_, CURLOPT_PASSWORD, s.auth_token.c_str());
    curl_easy_setopt(easy_, CURLOPT_POST, 1L);
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, form_.data());
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE, static_cast<long>(form_.size()));
    use_shared_headers(s.headers);
  }

  SendResult result(CURLcode code) override {
    long status = response_code();
    if (code != CURLE_OK) return SendResult::transient("twilio: " + curl_failure_text(code));
    switch (classify_http(code, status)) {
      case HttpClass::kSent:
        return SendResult::sent(message_sid(response_body()));
      case HttpClass::kTransient:
        return SendResult::transient("twilio: " + twilio_failure_text(status, 0), retry_after());
      case HttpClass::kPermanent:
        break;
    }
    nlohmann::json body = json_depth_within(response_body())
                              ? nlohmann::json::parse(response_body(), nullptr, false)
                              : nlohmann::json();
    // Twilio's `message` quotes the number; its `code` says all we need.
    long error = 0;
    if (body.is_object() && body.contains("code") && body["code"].is_number_integer()) {
      error = body["code"].get<long>();
    }
    std::string why = "twilio: " + twilio_failure_text(status, error);
    if (account_level_error(status, error)) {
      return SendResult::account_refused(std::move(why), retry_after());
    }
    SendResult r = SendResult::permanent(std::move(why));
    if (error == kTwilioUnsubscribed) r.opted_out_address = to_;
    return r;
  }

 private:
  std::string to_;
  std::string form_;
};

class TwilioChannel final : public Channel {
 public:
  TwilioChannel(TwilioSettings settings, std::shared_ptr<CurlDriver> driver)
      : settings_(std::move(settings)), sender_(std::move(driver)) {}
  ~TwilioChannel() override { close(); }

  void send(const Message& message, Done done) override {
    const std::string* to = normalized(message.to);
    if (to == nullptr) {
      return sender_.fail_later(
          SendResult::permanent("twilio: the recipient is not a valid phone number"),
          std::move(done));
    }
    // Most texts fit as they are: sized without a copy, cut (a copy) only when they do not.
    if (sms_size(message.text).segments <= kMaxSegments) {
      sender_.send(std::make_unique<TwilioJob>(settings_, *to, message.text), std::move(done));
    } else {
      sender_.send(std::make_unique<TwilioJob>(settings_, *to, fit_sms(message.text, kMaxSegments)),
                   std::move(done));
    }
  }

  int concurrency() const override { return 16; }
  void close() override { sender_.close(); }

 private:
  // libphonenumber's check costs ~35 us (ICU regular expressions), more than the whole rest of
  // a send; the same people get many messages, so valid numbers are remembered. Bounded: the
  // map is simply emptied when full. Invalid ones are not kept (they fail once, for good).
  const std::string* normalized(const std::string& number) {
    if (auto it = numbers_.find(number); it != numbers_.end()) return &it->second;
    Result<std::string> e164 = normalize_phone(number, "");
    if (!e164) return nullptr;
    if (numbers_.size() >= kMaxRemembered) numbers_.clear();
    return &numbers_.emplace(number, std::move(*e164)).first->second;
  }
  static constexpr size_t kMaxRemembered = 10000;

  TwilioSettings settings_;
  CurlSender sender_;
  std::unordered_map<std::string, std::string> numbers_;  // as given -> E.164
};

Result<std::unique_ptr<Channel>> make_twilio_channel(const ChannelConfig& config,
                                                     const ChannelEnv& env) {
  if (env.loop == nullptr) return Status::invalid("", "a twilio channel needs the event loop");
  auto get = [&](const char* key) {
    auto it = config.settings.find(key);
    return it == config.settings.end() ? std::string() : it->second;
  };
  TwilioSettings s;
  s.account_sid = get("account_sid");
  s.auth_token = get("auth_token");
  s.from = get("from");
  s.messaging_service_sid = get("messaging_service_sid");
  if (s.account_sid.empty()) return Status::invalid("account_sid", "required");
  if (s.auth_token.empty()) return Status::invalid("auth_token", "required");
  if (s.from.empty() == s.messaging_service_sid.empty()) {
    return Status::invalid("from", "set from or messaging_service_sid");
  }
  std::string base = get("api_base").empty() ? "https://api.twilio.com" : get("api_base");
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  s.url = base + "/2010-04-01/Accounts/" + s.account_sid + "/Messages.json";
  s.sender_field = s.from.empty() ? "&MessagingServiceSid=" : "&From=";
  append_form_escaped(s.sender_field, s.from.empty() ? s.messaging_service_sid : s.from);
  Result<CurlSettings> curl = curl_settings(config);
  if (!curl) return curl.status();
  s.curl = *curl;
  std::shared_ptr<CurlDriver> driver = loop_driver(env.loop);
  if (!driver) return Status::io("cannot set up libcurl");
  return std::unique_ptr<Channel>(std::make_unique<TwilioChannel>(std::move(s), std::move(driver)));
}

}  // namespace

NUDGED_REGISTER_CHANNEL("twilio", make_twilio_channel);

}  // namespace nudged
