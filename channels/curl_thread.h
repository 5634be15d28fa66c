// CurlThread: a CurlDriver whose transfers run on a thread of their own, reporting back to the
// daemon's loop. For SMTP: libcurl reads the reply to the end of a message's DATA with a
// blocking wait (smtp_done -> smtp_block_statemach), even under the multi interface, so on the
// daemon's loop a slow or hung mail server would stall every timer and every other channel for
// up to the transfer timeout. Here it only stalls the other mail being sent at that moment, to
// the same server.
//
// The thread drives its multi handle the plain way: curl_multi_perform over every transfer, then
// curl_multi_poll until a socket is ready, curl's next timeout, or curl_multi_wakeup from the
// daemon's loop with new work. Since this thread does nothing but curl, a libuv loop of its own
// (socket callbacks turned into uv_poll changes, one curl_multi_socket_action per ready socket)
// only added work per message; this is also the loop the email benchmark compares us against.
//
// One per daemon loop, shared by the smtp channels on it (for_loop()), so connections to the
// mail server are reused across messages and across a SIGHUP reload, like CurlMulti::for_loop.
//
// Threads: start(), cancel(), defer() and the destructor are called on the daemon's loop thread,
// and every `finished` runs there (through a uv_async). Handoffs are batched both ways: the
// worker takes the whole queue of new work at once and is woken only when it waits (a busy
// worker looks at the queue before it waits again); it reports every transfer finished in one
// pass with one uv_async_send.
// Jobs arrive built: the easy handle and everything it points to (for smtp, its MIME tree) are
// made on the daemon's loop, and only the worker adds the handle to its multi handle. The worker
// touches a job only between start and its completion; curl handles are never used by two
// threads at once.
//
// Connections that failed are never reused: curl 7.88 keeps an SMTP connection whose reply to
// the end of DATA timed out (smtp_done's blocking wait fails without marking it for closing),
// and the next message would be sent down it to a server that no longer answers. The worker
// shuts down the socket of every failed transfer's connection (shutdown(2), not close: curl
// still owns the descriptor): curl's liveness check before a reuse then finds it dead and
// closes it without QUIT, and a QUIT at cleanup fails at once.
//
// The destructor stops the worker and joins it, within a bound: curl_multi_cleanup sends QUIT
// on every kept connection and waits for the reply with pingpong's own response timeout (120 s;
// CURLOPT_TIMEOUT does not apply while disconnecting), and a transfer may be in smtp_done's
// blocking wait. A server that answers gets its QUIT; after kCloseWait, every connection's
// socket is shut down, which ends both waits at once. Sockets are opened and closed through
// curl's callbacks here so that no descriptor is shut down after curl closed it (its number
// may belong to something else by then).
#pragma once

#include <curl/curl.h>
#include <uv.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
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

  // How long the destructor lets the worker close its connections politely (QUIT) before it
  // shuts their sockets down.
  static constexpr std::chrono::milliseconds kCloseWait{1000};

  bool ok() const { return thread_.joinable(); }
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
  struct Active {
    uint64_t id;
    std::shared_ptr<CurlJob> job;  // the worker's reference; the daemon side keeps its own
  };

  void post(Op op);
  void run();                                    // the worker thread's body
  bool apply(Op& op, std::vector<Result>& out);  // worker thread: false for kStop
  void on_owner_wakeup();                        // daemon loop: deliver results, deferred calls
  void shut_down_connections();                  // any thread: every connection socket, now
  static curl_socket_t on_open_socket(void* self, curlsocktype, curl_sockaddr* address);
  static int on_close_socket(void* self, curl_socket_t fd);

  uv_loop_t* owner_;
  uv_async_t* owner_async_ = nullptr;              // freed by its close callback
  std::unordered_map<uint64_t, Pending> pending_;  // daemon loop only
  std::deque<std::function<void()>> deferred_;     // daemon loop only
  uint64_t next_id_ = 0;

  std::mutex mutex_;  // guards ops_, results_, idle_ and worker_done_
  std::vector<Op> ops_;
  std::vector<Result> results_;
  bool idle_ = false;         // the worker is about to wait, or waits, in curl_multi_poll
  bool worker_done_ = false;  // the worker has cleaned up the multi handle
  std::condition_variable worker_done_cv_;

  // The sockets curl opened through on_open_socket and has not closed yet: only these may be
  // shut down. Opened and closed on the worker; read by the destructor while the worker may
  // be inside curl_multi_cleanup.
  std::mutex sockets_mutex_;
  std::unordered_set<curl_socket_t> sockets_;

  // Made here and cleaned up by the worker as it ends; in between only the worker uses it,
  // except for curl_multi_wakeup, which curl allows from any thread.
  CURLM* multi_ = nullptr;
  std::unordered_map<CURL*, Active> active_;  // worker only
  std::thread thread_;
};

}  // namespace nudged
