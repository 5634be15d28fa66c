// CurlMulti: libcurl's multi interface driven by a libuv loop, the way nudged talks HTTP (SMTP
// runs on a thread of its own, channels/curl_thread.h). curl tells us which sockets to watch
// (CURLMOPT_SOCKETFUNCTION: one uv_poll per socket) and when to call it back
// (CURLMOPT_TIMERFUNCTION: one one-shot uv_timer); the loop tells curl what happened with
// curl_multi_socket_action. Nothing blocks: name resolution is curl's threaded resolver (and
// loopback IPs need none).
//
// One per loop, shared by every curl-based channel on it (for_loop()): one connection cache and
// one DNS cache for the whole daemon, and connections that survive a SIGHUP reload, when the new
// channels are made before the old ones are closed. Channels hold it by shared_ptr; when the last
// one lets go (in its close()), the handles are closed and the loop frees them in their close
// callbacks. Owning it through ChannelEnv would have put a libcurl type into the daemon's wiring
// for the sake of three adapters; a lazily made per-loop instance keeps it inside channels/.
//
// Loop thread only. The known traps, and how they are handled:
//  - curl is never called from inside its own callbacks: the socket and timer callbacks only
//    (re)arm uv handles; a 0 ms timeout becomes a uv_timer of 0 ms, run on the next loop turn;
//  - a poll error is passed to curl as CURL_CSELECT_ERR, so that curl fails that transfer;
//  - every uv handle is heap-allocated and freed in its close callback, never before;
//  - a kept-alive connection's poll is kept (idle, unreferenced, still watching what it watched)
//    between transfers, stopped if the idle socket wakes it, and closed when curl closes the
//    socket (CURLOPT_OPENSOCKETFUNCTION and CURLOPT_CLOSESOCKETFUNCTION, set on every handle
//    started here), so a reused fd number never meets a stale poll; a socket curl did not open
//    through us (the threaded resolver's) loses its poll at CURL_POLL_REMOVE, since curl
//    closes it without telling us;
//  - completions (`Finished`) run after curl_multi_socket_action has returned, from the loop,
//    never from inside start();
//  - shutdown order: easy handles out of the multi, the multi cleaned up (which may still tell
//    us to stop polling sockets), then the polls and the timers are closed; the loop runs their
//    close callbacks afterwards.
#pragma once

#include <curl/curl.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace nudged {

// curl_global_init, once per process. False if curl cannot be set up.
bool curl_ready();

class CurlMulti : public std::enable_shared_from_this<CurlMulti> {
 public:
  using Finished = std::function<void(CURLcode)>;

  // The instance for `loop`, made on first use. Fails (nullptr) only when curl cannot be set up.
  static std::shared_ptr<CurlMulti> for_loop(uv_loop_t* loop);

  // Prefer for_loop(); public for tests and the benchmark, which want their own.
  explicit CurlMulti(uv_loop_t* loop);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  bool ok() const { return multi_ != nullptr; }
  uv_loop_t* loop() const { return loop_; }

  // Adds a configured easy handle. `finished` runs later on the loop with curl's result; the
  // handle is out of the multi by then and belongs to the caller again (the caller always owns
  // it and cleans it up). Returns false, without calling `finished`, if curl refused it.
  bool start(CURL* easy, Finished finished);

  // Takes the handle out of the multi without calling its `finished`. No-op for an unknown one.
  void cancel(CURL* easy);

  // Runs `fn` on a later loop turn: for results known at once that must still not be delivered
  // from inside the caller (Channel::send's contract).
  void defer(std::function<void()> fn);

  size_t active() const { return active_.size(); }
  // Sockets with a poll, watched or idle (for tests).
  size_t polls() const { return polls_.size(); }

  struct SocketPoll;  // one watched socket: its uv_poll and fd (defined in the .cpp)

 private:
  friend struct CurlMultiPeer;  // tests: curl's callbacks, called as curl would
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp);
  static int on_timer(CURLM* multi, long timeout_ms, void* userp);
  static curl_socket_t on_open_socket(void* clientp, curlsocktype purpose, curl_sockaddr* address);
  static int on_close_socket(void* clientp, curl_socket_t fd);
  static void on_poll(uv_poll_t* handle, int status, int events);
  void socket_action(curl_socket_t fd, int flags);
  void finish_done();
  void run_deferred();

  uv_loop_t* loop_;
  CURLM* multi_ = nullptr;
  uv_timer_t* timeout_ = nullptr;   // curl's one timer
  uv_timer_t* deferred_ = nullptr;  // for defer()
  std::deque<std::function<void()>> deferred_fns_;
  std::unordered_map<curl_socket_t, SocketPoll*> polls_;  // watched and idle ones
  std::unordered_set<curl_socket_t> opened_;  // connection sockets, open, made by on_open_socket
  static constexpr size_t kIdlePolls = 64;
  size_t idle_polls_ = 0;
  struct Active {
    uint64_t ticket;
    Finished finished;
  };
  std::unordered_map<CURL*, Active> active_;
  uint64_t next_ticket_ = 0;
  bool started_ = false;  // start() was called since socket_action last looked
};

}  // namespace nudged
