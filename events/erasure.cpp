#include "events/erasure.h"

#include "events/sodium_sealer.h"

namespace nudged {

std::vector<std::string> key_subjects_of(const State& state, const std::string& participant_id) {
  std::vector<std::string> out{"participant/" + participant_id};
  for (const std::string& rid : state.registrations_of(participant_id))
    out.push_back("registration/" + rid);
  if (const ParticipantState* p = state.participant(participant_id)) {
    // Opted-out copies are sealed under the lower-cased key; those written before it existed,
    // under the key as written: both are destroyed, the lower-cased one also for an address
    // sealed before it existed, when State has learnt it (State::for_each_address_key).
    auto add = [&](std::string_view match) {
      state.for_each_address_key(match,
                                 [&](std::string_view k) { out.push_back(address_subject(k)); });
    };
    for (const std::string& index : state.address_indexes(participant_id))
      add(index);
    for (const Personal* a : {&p->email, &p->phone}) {
      if (a->empty()) continue;
      std::string_view m = match_key(*a);
      if (m.size() != a->sealed.size()) add(m);
    }
  }
  return out;
}

Result<int> shred_participant(const State& state, KeyStore& keys,
                              const std::string& participant_id) {
  return keys.erase(key_subjects_of(state, participant_id));
}

ErasedSubjects erased_subjects(const State& state,
                               const std::function<bool(const std::string&)>& take) {
  ErasedSubjects out;
  for (const auto& [id, p] : state.participants()) {
    if (!p.erased || (take && !take(id))) continue;
    ++out.participants;
    std::vector<std::string> s = key_subjects_of(state, id);
    out.subjects.insert(out.subjects.end(), s.begin(), s.end());
  }
  return out;
}

Result<ShredReport> shred_erased(const State& state, KeyStore& keys) {
  ErasedSubjects erased = erased_subjects(state);
  ShredReport report;
  report.participants = erased.participants;
  Result<int> n = keys.erase(erased.subjects);
  if (!n) return n.status();
  report.keys = *n;
  return report;
}

}  // namespace nudged
