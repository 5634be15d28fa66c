// HttpServer: HTTP/1.1 over libuv streams (TCP, a Unix socket, or a socket passed by systemd),
// one request at a time per connection, with keep-alive.
//
// It owns its listeners and connections and nothing else: each complete request goes to the
// Handler with a Respond callback, which the handler may call later (after an append becomes
// durable, say). While a connection waits for its response it only buffers what follows (up
// to 64 KiB), so a client cannot queue unbounded work. Limits and timeouts protect the loop
// from slow or hostile clients:
//   - request line + headers <= 16 KiB (431), <= 100 header fields (431), body <= max_body
//     decided from Content-Length before reading it (413);
//   - headers must arrive within 10 s of the request's first byte (or of the connection),
//     the body within 30 s of the headers (408); these clocks do not restart on each byte, so
//     a trickle cannot hold a connection;
//   - an idle keep-alive connection is closed after 5 s; at most max_connections at once;
//   - a connection's last answer (an error, Connection: close) is followed by a half-close and
//     up to 5 s of reading and dropping whatever the client still sends, so that a client
//     still sending a refused body reads its 413 instead of a reset;
//   - answers a client does not read stop the connection: with 64 KiB of answers queued it
//     reads and runs nothing more until they drain, and a connection whose queued answers (or
//     last one, before closing) make no progress for 10 s is closed. Otherwise a client
//     pipelining requests and never reading would grow the queue without bound.
//
// Loop thread only. Respond may be called after the connection is gone (it is then dropped)
// and at most once.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/http_request.h"
#include "daemon/http_response.h"
#include "events/status.h"

namespace nudged {

struct ServerLimits {
  ParserLimits parser;
  uint64_t header_timeout_ms = 10 * 1000;
  uint64_t body_timeout_ms = 30 * 1000;
  uint64_t idle_timeout_ms = 5 * 1000;
  uint64_t write_timeout_ms = 10 * 1000;
  // After a connection's last answer: how long what the client still sends is read and
  // dropped before the connection closes (see Connection::linger).
  uint64_t linger_timeout_ms = 5 * 1000;
  size_t max_connections = 1024;
};

class HttpServer {
 public:
  using Respond = std::function<void(HttpResponse)>;
  using Handler = std::function<void(HttpRequest&&, Respond)>;

  HttpServer(uv_loop_t* loop, ServerLimits limits, Handler handler);
  ~HttpServer();  // close() first and let the loop run its callbacks
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  Status listen_tcp(const std::string& host, uint16_t port);
  // A listening socket inherited from systemd (sd_listen_fds): TCP or Unix.
  Status listen_fd(int fd);
  // A Unix socket at `path` with file mode `mode` (a stale socket file there is replaced).
  Status listen_unix(const std::string& path, int mode);

  // New limits for connections accepted from now on (a reload changes max_body).
  void set_limits(const ServerLimits& limits) { limits_ = limits; }

  // Stops accepting, closes idle connections at once and the others right after their
  // response; `done` runs once everything is closed.
  void close(std::function<void()> done);
  // Closes everything now, answered or not (a forced shutdown). The loop must still run for
  // the close callbacks, which free what the server owns.
  void abort();

  size_t connections() const { return connections_.size(); }
  // The port of the first TCP listener (useful when listening on port 0).
  int bound_port() const;

 private:
  struct Connection;
  struct Listener;
  static void on_connection(uv_stream_t* server, int status);
  void accept_from(uv_stream_t* listener, bool is_tcp);
  void maybe_done();

  uv_loop_t* loop_;
  ServerLimits limits_;
  Handler handler_;
  std::vector<Listener*> listeners_;
  std::unordered_map<uint64_t, Connection*> connections_;
  uint64_t next_id_ = 1;
  size_t live_ = 0;  // connections whose handles are not closed yet
  bool closing_ = false;
  std::function<void()> on_closed_;
  std::shared_ptr<HttpServer*> self_;  // Respond callbacks hold a weak_ptr to this
  std::string unix_path_;              // removed on close
};

}  // namespace nudged
