#include "channels/failure_text.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace nudged {
namespace {

// What a provider may write about the person: none of it may be recorded.
constexpr std::string_view kPersonal[] = {"Gina", "Bounce", "gina",   "example.org",
                                          "415",  "555",    "0143",   "Cardiology",
                                          "+1",   "(415)",  "bounce@"};

void expect_nothing_personal(const std::string& text) {
  for (std::string_view p : kPersonal) {
    EXPECT_EQ(text.find(p), std::string::npos) << "\"" << p << "\" in: " << text;
  }
}

TEST(FailureText, SmtpRefusalKeepsTheCodesAndOurWordsOnly) {
  std::string full = smtp_failure_text(
      "552 5.2.2 mailbox for Gina Bounce <gina.bounce@example.org> (+1 (415) 555-0143, "
      "Cardiology) is full");
  EXPECT_EQ(full, "552, 5.2.2: the mailbox is full");
  expect_nothing_personal(full);

  std::string unknown =
      smtp_failure_text("550 5.1.1 <bounce@example.org>: Recipient address rejected: Gina Bounce");
  EXPECT_EQ(unknown, "550, 5.1.1: the mailbox does not exist");
  expect_nothing_personal(unknown);

  // A multiline reply's lines ("550-...") are read the same way.
  EXPECT_EQ(smtp_failure_text("550-5.1.1 Gina Bounce: no such user"),
            "550, 5.1.1: the mailbox does not exist");
}

TEST(FailureText, SmtpFallsBackToTheSubjectThenTheReplyCode) {
  // A detail we have no words for: the subject's.
  std::string subject = smtp_failure_text("550 5.2.9 Gina Bounce at +1 415 555 0143 is on leave");
  EXPECT_EQ(subject, "550, 5.2.9: a problem with the mailbox");
  expect_nothing_personal(subject);
  // No enhanced code: the reply code's words.
  std::string reply = smtp_failure_text("550 Gina Bounce <gina@example.org> unknown here");
  EXPECT_EQ(reply, "550: the mailbox is not available");
  expect_nothing_personal(reply);
  EXPECT_EQ(smtp_failure_text("451 try again later, Gina"),
            "451: the mail server had a problem and asks us to try later");
  // A reply code we do not list: its class.
  EXPECT_EQ(smtp_failure_text("459 Gina Bounce"), "459: the mail server asks us to try later");
  EXPECT_EQ(smtp_failure_text("559 Gina Bounce"), "559: the mail server refused the message");
  // Something like an enhanced code but not one (class differs from the reply's, too long):
  // left out, as free text.
  EXPECT_EQ(smtp_failure_text("550 4.1.1 Gina"), "550: the mailbox is not available");
  EXPECT_EQ(smtp_failure_text("550 5.1.14155550143 Gina"), "550: the mailbox is not available");
  EXPECT_EQ(smtp_failure_text("550"), "550: the mailbox is not available");
  // Not a refusal line at all.
  EXPECT_EQ(smtp_failure_text(""), "");
  EXPECT_EQ(smtp_failure_text("Gina Bounce is full"), "");
  EXPECT_EQ(smtp_failure_text("5501 Gina"), "");
}

TEST(FailureText, SmtpSenderSideCodesAreNamed) {
  EXPECT_EQ(smtp_failure_text("554 5.7.1 <gina@example.org>: Relay access denied"),
            "554, 5.7.1: the mail server will not pass our mail on (relaying denied)");
  EXPECT_EQ(smtp_failure_text("550 5.7.1 <gina@example.org>: Recipient blocked"),
            "550, 5.7.1: the receiving server's rules refused the message");
  EXPECT_EQ(smtp_failure_text("550 5.7.26 Unauthenticated email from example.org"),
            "550, 5.7.26: the message failed the sender checks (SPF, DKIM, DMARC)");
  EXPECT_EQ(smtp_failure_text("535 5.7.8 Authentication credentials invalid"),
            "535, 5.7.8: the mail server did not accept our login");
}

TEST(FailureText, CurlFailuresAreTheirKindAndCode) {
  EXPECT_EQ(curl_failure_text(CURLE_OPERATION_TIMEDOUT),
            "timeout: the server did not answer in time (curl error 28)");
  EXPECT_EQ(curl_failure_text(CURLE_COULDNT_CONNECT),
            "could not connect to the server (curl error 7)");
  EXPECT_EQ(curl_failure_text(CURLE_PEER_FAILED_VERIFICATION),
            "the secure connection (TLS) failed (curl error 60)");
  EXPECT_EQ(curl_failure_text(CURLE_RECV_ERROR), "the connection broke (curl error 56)");
  EXPECT_EQ(curl_failure_text(CURLE_FTP_WEIRD_PASS_REPLY), "the transfer failed (curl error 11)");
}

TEST(FailureText, TwilioIsTheStatusAndCodeWithOurWords) {
  EXPECT_EQ(twilio_failure_text(400, 21211),
            "HTTP 400, error 21211: the phone number is not valid");
  EXPECT_EQ(twilio_failure_text(400, 21614),
            "HTTP 400, error 21614: the number cannot get texts (not a mobile number)");
  EXPECT_EQ(twilio_failure_text(400, 21610),
            "HTTP 400, error 21610: the person has stopped texts from us (replied STOP)");
  EXPECT_EQ(twilio_failure_text(401, 20003),
            "HTTP 401, error 20003: Twilio did not accept our login");
  EXPECT_EQ(twilio_failure_text(404, 20404),
            "HTTP 404, error 20404: Twilio could not find our account");
  EXPECT_EQ(twilio_failure_text(400, 21611),
            "HTTP 400, error 21611: our sending number has too many texts waiting");
  // A code we do not know: the status's words.
  EXPECT_EQ(twilio_failure_text(400, 99999),
            "HTTP 400, error 99999: Twilio did not accept the request");
  EXPECT_EQ(twilio_failure_text(503, 0), "HTTP 503: Twilio had a problem on its side");
  EXPECT_EQ(twilio_failure_text(429, 0), "HTTP 429: too many requests to Twilio");
  EXPECT_EQ(twilio_failure_text(418, 0), "HTTP 418: Twilio refused the request");
}

}  // namespace
}  // namespace nudged
