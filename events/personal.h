// The seal/open seam for personal data, and redaction.
//
// Every name, email address, phone number and free-text field of a person is a `Personal`:
// the value as stored, which is sealed text. The domain carries it around without ever looking
// inside; only rendering a message (or an export that was explicitly asked for personal data)
// opens it, through a Sealer. The plain sealer below stores text as is; the encryption issue
// swaps in per-participant XChaCha20-Poly1305 behind the same interface, so nothing else moves.
//
// Sealers are used from one thread at a time (the loop, or nudgectl's main thread).
#pragma once

#include <string>
#include <string_view>

#include "events/status.h"

namespace nudged {

struct Personal {
  std::string sealed;  // opaque: what the store holds
  friend bool operator==(const Personal&, const Personal&) = default;
};

// What a value is sealed for: the participant (or session, for facilitators) whose key seals
// it, and the event it belongs to (associated data, so a sealed value cannot be moved).
struct SealContext {
  std::string_view subject;
  std::string_view event_id;
};

class Sealer {
 public:
  virtual ~Sealer() = default;
  virtual Result<std::string> seal(std::string_view plaintext, const SealContext& ctx) = 0;
  virtual Result<std::string> open(std::string_view sealed, const SealContext& ctx) const = 0;
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
};

// What every redacted personal value is shown as, in exports, logs and CLI output.
inline constexpr std::string_view kRedacted = "[redacted]";

// For log lines and error messages that must mention an address without revealing it.
std::string redact(std::string_view personal_value);

}  // namespace nudged
