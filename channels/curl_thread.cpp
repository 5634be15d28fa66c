#include "channels/curl_thread.h"

#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <utility>

#include "channels/curl_multi.h"

namespace nudged {
namespace {

// The longest curl_multi_poll waits with nothing to do; curl shortens it to its own next
// timeout, and curl_multi_wakeup ends it early.
constexpr int kIdleWaitMs = 1000;

}  // namespace

std::shared_ptr<CurlThread> CurlThread::for_loop(uv_loop_t* loop) {
  static std::mutex mutex;
  static std::map<uv_loop_t*, std::weak_ptr<CurlThread>> instances;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto existing = instances[loop].lock()) return existing;
  auto made = std::make_shared<CurlThread>(loop);
  if (!made->ok()) return nullptr;
  for (auto it = instances.begin(); it != instances.end();) {
    it = it->second.expired() ? instances.erase(it) : std::next(it);
  }
  instances[loop] = made;
  return made;
}

CurlThread::CurlThread(uv_loop_t* loop) : owner_(loop) {
  owner_async_ = new uv_async_t{};
  uv_async_init(owner_, owner_async_,
                [](uv_async_t* a) { static_cast<CurlThread*>(a->data)->on_owner_wakeup(); });
  owner_async_->data = this;
  if (!curl_ready()) return;
  multi_ = curl_multi_init();
  if (multi_ == nullptr) return;
  // Keep-alive connections to the mail server are reused by later transfers; bound how many
  // idle ones are kept.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 64L);
  thread_ = std::thread([this] { run(); });
}

CurlThread::~CurlThread() {
  if (thread_.joinable()) {
    post(Op{Op::Kind::kStop, 0, nullptr});
    bool done = false;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done = worker_done_cv_.wait_for(lock, kCloseWait, [this] { return worker_done_; });
    }
    // Still waiting on a server (for its reply to QUIT, or to a message's end in smtp_done):
    // a server that has not answered in kCloseWait is not going to, and waiting for it would
    // hold up the daemon's exit for minutes.
    if (!done) shut_down_connections();
    thread_.join();  // the worker has cleaned up the multi handle
  } else if (multi_ != nullptr) {
    curl_multi_cleanup(multi_);
  }
  pending_.clear();
  deferred_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(owner_async_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
}

void CurlThread::post(Op op) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ops_.push_back(std::move(op));
    // A busy worker looks at the queue before it next waits: only a waiting one needs waking,
    // and only once.
    wake = idle_;
    idle_ = false;
  }
  if (wake) curl_multi_wakeup(multi_);
}

bool CurlThread::start(std::shared_ptr<CurlJob> job, Finished finished) {
  if (!ok()) return false;
  uint64_t id = next_id_++;
  pending_[id] = Pending{job.get(), std::move(finished)};
  post(Op{Op::Kind::kStart, id, std::move(job)});
  return true;
}

void CurlThread::cancel(CurlJob* job) {
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->second.job == job) {
      post(Op{Op::Kind::kCancel, it->first, nullptr});
      pending_.erase(it);
      return;
    }
  }
}

void CurlThread::defer(std::function<void()> fn) {
  deferred_.push_back(std::move(fn));
  uv_async_send(owner_async_);
}

