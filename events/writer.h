// Writer: group commit for the daemon.
//
// Callers on the loop thread submit batches; one writer thread takes everything queued, appends
// it in ONE transaction (one fsync for all), and hands each caller its result back on the loop.
// The writer knows nothing of libuv: it calls `wake` (from the writer thread) when results are
// ready, and the owner of the loop (daemon/) makes `wake` a uv_async_send and calls
// run_completions() from the async callback. So a callback never runs before its transaction
// is durable, and never runs on the writer thread.
//
// Thread use: submit() and run_completions() on the loop thread; the writer thread is private.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "events/store.h"

namespace nudged {

class Writer {
 public:
  using Callback = std::function<void(Result<std::vector<Appended>>)>;

  // `store` is used only by the writer thread from now on. `clock` gives recorded_at for each
  // transaction (called on the writer thread). `wake` is called on the writer thread after a
  // transaction; it must be safe to call from any thread.
  Writer(std::unique_ptr<EventStore> store, std::function<TimePoint()> clock,
         std::function<void()> wake);
  ~Writer();  // stops the thread after the queue is drained

  void submit(Batch batch, Callback done);

  // Runs the callbacks of every finished transaction. Call from the loop thread.
  void run_completions();

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

  std::unique_ptr<EventStore> store_;
  std::function<TimePoint()> clock_;
  std::function<void()> wake_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> queue_;  // guarded by mu_
  std::deque<Done> done_;       // guarded by mu_
  bool stopping_ = false;       // guarded by mu_
  uint64_t transactions_ = 0;   // guarded by mu_
  uint64_t batches_ = 0;        // guarded by mu_
  std::thread thread_;
};

}  // namespace nudged
