#include "channels/curl_multi.h"

#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace nudged {

struct CurlMulti::SocketPoll {
  uv_poll_t handle{};
  curl_socket_t fd = CURL_SOCKET_BAD;
  CurlMulti* owner = nullptr;
  bool watching = true;  // false: curl said CURL_POLL_REMOVE; kept for the fd's next use
  int events = 0;        // what the uv_poll is started for (UV_READABLE/UV_WRITABLE), 0: stopped
};

namespace {

template <typename Handle>
void close_and_free(Handle* h) {
  uv_close(reinterpret_cast<uv_handle_t*>(h),
           [](uv_handle_t* handle) { delete reinterpret_cast<Handle*>(handle); });
}

// A SocketPoll is freed whole (the uv_poll_t is its first member, not the allocation itself).
void close_poll(uv_poll_t* h) {
  uv_close(reinterpret_cast<uv_handle_t*>(h),
           [](uv_handle_t* handle) { delete static_cast<CurlMulti::SocketPoll*>(handle->data); });
}

}  // namespace

// curl_global_init is thread-safe in the libcurl Debian 12 ships (7.84+), but once is enough.
bool curl_ready() {
  static const bool ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  return ready;
}

std::shared_ptr<CurlMulti> CurlMulti::for_loop(uv_loop_t* loop) {
  // Weak references: the instance lives exactly as long as the channels using it. A loop
  // address reused after its loop was closed finds an expired entry and gets a fresh one.
  static std::mutex mutex;
  static std::map<uv_loop_t*, std::weak_ptr<CurlMulti>> instances;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto existing = instances[loop].lock()) return existing;
  auto made = std::make_shared<CurlMulti>(loop);
  if (!made->ok()) return nullptr;
  for (auto it = instances.begin(); it != instances.end();) {
    it = it->second.expired() ? instances.erase(it) : std::next(it);
  }
  instances[loop] = made;
  return made;
}

CurlMulti::CurlMulti(uv_loop_t* loop) : loop_(loop) {
  if (!curl_ready()) return;
  multi_ = curl_multi_init();
  if (multi_ == nullptr) return;
  timeout_ = new uv_timer_t{};
  deferred_ = new uv_timer_t{};
  uv_timer_init(loop_, timeout_);
  uv_timer_init(loop_, deferred_);
  timeout_->data = this;
  deferred_->data = this;
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  // Keep-alive connections to a provider are reused by later transfers; bound how many idle
  // ones are kept so a burst does not leave hundreds of sockets open.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 64L);
}

CurlMulti::~CurlMulti() {
  if (multi_ != nullptr) {
    for (auto& [easy, active] : active_)
      curl_multi_remove_handle(multi_, easy);
    active_.clear();
    curl_multi_cleanup(multi_);  // may still call on_socket(CURL_POLL_REMOVE): polls_ is alive
    multi_ = nullptr;
  }
  for (auto& [fd, poll] : polls_) {
    poll->owner = nullptr;
    close_poll(&poll->handle);
  }
  polls_.clear();
  if (timeout_ != nullptr) close_and_free(timeout_);
  if (deferred_ != nullptr) close_and_free(deferred_);
}

bool CurlMulti::start(CURL* easy, Finished finished) {
  if (multi_ == nullptr || easy == nullptr) return false;
  // Connections remember these from the handle that made them; curl calls it for every socket
  // it closes, including at curl_multi_cleanup.
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &CurlMulti::on_open_socket);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &CurlMulti::on_close_socket);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
  if (curl_multi_add_handle(multi_, easy) != CURLM_OK) return false;
  active_[easy] = Active{next_ticket_++, std::move(finished)};
  started_ = true;
  return true;
}

void CurlMulti::cancel(CURL* easy) {
  auto it = active_.find(easy);
  if (it == active_.end()) return;
  active_.erase(it);
  curl_multi_remove_handle(multi_, easy);
}

void CurlMulti::defer(std::function<void()> fn) {
  deferred_fns_.push_back(std::move(fn));
  if (deferred_ != nullptr && !uv_is_active(reinterpret_cast<uv_handle_t*>(deferred_))) {
    uv_timer_start(
        deferred_, [](uv_timer_t* t) { static_cast<CurlMulti*>(t->data)->run_deferred(); }, 0, 0);
  }
}

void CurlMulti::run_deferred() {
  // Whatever the deferred functions do (even let go of the last channel) happens with `this`
  // still alive; the guard may be the last reference and then ends us here, after the loop.
  std::shared_ptr<CurlMulti> keep = weak_from_this().lock();
  std::deque<std::function<void()>> now;
  now.swap(deferred_fns_);
  for (auto& fn : now)
    fn();
}

