#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "channels/channel.h"
#include "tests/unit/channels/loop_helpers.h"
#include "tests/unit/channels/loopback_server.h"

namespace nudged {
namespace {

using testing::LoopbackServer;
using testing::run_until;

class SmtpChannelTest : public testing::LoopTest {
 protected:
  SmtpChannelTest() : thread_(LoopbackServer::Protocol::kSmtp), server_(thread_.server()) {
    ChannelConfig config{"email",
                         "smtp",
                         {{"url", server_.smtp_url()},
                          {"from", "Peer Support <meetings@example.org>"},
                          {"tls", "none"},
                          {"timeout", "3s"}}};
    auto ch = ChannelRegistry::instance().create(config, ChannelEnv{&loop_});
    EXPECT_TRUE(ch.is_ok()) << ch.status().to_string();
    channel_ = std::move(*ch);
  }
  ~SmtpChannelTest() override { channel_->close(); }

  static Message email() {
    Message m;
    m.notification_id = "registration.confirmation:r1:email:20270112T000000Z:r1";
    m.kind = "registration.confirmation";
    m.channel = "email";
    m.to = "riley@example.org";
    m.subject = "Réunion confirmée";
    m.text = "You are registered.\n";
    m.html = "<!doctype html><html lang=\"en\"><title>x</title><p>You are registered.</p></html>";
    m.headers = {{"List-Unsubscribe", "<https://r.example.org/v1/unsubscribe?token=p.1>"},
                 {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}};
    m.message_id_token = "0123456789abcdef0123456789abcdef";
    m.calendar = CalendarPart{"REQUEST", "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"};
    return m;
  }

  SendResult send_and_wait(const Message& m) {
    std::optional<SendResult> result;
    channel_->send(m, [&](SendResult r) { result = std::move(r); });
    EXPECT_FALSE(result.has_value());
    EXPECT_TRUE(run_until(&loop_, [&] { return result.has_value(); }));
    return result.value_or(SendResult::transient("none"));
  }

