// The JSON codec of event data: strict decoding with errors that name the field, and
// canonical encoding (the bytes the store keeps and the integrity chain hashes).
//
// A Decoder owns a reusable simdjson parser, so it is cheap to call in a loop but must not be
// shared between threads. encode_data is a free function and thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "events/event.h"
#include "events/status.h"

namespace nudged {

enum class DecodeMode {
  kStrict,  // input from outside: unknown or duplicate fields, unknown zones and bad values fail
  kStored,  // our own log: already validated at append; unknown fields are ignored (forward
            // compatibility) and the tz database is not consulted (replay speed)
};

class Decoder {
 public:
  Decoder();
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Decodes the `data` object of an event of `type` written at the current schema. In strict
  // mode the result is also checked with validate() below. Field names in errors are relative
  // to the data object ("participant.email").
  Result<EventData> decode(EventType type, std::string_view json, DecodeMode mode);

  // Checks that `json` is one JSON object and returns it minified (for `meta`).
  Result<std::string> minify_object(std::string_view json);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The checks of SPEC §3 that need no personal plaintext: ids, durations, channels, consent,
// accommodation kinds, session xor series. Personal values are checked at intake, before they
// are sealed.
Status validate(const EventData& data);

// How personal values are written by encode_data.
enum class PersonalOut {
  kSealed,    // as stored (the store's canonical form)
  kRedacted,  // "[redacted]" in their place: exports and anything a person might paste
  kOpened,    // opened with the sealer: only for an export explicitly asked for personal data
};

// Canonical JSON of the event's data: fields in the order of their `fields()` list, absent
// optionals left out, no whitespace.
std::string encode_data(const EventData& data, PersonalOut out = PersonalOut::kSealed,
                        const Sealer* sealer = nullptr, std::string_view event_id = {});

// Whose key seals the personal values of this event: the participant for a registration, the
// stream otherwise. (The encryption issue refines this; it is one function so that it can.)
std::string seal_subject(const EventData& data);

}  // namespace nudged
