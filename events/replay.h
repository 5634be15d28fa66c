// Replay: rebuilding State from the log.
//
// Reads the store in pages (one short read transaction each, so a long replay never holds a
// snapshot that stops the WAL from being checkpointed), upcasts and decodes each row, and
// folds it into State. Runs on the caller's thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "events/codec.h"
#include "events/state.h"
#include "events/store.h"

namespace nudged {

struct ReplayStats {
  int64_t events = 0;
  int64_t last_position = 0;
  bool stopped = false;  // `stop` was set: State holds only the events up to last_position
};

// Applies every event after state.position() to `state`. Stops at the first row that does not
// decode, naming its position (the log is then corrupt: `nudgectl verify` says more). When at
// least `pipeline_from` events are pending, a second thread reads and decodes pages while this
// one folds them in (the store must not be used by anyone else meanwhile).
// With `stop`, it is looked at between pages (thousands of events): once set, replay returns
// what it has applied so far, with `stopped` set (a daemon asked to stop mid-replay).
Result<ReplayStats> replay(EventStore& store, State& state, int64_t page_size = 4096,
                           int64_t pipeline_from = 50000, const std::atomic<bool>* stop = nullptr);

// Applies those of `events` (in log order) that continue state.position(), stopping at the
// first gap, as replay() would apply the same rows; returns how many it applied. For events
// decoded elsewhere (the writer's, see Writer::take_committed): what it leaves, replay()
// reads from the log.
int64_t apply_continuing(State& state, std::vector<Event>& events);

// Brings `state` up to the log's end as a daemon does after its own appends: first the
// events its writer decoded (`committed`, applied with apply_continuing), then, unless those
// reached `known_last` (a position the caller knows is committed; 0 when it knows none), the
// rest from the log: another process's appends, or what did not decode.
Result<ReplayStats> catch_up_with(EventStore& store, State& state, std::vector<Event>& committed,
                                  int64_t known_last);

// Decodes one stored row into an Event (upcasting when the row is older than this build).
Result<Event> decode_stored(const StoredEvent& row, Decoder& decoder);

// The same, for replay: the envelope gets only what State::apply reads (position, type,
// schema, version, recorded_at), sparing three string copies per event.
Result<Event> decode_for_replay(const StoredEvent& row, Decoder& decoder);

}  // namespace nudged