  // The server runs on a thread of its own: the smtp channel's curl thread waits for replies
  // with blocking waits (the end of DATA, QUIT) that must not depend on the test's loop.
  testing::LoopbackThread thread_;
  LoopbackServer& server_;
  std::unique_ptr<Channel> channel_;
};

TEST_F(SmtpChannelTest, SendsAMultipartAlternativeWithCalendarAndHeaders) {
  SendResult r = send_and_wait(email());
  ASSERT_EQ(r.kind, SendResult::Kind::kSent) << r.reason;
  std::lock_guard<std::mutex> lock(server_.mutex);
  ASSERT_EQ(server_.messages.size(), 1u);
  ASSERT_EQ(server_.rcpts.size(), 1u);
  EXPECT_EQ(server_.rcpts[0], "RCPT TO:<riley@example.org>");
  const std::string& msg = server_.messages[0];
  for (const char* header :
       {"From: Peer Support <meetings@example.org>\r\n", "To: <riley@example.org>\r\n",
        "Subject: =?UTF-8?B?UsOpdW5pb24gY29uZmlybcOpZQ==?=\r\n",
        "List-Unsubscribe: <https://r.example.org/v1/unsubscribe?token=p.1>\r\n",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        "\r\nDate: ", "\r\nMessage-ID: <0123456789abcdef0123456789abcdef@example.org>\r\n",
        "Content-Type: multipart/mixed", "Content-Type: multipart/alternative",
        "Content-Type: text/plain; charset=utf-8", "Content-Type: text/html; charset=utf-8",
        "Content-Type: text/calendar; charset=utf-8; method=REQUEST",
        "Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: quoted-printable",
        // base64 of the calendar text
        "QkVHSU46VkNBTEVOREFSDQpNRVRIT0Q6UkVRVUVTVA0KRU5EOlZDQUxFTkRBUg0K"}) {
    EXPECT_NE(msg.find(header), std::string::npos) << header << "\n" << msg;
  }
  // Parts in order: plain text, then HTML, then the calendar.
  EXPECT_LT(msg.find("text/plain"), msg.find("text/html"));
  EXPECT_LT(msg.find("text/html"), msg.find("text/calendar"));
}

// The Message-ID is compose's keyed token; without one the channel makes none of its own (a
// hash of the notification id under a public key would let anyone test guessed session ids).
TEST_F(SmtpChannelTest, WithoutATokenThereIsNoMessageIdOfOurs) {
  Message m = email();
  m.message_id_token.clear();
  ASSERT_EQ(send_and_wait(m).kind, SendResult::Kind::kSent);
  std::lock_guard<std::mutex> lock(server_.mutex);
  ASSERT_EQ(server_.messages.size(), 1u);
  EXPECT_EQ(server_.messages[0].find("Message-ID:"), std::string::npos) << server_.messages[0];
}

// A line of "." in the text would end the DATA early: curl dot-stuffs what its MIME encoder
// produces, and the text arrives whole, quoted-printable, inside both multiparts, which close
// in order at the end of the message.
TEST_F(SmtpChannelTest, LinesOfTheTextThatStartWithADotArriveWhole) {
  Message m = email();
  m.text = "First line\n.\n.second\nCaf\xc3\xa9 =\nlast\n";
  ASSERT_EQ(send_and_wait(m).kind, SendResult::Kind::kSent);
  std::lock_guard<std::mutex> lock(server_.mutex);
  ASSERT_EQ(server_.messages.size(), 1u);
  const std::string& msg = server_.messages[0];
  EXPECT_NE(msg.find("\r\n\r\nFirst line\r\n.\r\n.second\r\nCaf=C3=A9 =3D\r\nlast\r\n"),
            std::string::npos)
      << msg;
  auto boundary_of = [&](std::string_view type) {
    size_t at = msg.find("Content-Type: " + std::string(type) + "; boundary=");
    if (at == std::string::npos) return std::string();
    at = msg.find('=', at + 14 + type.size()) + 1;
    size_t end = msg.find("\r\n", at);
    std::string b = msg.substr(at, end - at);
    if (b.size() >= 2 && b.front() == '"') b = b.substr(1, b.size() - 2);
    return b;
  };
  const std::string mixed = boundary_of("multipart/mixed");
  const std::string alternative = boundary_of("multipart/alternative");
  ASSERT_FALSE(mixed.empty()) << msg;
  ASSERT_FALSE(alternative.empty()) << msg;
  size_t alternative_end = msg.find("\r\n--" + alternative + "--\r\n");
  size_t mixed_end = msg.find("\r\n--" + mixed + "--\r\n");
  ASSERT_NE(alternative_end, std::string::npos) << msg;
  ASSERT_NE(mixed_end, std::string::npos) << msg;
  EXPECT_LT(alternative_end, mixed_end);
  EXPECT_EQ(mixed_end + mixed.size() + 8, msg.size());
}

TEST_F(SmtpChannelTest, ConnectionIsReusedForTheNextMessage) {
  ASSERT_EQ(send_and_wait(email()).kind, SendResult::Kind::kSent);
  ASSERT_EQ(send_and_wait(email()).kind, SendResult::Kind::kSent);
  std::lock_guard<std::mutex> lock(server_.mutex);
  EXPECT_EQ(server_.messages.size(), 2u);
  EXPECT_EQ(server_.connections, 1);
}

TEST_F(SmtpChannelTest, PermanentRejectionKeepsTheCodesButNotTheServersWords) {
  server_.rcpt_reply = "550 5.1.1 <riley@example.org>: Recipient address rejected";
  SendResult r = send_and_wait(email());
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_FALSE(r.account_level);
  EXPECT_EQ(r.reason, "smtp: 550, 5.1.1: the mailbox does not exist");
}

// A refusal naming the person, their number and their address: what is recorded (the event's
// `error`, kept forever, and the log) has the codes and none of that.
TEST_F(SmtpChannelTest, ARefusalQuotingThePersonRecordsOnlyTheCodes) {
  server_.rcpt_reply =
      "552 5.2.2 mailbox for Gina Bounce <gina.bounce@example.org> (+1 415 555 0143) is full";
  SendResult r = send_and_wait(email());
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(r.reason, "smtp: 552, 5.2.2: the mailbox is full");
  for (const char* personal : {"Gina", "Bounce", "gina", "example.org", "415", "555", "0143"}) {
    EXPECT_EQ(r.reason.find(personal), std::string::npos) << personal << " in " << r.reason;
  }
}

// What the server refuses before RCPT TO it refuses for every message: our credentials, our
// account, relaying, or everything for now. Permanent, these threw away every email owed, and
// none was resent after the fix (found by a probe of the daemon).
TEST_F(SmtpChannelTest, ARefusedGreetingIsTheServersNotTheRecipients) {
  server_.greeting = "554 5.3.2 Service temporarily unavailable";
  SendResult r = send_and_wait(email());
  EXPECT_EQ(r.kind, SendResult::Kind::kTransient);
  EXPECT_TRUE(r.account_level);
  EXPECT_EQ(r.reason, "smtp: 554, 5.3.2: the mail system is not taking messages");
}

TEST_F(SmtpChannelTest, ARefusedSenderIsTheAccountsNotTheRecipients) {
  for (const char* reply :
       {"530 5.7.0 Authentication required",
        "553 5.1.8 <meetings@example.org>: Sender address rejected", "550 Sender not allowed"}) {
    {
      std::lock_guard<std::mutex> lock(server_.mutex);
      server_.mail_reply = reply;
    }
    SendResult r = send_and_wait(email());
    EXPECT_EQ(r.kind, SendResult::Kind::kTransient) << reply;
    EXPECT_TRUE(r.account_level) << reply;
  }
  std::lock_guard<std::mutex> lock(server_.mutex);
  EXPECT_TRUE(server_.rcpts.empty());
}

TEST_F(SmtpChannelTest, FailedAuthenticationIsTheAccounts) {
  server_.auth_reply = "535 5.7.8 Authentication credentials invalid";
  ChannelConfig config{"email",
                       "smtp",
                       {{"url", server_.smtp_url()},
                        {"from", "Peer Support <meetings@example.org>"},
                        {"username", "meetings"},
                        {"password", "wrong"},
                        {"tls", "none"},
                        {"timeout", "3s"}}};
  auto ch = ChannelRegistry::instance().create(config, ChannelEnv{&loop_});
  ASSERT_TRUE(ch.is_ok()) << ch.status().to_string();
  std::optional<SendResult> result;
  (*ch)->send(email(), [&](SendResult r) { result = std::move(r); });
  ASSERT_TRUE(run_until(&loop_, [&] { return result.has_value(); }));
  (*ch)->close();
  EXPECT_EQ(result->kind, SendResult::Kind::kTransient) << result->reason;
  EXPECT_TRUE(result->account_level);
}

// At RCPT TO and after, a refusal is this recipient's or this message's, unless it is about us
// all the same: authentication, policy (relaying denied), or a mail system refusing everything.
TEST_F(SmtpChannelTest, RecipientRefusalsArePermanentButNotThoseAboutTheSender) {
  struct Case {
    const char* rcpt;
    const char* end_of_data;
    bool account_level;
  };
  for (const Case& c : {
           Case{"550 5.1.1 <riley@example.org>: Recipient address rejected", "250 queued", false},
           Case{"550 no such user here", "250 queued", false},
           Case{"552 5.2.2 Mailbox full", "250 queued", false},
           Case{"554 5.7.1 <riley@example.org>: Relay access denied", "250 queued", true},
           Case{"530 Authentication required", "250 queued", true},
           Case{"550 5.3.2 System not accepting network messages", "250 queued", true},
           Case{"250 OK", "552 5.3.4 Message size exceeds fixed limit", false},
           Case{"250 OK", "554 5.6.0 Message content rejected", false},
           Case{"250 OK", "550 5.7.60 Client does not have permissions to send as this sender",
                true},
           // A policy against this recipient: not retried for weeks against a refusing host.
           Case{"550 5.7.1 <riley@example.org>: Recipient address rejected: blocked", "250 queued",
                false},
           Case{"250 OK", "554 5.7.1 Message rejected as spam", false},
           Case{"250 OK", "550 5.7.26 Unauthenticated email from example.org is not accepted",
                true},
       }) {
    {
      std::lock_guard<std::mutex> lock(server_.mutex);
      server_.rcpt_reply = c.rcpt;
      server_.data_end_reply = c.end_of_data;
    }
    SendResult r = send_and_wait(email());
    std::string what = std::string(c.rcpt) + " / " + c.end_of_data;
    EXPECT_EQ(r.kind, c.account_level ? SendResult::Kind::kTransient : SendResult::Kind::kPermanent)
        << what << ": " << r.reason;
    EXPECT_EQ(r.account_level, c.account_level) << what;
  }
}

// The stage of a refusal is counted from the start of each request: on a connection kept from
// the last message (no greeting, no EHLO) a refused RCPT TO is still the recipient's, and a
// refused MAIL FROM still the sender's.
TEST_F(SmtpChannelTest, TheStageOfARefusalIsRightOnAReusedConnection) {
  ASSERT_EQ(send_and_wait(email()).kind, SendResult::Kind::kSent);
  {
    std::lock_guard<std::mutex> lock(server_.mutex);
    server_.rcpt_reply = "550 5.1.1 no such user";
  }
  SendResult r = send_and_wait(email());
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent) << r.reason;
  {
    std::lock_guard<std::mutex> lock(server_.mutex);
    server_.rcpt_reply = "250 OK";
  }
  ASSERT_EQ(send_and_wait(email()).kind, SendResult::Kind::kSent);
  {
    std::lock_guard<std::mutex> lock(server_.mutex);
    server_.mail_reply = "550 5.7.1 sender rejected";
  }
  r = send_and_wait(email());
  EXPECT_EQ(r.kind, SendResult::Kind::kTransient) << r.reason;
  EXPECT_TRUE(r.account_level);
  std::lock_guard<std::mutex> lock(server_.mutex);
  EXPECT_EQ(server_.connections, 2);  // the refusal at RCPT closed the first one
}

TEST_F(SmtpChannelTest, TemporaryRejectionIsTransient) {
  server_.rcpt_reply = "451 4.3.0 try again later";
  SendResult r = send_and_wait(email());
  EXPECT_EQ(r.kind, SendResult::Kind::kTransient);
  EXPECT_EQ(r.reason, "smtp: 451, 4.3.0: a problem with the receiving mail system");
}

// libcurl waits for the reply to the end of DATA with a blocking wait; the smtp channel runs
// its transfers on a thread of their own so that the daemon's loop goes on meanwhile.
TEST_F(SmtpChannelTest, AServerSilentAfterDataNeverStallsTheLoop) {
  server_.hang_after_data = true;
  std::optional<SendResult> result;
  channel_->send(email(), [&](SendResult r) { result = std::move(r); });
  uv_timer_t ticker{};
  struct Ticks {
    uint64_t last = 0, max_gap = 0;
  } ticks{uv_now(&loop_), 0};
  uv_timer_init(&loop_, &ticker);
  ticker.data = &ticks;
  uv_timer_start(
      &ticker,
      [](uv_timer_t* t) {
        auto* k = static_cast<Ticks*>(t->data);
        uv_update_time(t->loop);
        k->max_gap = std::max(k->max_gap, uv_now(t->loop) - k->last);
        k->last = uv_now(t->loop);
      },
      10, 10);
  ASSERT_TRUE(run_until(&loop_, [&] {
    std::lock_guard<std::mutex> lock(server_.mutex);
    return server_.messages.size() == 1;
  }));
  testing::run_for(&loop_, 500);
  EXPECT_FALSE(result.has_value());
  EXPECT_LT(ticks.max_gap, 200u);
  uv_close(reinterpret_cast<uv_handle_t*>(&ticker), nullptr);
  uv_run(&loop_, UV_RUN_NOWAIT);  // the ticker lives on this stack: closed before we return
  channel_->close();              // fails the send in flight as transient, at once
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->kind, SendResult::Kind::kTransient);
}

TEST_F(SmtpChannelTest, ABadAddressFailsWithoutTalkingToTheServer) {
  Message m = email();
  m.to = "not an address";
  SendResult r = send_and_wait(m);
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  std::lock_guard<std::mutex> lock(server_.mutex);
  EXPECT_EQ(server_.connections, 0);
}

}  // namespace
}  // namespace nudged
