#include "daemon/http_server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace nudged {

// A listening handle: TCP or a Unix socket.
struct HttpServer::Listener {
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  bool is_tcp = true;
  HttpServer* server = nullptr;
  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&h); }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&h); }
};

namespace {

// How much a connection buffers while its request is with the handler (pipelined requests)
// before it stops reading until the answer.
constexpr size_t kMaxPendingWhileBusy = 64 * 1024;

// How many bytes of answers may wait for a client that does not read them (beyond what the
// kernel's socket buffer took) before the connection stops taking requests.
constexpr size_t kMaxQueuedAnswers = 64 * 1024;

}  // namespace

// One accepted connection. Lives until both its stream and its timer are closed.
struct HttpServer::Connection {
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  uv_timer_t timer;
  uv_shutdown_t shutdown_req;
  HttpServer* server;
  uint64_t id;
  RequestParser parser;
  std::string pending;  // bytes read after a complete request, for the next one
  bool busy = false;    // a request is with the handler
  bool closing = false;
  bool close_after_write = false;
  bool continue_sent = false;
  bool head = false;  // the request with the handler is a HEAD: answer without the body
  bool processing = false;
  // Reading goes on while a request is with the handler (what follows is buffered, up to
  // kMaxPendingWhileBusy): stopping and restarting it for every request cost two epoll_ctl
  // calls a request.
  bool reading = false;
  size_t queued_when_timed = 0;  // answer bytes queued when the write clock last started
  int open_handles = 2;
  // kWrite: waiting for queued answers to drain (backlogged, or the last before a close).
  // kLinger: the last answer is out and our side is shut; what the client still sends is
  // read and dropped until it closes or the linger clock runs out.
  enum class Phase { kHeaders, kBody, kIdle, kHandler, kWrite, kLinger } phase = Phase::kHeaders;

  Connection(HttpServer* s, uint64_t i, const ParserLimits& limits)
      : server(s), id(i), parser(limits) {}
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&h); }
  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&h); }

  void start_timer(Phase p, uint64_t ms);
  void on_read(const char* data, size_t len);
  void read();
  void stop_reading();
  void process();
  bool step();
  bool backlogged() { return uv_stream_get_write_queue_size(stream()) >= kMaxQueuedAnswers; }
  void next_request();
  void write(std::string bytes, bool then_close);
  void respond(HttpResponse response, bool keep_alive);
  void linger();
  void close();
};

namespace {

// Reads land here; whatever is not consumed at once is copied into the connection.
char g_read_buffer[64 * 1024];

struct WriteRequest {
  uv_write_t req;
  std::string data;
  bool then_close;
};

}  // namespace

HttpServer::HttpServer(uv_loop_t* loop, ServerLimits limits, Handler handler)
    : loop_(loop),
      limits_(limits),
      handler_(std::move(handler)),
      self_(std::make_shared<HttpServer*>(this)) {}

HttpServer::~HttpServer() {
  // Outstanding Respond callbacks see the server gone and do nothing.
  self_.reset();
}

int HttpServer::bound_port() const {
  for (Listener* l : listeners_) {
    if (!l->is_tcp) continue;
    sockaddr_storage addr{};
    int len = sizeof addr;
    if (uv_tcp_getsockname(&l->h.tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) continue;
    if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) {
      return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    }
  }
  return 0;
}

