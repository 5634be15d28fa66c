// The "webhook" channel: each message as a signed JSON POST, for chat bridges and providers we
// have no adapter for. The receiver checks the Nudged-Signature header (channels/signature.h)
// with the shared secret, exactly as nudged checks requests sent to it.
//
//   {"notification_id", "kind", "channel", "to", "subject", "text"}
//
// 2xx -> sent; 429 and 5xx -> transient, honouring Retry-After; other 4xx -> permanent.
// Settings: url, secret, timeout, ca_file. Loop thread only, like every channel.
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "channels/curl_sender.h"
#include "channels/failure_text.h"
#include "channels/signature.h"

namespace nudged {
namespace {

struct WebhookSettings {
  std::string url;
  std::string secret;
  CurlSettings curl;
};

class WebhookJob final : public CurlJob {
 public:
  WebhookJob(const WebhookSettings& s, std::string body) : CurlJob(s.curl), body_(std::move(body)) {
    if (easy_ == nullptr) return;
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    curl_easy_setopt(easy_, CURLOPT_URL, s.url.c_str());
    curl_easy_setopt(easy_, CURLOPT_POST, 1L);
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body_.data());
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body_.size()));
    add_header("Content-Type: application/json");
    add_header("Nudged-Signature: " + nudged_signature(s.secret, now, body_));
    add_header("Expect:");
    use_headers();
  }

  SendResult result(CURLcode code) override {
    // Only the status and curl's kind of failure: curl's own message, and the receiver's
    // answer, may carry anything.
    if (code != CURLE_OK) return SendResult::transient("webhook: " + curl_failure_text(code));
    long status = response_code();
    switch (classify_http(code, status)) {
      case HttpClass::kSent:
        return SendResult::sent();
      case HttpClass::kTransient:
        return SendResult::transient("webhook: HTTP " + std::to_string(status), retry_after());
      case HttpClass::kPermanent:
        break;
    }
    // Refused for the endpoint as a whole (the receiver does not accept our signature, or the
    // URL is wrong), not for this message: retried, or every notice owed to staff would be
    // thrown away until the operator fixes the setting (as for SMTP and Twilio).
    if (status == 401 || status == 403 || status == 404) {
      return SendResult::account_refused("webhook: HTTP " + std::to_string(status));
    }
    return SendResult::permanent("webhook: HTTP " + std::to_string(status));
  }

 private:
  std::string body_;
};

class WebhookChannel final : public Channel {
 public:
  WebhookChannel(WebhookSettings settings, std::shared_ptr<CurlDriver> driver)
      : settings_(std::move(settings)), sender_(std::move(driver)) {}
  ~WebhookChannel() override { close(); }

  void send(const Message& m, Done done) override {
    nlohmann::json body = {{"notification_id", m.notification_id},
                           {"kind", m.kind},
                           {"channel", m.channel},
                           {"to", m.to},
                           {"subject", m.subject},
                           {"text", m.text}};
    // Replace, not throw, on invalid UTF-8: no exception may escape onto the loop.
    std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    sender_.send(std::make_unique<WebhookJob>(settings_, std::move(text)), std::move(done));
  }

  int concurrency() const override { return 8; }
  void close() override { sender_.close(); }

 private:
  WebhookSettings settings_;
  CurlSender sender_;
};

Result<std::unique_ptr<Channel>> make_webhook_channel(const ChannelConfig& config,
                                                      const ChannelEnv& env) {
  if (env.loop == nullptr) return Status::invalid("", "a webhook channel needs the event loop");
  WebhookSettings s;
  if (auto it = config.settings.find("url"); it != config.settings.end()) s.url = it->second;
  if (auto it = config.settings.find("secret"); it != config.settings.end()) s.secret = it->second;
  if (s.url.empty()) return Status::invalid("url", "required");
  if (s.secret.empty()) return Status::invalid("secret", "required");
  Result<CurlSettings> curl = curl_settings(config);
  if (!curl) return curl.status();
  s.curl = *curl;
  std::shared_ptr<CurlDriver> driver = loop_driver(env.loop);
  if (!driver) return Status::io("cannot set up libcurl");
  return std::unique_ptr<Channel>(
      std::make_unique<WebhookChannel>(std::move(s), std::move(driver)));
}

}  // namespace

NUDGED_REGISTER_CHANNEL("webhook", make_webhook_channel);

}  // namespace nudged
