// Loopback sinks for the channel benchmarks: a tiny HTTP/1.1 server that answers every request
// with 201 and a Twilio-like {"sid": ...}, and a tiny SMTP server that accepts every message.
// Each runs on its own libuv loop in its own thread, so the client side under test has its
// thread to itself. Keep-alive throughout; they parse just enough to find message ends.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>

namespace nudged::bench {

class Sink {
 public:
  enum class Kind { kHttp, kSmtp };

  explicit Sink(Kind kind) : kind_(kind) {
    uv_loop_init(&loop_);
    uv_tcp_init(&loop_, &listener_);
    listener_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 128, on_connection);
    sockaddr_in bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(bound.sin_port);
    uv_async_init(&loop_, &stop_, [](uv_async_t* a) {
      auto* self = static_cast<Sink*>(a->data);
      for (Conn* c : self->conns_)
        uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_conn_closed);
      self->conns_.clear();
      uv_close(reinterpret_cast<uv_handle_t*>(&self->listener_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_), nullptr);
    });
    stop_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }

  ~Sink() {
    uv_async_send(&stop_);
    thread_.join();
    uv_loop_close(&loop_);
  }

  int port() const { return port_; }
  uint64_t handled() const { return handled_.load(); }
  uint64_t connections() const { return connections_.load(); }
  // SMTP: bytes of message data received (after DATA, up to and with the final dot).
  uint64_t data_bytes() const { return data_bytes_.load(); }

 private:
  struct Conn {
    uv_tcp_t tcp{};
    Sink* sink = nullptr;
    std::string in;
    bool in_data = false;
    uint64_t count = 0;
  };
  struct Write {
    uv_write_t req{};
    std::string data;
  };

  static void on_conn_closed(uv_handle_t* h) { delete static_cast<Conn*>(h->data); }
  void forget(Conn* c) { conns_.erase(c); }

  static void on_connection(uv_stream_t* listener, int status) {
    auto* self = static_cast<Sink*>(listener->data);
    if (status < 0) return;
    auto* c = new Conn{};
    c->sink = self;
    uv_tcp_init(&self->loop_, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_conn_closed);
      return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    self->connections_.fetch_add(1);
    self->conns_.insert(c);
    if (self->kind_ == Kind::kSmtp) self->write(c, "220 sink ESMTP\r\n");
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
          if (n < 0) {
            if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(stream))) {
              conn->sink->forget(conn);
              uv_close(reinterpret_cast<uv_handle_t*>(stream), on_conn_closed);
            }
            return;
          }
          if (conn->sink->kind_ == Kind::kHttp) {
            conn->sink->http(conn);
          } else {
            conn->sink->smtp(conn);
          }
        });
  }

  void write(Conn* c, std::string data) {
    auto* w = new Write{};
    w->data = std::move(data);
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1,
                 [](uv_write_t* req, int) { delete reinterpret_cast<Write*>(req); }) != 0) {
      delete w;
    }
  }

  static size_t content_length(const std::string& head) {
    // Case-insensitive search for the header; curl writes "Content-Length".
    for (const char* name : {"Content-Length:", "content-length:"}) {
      size_t at = head.find(name);
      if (at != std::string::npos) return std::strtoul(head.c_str() + at + 15, nullptr, 10);
    }
    return 0;
  }

  void http(Conn* c) {
    std::string out;
    size_t pos = 0;
    for (;;) {
      size_t end = c->in.find("\r\n\r\n", pos);
      if (end == std::string::npos) break;
      size_t length = content_length(c->in.substr(pos, end - pos));
      if (c->in.size() < end + 4 + length) break;
      pos = end + 4 + length;
      std::string body = "{\"sid\":\"SM" + std::to_string(++c->count) + "\",\"status\":\"queued\"}";
      out += "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body;
      handled_.fetch_add(1);
    }
    c->in.erase(0, pos);
    if (!out.empty()) write(c, std::move(out));
  }

  void smtp(Conn* c) {
    std::string out;
    size_t pos = 0;
    for (;;) {
      if (c->in_data) {
        size_t end = c->in.find("\r\n.\r\n", pos == 0 ? 0 : pos - 2);
        if (end == std::string::npos) break;
        data_bytes_.fetch_add(end + 5 - pos);
        pos = end + 5;
        c->in_data = false;
        out += "250 queued\r\n";
        handled_.fetch_add(1);
        continue;
      }
      size_t end = c->in.find("\r\n", pos);
      if (end == std::string::npos) break;
      std::string verb = c->in.substr(pos, 4);
      for (char& ch : verb)
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      pos = end + 2;
      if (verb == "EHLO") {
        out += "250-sink\r\n250 8BITMIME\r\n";
      } else if (verb == "DATA") {
        c->in_data = true;
        out += "354 go ahead\r\n";
      } else if (verb == "QUIT") {
        out += "221 bye\r\n";
      } else {
        out += "250 OK\r\n";
      }
    }
    c->in.erase(0, pos);
    if (!out.empty()) write(c, std::move(out));
  }

  Kind kind_;
  uv_loop_t loop_{};
  uv_tcp_t listener_{};
  uv_async_t stop_{};
  int port_ = 0;
  std::atomic<uint64_t> handled_{0};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> data_bytes_{0};
  std::set<Conn*> conns_;  // sink thread only
  std::thread thread_;
};

}  // namespace nudged::bench
