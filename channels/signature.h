// The Nudged-Signature header of SPEC §5, for requests nudged signs (outbound webhooks) and the
// same scheme it checks on inbound ones:
//   Nudged-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
// Pure functions (OpenSSL HMAC); any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nudged {

// Lower-case hex of HMAC-SHA256(key, data).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// The header's value: "t=1700000000,v1=5d41...".
std::string nudged_signature(std::string_view secret, int64_t unix_seconds, std::string_view body);

}  // namespace nudged
