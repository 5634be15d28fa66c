// Append benchmark: durable events/s through the daemon's group-commit Writer, against a bare
// SQLite loop inserting the same rows in transactions of 100 with the same pragmas, in the
// same run on the same disk.
//
//   append_bench [--events N] [--check]
//
// --check exits 1 when a target of issue #2 is missed (>= 40,000 events/s, ratio >= 0.5).

#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>

#include "bench/synthetic.h"
#include "events/codec.h"
#include "events/writer.h"

namespace {

using namespace nudged;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Group commit through Writer: every event submitted as its own batch, as separate requests
// would be; the writer groups whatever is queued into one transaction.
double run_writer(const std::string& path, const std::vector<NewEvent>& events) {
  auto store = EventStore::open(path);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.status().to_string().c_str());
    std::exit(1);
  }
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;
  Writer writer(
      std::move(*store),
      [] { return std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now()); },
      [&] {
        std::lock_guard lock(mu);
        woken = true;
        cv.notify_one();
      });
  size_t done = 0;
  auto start = Clock::now();
  for (const NewEvent& ev : events) {
    writer.submit(Batch{ev}, [&](Result<std::vector<Appended>> r) {
      if (!r) {
        std::fprintf(stderr, "append failed: %s\n", r.status().to_string().c_str());
        std::exit(1);
      }
      ++done;
    });
  }
  while (done < events.size()) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return woken; });
    woken = false;
    lock.unlock();
    writer.run_completions();
  }
  double s = seconds_since(start);
  writer.stop();
  return s;
}

// The baseline: the same rows (pre-encoded), plain INSERTs, 100 per transaction.
double run_bare(const std::string& path, const std::vector<NewEvent>& events) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
               "CREATE TABLE events (position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
               " type TEXT NOT NULL, schema INTEGER NOT NULL, stream TEXT NOT NULL,"
               " version INTEGER NOT NULL, recorded_at TEXT NOT NULL, data TEXT NOT NULL,"
               " meta TEXT NOT NULL, hash BLOB NOT NULL, UNIQUE (stream, version));",
               nullptr, nullptr, nullptr);
  struct Row {
    std::string id, type, stream, data, meta;
  };
  std::vector<Row> rows;
  rows.reserve(events.size());
  for (const NewEvent& ev : events) {
    rows.push_back(Row{ev.id, std::string(event_type_name(type_of(ev.data))), stream_of(ev.data),
                       encode_data(ev.data), ev.meta});
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO events (position, id, type, schema, stream, version, "
                     "recorded_at, data, meta, hash) VALUES (?1, ?2, ?3, 1, ?4, ?1, "
                     "'2026-11-26T10:00:00.000Z', ?5, ?6, zeroblob(32))",
                     -1, &st, nullptr);
  auto start = Clock::now();
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i % 100 == 0) sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    const Row& r = rows[i];
    sqlite3_bind_int64(st, 1, static_cast<int64_t>(i + 1));
    sqlite3_bind_text(st, 2, r.id.data(), static_cast<int>(r.id.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r.type.data(), static_cast<int>(r.type.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r.stream.data(), static_cast<int>(r.stream.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r.data.data(), static_cast<int>(r.data.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 6, r.meta.data(), static_cast<int>(r.meta.size()), SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
      std::fprintf(stderr, "bare insert failed: %s\n", sqlite3_errmsg(db));
      std::exit(1);
    }
    sqlite3_reset(st);
    if (i % 100 == 99 || i + 1 == rows.size()) {
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    }
  }
  double s = seconds_since(start);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 100000;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--events") && i + 1 < argc)
      n = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--check"))
      check = true;
    else {
      std::fprintf(stderr, "usage: append_bench [--events N] [--check]\n");
      return 2;
    }
  }
  std::vector<NewEvent> events;
  events.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    events.push_back(bench::synthetic_event(i));

  std::filesystem::path dir = std::filesystem::temp_directory_path() / "nudged-append-bench";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  double bare = run_bare((dir / "bare.db").string(), events);
  double ours = run_writer((dir / "writer.db").string(), events);
  std::filesystem::remove_all(dir);

  double ours_rate = static_cast<double>(n) / ours;
  double bare_rate = static_cast<double>(n) / bare;
  double ratio = ours_rate / bare_rate;
  std::printf("append: %lld events\n", static_cast<long long>(n));
  std::printf("  group commit (Writer):          %10.0f events/s\n", ours_rate);
  std::printf("  bare SQLite, 100 per commit:    %10.0f events/s\n", bare_rate);
  std::printf("  ratio %.2f (target >= 0.50); rate target >= 40000 events/s\n", ratio);
  if (check && (ratio < 0.5 || ours_rate < 40000)) {
    std::printf("append: TARGET MISSED\n");
    return 1;
  }
  return 0;
}
