// Intake: turning one event as written by someone outside (an import line, an HTTP body) into
// an event ready to append: parsed, upcast, strictly validated, addresses normalised,
// participant id derived, id chosen, personal values sealed.
//
// Nothing here touches the store; the result is a NewEvent for EventStore::append. An Intake
// holds a parser and a sealer: one per thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "events/codec.h"
#include "events/event.h"
#include "events/status.h"

namespace nudged {

// An event on its way into the store.
struct NewEvent {
  std::string id;
  EventData data;
  std::string meta = "{}";                  // compact JSON object
  std::optional<int64_t> expected_version;  // refuse when the stream has moved on
  std::optional<TimePoint> recorded_at;     // kept from an import; else the store's "now"
  // encode_data(data), when already made: intake encodes on the caller's thread so that the
  // single writer thread does not have to. Empty means the store encodes.
  std::string encoded;
};

struct IntakeOptions {
  Sealer* sealer = nullptr;             // required
  std::string participant_id_key;       // 32 bytes: keys the participant-id hash
  std::function<std::string()> new_id;  // a fresh random event id; default uses libsodium
  // Whether a participant id is one the log shows as erased (the daemon asks its State; null:
  // none is). A person who registers again after being erased must not get that id back: its
  // keys are gone and every start destroys them again, so nothing could ever be sent to them.
  // The id derived from their address is then derived again with a generation ("#2", "#3"…)
  // until it names nobody erased: a new participant, with keys of its own.
  std::function<bool(const std::string& participant_id)> erased = nullptr;
  // The time an envelope's "recorded_at" may not pass (plus kRecordedAtSkew); default: the
  // system clock.
  std::function<TimePoint()> now = nullptr;
};

// How far ahead of the clock a given "recorded_at" may be (clock skew between the machine that
// exported or wrote an event and this one). Further ahead is refused: the planner takes
// recorded_at as the moment a fact became known, and a registration "recorded" next year
// would get nothing until then.
inline constexpr std::chrono::minutes kRecordedAtSkew{5};

class Intake {
 public:
  explicit Intake(IntakeOptions options);

  // One envelope as JSON: {"type", "data", "id"?, "schema"?, "stream"?, "meta"?,
  // "expected_version"?, "recorded_at"?} (an exported line, with "position" and "version",
  // is accepted too: those are the store's to assign and are ignored).
  // `default_id` is the id when the envelope gives none (else the event's natural id, else a
  // random one).
  Result<NewEvent> from_envelope_json(std::string_view json, std::string default_id = {});

  // The data object alone, as POST /v1/registrations sends it. `id` as for prepare().
  Result<NewEvent> from_data_json(EventType type, std::string_view data_json,
                                  std::string_view meta_json = "{}", std::string id = {});

  // Checks and normalises the personal values (still plaintext), derives the participant id,
  // picks the id, and seals. Exposed for callers that build EventData in code.
  Result<NewEvent> prepare(EventData data, std::string id = {}, std::string meta = "{}");

 private:
  Result<NewEvent> from_parts(EventType type, int schema, std::string_view data_json,
                              std::string id, std::string meta);

  IntakeOptions options_;
  Decoder decoder_;
};

// The participant id for a normalised email address (preferred) or E.164 phone: a keyed
// BLAKE2b hash, so the same person is one participant but an address cannot be looked up by
// hashing it without the key.
std::string derive_participant_id(std::string_view key, std::string_view email_or_phone);

// A fresh id that sorts by when it was made: `prefix`, then `now` as milliseconds since the
// Unix epoch in 12 hex digits, then `random_bytes` (at most 32) random bytes in hex. The log keeps
// unique indexes on event ids and streams; ids that grow with time land at the right edge of those
// indexes, so a group commit of many events dirties a page or two per index instead of a
// random page per event (docs/performance.md, "Ingress"). The time it shows is no secret:
// every event carries its `recorded_at`.
std::string time_ordered_id(std::string_view prefix, TimePoint now, size_t random_bytes);

// A fresh event id by the system clock: "evt-" and 32 hex digits (12 of time, 20 random).
std::string random_event_id();

// Calls fn on every personal value of the event.
void for_each_personal(EventData& data, const std::function<void(Personal&)>& fn);

}  // namespace nudged