// Worker thread: the same loop as a bare libcurl multi program, plus the two queues.
void CurlThread::run() {
  std::vector<Op> ops;
  std::vector<Result> finished;
  bool stopping = false;
  while (!stopping) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ops.swap(ops_);
      idle_ = false;
    }
    for (Op& op : ops) {
      if (!apply(op, finished)) stopping = true;
    }
    ops.clear();
    if (stopping) break;
    int running = 0;
    curl_multi_perform(multi_, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      CURLcode code = msg->data.result;  // msg is gone once the handle is removed
      if (code != CURLE_OK) {
        // Whatever failed (a timeout, a refusal, a broken connection), the connection is not
        // to be trusted with the next message: see curl_thread.h. Asked before the handle
        // leaves the multi, while curl can still tell which connection it used (none when curl
        // closed it already).
        curl_socket_t fd = CURL_SOCKET_BAD;
        if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK &&
            fd != CURL_SOCKET_BAD) {
          ::shutdown(fd, SHUT_RDWR);
        }
      }
      curl_multi_remove_handle(multi_, easy);
      auto it = active_.find(easy);
      if (it == active_.end()) continue;
      finished.push_back(Result{it->second.id, code});
      active_.erase(it);
    }
    bool more_work = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      results_.insert(results_.end(), finished.begin(), finished.end());
      more_work = !ops_.empty();
      idle_ = !more_work;
    }
    if (!finished.empty()) {
      finished.clear();
      uv_async_send(owner_async_);  // one for all of them; coalesced by libuv while pending
    }
    if (!more_work) curl_multi_poll(multi_, nullptr, 0, kIdleWaitMs, nullptr);
  }
  // Easy handles out of the multi, then the multi (closing its connections waits for the
  // server's reply to QUIT: here, not on the daemon's loop, and no longer than the destructor
  // lets it).
  for (auto& [easy, active] : active_)
    curl_multi_remove_handle(multi_, easy);
  active_.clear();
  curl_multi_cleanup(multi_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    worker_done_ = true;
  }
  worker_done_cv_.notify_all();
}

void CurlThread::shut_down_connections() {
  std::lock_guard<std::mutex> lock(sockets_mutex_);
  for (curl_socket_t fd : sockets_)
    ::shutdown(fd, SHUT_RDWR);
}

// curl: "open a socket for a connection". Remembered until curl closes it (on_close_socket).
curl_socket_t CurlThread::on_open_socket(void* self, curlsocktype, curl_sockaddr* address) {
  auto* thread = static_cast<CurlThread*>(self);
  curl_socket_t fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd != CURL_SOCKET_BAD) {
    std::lock_guard<std::mutex> lock(thread->sockets_mutex_);
    thread->sockets_.insert(fd);
  }
  return fd;
}

// curl: "close this socket". Forgotten and closed under the lock, so that the destructor never
// shuts down a descriptor number that has meanwhile been reused.
int CurlThread::on_close_socket(void* self, curl_socket_t fd) {
  auto* thread = static_cast<CurlThread*>(self);
  std::lock_guard<std::mutex> lock(thread->sockets_mutex_);
  thread->sockets_.erase(fd);
  return ::close(fd);
}

bool CurlThread::apply(Op& op, std::vector<Result>& out) {
  switch (op.kind) {
    case Op::Kind::kStart: {
      CURL* easy = op.job->easy();
      // A connection keeps these from the handle that opened it; curl calls the close callback
      // for each socket it opened through ours, including at curl_multi_cleanup.
      curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &CurlThread::on_open_socket);
      curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
      curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &CurlThread::on_close_socket);
      curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
      if (curl_multi_add_handle(multi_, easy) != CURLM_OK) {
        out.push_back(Result{op.id, CURLE_FAILED_INIT});
        return true;
      }
      active_[easy] = Active{op.id, std::move(op.job)};
      return true;
    }
    case Op::Kind::kCancel:
      // Not found: finished meanwhile, and its result is dropped on the daemon's side.
      for (auto it = active_.begin(); it != active_.end(); ++it) {
        if (it->second.id == op.id) {
          curl_multi_remove_handle(multi_, it->first);
          active_.erase(it);
          break;
        }
      }
      return true;
    case Op::Kind::kStop:
      return false;
  }
  return true;
}

// Daemon loop.
void CurlThread::on_owner_wakeup() {
  // A `finished` may close the last smtp channel, which lets go of this driver: the guard keeps
  // it alive to the end of this callback (and may then end it, after the walk below).
  std::shared_ptr<CurlThread> keep = weak_from_this().lock();
  std::vector<Result> results;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    results.swap(results_);
  }
  for (const Result& r : results) {
    auto it = pending_.find(r.id);
    if (it == pending_.end()) continue;  // cancelled
    Finished fn = std::move(it->second.finished);
    pending_.erase(it);
    if (fn) fn(r.code);
  }
  std::deque<std::function<void()>> now;
  now.swap(deferred_);
  for (auto& fn : now)
    fn();
}

}  // namespace nudged
