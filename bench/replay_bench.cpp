// Replay benchmark: events/s rebuilding State from a synthetic log, against a baseline that
// only reads the same rows in the same pages and parses their JSON, in the same run.
//
//   replay_bench [--events N] [--rounds R] [--check]
//
// --check exits 1 when a target of issue #2 is missed (>= 1,000,000 events/s, ratio >= 0.6).

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "bench/synthetic.h"
#include "events/replay.h"

namespace {

using namespace nudged;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void build_log(EventStore& store, int64_t n) {
  constexpr int64_t kChunk = 10000;
  TimePoint now = std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
  for (int64_t i = 0; i < n; i += kChunk) {
    Batch batch;
    for (int64_t j = i; j < std::min(n, i + kChunk); ++j) {
      batch.push_back(bench::synthetic_event(j));
    }
    auto r = store.append(batch, now);
    if (!r) {
      std::fprintf(stderr, "building the log failed: %s\n", r.status().to_string().c_str());
      std::exit(1);
    }
  }
}

// Reads every row in pages of 4096 (as replay does) and parses its data with simdjson.
double run_baseline(EventStore& store, int64_t n) {
  simdjson::dom::parser parser;
  int64_t after = 0, seen = 0, fields = 0;
  auto start = Clock::now();
  for (;;) {
    auto r = store.read(after, 4096, [&](const StoredEvent& row) {
      simdjson::dom::object obj;
      if (parser.parse(row.data.data(), row.data.size()).get_object().get(obj) ==
          simdjson::SUCCESS) {
        fields += static_cast<int64_t>(obj.size());
      }
      after = row.position;
      ++seen;
    });
    if (!r || *r == 0) break;
  }
  double s = seconds_since(start);
  if (seen != n || fields == 0) {
    std::fprintf(stderr, "baseline read %lld of %lld events\n", static_cast<long long>(seen),
                 static_cast<long long>(n));
    std::exit(1);
  }
  return s;
}

double run_replay(EventStore& store, int64_t n) {
  State state;
  auto start = Clock::now();
  auto stats = replay(store, state);
  double s = seconds_since(start);
  if (!stats || stats->events != n || state.registrations().empty()) {
    std::fprintf(stderr, "replay failed: %s\n",
                 stats ? "wrong count" : stats.status().to_string().c_str());
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
      std::fprintf(stderr, "usage: replay_bench [--events N] [--rounds R] [--check]\n");
      return 2;
    }
  }
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "nudged-replay-bench";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto store = EventStore::open((dir / "replay.db").string());
  if (!store) return 1;
  build_log(**store, n);

  // Alternate the two and keep each one's best: the machine is noisy.
  double base = 1e9, ours = 1e9;
  for (int round = 0; round < rounds; ++round) {
    base = std::min(base, run_baseline(**store, n));
    ours = std::min(ours, run_replay(**store, n));
  }
  store->reset();
  std::filesystem::remove_all(dir);

  double ours_rate = static_cast<double>(n) / ours;
  double base_rate = static_cast<double>(n) / base;
  double ratio = ours_rate / base_rate;
  std::printf("replay: %lld events\n", static_cast<long long>(n));
  std::printf("  replay into State:              %10.0f events/s\n", ours_rate);
  std::printf("  read rows + parse JSON only:    %10.0f events/s\n", base_rate);
  std::printf("  ratio %.2f (target >= 0.60); rate target >= 1000000 events/s\n", ratio);
  if (check && (ratio < 0.6 || ours_rate < 1000000)) {
    std::printf("replay: TARGET MISSED\n");
    return 1;
  }
  return 0;
}
