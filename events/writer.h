// Writer: group commit for the daemon.
//
// Callers on the loop thread submit batches; one writer thread takes everything queued, appends
// it in ONE transaction (one fsync for all), and hands each caller its result back on the loop.
// The writer knows nothing of libuv: it calls `wake` (from the writer thread) when results are
// ready, and the owner of the loop (daemon/) makes `wake` a uv_async_send and calls
// run_completions() from the async callback. So a callback never runs before its transaction
// is durable, and never runs on the writer thread.
//
// With `decode_committed`, the writer thread also reads back and decodes the rows each
// transaction committed (the same decode_for_replay a replay uses, on the connection that
// just wrote them, whose pages are still cached) and hands them over with take_committed():
// the loop folds them into State without reading the log itself. Reading and decoding was
// about a tenth of the loop's time per registration; the writer thread has room for it.
//
// Thread use: submit(), run_completions(), take_committed() and recycle() on the loop thread; the
// writer thread is private.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "events/codec.h"
#include "events/event.h"
#include "events/store.h"

namespace nudged {

class Writer {
 public:
  using Callback = std::function<void(Result<std::vector<Appended>>)>;

  // `store` is used only by the writer thread from now on. `clock` gives recorded_at for each
  // transaction (called on the writer thread). `wake` is called on the writer thread after a
  // transaction; it must be safe to call from any thread.
  Writer(std::unique_ptr<EventStore> store, std::function<TimePoint()> clock,
         std::function<void()> wake, bool decode_committed = false);
  ~Writer();  // stops the thread after the queue is drained

  void submit(Batch batch, Callback done);

  // Runs the callbacks of every finished transaction. Call from the loop thread.
  void run_completions();

  // The events committed since the last call, decoded, in log order (empty without
  // `decode_committed`). Consecutive transactions' events follow each other, but another
  // process may have appended in between, and a row that failed to decode ends its
  // transaction's share: the caller applies only what continues its own position and reads
  // the rest from the log. Call it after run_completions' results arrive, or before.
  std::vector<Event> take_committed();
  // Gives back what take_committed() returned, once applied, so that the writer thread frees
  // it: it was allocated there, and freed on the loop each piece took the writer's malloc arena
  // lock (see Done). What State moved out of it stays (freed rarely, on the loop).
  void recycle(std::vector<Event> spent);

  // Finishes what was submitted, then stops the thread. Idempotent.
  void stop();

  // Transactions committed so far, and batches in them: lets tests see that appends were grouped.
  uint64_t transactions() const;
  uint64_t batches() const;

 private:
  struct Pending {
    Batch batch;
    Callback done;
  };
  // A finished batch travels back with its result, so that its events are freed on the loop
  // thread that allocated them: freed here, each would take the loop's malloc arena lock, and
  // the two threads stalled each other on it (perf: about one futex wait per registration
  // under load).
  struct Done {
    Result<std::vector<Appended>> result;
    Callback done;
    Batch batch;
  };
  void run();
  void decode(const std::vector<Result<std::vector<Appended>>>& results);

  std::unique_ptr<EventStore> store_;
  std::function<TimePoint()> clock_;
  std::function<void()> wake_;
  bool decode_committed_ = false;
  Decoder decoder_;  // writer thread only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> queue_;             // guarded by mu_
  std::deque<Done> done_;                  // guarded by mu_
  std::vector<Event> committed_;           // guarded by mu_
  std::vector<std::vector<Event>> spent_;  // guarded by mu_; freed by the writer thread
  bool stopping_ = false;                  // guarded by mu_
  uint64_t transactions_ = 0;              // guarded by mu_
  uint64_t batches_ = 0;                   // guarded by mu_
  std::thread thread_;
};

}  // namespace nudged