Status HttpServer::listen_tcp(const std::string& host, uint16_t port) {
  sockaddr_storage addr{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    return Status::invalid("daemon.listen", "\"" + host + "\" is not an IP address");
  }
  auto* l = new Listener;
  l->server = this;
  l->is_tcp = true;
  uv_tcp_init(loop_, &l->h.tcp);
  l->h.tcp.data = l;
  int rc = uv_tcp_bind(&l->h.tcp, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(l->stream(), 511, &HttpServer::on_connection);
  if (rc != 0) {
    uv_close(l->handle(), [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
    return Status::io("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                      uv_strerror(rc));
  }
  listeners_.push_back(l);
  return Status::ok();
}

Status HttpServer::listen_fd(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Status::io("socket " + std::to_string(fd) + " from systemd: " + std::strerror(errno));
  }
  auto* l = new Listener;
  l->server = this;
  l->is_tcp = addr.ss_family != AF_UNIX;
  int rc;
  if (l->is_tcp) {
    uv_tcp_init(loop_, &l->h.tcp);
    rc = uv_tcp_open(&l->h.tcp, fd);
  } else {
    uv_pipe_init(loop_, &l->h.pipe, 0);
    rc = uv_pipe_open(&l->h.pipe, fd);
  }
  l->handle()->data = l;
  if (rc == 0) rc = uv_listen(l->stream(), 511, &HttpServer::on_connection);
  if (rc != 0) {
    uv_close(l->handle(), [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
    return Status::io("cannot use socket " + std::to_string(fd) +
                      " from systemd: " + uv_strerror(rc));
  }
  listeners_.push_back(l);
  return Status::ok();
}

Status HttpServer::listen_unix(const std::string& path, int mode) {
  std::error_code ec;
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  // A socket file left by a previous run that died would make bind fail.
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path.c_str());
  auto* l = new Listener;
  l->server = this;
  l->is_tcp = false;
  uv_pipe_init(loop_, &l->h.pipe, 0);
  l->h.pipe.data = l;
  // Bound with a tight umask so that there is no moment when others may connect.
  mode_t old = umask(0177);
  int rc = uv_pipe_bind(&l->h.pipe, path.c_str());
  umask(old);
  if (rc == 0 && chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) rc = -errno;
  if (rc == 0) rc = uv_listen(l->stream(), 128, &HttpServer::on_connection);
  if (rc != 0) {
    uv_close(l->handle(), [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
    return Status::io("cannot listen on " + path + ": " + uv_strerror(rc));
  }
  unix_path_ = path;
  listeners_.push_back(l);
  return Status::ok();
}

void HttpServer::on_connection(uv_stream_t* listener, int status) {
  auto* l = static_cast<Listener*>(listener->data);
  if (status != 0) {
    spdlog::warn("accepting a connection failed: {}", uv_strerror(status));
    return;
  }
  l->server->accept_from(listener, l->is_tcp);
}

void HttpServer::accept_from(uv_stream_t* listener, bool is_tcp) {
  auto* c = new Connection(this, next_id_++, limits_.parser);
  ++live_;
  if (is_tcp) {
    uv_tcp_init(loop_, &c->h.tcp);
  } else {
    uv_pipe_init(loop_, &c->h.pipe, 0);
  }
  c->handle()->data = c;
  uv_timer_init(loop_, &c->timer);
  c->timer.data = c;
  connections_.emplace(c->id, c);
  if (uv_accept(listener, c->stream()) != 0) {
    c->close();
    return;
  }
  if (closing_ || connections_.size() > limits_.max_connections) {
    // Over the limit: refuse at once rather than let connections pile up.
    c->close();
    return;
  }
  if (is_tcp) uv_tcp_nodelay(&c->h.tcp, 1);
  c->start_timer(Connection::Phase::kHeaders, limits_.header_timeout_ms);
  c->read();
}

void HttpServer::Connection::start_timer(Phase p, uint64_t ms) {
  phase = p;
  queued_when_timed = uv_stream_get_write_queue_size(stream());
  uv_timer_start(
      &timer,
      [](uv_timer_t* t) {
        auto* conn = static_cast<Connection*>(t->data);
        size_t queued = uv_stream_get_write_queue_size(conn->stream());
        const ServerLimits& limits = conn->server->limits_;
        if (conn->phase == Phase::kLinger) {
          conn->close();  // the client has had its time to stop sending
          return;
        }
        if (conn->phase == Phase::kIdle && queued > 0) {
          // Idle, but answers are still going out: they get the write clock, not the idle one.
          conn->start_timer(Phase::kWrite, limits.write_timeout_ms);
          return;
        }
        if (conn->phase == Phase::kWrite && queued > 0 && queued < conn->queued_when_timed) {
          // The client is reading, only slowly (a large answer): what counts is progress.
          conn->start_timer(Phase::kWrite, limits.write_timeout_ms);
          return;
        }
        if (conn->phase == Phase::kIdle || conn->phase == Phase::kWrite) {
          conn->close();  // idle, or its answers do not get out: nothing to say
          return;
        }
        const char* what = conn->phase == Phase::kBody ? "the body" : "the request headers";
        conn->stop_reading();
        conn->respond(HttpResponse::error(408, "request_timeout",
                                          std::string(what) + " did not arrive in time"),
                      false);
      },
      ms, 0);
}

void HttpServer::Connection::on_read(const char* data, size_t len) {
  if (closing || close_after_write) return;
  pending.append(data, len);
  if (busy) {
    if (pending.size() >= kMaxPendingWhileBusy) stop_reading();
    return;  // parsed after the answer
  }
  process();
}

void HttpServer::Connection::stop_reading() {
  if (!reading) return;
  reading = false;
  uv_read_stop(stream());
}

void HttpServer::Connection::read() {
  if (reading) return;
  reading = true;
  uv_read_start(
      stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* conn = static_cast<Connection*>(h->data);
        buf->base = g_read_buffer;
        buf->len = sizeof g_read_buffer;
        // While busy, read no more than the room left: the bound is kMaxPendingWhileBusy, not
        // that plus one whole read.
        if (conn->busy && conn->pending.size() < kMaxPendingWhileBusy) {
          buf->len = std::min(buf->len, kMaxPendingWhileBusy - conn->pending.size());
        }
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* conn = static_cast<Connection*>(s->data);
        if (nread == UV_EOF && conn->busy) {
          // The client has sent all it will (a half-close) and waits for its answers. The end
          // of file stays: reading again after the answers (and any requests buffered behind
          // this one) finds it, and closes.
          conn->stop_reading();
          return;
        }
        if (nread == UV_EOF && uv_stream_get_write_queue_size(s) > 0) {
          // Answered, but the answer is not all out yet: closing now would cancel it.
          conn->stop_reading();
          conn->close_after_write = true;
          conn->start_timer(Phase::kWrite, conn->server->limits_.write_timeout_ms);
          return;
        }
        if (nread < 0) {
          conn->close();  // EOF or a reset: nothing (more) to answer
          return;
        }
        conn->on_read(buf->base, static_cast<size_t>(nread));
      });
}

// Parses what is pending: answers a refused request, or hands each complete one to the
// handler. A handler that answers at once re-enters through after_response(); the loop here
// then takes the next pipelined request, so pipelining does not recurse.
void HttpServer::Connection::process() {
  if (processing) return;
  processing = true;
  while (!pending.empty() && !closing && !busy && !close_after_write && !backlogged()) {
    if (!step()) break;
  }
  processing = false;
  if (busy || closing || close_after_write) return;
  if (backlogged()) {
    // The client is not reading its answers: take nothing more from it until they drain
    // (next_request, from the write callback), and give up on it if they do not.
    stop_reading();
    if (phase != Phase::kWrite) start_timer(Phase::kWrite, server->limits_.write_timeout_ms);
    return;
  }
  read();
}

// After an answer, or once queued answers have drained: the clock of whatever comes next (idle,
// or the request already begun in `pending` or the parser), and on with it.
void HttpServer::Connection::next_request() {
  const ServerLimits& limits = server->limits_;
  if (pending.empty() && !parser.started()) {
    start_timer(Phase::kIdle, limits.idle_timeout_ms);
  } else {
    start_timer(parser.headers_done() ? Phase::kBody : Phase::kHeaders,
                parser.headers_done() ? limits.body_timeout_ms : limits.header_timeout_ms);
  }
  process();
}

// One request's worth of parsing; false when more bytes are needed or the connection is done.
bool HttpServer::Connection::step() {
  bool was_started = parser.started();
  size_t used = parser.feed(pending.data(), pending.size());
  pending.erase(0, used);
  const ServerLimits& limits = server->limits_;
  if (parser.state() == RequestParser::State::kError) {
    stop_reading();
    const char* code = parser.error_status() == 413   ? "too_large"
                       : parser.error_status() == 431 ? "headers_too_large"
                       : parser.error_status() == 501 ? "not_implemented"
                       : parser.error_status() == 505 ? "http_version_not_supported"
                                                      : "malformed";
    respond(HttpResponse::error(parser.error_status(), code, parser.error_message()), false);
    return false;
  }
  if (!was_started && parser.started() && phase == Phase::kIdle) {
    start_timer(Phase::kHeaders, limits.header_timeout_ms);
  }
  if (parser.headers_done() && phase == Phase::kHeaders) {
    start_timer(Phase::kBody, limits.body_timeout_ms);
  }
  if (parser.wants_continue() && !continue_sent &&
      parser.state() == RequestParser::State::kNeedMore) {
    continue_sent = true;
    write("HTTP/1.1 100 Continue\r\n\r\n", false);
  }
  if (parser.state() != RequestParser::State::kComplete) return false;

  HttpRequest request = parser.take();
  continue_sent = false;
  // HEAD is GET without the body (RFC 9110 §9.3.2): monitors check /healthz with it. Routes
  // see a GET, which every route answers without changing anything.
  head = request.method == "HEAD";
  if (head) request.method = "GET";
  busy = true;
  uv_timer_stop(&timer);
  phase = Phase::kHandler;
  bool keep_alive = request.keep_alive;
  std::weak_ptr<HttpServer*> weak = server->self_;
  uint64_t conn_id = id;
  HttpServer::Respond respond_fn = [weak, conn_id, keep_alive](HttpResponse response) {
    std::shared_ptr<HttpServer*> s = weak.lock();
    if (!s) return;
    auto it = (*s)->connections_.find(conn_id);
    if (it == (*s)->connections_.end() || !it->second->busy) return;  // gone, or answered
    it->second->respond(std::move(response), keep_alive && !(*s)->closing_);
  };
  try {
    server->handler_(std::move(request), std::move(respond_fn));
  } catch (const std::exception& e) {
    // A route must not throw; if one does, this request fails and the daemon goes on.
    spdlog::error("request handler failed: {}", e.what());
    if (busy) respond(HttpResponse::error(500, "internal", "internal error"), false);
  }
  return true;
}

void HttpServer::Connection::respond(HttpResponse response, bool keep_alive) {
  if (closing) return;
  busy = false;
  if (!keep_alive) {
    // The last answer on this connection: anything pipelined behind it is not run (the
    // client was told the connection closes, so it will not read an answer to it).
    close_after_write = true;
    pending.clear();
    stop_reading();
    start_timer(Phase::kWrite, server->limits_.write_timeout_ms);
  }
  bool with_body = !head;
  head = false;  // an error answered later on this connection (408, 400) is not to a HEAD
  write(response.serialize(keep_alive, with_body), !keep_alive);
  if (!keep_alive || closing) return;  // closing: the write failed
  next_request();                      // it may be pending already
}

void HttpServer::Connection::write(std::string bytes, bool then_close) {
  auto* w = new WriteRequest{{}, std::move(bytes), then_close};
  w->req.data = this;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, stream(), &buf, 1, [](uv_write_t* req, int status) {
    auto* wr = reinterpret_cast<WriteRequest*>(req);
    auto* conn = static_cast<Connection*>(req->data);
    bool then_close = wr->then_close;
    delete wr;
    // The connection may be closing already (cancelled, or closed by a forced shutdown after
    // this write finished but before its callback ran): it is still allocated until its close
    // callbacks, and closing it twice would abort.
    if (status == UV_ECANCELED || conn->closing) return;
    // close_after_write without then_close: the client ended its side while this was queued.
    bool drained = uv_stream_get_write_queue_size(conn->stream()) == 0;
    if (status != 0) {
      conn->close();
      return;
    }
    if (then_close || (conn->close_after_write && drained)) {
      conn->linger();
      return;
    }
    if (conn->phase == Phase::kWrite && !conn->close_after_write && !conn->busy &&
        !conn->backlogged()) {
      conn->next_request();
    }
  });
  if (rc != 0) {
    delete w;
    close();
  }
}

// The last answer is written. Closing now, with bytes from the client still unread (the rest
// of a body refused with 413, requests pipelined after Connection: close), makes the kernel
// send a reset, and a client still sending gets that reset instead of reading the answer. So
// our side is shut first (the client sees the end of the answer), then what it still sends is
// read and dropped until it closes too, or for linger_timeout_ms at most. Nothing read now is
// parsed: close_after_write is set, and on_read drops it.
void HttpServer::Connection::linger() {
  if (closing || phase == Phase::kLinger) return;
  if (server->closing_) {
    close();  // a shutdown does not wait for clients
    return;
  }
  close_after_write = true;
  pending.clear();
  start_timer(Phase::kLinger, server->limits_.linger_timeout_ms);
  shutdown_req.data = this;
  int rc = uv_shutdown(&shutdown_req, stream(), [](uv_shutdown_t* req, int status) {
    auto* conn = static_cast<Connection*>(req->data);
    if (status == UV_ECANCELED || conn->closing) return;
    if (status != 0) {
      conn->close();
      return;
    }
    conn->read();  // until the client's end of file, a reset, or the linger clock
  });
  if (rc != 0) close();
}

void HttpServer::Connection::close() {
  if (closing || uv_is_closing(handle())) return;
  closing = true;
  busy = false;
  auto on_closed = [](uv_handle_t* h) {
    auto* conn = static_cast<Connection*>(h->data);
    if (--conn->open_handles == 0) {
      HttpServer* s = conn->server;
      delete conn;
      --s->live_;
      s->maybe_done();
    }
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), on_closed);
  uv_close(handle(), on_closed);
  server->connections_.erase(id);
}

void HttpServer::close(std::function<void()> done) {
  if (closing_) return;
  closing_ = true;
  on_closed_ = std::move(done);
  for (Listener* l : listeners_) {
    uv_close(l->handle(), [](uv_handle_t* h) {
      auto* listener = static_cast<Listener*>(h->data);
      HttpServer* s = listener->server;
      auto& ls = s->listeners_;
      ls.erase(std::remove(ls.begin(), ls.end(), listener), ls.end());
      delete listener;
      s->maybe_done();
    });
  }
  if (!unix_path_.empty()) unlink(unix_path_.c_str());
  std::vector<Connection*> idle;
  for (auto& [id, c] : connections_) {
    // A busy one closes after its response (no keep-alive); one still sending answers (or
    // its last) closes once they are out, or when the write clock runs out.
    if (c->busy || (c->close_after_write && c->phase != Connection::Phase::kLinger)) continue;
    if (c->phase != Connection::Phase::kLinger && uv_stream_get_write_queue_size(c->stream()) > 0) {
      c->close_after_write = true;
      c->pending.clear();
      c->stop_reading();
      c->start_timer(Connection::Phase::kWrite, limits_.write_timeout_ms);
      continue;
    }
    idle.push_back(c);
  }
  for (Connection* c : idle)
    c->close();
  maybe_done();
}

void HttpServer::abort() {
  if (!closing_) close([] {});
  std::vector<Connection*> all;
  for (auto& [id, c] : connections_)
    all.push_back(c);
  for (Connection* c : all)
    c->close();
}

void HttpServer::maybe_done() {
  if (!closing_ || !listeners_.empty() || live_ > 0 || !on_closed_) return;
  std::function<void()> done = std::move(on_closed_);
  on_closed_ = nullptr;
  done();
}

}  // namespace nudged
