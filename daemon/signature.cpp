#include "daemon/signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace nudged {
namespace {

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

bool parse_unix(std::string_view text, int64_t& out) {
  if (text.empty() || text.size() > 12) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out >= 0;
}

Status unsigned_request(std::string message) {
  return Status::invalid("signature", message);
}

bool within(int64_t t, int64_t now, std::chrono::seconds tolerance) {
  int64_t skew = t > now ? t - now : now - t;
  return skew <= tolerance.count();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string hmac_sha1_base64(std::string_view key, std::string_view message) {
  std::string mac = hmac(EVP_sha1(), key, message);
  std::string out(4 * ((mac.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(mac.data()),
                          static_cast<int>(mac.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status verify_nudged(std::string_view secret, std::string_view header, std::string_view body,
                     int64_t now_unix, std::chrono::seconds tolerance) {
  if (secret.empty()) return unsigned_request("signed requests are not configured on this server");
  if (header.empty()) return unsigned_request("the Nudged-Signature header is missing");
  std::string_view t_text;
  std::vector<std::string_view> macs;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view part = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (part.rfind("t=", 0) == 0) {
      t_text = part.substr(2);
    } else if (part.rfind("v1=", 0) == 0) {
      macs.push_back(part.substr(3));
    }
  }
  int64_t t = 0;
  if (!parse_unix(t_text, t) || macs.empty()) {
    return unsigned_request("the Nudged-Signature header must be t=<unix seconds>,v1=<hex>");
  }
  if (!within(t, now_unix, tolerance)) {
    return unsigned_request("the signature's timestamp is outside the allowed clock skew");
  }
  std::string expected = hmac_sha256_hex(secret, std::string(t_text) + "." + std::string(body));
  bool match = false;
  for (std::string_view mac : macs) {
    std::string lower(mac);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    match = equal_in_constant_time(lower, expected) || match;
  }
  if (!match) return unsigned_request("the signature does not match the body");
  return Status::ok();
}

bool SignatureLedger::admit(std::string_view signature, std::string_view path, int64_t now_unix,
                            std::chrono::seconds tolerance) {
  if (now_unix >= next_prune_) {
    for (auto it = seen_.begin(); it != seen_.end();) {
      it = it->second.forget_at <= now_unix ? seen_.erase(it) : std::next(it);
    }
    next_prune_ = now_unix + 10;
  }
  // A signature is good for `tolerance` either side of its timestamp: remember it that long
  // from now, which covers both sides.
  auto [it, fresh] = seen_.try_emplace(
      std::string(signature), Use{std::string(path), now_unix, now_unix + 2 * tolerance.count()});
  return fresh || it->second.path == path || now_unix - it->second.first_used <= kSameBatchSeconds;
}

Status verify_zoom(std::string_view secret_token, std::string_view signature,
                   std::string_view timestamp, std::string_view body, int64_t now_unix,
                   std::chrono::seconds tolerance) {
  if (secret_token.empty()) return unsigned_request("Zoom webhooks are not configured");
  if (signature.empty() || timestamp.empty()) {
    return unsigned_request("x-zm-signature and x-zm-request-timestamp are required");
  }
  int64_t t = 0;
  if (!parse_unix(timestamp, t)) {
    return unsigned_request("x-zm-request-timestamp must be unix seconds");
  }
  if (!within(t, now_unix, tolerance)) {
    return unsigned_request("the request timestamp is outside the allowed clock skew");
  }
  std::string message = "v0:" + std::string(timestamp) + ":" + std::string(body);
  std::string expected = "v0=" + hmac_sha256_hex(secret_token, message);
  if (!equal_in_constant_time(signature, expected)) {
    return unsigned_request("x-zm-signature does not match the body");
  }
  return Status::ok();
}

std::string twilio_signature(std::string_view auth_token, std::string_view url,
                             std::vector<std::pair<std::string, std::string>> params) {
  std::stable_sort(params.begin(), params.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string message(url);
  for (const auto& [name, value] : params) {
    message += name;
    message += value;
  }
  return hmac_sha1_base64(auth_token, message);
}

Status verify_twilio(std::string_view auth_token, std::string_view signature, std::string_view url,
                     const std::vector<std::pair<std::string, std::string>>& params) {
  if (auth_token.empty()) return unsigned_request("Twilio webhooks are not configured");
  if (signature.empty()) return unsigned_request("X-Twilio-Signature is missing");
  if (!equal_in_constant_time(signature, twilio_signature(auth_token, url, params))) {
    return unsigned_request("X-Twilio-Signature does not match the request");
  }
  return Status::ok();
}

}  // namespace nudged
