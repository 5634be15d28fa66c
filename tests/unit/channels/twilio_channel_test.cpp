#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "channels/channel.h"
#include "channels/sms_text.h"
#include "tests/unit/channels/loop_helpers.h"
#include "tests/unit/channels/loopback_server.h"

namespace nudged {
namespace {

using testing::HttpRequest;
using testing::HttpResponse;
using testing::LoopbackServer;
using testing::run_until;

class TwilioChannelTest : public testing::LoopTest {
 protected:
  TwilioChannelTest() : server_(&loop_, LoopbackServer::Protocol::kHttp) {
    ChannelConfig config{"sms",
                         "twilio",
                         {{"api_base", server_.http_base()},
                          {"account_sid", "AC123"},
                          {"auth_token", "tok"},
                          {"from", "+15005550006"},
                          {"timeout", "2s"}}};
    auto ch = ChannelRegistry::instance().create(config, ChannelEnv{&loop_});
    EXPECT_TRUE(ch.is_ok()) << ch.status().to_string();
    channel_ = std::move(*ch);
  }
  ~TwilioChannelTest() override { channel_->close(); }

  Message sms(const std::string& to, const std::string& text = "See you at 7:00 PM") {
    Message m;
    m.notification_id = "session.reminder:r1:sms:20270112T000000Z:r1";
    m.kind = "session.reminder";
    m.channel = "sms";
    m.to = to;
    m.text = text;
    return m;
  }

  SendResult send_and_wait(const Message& m) {
    std::optional<SendResult> result;
    bool inside = true;
    channel_->send(m, [&](SendResult r) {
      EXPECT_FALSE(inside) << "done ran inside send()";
      result = std::move(r);
    });
    inside = false;
    EXPECT_TRUE(run_until(&loop_, [&] { return result.has_value(); }));
    return result.value_or(SendResult::transient("no result"));
  }

  LoopbackServer server_;
  std::unique_ptr<Channel> channel_;
};

// Decodes application/x-www-form-urlencoded.
std::map<std::string, std::string> form(const std::string& body) {
  std::map<std::string, std::string> out;
  auto decode = [](const std::string& s) {
    std::string o;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        o.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        o.push_back(s[i] == '+' ? ' ' : s[i]);
      }
    }
    return o;
  };
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    std::string pair = body.substr(pos, amp == std::string::npos ? amp : amp - pos);
    size_t eq = pair.find('=');
    out[decode(pair.substr(0, eq))] = decode(pair.substr(eq + 1));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

TEST_F(TwilioChannelTest, PostsTheMessagesResourceWithBasicAuthAndForm) {
  server_.respond = [](const HttpRequest&) {
    return HttpResponse{201, R"({"sid":"SM0123","status":"queued"})", {}};
  };
  SendResult r = send_and_wait(sms("+1 (415) 555-0142", "Hi & bye, café 🙂"));
  ASSERT_EQ(r.kind, SendResult::Kind::kSent) << r.reason;
  EXPECT_EQ(r.provider_id, "SM0123");
  ASSERT_EQ(server_.requests.size(), 1u);
  const HttpRequest& req = server_.requests[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/2010-04-01/Accounts/AC123/Messages.json");
  EXPECT_EQ(req.headers.at("authorization"), "Basic QUMxMjM6dG9r");  // AC123:tok
  EXPECT_EQ(req.headers.at("content-type"), "application/x-www-form-urlencoded");
  auto fields = form(req.body);
  EXPECT_EQ(fields.at("To"), "+14155550142");  // normalised to E.164
  EXPECT_EQ(fields.at("From"), "+15005550006");
  EXPECT_EQ(fields.at("Body"), "Hi & bye, café 🙂");
  EXPECT_EQ(fields.count("MessagingServiceSid"), 0u);
}

TEST_F(TwilioChannelTest, LongBodiesAreCutToTwoSegments) {
  std::string text;
  for (int i = 0; i < 100; ++i)
    text += "reminder ";
  SendResult r = send_and_wait(sms("+14155550142", text));
  ASSERT_EQ(r.kind, SendResult::Kind::kSent);
  std::string body = form(server_.requests.at(0).body).at("Body");
  EXPECT_EQ(sms_size(body).segments, 2);
  EXPECT_EQ(body.substr(body.size() - 3), "...");
}

TEST_F(TwilioChannelTest, TooManyRequestsIsTransientWithRetryAfter) {
  server_.respond = [](const HttpRequest&) {
    return HttpResponse{429, R"({"code":20429})", {"Retry-After: 7"}};
  };
  SendResult r = send_and_wait(sms("+14155550142"));
  EXPECT_EQ(r.kind, SendResult::Kind::kTransient);
  ASSERT_TRUE(r.retry_after.has_value());
  EXPECT_EQ(r.retry_after->count(), 7);
}

TEST_F(TwilioChannelTest, ServerErrorsAreTransient) {
  server_.respond = [](const HttpRequest&) { return HttpResponse{503, "", {}}; };
  SendResult r = send_and_wait(sms("+14155550142"));
  EXPECT_EQ(r.kind, SendResult::Kind::kTransient);
  EXPECT_EQ(r.reason, "twilio: HTTP 503: Twilio had a problem on its side");
}

TEST_F(TwilioChannelTest, ClientErrorsArePermanentWithTheCodeAndNoNumber) {
  server_.respond = [](const HttpRequest&) {
    return HttpResponse{400,
                        R"({"code":21211,"message":"The 'To' number +1 415 555 0142 is not a )"
                        R"(valid phone number (Gina Bounce, gina@example.org)."})",
                        {}};
  };
  SendResult r = send_and_wait(sms("+14155550142"));
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(r.reason, "twilio: HTTP 400, error 21211: the phone number is not valid");
  for (const char* personal : {"Gina", "gina", "example.org", "415", "555", "0142"}) {
    EXPECT_EQ(r.reason.find(personal), std::string::npos) << personal << " in " << r.reason;
  }
  EXPECT_FALSE(r.opted_out_address.has_value());
}

