// Sealed-replay benchmark (issue #7): replay events/s of a log whose personal values are sealed
// (per-participant XChaCha20-Poly1305, as the daemon writes them) against the same log with no
// personal fields at all, in the same run. Replay never opens a sealed value (State keeps them
// sealed; only rendering a message opens one), so the cost is only the longer strings.
//
//   sealed_replay_bench [--events N] [--rounds R] [--check]
//
// --check exits 1 when the ratio is below 0.8.

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "bench/synthetic.h"
#include "events/keystore.h"
#include "events/replay.h"
#include "events/sodium_sealer.h"

namespace {

using namespace nudged;
using Clock = std::chrono::steady_clock;

// The synthetic event with every personal value either sealed (as intake would) or dropped.
NewEvent make_event(int64_t i, Sealer* sealer) {
  NewEvent ev = bench::synthetic_event(i);
  if (sealer == nullptr) {
    if (auto* r = std::get_if<RegistrationReceived>(&ev.data)) {
      r->participant.name = Personal{};
      r->participant.email.reset();
      r->accommodations.reset();
    }
    if (auto* s = std::get_if<SessionScheduled>(&ev.data)) s->facilitators.clear();
  } else {
    std::string subject = seal_subject(ev.data);
    bool is_registration = std::holds_alternative<RegistrationReceived>(ev.data);
    for_each_personal(ev.data, [&](Personal& p) {
      // Addresses of registrations carry a blind index, as intake gives them.
      bool index = is_registration && p.sealed.find('@') != std::string::npos;
      Result<std::string> r = sealer->seal(p.sealed, SealContext{subject, ev.id, index});
      if (!r) {
        std::fprintf(stderr, "sealing failed: %s\n", r.status().to_string().c_str());
        std::exit(1);
      }
      p.sealed = std::move(*r);
    });
  }
  ev.encoded = encode_data(ev.data);
  return ev;
}

void build_log(EventStore& store, int64_t n, Sealer* sealer) {
  constexpr int64_t kChunk = 10000;
  TimePoint now = std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
  for (int64_t i = 0; i < n; i += kChunk) {
    Batch batch;
    for (int64_t j = i; j < std::min(n, i + kChunk); ++j)
      batch.push_back(make_event(j, sealer));
    auto r = store.append(batch, now);
    if (!r) {
      std::fprintf(stderr, "building the log failed: %s\n", r.status().to_string().c_str());
      std::exit(1);
    }
  }
}

double run_replay(EventStore& store, int64_t n) {
  State state;
  auto start = Clock::now();
  auto stats = replay(store, state);
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  if (!stats || stats->events != n || state.registrations().empty()) {
    std::fprintf(stderr, "replay failed\n");
    std::exit(1);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 1000000;
  int rounds = 3;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--events") && i + 1 < argc)
      n = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--check"))
      check = true;
    else {
      std::fprintf(stderr, "usage: sealed_replay_bench [--events N] [--rounds R] [--check]\n");
      return 2;
    }
  }
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "nudged-sealed-bench";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto keys = KeyStore::open((dir / "sealed.db.keys").string(), std::string(kMasterKeyBytes, 'm'));
  auto sealed = EventStore::open((dir / "sealed.db").string());
  auto plain = EventStore::open((dir / "plain.db").string());
  if (!keys || !sealed || !plain) return 1;
  SodiumSealer sealer(**keys);
  // One transaction for the half a million keys, as the daemon's writer makes them (deferred,
  // written by the hook): their cost is intake's, not replay's.
  auto write_keys = (*keys)->defer_writes();
  if (!write_keys) return 1;
  build_log(**sealed, n, &sealer);
  if (!(*write_keys)()) return 1;
  build_log(**plain, n, nullptr);

  double base = 1e9, ours = 1e9;
  for (int round = 0; round < rounds; ++round) {
    base = std::min(base, run_replay(**plain, n));
    ours = std::min(ours, run_replay(**sealed, n));
  }
  sealed->reset();
  plain->reset();
  keys->reset();
  std::filesystem::remove_all(dir);

  double ours_rate = static_cast<double>(n) / ours;
  double base_rate = static_cast<double>(n) / base;
  double ratio = ours_rate / base_rate;
  std::printf("sealed replay: %lld events\n", static_cast<long long>(n));
  std::printf("  replay, personal values sealed: %10.0f events/s\n", ours_rate);
  std::printf("  replay, no personal fields:     %10.0f events/s\n", base_rate);
  std::printf("  ratio %.2f (target >= 0.80)\n", ratio);
  if (check && ratio < 0.8) {
    std::printf("sealed replay: TARGET MISSED\n");
    return 1;
  }
  return 0;
}
