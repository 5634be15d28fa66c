#include "tests/unit/channels/loopback_server.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace nudged::testing {

struct LoopbackServer::Conn {
  uv_tcp_t tcp{};
  LoopbackServer* server = nullptr;
  std::string in;
  bool in_data = false;  // SMTP: between DATA and the lone dot
  bool closing = false;
};

namespace {

struct WriteReq {
  uv_write_t req{};
  std::string data;
};

std::string lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

LoopbackServer::LoopbackServer(uv_loop_t* loop, Protocol protocol)
    : loop_(loop), protocol_(protocol), listener_(new uv_tcp_t{}) {
  uv_tcp_init(loop_, listener_);
  listener_->data = this;
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_bind(listener_, reinterpret_cast<const sockaddr*>(&addr), 0);
  uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 64, &LoopbackServer::on_connection);
  sockaddr_in bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.sin_port);
}

LoopbackServer::~LoopbackServer() {
  std::set<Conn*> conns = conns_;
  for (Conn* c : conns)
    close_conn(c);
  uv_close(reinterpret_cast<uv_handle_t*>(listener_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
}

void LoopbackServer::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<LoopbackServer*>(listener->data);
  if (status < 0) return;
  auto* c = new Conn{};
  c->server = self;
  uv_tcp_init(self->loop_, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
             [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
    return;
  }
  {
    std::lock_guard<std::mutex> lock(self->mutex);
    ++self->connections;
  }
  self->conns_.insert(c);
  if (self->protocol_ == Protocol::kSmtp) self->write(c, self->greeting + "\r\n");
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = static_cast<char*>(std::malloc(suggested));
        buf->len = suggested;
      },
      [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
        auto* conn = static_cast<Conn*>(stream->data);
        if (n > 0) conn->in.append(buf->base, static_cast<size_t>(n));
        std::free(buf->base);
        if (n < 0) return conn->server->close_conn(conn);
        if (conn->server->protocol_ == Protocol::kHttp) {
          conn->server->handle_http(conn);
        } else {
          conn->server->handle_smtp(conn);
        }
      });
}

void LoopbackServer::write(Conn* c, const std::string& data) {
  if (c->closing) return;
  auto* w = new WriteReq{};
  w->data = data;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1,
           [](uv_write_t* req, int) { delete reinterpret_cast<WriteReq*>(req); });
}

void LoopbackServer::drop_connections() {
  std::set<Conn*> conns = conns_;
  for (Conn* c : conns)
    close_conn(c);
}

void LoopbackServer::close_conn(Conn* c) {
  if (c->closing) return;
  c->closing = true;
  conns_.erase(c);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
           [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
}

void LoopbackServer::handle_http(Conn* c) {
  for (;;) {
    size_t end = c->in.find("\r\n\r\n");
    if (end == std::string::npos) return;
    HttpRequest req;
    std::string head = c->in.substr(0, end);
    size_t line_end = head.find("\r\n");
    std::string first = head.substr(0, line_end);
    size_t sp1 = first.find(' '), sp2 = first.rfind(' ');
    req.method = first.substr(0, sp1);
    req.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      std::string line = head.substr(pos, next - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        req.headers[lower(line.substr(0, colon))] = value;
      }
      pos = next + 2;
    }
    size_t length = 0;
    if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
      length = std::stoul(it->second);
    }
    if (c->in.size() < end + 4 + length) return;
    req.body = c->in.substr(end + 4, length);
    c->in.erase(0, end + 4 + length);
    {
      std::lock_guard<std::mutex> lock(mutex);
      requests.push_back(req);
    }
    HttpResponse r = respond ? respond(req) : HttpResponse{};
    if (r.hang) continue;
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    for (const std::string& h : r.headers)
      out += h + "\r\n";
    out += "\r\n" + r.body;
    write(c, out);
  }
}

void LoopbackServer::handle_smtp(Conn* c) {
  // A test may change a reply between messages, on its own thread.
  auto locked = [this](const std::string& reply) {
    std::lock_guard<std::mutex> lock(mutex);
    return reply;
  };
  for (;;) {
    if (c->in_data) {
      size_t end = c->in.find("\r\n.\r\n");
      if (end == std::string::npos) return;
      std::string data = c->in.substr(0, end + 2);
      c->in.erase(0, end + 5);
      // Undo dot-stuffing.
      std::string plain;
      size_t pos = 0;
      while (pos < data.size()) {
        size_t next = data.find("\r\n", pos);
        std::string line = data.substr(pos, next - pos);
        if (!line.empty() && line[0] == '.') line.erase(0, 1);
        plain += line + "\r\n";
        pos = next + 2;
      }
      {
        std::lock_guard<std::mutex> lock(mutex);
        messages.push_back(plain);
      }
      c->in_data = false;
      if (!hang_after_data) write(c, locked(data_end_reply) + "\r\n");
      continue;
    }
    size_t end = c->in.find("\r\n");
    if (end == std::string::npos) return;
    std::string line = c->in.substr(0, end);
    c->in.erase(0, end + 2);
    std::string verb = lower(line.substr(0, 4));
    if (verb == "ehlo") {
      write(c, locked(auth_reply).empty() ? "250-loopback\r\n250 8BITMIME\r\n"
                                          : "250-loopback\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n");
    } else if (verb == "auth" && !locked(auth_reply).empty()) {
      write(c, locked(auth_reply) + "\r\n");
    } else if (verb == "mail") {
      write(c, locked(mail_reply) + "\r\n");
    } else if (verb == "helo" || verb == "rset" || verb == "noop") {
      write(c, "250 OK\r\n");
    } else if (verb == "rcpt") {
      {
        std::lock_guard<std::mutex> lock(mutex);
        rcpts.push_back(line);
      }
      write(c, locked(rcpt_reply) + "\r\n");
    } else if (verb == "data") {
      c->in_data = true;
      write(c, "354 go ahead\r\n");
    } else if (verb == "quit") {
      write(c, "221 bye\r\n");
    } else {
      write(c, "502 not implemented\r\n");
    }
  }
}

LoopbackThread::LoopbackThread(LoopbackServer::Protocol protocol) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &stop_, [](uv_async_t* a) {
    auto* self = static_cast<LoopbackThread*>(a->data);
    self->server_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_), nullptr);
  });
  stop_.data = this;
  server_ = std::make_unique<LoopbackServer>(&loop_, protocol);  // listening before the thread
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
}

LoopbackThread::~LoopbackThread() {
  uv_async_send(&stop_);
  thread_.join();
  uv_loop_close(&loop_);
}

}  // namespace nudged::testing