// Refusals of the account, not of the recipient: every text would fail alike, and each goes
// out once the operator has fixed the token, the account SID, the sender or the account's
// settings. Permanent, they threw away every text owed (found by a probe of the daemon).
TEST_F(TwilioChannelTest, AccountRefusalsAreTransientAndMarkedAsTheAccounts) {
  struct Case {
    int status;
    const char* body;
    const char* reason;
  };
  for (const Case& c : {
           Case{401, R"({"code":20003,"message":"Authenticate","status":401})",
                "twilio: HTTP 401, error 20003: Twilio did not accept our login"},
           Case{403, R"({"code":20003,"message":"Permission Denied","status":403})",
                "twilio: HTTP 403, error 20003: Twilio did not accept our login"},
           Case{404, R"({"code":20404,"message":"The requested resource was not found"})",
                "twilio: HTTP 404, error 20404: Twilio could not find our account"},
           Case{401, "", "twilio: HTTP 401: Twilio did not accept our login"},
           Case{400, R"({"code":21611,"message":"This 'From' number has exceeded the queue"})",
                "twilio: HTTP 400, error 21611: our sending number has too many texts waiting"},
           Case{400, R"({"code":21606,"message":"The 'From' phone number is not valid"})",
                "twilio: HTTP 400, error 21606: our sending number cannot send texts"},
           Case{400, R"({"code":21408,"message":"Permission to send an SMS has not been enabled"})",
                "twilio: HTTP 400, error 21408: the account is not allowed to text this country or "
                "region"},
           Case{400, R"({"code":21608,"message":"The number +14155550142 is unverified"})",
                "twilio: HTTP 400, error 21608: a trial account can only text numbers it has "
                "checked"},
           Case{400, R"({"code":20005,"message":"Account not active"})",
                "twilio: HTTP 400, error 20005: the Twilio account is not active"},
       }) {
    server_.respond = [&](const HttpRequest&) { return HttpResponse{c.status, c.body, {}}; };
    SendResult r = send_and_wait(sms("+14155550142"));
    EXPECT_EQ(r.kind, SendResult::Kind::kTransient) << c.reason;
    EXPECT_TRUE(r.account_level) << c.reason;
    EXPECT_EQ(r.reason, c.reason);
    EXPECT_FALSE(r.opted_out_address.has_value());
  }
}