// curl: "watch this socket for these events" (or "stop watching"). Only uv calls here.
//
// Each uv_poll_start or uv_poll_stop costs system calls (libuv takes the fd out of its epoll set
// and puts it back), and curl asks for the same thing over and over on a kept-alive connection:
// IN after each request, REMOVE after each answer, IN again for the next request. So a poll is
// left as it is when curl asks for what it already watches, and on REMOVE it is only marked
// idle (and unreferenced, so that it does not keep the loop running): an idle connection is
// silent, and if it is not (the server closed it), on_poll stops it then. Only a change of
// events costs anything.
int CurlMulti::on_socket(CURL*, curl_socket_t fd, int what, void* userp, void*) {
  auto* self = static_cast<CurlMulti*>(userp);
  auto it = self->polls_.find(fd);
  if (what == CURL_POLL_REMOVE) {
    if (it == self->polls_.end() || !it->second->watching) return 0;
    // The poll is kept for this fd rather than closed and made anew (that cost an ioctl and
    // two epoll_ctl calls a message). It is closed when curl closes the socket
    // (on_close_socket), before the fd number can be reused: closing a poll removes its fd from
    // the loop's epoll set, which must never hit another handle's descriptor.
    // Bounded: beyond kIdlePolls, closed at once.
    SocketPoll* poll = it->second;
    // Only a connection's socket, which curl opened and will close through our callbacks, may
    // keep an armed poll: curl closes others (the threaded resolver's socketpair) with a plain
    // close() after REMOVE, and a poll left in the loop for that fd number would take the
    // events of whatever descriptor gets the number next.
    if (self->opened_.count(fd) > 0 && self->idle_polls_ < kIdlePolls) {
      poll->watching = false;
      uv_unref(reinterpret_cast<uv_handle_t*>(&poll->handle));
      ++self->idle_polls_;
    } else {
      poll->owner = nullptr;
      close_poll(&poll->handle);
      self->polls_.erase(it);
    }
    return 0;
  }
  SocketPoll* poll = nullptr;
  if (it != self->polls_.end()) {
    poll = it->second;
    if (!poll->watching) {
      poll->watching = true;
      uv_ref(reinterpret_cast<uv_handle_t*>(&poll->handle));
      --self->idle_polls_;
    }
  } else {
    poll = new SocketPoll{};
    if (uv_poll_init_socket(self->loop_, &poll->handle, fd) != 0) {
      delete poll;  // never initialised: nothing for the loop to close
      return -1;    // curl fails the transfers on this socket
    }
    poll->fd = fd;
    poll->owner = self;
    poll->handle.data = poll;
    self->polls_[fd] = poll;
  }
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  if (events != poll->events) {
    uv_poll_start(&poll->handle, events, &CurlMulti::on_poll);
    poll->events = events;
  }
  return 0;
}

// curl: "open a socket for a connection". Remembered: these, and only these, are closed through
// on_close_socket.
curl_socket_t CurlMulti::on_open_socket(void* clientp, curlsocktype, curl_sockaddr* address) {
  auto* self = static_cast<CurlMulti*>(clientp);
  curl_socket_t fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd != CURL_SOCKET_BAD) self->opened_.insert(fd);
  return fd;
}

// curl: "I am closing this socket". Our poll for it goes first (uv_close is libuv, not curl).
int CurlMulti::on_close_socket(void* clientp, curl_socket_t fd) {
  auto* self = static_cast<CurlMulti*>(clientp);
  self->opened_.erase(fd);
  auto it = self->polls_.find(fd);
  if (it != self->polls_.end()) {
    if (!it->second->watching) --self->idle_polls_;
    it->second->owner = nullptr;
    close_poll(&it->second->handle);
    self->polls_.erase(it);
  }
  return ::close(fd);
}

// curl: "call me back in timeout_ms" (-1: never mind). 0 is not acted on here but on the next
// loop turn, which is what keeps curl from being re-entered.
int CurlMulti::on_timer(CURLM*, long timeout_ms, void* userp) {
  auto* self = static_cast<CurlMulti*>(userp);
  if (self->timeout_ == nullptr) return 0;
  if (timeout_ms < 0) {
    uv_timer_stop(self->timeout_);
    return 0;
  }
  uv_timer_start(
      self->timeout_,
      [](uv_timer_t* t) {
        static_cast<CurlMulti*>(t->data)->socket_action(CURL_SOCKET_TIMEOUT, 0);
      },
      static_cast<uint64_t>(timeout_ms), 0);
  return 0;
}

void CurlMulti::on_poll(uv_poll_t* handle, int status, int events) {
  auto* poll = static_cast<SocketPoll*>(handle->data);
  if (poll->owner == nullptr) return;
  if (!poll->watching) {
    // An idle kept-alive connection spoke (the server closed it, most likely): curl is not
    // watching it, so stop, or a level-triggered poll would wake the loop for nothing. curl
    // finds the connection dead when it next picks it, and closes it.
    uv_poll_stop(handle);
    poll->events = 0;
    return;
  }
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  // socket_action may remove (and close) this very poll: read what we need first.
  poll->owner->socket_action(poll->fd, flags);
}

void CurlMulti::socket_action(curl_socket_t fd, int flags) {
  std::shared_ptr<CurlMulti> keep = weak_from_this().lock();
  if (multi_ == nullptr) return;
  int running = 0;
  curl_multi_socket_action(multi_, fd, flags, &running);
  started_ = false;
  finish_done();
  // A finished transfer's owner usually starts the next one at once (a channel keeps its slots
  // full). curl would only begin it from its 0 ms timer, a loop turn later; begin it now
  // instead, while the connection it will reuse is still warm. Once: anything started by these
  // completions waits for the timer as usual.
  if (started_ && multi_ != nullptr) {
    started_ = false;
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    finish_done();
  }
}

// Collects the finished transfers first and only then calls their owners, who may start new
// transfers or cancel others: curl_multi_info_read's list is not walked while it changes. A
// transfer cancelled by an earlier owner's call is skipped: each entry is matched by its ticket,
// not only its handle, whose address a new transfer may have reused meanwhile.
void CurlMulti::finish_done() {
  struct Done {
    CURL* easy;
    uint64_t ticket;
    CURLcode code;
  };
  std::vector<Done> finished;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    CURLcode code = msg->data.result;
    curl_multi_remove_handle(multi_, easy);
    auto it = active_.find(easy);
    if (it != active_.end()) finished.push_back(Done{easy, it->second.ticket, code});
  }
  for (const Done& d : finished) {
    auto it = active_.find(d.easy);
    if (it == active_.end() || it->second.ticket != d.ticket) continue;
    Finished fn = std::move(it->second.finished);
    active_.erase(it);
    if (fn) fn(d.code);
  }
}

}  // namespace nudged
