#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "channels/channel.h"
#include "channels/signature.h"
#include "tests/unit/channels/loop_helpers.h"
#include "tests/unit/channels/loopback_server.h"

namespace nudged {
namespace {

using testing::HttpRequest;
using testing::HttpResponse;
using testing::LoopbackServer;
using testing::run_until;

class WebhookChannelTest : public testing::LoopTest {
 protected:
  WebhookChannelTest() : server_(&loop_, LoopbackServer::Protocol::kHttp) {
    ChannelConfig config{
        "staff", "webhook", {{"url", server_.http_base() + "/hook"}, {"secret", "s3cret"}}};
    auto ch = ChannelRegistry::instance().create(config, ChannelEnv{&loop_});
    EXPECT_TRUE(ch.is_ok()) << ch.status().to_string();
    channel_ = std::move(*ch);
  }
  ~WebhookChannelTest() override { channel_->close(); }

  SendResult send_and_wait() {
    Message m;
    m.notification_id = "accommodation.request:r1:staff:20270112T000000Z:r1";
    m.kind = "accommodation.request";
    m.channel = "staff";
    m.to = "access@example.org";
    m.subject = "Accommodation request";
    m.text = "Captions for r1";
    std::optional<SendResult> result;
    channel_->send(m, [&](SendResult r) { result = std::move(r); });
    EXPECT_FALSE(result.has_value());
    EXPECT_TRUE(run_until(&loop_, [&] { return result.has_value(); }));
    return result.value_or(SendResult::transient("none"));
  }

  LoopbackServer server_;
  std::unique_ptr<Channel> channel_;
};

TEST_F(WebhookChannelTest, PostsSignedJson) {
  SendResult r = send_and_wait();
  ASSERT_EQ(r.kind, SendResult::Kind::kSent) << r.reason;
  ASSERT_EQ(server_.requests.size(), 1u);
  const HttpRequest& req = server_.requests[0];
  EXPECT_EQ(req.path, "/hook");
  EXPECT_EQ(req.headers.at("content-type"), "application/json");
  nlohmann::json body = nlohmann::json::parse(req.body);
  EXPECT_EQ(body["notification_id"], "accommodation.request:r1:staff:20270112T000000Z:r1");
  EXPECT_EQ(body["kind"], "accommodation.request");
  EXPECT_EQ(body["channel"], "staff");
  EXPECT_EQ(body["to"], "access@example.org");
  EXPECT_EQ(body["subject"], "Accommodation request");
  EXPECT_EQ(body["text"], "Captions for r1");
  // The receiver's check: t=<seconds>,v1=HMAC(secret, "<t>.<raw body>").
  const std::string& sig = req.headers.at("nudged-signature");
  ASSERT_EQ(sig.rfind("t=", 0), 0u);
  std::string t = sig.substr(2, sig.find(',') - 2);
  EXPECT_EQ(sig, nudged_signature("s3cret", std::stoll(t), req.body));
  EXPECT_NEAR(std::stoll(t), std::time(nullptr), 5);
}

TEST_F(WebhookChannelTest, StatusClasses) {
  server_.respond = [](const HttpRequest&) { return HttpResponse{204, "", {}}; };
  EXPECT_EQ(send_and_wait().kind, SendResult::Kind::kSent);
  server_.respond = [](const HttpRequest&) { return HttpResponse{429, "", {"Retry-After: 30"}}; };
  SendResult r = send_and_wait();
  EXPECT_EQ(r.kind, SendResult::Kind::kTransient);
  EXPECT_EQ(r.retry_after.value_or(std::chrono::seconds(0)).count(), 30);
  server_.respond = [](const HttpRequest&) { return HttpResponse{502, "", {}}; };
  EXPECT_EQ(send_and_wait().kind, SendResult::Kind::kTransient);
  server_.respond = [](const HttpRequest&) { return HttpResponse{400, "", {}}; };
  r = send_and_wait();
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(r.reason, "webhook: HTTP 400");
  // The endpoint refusing us as a whole (signature, URL): the operator's to fix, so retried.
  for (int status : {401, 403, 404}) {
    server_.respond = [status](const HttpRequest&) { return HttpResponse{status, "", {}}; };
    r = send_and_wait();
    EXPECT_EQ(r.kind, SendResult::Kind::kTransient) << status;
    EXPECT_TRUE(r.account_level) << status;
  }
}

// Only the status and curl's kind of failure are recorded: the receiver's answer, and curl's
// own message (which can quote the server), may say anything.
TEST_F(WebhookChannelTest, FailuresAreRecordedAsStatusOrKindOnly) {
  server_.respond = [](const HttpRequest&) {
    return HttpResponse{400, R"({"error":"no staff inbox for Gina Bounce, +1 415 555 0143"})", {}};
  };
  SendResult r = send_and_wait();
  EXPECT_EQ(r.reason, "webhook: HTTP 400");

  // Nothing listens on port 1 of the loopback address.
  ChannelConfig config{"staff", "webhook", {{"url", "http://127.0.0.1:1/hook"}, {"secret", "s"}}};
  auto ch = ChannelRegistry::instance().create(config, ChannelEnv{&loop_});
  ASSERT_TRUE(ch.is_ok()) << ch.status().to_string();
  channel_->close();
  channel_ = std::move(*ch);
  r = send_and_wait();
  EXPECT_EQ(r.kind, SendResult::Kind::kTransient);
  EXPECT_EQ(r.reason, "webhook: could not connect to the server (curl error 7)");
}

}  // namespace
}  // namespace nudged
