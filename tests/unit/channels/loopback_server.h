// A loopback TCP server on a libuv loop, for the curl channel tests: a tiny HTTP/1.1 server
// (keep-alive, Content-Length bodies) and a tiny scripted SMTP server, both recording what they
// were sent. Runs on the test's loop, on the test's thread: no threads, no sleeps.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace nudged::testing {

struct HttpRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  bool hang = false;                 // never answer
};

class LoopbackServer {
 public:
  enum class Protocol { kHttp, kSmtp };
  LoopbackServer(uv_loop_t* loop, Protocol protocol);
  ~LoopbackServer();  // closes everything; run the loop afterwards to free it

  int port() const { return port_; }
  std::string http_base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string smtp_url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }

  // HTTP: how to answer each request (default: 200 with an empty body).
  std::function<HttpResponse(const HttpRequest&)> respond;
  std::vector<HttpRequest> requests;

  // SMTP: the reply to RCPT TO (default "250 OK"); messages received (the DATA, unstuffed).
  std::string rcpt_reply = "250 OK";
  // The other replies a test may want to be refusals. The replies after the greeting may be
  // changed between messages, under `mutex`.
  std::string greeting = "220 loopback ESMTP";
  std::string mail_reply = "250 OK";
  std::string data_end_reply = "250 queued";
  std::string auth_reply;  // when set, EHLO offers AUTH PLAIN and AUTH gets this reply
  std::vector<std::string> messages;
  std::vector<std::string> rcpts;
  bool hang_after_data = false;  // never answer the end of a message

  int connections = 0;  // accepted so far
  // Closes every open connection now, as a server does with idle keep-alive ones.
  void drop_connections();
  // Guards the records above (requests, messages, rcpts, connections) when the server runs on
  // a thread of its own (LoopbackThread); the test locks it to read them.
  std::mutex mutex;

  struct Conn;

 private:
  static void on_connection(uv_stream_t* server, int status);
  void handle_http(Conn* c);
  void handle_smtp(Conn* c);
  void write(Conn* c, const std::string& data);
  void close_conn(Conn* c);

  uv_loop_t* loop_;
  Protocol protocol_;
  uv_tcp_t* listener_;
  int port_ = 0;
  std::set<Conn*> conns_;
};

// A LoopbackServer on a loop of its own in a thread: for clients whose driver blocks the calling
// thread (curl's SMTP end-of-data and QUIT waits) and so cannot share the test's loop with it.
// Configure `server()` (respond, rcpt_reply...) before the first client connects.
class LoopbackThread {
 public:
  explicit LoopbackThread(LoopbackServer::Protocol protocol);
  ~LoopbackThread();
  LoopbackServer& server() { return *server_; }

 private:
  uv_loop_t loop_{};
  uv_async_t stop_{};
  std::unique_ptr<LoopbackServer> server_;
  std::thread thread_;
};

}  // namespace nudged::testing