// About this recipient or this message: no retry helps.
TEST_F(TwilioChannelTest, RecipientRefusalsStayPermanent) {
  for (int code : {21211, 21610, 21612, 21614, 21617}) {
    server_.respond = [&](const HttpRequest&) {
      return HttpResponse{400, R"({"code":)" + std::to_string(code) + "}", {}};
    };
    SendResult r = send_and_wait(sms("+14155550142"));
    EXPECT_EQ(r.kind, SendResult::Kind::kPermanent) << code;
    EXPECT_FALSE(r.account_level) << code;
  }
}

TEST_F(TwilioChannelTest, ServerErrorsAreNotMarkedAsTheAccounts) {
  server_.respond = [](const HttpRequest&) { return HttpResponse{500, R"({"code":20500})", {}}; };
  SendResult r = send_and_wait(sms("+14155550142"));
  EXPECT_EQ(r.kind, SendResult::Kind::kTransient);
  EXPECT_FALSE(r.account_level);
}

TEST_F(TwilioChannelTest, UnsubscribedRecipientIsReportedAsOptedOut) {
  server_.respond = [](const HttpRequest&) {
    return HttpResponse{400, R"({"code":21610,"message":"Attempt to send to unsubscribed"})", {}};
  };
  SendResult r = send_and_wait(sms("+1 415 555 0142"));
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  ASSERT_TRUE(r.opted_out_address.has_value());
  EXPECT_EQ(*r.opted_out_address, "+14155550142");
}

TEST_F(TwilioChannelTest, InvalidNumbersFailForGoodWithoutARequest) {
  SendResult r = send_and_wait(sms("12"));
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_TRUE(server_.requests.empty());
  EXPECT_EQ(r.reason.find("12"), std::string::npos);
}

TEST_F(TwilioChannelTest, AHungProviderTimesOutAsTransient) {
  server_.respond = [](const HttpRequest&) { return HttpResponse{200, "", {}, true}; };
  SendResult r = send_and_wait(sms("+14155550142"));
  EXPECT_EQ(r.kind, SendResult::Kind::kTransient);
  EXPECT_EQ(r.reason, "twilio: timeout: the server did not answer in time (curl error 28)");
}

TEST_F(TwilioChannelTest, CloseFailsInFlightSendsAsTransientAndNothingRunsAfter) {
  server_.respond = [](const HttpRequest&) { return HttpResponse{200, "", {}, true}; };
  int calls = 0;
  std::optional<SendResult> result;
  channel_->send(sms("+14155550142"), [&](SendResult r) {
    ++calls;
    result = std::move(r);
  });
  channel_->send(sms("nonsense"), [&](SendResult) { ++calls; });  // a deferred failure
  ASSERT_TRUE(run_until(&loop_, [&] { return !server_.requests.empty(); }));
  EXPECT_EQ(calls, 1);  // the bad number was delivered; the hung one waits
  channel_->close();
  EXPECT_EQ(calls, 2);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->kind, SendResult::Kind::kTransient);
  channel_->send(sms("+14155550142"), [&](SendResult) { ++calls; });
  testing::run_for(&loop_, 50);
  EXPECT_EQ(calls, 2);
}

TEST_F(TwilioChannelTest, MessagingServiceSidReplacesFrom) {
  ChannelConfig config{"sms",
                       "twilio",
                       {{"api_base", server_.http_base() + "/"},
                        {"account_sid", "AC9"},
                        {"auth_token", "t"},
                        {"messaging_service_sid", "MG42"}}};
  auto ch = ChannelRegistry::instance().create(config, ChannelEnv{&loop_});
  ASSERT_TRUE(ch.is_ok());
  std::optional<SendResult> result;
  (*ch)->send(sms("+14155550142"), [&](SendResult r) { result = std::move(r); });
  ASSERT_TRUE(run_until(&loop_, [&] { return result.has_value(); }));
  auto fields = form(server_.requests.at(0).body);
  EXPECT_EQ(fields.at("MessagingServiceSid"), "MG42");
  EXPECT_EQ(fields.count("From"), 0u);
  EXPECT_EQ(server_.requests[0].path, "/2010-04-01/Accounts/AC9/Messages.json");
  (*ch)->close();
}

}  // namespace
}  // namespace nudged
