// Request signatures of SPEC §5: nudged's own Nudged-Signature, Zoom's x-zm-signature and
// Twilio's X-Twilio-Signature. Pure functions over bytes (OpenSSL HMAC); every comparison of a
// MAC is constant-time. The reasons returned name what is wrong with the header, never the
// expected value. Any thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "channels/signature.h"  // hmac_sha256_hex, nudged_signature (the signing side)
#include "events/status.h"

namespace nudged {

std::string hmac_sha1_base64(std::string_view key, std::string_view message);
// Constant-time equality of two strings (their lengths are not secret).
bool equal_in_constant_time(std::string_view a, std::string_view b);

// Checks a Nudged-Signature header: well-formed, `t` within `tolerance` of `now_unix`, and one
// of its v1 values the MAC of the body. Several v1 values are allowed (a sender rotating keys).
Status verify_nudged(std::string_view secret, std::string_view header, std::string_view body,
                     int64_t now_unix, std::chrono::seconds tolerance);

// Nudged-Signature signs the body, not the path. For a route whose path names what it acts on
// (POST /v1/registrations/{id}/cancel, often with an empty body), one captured signature would
// otherwise be good for every id until it goes stale. The ledger remembers, for the tolerance
// window, which path each signature was first used on and when. A retry of the same request
// (same path) is always admitted: it is idempotent anyway. On another path the signature is
// admitted only within kSameBatchSeconds of its first use: a client cancelling several
// registrations at once signs identical bodies identically within the same second, and SPEC
// §5 asks no more of it than a valid signature; a replay comes later, and is refused.
// Loop thread.
class SignatureLedger {
 public:
  static constexpr int64_t kSameBatchSeconds = 2;

  bool admit(std::string_view signature, std::string_view path, int64_t now_unix,
             std::chrono::seconds tolerance);
  size_t size() const { return seen_.size(); }

 private:
  struct Use {
    std::string path;
    int64_t first_used;
    int64_t forget_at;
  };
  std::unordered_map<std::string, Use> seen_;
  int64_t next_prune_ = 0;
};

// Zoom: x-zm-signature "v0=<hex HMAC-SHA256(secret_token, "v0:<timestamp>:<body>")>", with
// the timestamp from x-zm-request-timestamp, also held to `tolerance`.
Status verify_zoom(std::string_view secret_token, std::string_view signature,
                   std::string_view timestamp, std::string_view body, int64_t now_unix,
                   std::chrono::seconds tolerance);

// Twilio: base64 HMAC-SHA1(auth_token, url + each form parameter's name and value, sorted by
// name) — the URL exactly as configured in Twilio, query string included.
std::string twilio_signature(std::string_view auth_token, std::string_view url,
                             std::vector<std::pair<std::string, std::string>> params);
Status verify_twilio(std::string_view auth_token, std::string_view signature, std::string_view url,
                     const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace nudged
