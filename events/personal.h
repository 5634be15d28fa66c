// The seal/open seam for personal data, and redaction.
//
// Every name, email address, phone number and free-text field of a person is a `Personal`:
// the value as stored, which is sealed text. The domain carries it around without ever looking
// inside; only rendering a message (or an export that was explicitly asked for personal data)
// opens it, through a Sealer. The daemon and nudgectl use SodiumSealer (events/sodium_sealer.h:
// per-subject XChaCha20-Poly1305 keys from the KeyStore); the plain sealer below stores text as
// is and serves tests and benchmarks.
//
// Sealers are used from one thread at a time (the loop, or nudgectl's main thread).
#pragma once

#include <string>
#include <string_view>

#include "events/status.h"

namespace nudged {

struct Personal {
  std::string sealed;  // opaque: what the store holds
  // No value: a sealed value is never empty, so State uses an empty one for "not given".
  bool empty() const { return sealed.empty(); }
  friend bool operator==(const Personal&, const Personal&) = default;
};

// What a value is sealed for: the participant (or session, for facilitators) whose key seals
// it, and the event it belongs to (associated data, so a sealed value cannot be moved).
// `index`: also attach a blind index (keyed hash of the normalised value), for addresses that
// opt-out matching compares without opening them.
struct SealContext {
  std::string_view subject;
  std::string_view event_id;
  bool index = false;
};

class Sealer {
 public:
  virtual ~Sealer() = default;
  virtual Result<std::string> seal(std::string_view plaintext, const SealContext& ctx) = 0;
  virtual Result<std::string> open(std::string_view sealed, const SealContext& ctx) const = 0;
  // What match_key() gives for this (normalised) value sealed with an index (one key or two,
  // see match_key): for matching an address that is not in the log (a coordinator's, from the
  // configuration) against opt-outs.
  virtual std::string blind_index(std::string_view plaintext) const = 0;
};

// Stores plaintext unchanged. Used until per-participant keys exist, and in tests.
class PlainSealer final : public Sealer {
 public:
  Result<std::string> seal(std::string_view plaintext, const SealContext&) override {
    return std::string(plaintext);
  }
  Result<std::string> open(std::string_view sealed, const SealContext&) const override {
    return std::string(sealed);
  }
  std::string blind_index(std::string_view plaintext) const override {
    return std::string(plaintext);  // match_key() of a plain value is the value
  }
};

// The subject an opted-out address is sealed for: a sealer that makes blind indexes seals it
// under "address/<blind index>" instead, a key that erasing the person with that address destroys.
inline constexpr std::string_view kAddressSubject = "address";

// What State compares when matching an address against opt-outs: the blind index of a sealed
// value when it carries one, else the stored text itself (plain sealer, or a pre-encryption log).
//
// A blind index names one key, or two separated by kMatchSeparator: the address as written,
// then the address lower-cased when that differs ("Riley@example.org" and "riley@example.org"
// are one mailbox to every provider people use, but an opt-out must also keep matching the
// indexes in logs written before the second key existed, which have only the first).
// Normalised addresses and base64 never hold a space, so a plain value is always one key.
std::string_view match_key(const Personal& p);
inline constexpr char kMatchSeparator = ' ';

// The first key of a match: the one staff unsubscribe links hash, as before a second existed.
std::string_view primary_match(std::string_view match);
// The last key: the lower-cased address's (the only key of an address without capitals). It
// names the key an opted-out copy is sealed under ("address/<key>").
std::string_view folded_match(std::string_view match);

// Calls f(key) for each key of a match (one or two).
template <typename F>
void for_each_match(std::string_view match, F f) {
  size_t sep = match.find(kMatchSeparator);
  f(match.substr(0, sep));
  if (sep != std::string_view::npos) f(match.substr(sep + 1));
}

// What every redacted personal value is shown as, in exports, logs and CLI output.
inline constexpr std::string_view kRedacted = "[redacted]";

// For log lines and error messages that must mention an address without revealing it.
std::string redact(std::string_view personal_value);

// Text from outside that may quote an address (an SMTP reply "550 <ana@example.org>: no such
// user", a provider's error naming the number): every word holding an '@' and every run of 7 or
// more digits (spaces, dashes, dots, parentheses and '+' between them allowed) becomes
// kRedacted. For failure reasons, which go to the log and into notification.failed events.
std::string scrub(std::string_view text);

}  // namespace nudged
