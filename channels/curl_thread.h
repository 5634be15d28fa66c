// CurlThread: a CurlDriver whose transfers run on a thread of their own, with its own libuv
// loop and CurlMulti, reporting back to the daemon's loop. For SMTP: libcurl reads the reply to
// the end of a message's DATA with a blocking wait (smtp_done -> smtp_block_statemach), even
// under the multi interface, so on the daemon's loop a slow or hung mail server would stall
// every timer and every other channel for up to the transfer timeout. Here it only stalls the
// other mail being sent at that moment, to the same server.
//
// One per daemon loop, shared by the smtp channels on it (for_loop()), so connections to the
// mail server are reused across messages and across a SIGHUP reload, like CurlMulti::for_loop.
//
// Threads: start(), cancel(), defer() and the destructor are called on the daemon's loop thread,
// and every `finished` runs there (through a uv_async). The worker thread touches a job only
// between start and its completion, and hands it back through a mutex-guarded queue; curl
// handles are never used by two threads at once. The destructor stops the worker and joins it:
// it may wait for a blocking wait in progress (bounded by the transfer timeout), which happens
// only when the last smtp channel closes.
#pragma once

#include <uv.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "channels/curl_sender.h"

namespace nudged {

class CurlThread final : public CurlDriver, public std::enable_shared_from_this<CurlThread> {
 public:
  static std::shared_ptr<CurlThread> for_loop(uv_loop_t* loop);

  explicit CurlThread(uv_loop_t* loop);
  ~CurlThread() override;
  CurlThread(const CurlThread&) = delete;
  CurlThread& operator=(const CurlThread&) = delete;

  bool ok() const { return running_; }
  bool start(std::shared_ptr<CurlJob> job, Finished finished) override;
  void cancel(CurlJob* job) override;
  void defer(std::function<void()> fn) override;

 private:
  struct Op {
    enum class Kind { kStart, kCancel, kStop } kind;
    uint64_t id = 0;
    std::shared_ptr<CurlJob> job;
  };
  struct Result {
    uint64_t id;
    CURLcode code;
  };
  struct Pending {
    CurlJob* job;
    Finished finished;
  };

  void post(Op op);
  void run();               // the worker thread's body
  void on_worker_wakeup();  // worker thread: take the ops
  void on_owner_wakeup();   // daemon loop: deliver results and deferred calls

  uv_loop_t* owner_;
  uv_async_t* owner_async_ = nullptr;           // freed by its close callback on the daemon loop
  std::map<uint64_t, Pending> pending_;         // daemon loop only
  std::deque<std::function<void()>> deferred_;  // daemon loop only
  uint64_t next_id_ = 0;

  std::mutex mutex_;  // guards ops_ and results_
  std::vector<Op> ops_;
  std::vector<Result> results_;

  // Worker side: only touched on the worker thread once it runs.
  uv_loop_t worker_loop_{};
  uv_async_t worker_async_{};
  std::unique_ptr<CurlMulti> worker_multi_;
  std::map<uint64_t, std::shared_ptr<CurlJob>> active_;

  std::mutex ready_mutex_;
  std::condition_variable ready_cv_;
  bool started_ = false;
  bool running_ = false;
  std::thread thread_;
};

}  // namespace nudged
