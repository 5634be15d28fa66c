// HttpServer (daemon/http_server.h): connection life cycle on a real loop and a real loopback
// socket. The request parser has its own tests (http_request_test.cpp); the daemon's routes
// and limits are tested end to end (tests/e2e/ingress_test.py). Here: what only the server's
// own bookkeeping shows, such as when a connection is really gone.

#include "daemon/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace nudged {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }

  void TearDown() override {
    if (client_ >= 0) ::close(client_);
    if (server_) {
      server_->close([this] { closed_ = true; });  // ignored when the test closed it already
      server_->abort();
      EXPECT_TRUE(drive([this] { return closed_; }, milliseconds(5000)));
      server_.reset();
    }
    uv_run(&loop_, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  // A server answering every request with 200, with these limits, and a client connected to it.
  void start(ServerLimits limits) {
    server_ = std::make_unique<HttpServer>(
        &loop_, limits,
        [](HttpRequest&&, HttpServer::Respond r) { r(HttpResponse::text(200, "ok\n")); });
    ASSERT_TRUE(server_->listen_tcp("127.0.0.1", 0));
    client_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(client_, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->bound_port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // Loopback connects complete from the listen backlog, before the loop accepts.
    ASSERT_EQ(::connect(client_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::fcntl(client_, F_SETFL, O_NONBLOCK), 0);
    ASSERT_TRUE(drive([&] { return server_->connections() == 1; }, milliseconds(2000)));
  }

  // Runs the loop (and reads what the client got) until `done` holds or `limit` passes.
  bool drive(const std::function<bool()>& done, milliseconds limit) {
    Clock::time_point deadline = Clock::now() + limit;
    while (!done()) {
      if (Clock::now() > deadline) return false;
      uv_run(&loop_, UV_RUN_NOWAIT);
      receive();
      std::this_thread::sleep_for(milliseconds(1));
    }
    return true;
  }

  void receive() {
    if (client_ < 0 || client_eof_) return;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(client_, buf, sizeof buf, 0);
      if (n > 0) {
        received_.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) client_eof_ = true;
      return;
    }
  }

  void send_all(const std::string& bytes) {
    ASSERT_EQ(::send(client_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }

  // A request whose announced body is over max_body: refused with 413, the connection's last
  // answer, after which the server lingers (reads and drops what the client still sends).
  void get_refused_and_lingering() {
    send_all("POST /v1/registrations HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    ASSERT_TRUE(drive([&] { return client_eof_; }, milliseconds(2000))) << received_;
    ASSERT_EQ(received_.rfind("HTTP/1.1 413", 0), 0u) << received_;
    // Our side is shut (the client read its end of file) but the connection is still open.
    EXPECT_EQ(server_->connections(), 1u);
  }

  uv_loop_t loop_{};
  std::unique_ptr<HttpServer> server_;
  int client_ = -1;
  std::string received_;
  bool client_eof_ = false;
  bool closed_ = false;  // the server's close() finished
};

ServerLimits small_body_long_linger() {
  ServerLimits limits;
  limits.parser.max_body = 1024;
  limits.linger_timeout_ms = 60 * 1000;
  return limits;
}

TEST_F(HttpServerTest, AnsweredRequestKeepsTheConnectionOpen) {
  start(small_body_long_linger());
  send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(
      drive([&] { return received_.find("ok\n") != std::string::npos; }, milliseconds(2000)));
  EXPECT_EQ(received_.rfind("HTTP/1.1 200", 0), 0u) << received_;
  EXPECT_FALSE(client_eof_);
  EXPECT_EQ(server_->connections(), 1u);
}

TEST_F(HttpServerTest, LingeringConnectionClosesAtOnceOnTheClientsEndOfFile) {
  start(small_body_long_linger());
  get_refused_and_lingering();
  // Still sending the refused body: read and dropped, the connection stays.
  send_all(std::string(4096, 'x'));
  EXPECT_FALSE(drive([&] { return server_->connections() == 0; }, milliseconds(100)));
  Clock::time_point eof = Clock::now();
  ASSERT_EQ(::shutdown(client_, SHUT_WR), 0);
  // The linger clock is a minute: only the end of file can close it this soon.
  EXPECT_TRUE(drive([&] { return server_->connections() == 0; }, milliseconds(2000)));
  EXPECT_LT(Clock::now() - eof, milliseconds(2000));
}

TEST_F(HttpServerTest, LingeringConnectionIsCutOffWhenItsClockRunsOut) {
  ServerLimits limits = small_body_long_linger();
  limits.linger_timeout_ms = 300;
  start(limits);
  Clock::time_point refused = Clock::now();
  get_refused_and_lingering();
  ASSERT_TRUE(drive([&] { return server_->connections() == 0; }, milliseconds(3000)));
  EXPECT_GE(Clock::now() - refused, milliseconds(250));
}

TEST_F(HttpServerTest, CloseDoesNotWaitForALingeringConnection) {
  start(small_body_long_linger());
  get_refused_and_lingering();
  server_->close([this] { closed_ = true; });
  EXPECT_TRUE(drive([this] { return closed_; }, milliseconds(1000)));
  EXPECT_EQ(server_->connections(), 0u);
}

}  // namespace
}  // namespace nudged
