// Erasure by crypto-shredding: which keys a participant.erased destroys, and destroying them.
//
// A participant's personal values are sealed under "participant/<id>" (their registrations'
// names and addresses), "registration/<id>" (free text of their registrations: cancel reasons,
// accommodation notes) and "address/<blind index>" (opt-outs of their addresses). Erasing them
// destroys all of those keys. The event log is untouched (its integrity chain still verifies);
// what remains in it is ciphertext nobody can open any more, ids and blind indexes.
//
// After the erase event is durable: on nudgectl's main thread (shred_*), or, in the daemon,
// by the writer's hook (KeyStore::erase_later() with erased_subjects()).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "events/keystore.h"
#include "events/state.h"

namespace nudged {

// The key subjects holding this participant's personal values, per State.
std::vector<std::string> key_subjects_of(const State& state, const std::string& participant_id);

struct ShredReport {
  int participants = 0;  // erased participants in State
  int keys = 0;          // keys that still existed and were destroyed now
};

// Destroys the keys of one participant (after their participant.erased is durable).
Result<int> shred_participant(const State& state, KeyStore& keys,
                              const std::string& participant_id);

// The key subjects of the participants State shows as erased (those `take` accepts, when
// given), and how many those are.
struct ErasedSubjects {
  std::vector<std::string> subjects;
  int participants = 0;
};
ErasedSubjects erased_subjects(const State& state,
                               const std::function<bool(const std::string&)>& take = nullptr);

// Destroys the keys of every participant State shows as erased. Run after each start-up
// replay: it repairs a crash between the erase event and the key deletion, and a key store
// restored from a copy made before an erasure.
Result<ShredReport> shred_erased(const State& state, KeyStore& keys);

}  // namespace nudged
