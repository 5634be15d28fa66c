#include "channels/curl_multi.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/unit/channels/loop_helpers.h"
#include "tests/unit/channels/loopback_server.h"

namespace nudged {

// Calls CurlMulti's socket callback as curl would.
struct CurlMultiPeer {
  static int socket(CurlMulti& multi, curl_socket_t fd, int what) {
    return CurlMulti::on_socket(nullptr, fd, what, &multi, nullptr);
  }
};

namespace {

using testing::HttpRequest;
using testing::HttpResponse;
using testing::LoopbackServer;
using testing::run_for;
using testing::run_until;

struct Easy {
  CURL* easy = curl_easy_init();
  std::string body;
  std::optional<CURLcode> result;
  explicit Easy(const std::string& url, long timeout_ms = 5000) {
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(
        easy, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* self) {
          static_cast<Easy*>(self)->body.append(d, s * n);
          return s * n;
        });
  }
  ~Easy() { curl_easy_cleanup(easy); }
  CurlMulti::Finished finished() {
    return [this](CURLcode code) { result = code; };
  }
};

class CurlMultiTest : public testing::LoopTest {};

TEST_F(CurlMultiTest, FinishedRunsLaterOnTheLoopNeverInsideStart) {
  LoopbackServer server(&loop_, LoopbackServer::Protocol::kHttp);
  server.respond = [](const HttpRequest&) { return HttpResponse{200, "hello", {}}; };
  {
    auto multi = std::make_shared<CurlMulti>(&loop_);
    Easy e(server.http_base() + "/x");
    ASSERT_TRUE(multi->start(e.easy, e.finished()));
    EXPECT_FALSE(e.result.has_value());  // not from inside start()
    ASSERT_TRUE(run_until(&loop_, [&] { return e.result.has_value(); }));
    EXPECT_EQ(*e.result, CURLE_OK);
    EXPECT_EQ(e.body, "hello");
    EXPECT_EQ(multi->active(), 0u);
    ASSERT_EQ(server.requests.size(), 1u);
    EXPECT_EQ(server.requests[0].path, "/x");
  }
}

TEST_F(CurlMultiTest, ConnectionsAreReusedAcrossTransfers) {
  LoopbackServer server(&loop_, LoopbackServer::Protocol::kHttp);
  auto multi = std::make_shared<CurlMulti>(&loop_);
  for (int i = 0; i < 10; ++i) {
    Easy e(server.http_base() + "/n");
    ASSERT_TRUE(multi->start(e.easy, e.finished()));
    ASSERT_TRUE(run_until(&loop_, [&] { return e.result.has_value(); }));
    EXPECT_EQ(*e.result, CURLE_OK);
  }
  EXPECT_EQ(server.requests.size(), 10u);
  EXPECT_EQ(server.connections, 1);
}

// Between transfers curl stops watching a kept connection and CurlMulti keeps its poll, stopped;
// when curl closes the socket (here the server says "Connection: close") the poll must go with
// it, so that a new socket on the same fd number is watched afresh.
TEST_F(CurlMultiTest, ClosedConnectionsTakeTheirPollsWithThem) {
  LoopbackServer server(&loop_, LoopbackServer::Protocol::kHttp);
  int n = 0;
  server.respond = [&n](const HttpRequest&) {
    return HttpResponse{200, "x", {++n % 2 == 0 ? "Connection: close" : "X-Keep: 1"}};
  };
  auto multi = std::make_shared<CurlMulti>(&loop_);
  for (int i = 0; i < 8; ++i) {
    Easy e(server.http_base() + "/c");
    ASSERT_TRUE(multi->start(e.easy, e.finished()));
    ASSERT_TRUE(run_until(&loop_, [&] { return e.result.has_value(); }));
    EXPECT_EQ(*e.result, CURLE_OK) << i;
  }
  EXPECT_EQ(server.requests.size(), 8u);
  EXPECT_EQ(server.connections, 4);  // every second answer closed its connection
}

// Between transfers a kept connection's poll stays as it is (no system calls for the next
// transfer); if the server then closes that idle connection, the poll is stopped rather than
// left to report the readable end-of-file at every turn of the loop, and the next transfer goes
// over a new connection.
TEST_F(CurlMultiTest, AnIdleConnectionClosedByTheServerDoesNotSpinTheLoop) {
  LoopbackServer server(&loop_, LoopbackServer::Protocol::kHttp);
  auto multi = std::make_shared<CurlMulti>(&loop_);
  {
    Easy e(server.http_base() + "/first");
    ASSERT_TRUE(multi->start(e.easy, e.finished()));
    ASSERT_TRUE(run_until(&loop_, [&] { return e.result.has_value(); }));
    EXPECT_EQ(*e.result, CURLE_OK);
  }
  server.drop_connections();
  uv_check_t turns{};
  uv_check_init(&loop_, &turns);
  long count = 0;
  turns.data = &count;
  uv_check_start(&turns, [](uv_check_t* c) { ++*static_cast<long*>(c->data); });
  run_for(&loop_, 100);  // a 1 ms ticker: about a hundred turns when nothing else wakes it
  uv_close(reinterpret_cast<uv_handle_t*>(&turns), nullptr);
  EXPECT_LT(count, 1000) << "the loop spun on an idle socket";
  Easy second(server.http_base() + "/second");
  ASSERT_TRUE(multi->start(second.easy, second.finished()));
  ASSERT_TRUE(run_until(&loop_, [&] { return second.result.has_value(); }));
  EXPECT_EQ(*second.result, CURLE_OK);
  EXPECT_EQ(server.connections, 2);
}

// An idle kept connection must not keep the loop running: with no transfer and no other handle,
// uv_run returns (the daemon's shutdown and every test's teardown rely on it).
TEST_F(CurlMultiTest, IdleKeptConnectionsDoNotKeepTheLoopAlive) {
  testing::LoopbackThread server(LoopbackServer::Protocol::kHttp);
  auto multi = std::make_shared<CurlMulti>(&loop_);
  for (int i = 0; i < 2; ++i) {
    Easy e(server.server().http_base() + "/k");
    ASSERT_TRUE(multi->start(e.easy, e.finished()));
    ASSERT_TRUE(run_until(&loop_, [&] { return e.result.has_value(); }));
    EXPECT_EQ(*e.result, CURLE_OK);
  }
  {
    std::lock_guard<std::mutex> lock(server.server().mutex);
    EXPECT_EQ(server.server().connections, 1);  // kept and reused
  }
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(uv_loop_alive(&loop_), 0);
}

// curl also asks us to watch sockets it did not open through CurlMulti, and closes them with a
// plain close() after CURL_POLL_REMOVE (the threaded resolver's socketpair): their poll must go
// at REMOVE, or it would sit in the loop under an fd number the next socket may get.
TEST_F(CurlMultiTest, ASocketCurlDidNotOpenThroughUsLosesItsPollAtRemove) {
  auto multi = std::make_shared<CurlMulti>(&loop_);
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  ASSERT_EQ(CurlMultiPeer::socket(*multi, pair[0], CURL_POLL_IN), 0);
  EXPECT_EQ(multi->polls(), 1u);
  ASSERT_EQ(CurlMultiPeer::socket(*multi, pair[0], CURL_POLL_REMOVE), 0);
  EXPECT_EQ(multi->polls(), 0u);
  ::close(pair[0]);
  ::close(pair[1]);
  // A connection's socket, opened through us, keeps its poll between transfers.
  LoopbackServer server(&loop_, LoopbackServer::Protocol::kHttp);
  Easy e(server.http_base() + "/kept");
  ASSERT_TRUE(multi->start(e.easy, e.finished()));
  ASSERT_TRUE(run_until(&loop_, [&] { return e.result.has_value(); }));
  EXPECT_EQ(multi->polls(), 1u);
}

TEST_F(CurlMultiTest, ManyTransfersAtOnce) {
  LoopbackServer server(&loop_, LoopbackServer::Protocol::kHttp);
  auto multi = std::make_shared<CurlMulti>(&loop_);
  std::vector<std::unique_ptr<Easy>> all;
  for (int i = 0; i < 40; ++i) {
    all.push_back(std::make_unique<Easy>(server.http_base() + "/" + std::to_string(i)));
    ASSERT_TRUE(multi->start(all.back()->easy, all.back()->finished()));
  }
  ASSERT_TRUE(run_until(&loop_, [&] {
    for (auto& e : all)
      if (!e->result) return false;
    return true;
  }));
  for (auto& e : all)
    EXPECT_EQ(*e->result, CURLE_OK);
  EXPECT_EQ(server.requests.size(), 40u);
}

TEST_F(CurlMultiTest, ARefusedConnectionFailsTheTransfer) {
  int port = 0;
  {
    LoopbackServer gone(&loop_, LoopbackServer::Protocol::kHttp);
    port = gone.port();
  }
  uv_run(&loop_, UV_RUN_NOWAIT);  // the listener is closed
  auto multi = std::make_shared<CurlMulti>(&loop_);
  Easy e("http://127.0.0.1:" + std::to_string(port) + "/");
  ASSERT_TRUE(multi->start(e.easy, e.finished()));
  ASSERT_TRUE(run_until(&loop_, [&] { return e.result.has_value(); }));
  EXPECT_EQ(*e.result, CURLE_COULDNT_CONNECT);
}

TEST_F(CurlMultiTest, TimeoutsFireFromTheLoopTimer) {
  LoopbackServer server(&loop_, LoopbackServer::Protocol::kHttp);
  server.respond = [](const HttpRequest&) { return HttpResponse{200, "", {}, true}; };
  auto multi = std::make_shared<CurlMulti>(&loop_);
  Easy e(server.http_base() + "/hang", 200);
  uint64_t started = uv_now(&loop_);
  ASSERT_TRUE(multi->start(e.easy, e.finished()));
  ASSERT_TRUE(run_until(&loop_, [&] { return e.result.has_value(); }));
  EXPECT_EQ(*e.result, CURLE_OPERATION_TIMEDOUT);
  EXPECT_GE(uv_now(&loop_) - started, 190u);
}

TEST_F(CurlMultiTest, ACancelledTransferNeverFinishesAndAHungOneDoesNotBlockOthers) {
  LoopbackServer server(&loop_, LoopbackServer::Protocol::kHttp);
  server.respond = [](const HttpRequest& r) {
    return HttpResponse{200, "ok", {}, r.path == "/hang"};
  };
  auto multi = std::make_shared<CurlMulti>(&loop_);
  Easy hung(server.http_base() + "/hang");
  Easy quick(server.http_base() + "/quick");
  ASSERT_TRUE(multi->start(hung.easy, hung.finished()));
  ASSERT_TRUE(multi->start(quick.easy, quick.finished()));
  ASSERT_TRUE(run_until(&loop_, [&] { return quick.result.has_value(); }));
  EXPECT_EQ(*quick.result, CURLE_OK);
  EXPECT_FALSE(hung.result.has_value());
  multi->cancel(hung.easy);
  run_for(&loop_, 50);
  EXPECT_FALSE(hung.result.has_value());
  EXPECT_EQ(multi->active(), 0u);
}

TEST_F(CurlMultiTest, DestroyedWithTransfersInFlightItClosesEveryHandle) {
  LoopbackServer server(&loop_, LoopbackServer::Protocol::kHttp);
  server.respond = [](const HttpRequest&) { return HttpResponse{200, "", {}, true}; };
  Easy e(server.http_base() + "/hang");
  {
    auto multi = std::make_shared<CurlMulti>(&loop_);
    ASSERT_TRUE(multi->start(e.easy, e.finished()));
    ASSERT_TRUE(run_until(&loop_, [&] { return !server.requests.empty(); }));
  }
  run_for(&loop_, 20);
  EXPECT_FALSE(e.result.has_value());
  // ~LoopTest checks that the polls and timers were closed.
}

TEST_F(CurlMultiTest, DeferredFunctionsRunOnALaterTurnInOrder) {
  auto multi = std::make_shared<CurlMulti>(&loop_);
  std::vector<int> ran;
  multi->defer([&] { ran.push_back(1); });
  multi->defer([&] { ran.push_back(2); });
  EXPECT_TRUE(ran.empty());
  ASSERT_TRUE(run_until(&loop_, [&] { return ran.size() == 2; }));
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
}

TEST_F(CurlMultiTest, OneInstancePerLoopWhileItIsUsed) {
  std::shared_ptr<CurlMulti> a = CurlMulti::for_loop(&loop_);
  std::shared_ptr<CurlMulti> b = CurlMulti::for_loop(&loop_);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a.get(), b.get());
  uv_loop_t other;
  uv_loop_init(&other);
  {
    std::shared_ptr<CurlMulti> c = CurlMulti::for_loop(&other);
    EXPECT_NE(c.get(), a.get());
  }
  uv_run(&other, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&other), 0);
}

}  // namespace
}  // namespace nudged
