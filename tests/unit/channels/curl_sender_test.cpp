#include "channels/curl_sender.h"

#include <gtest/gtest.h>

namespace nudged {
namespace {

TEST(CurlSender, RetryAfterSecondsAndDates) {
  EXPECT_EQ(parse_retry_after(" 120 ", 0)->count(), 120);
  // Wed, 21 Oct 2015 07:28:00 GMT = 1445412480
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 30)->count(), 30);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 + 30)->count(), 0);
  EXPECT_FALSE(parse_retry_after("soon", 0).has_value());
  EXPECT_FALSE(parse_retry_after("", 0).has_value());
}

TEST(CurlSender, HttpStatusClasses) {
  EXPECT_EQ(classify_http(CURLE_OK, 201), HttpClass::kSent);
  EXPECT_EQ(classify_http(CURLE_OK, 429), HttpClass::kTransient);
  EXPECT_EQ(classify_http(CURLE_OK, 500), HttpClass::kTransient);
  EXPECT_EQ(classify_http(CURLE_OK, 503), HttpClass::kTransient);
  EXPECT_EQ(classify_http(CURLE_OK, 400), HttpClass::kPermanent);
  EXPECT_EQ(classify_http(CURLE_OK, 401), HttpClass::kPermanent);
  EXPECT_EQ(classify_http(CURLE_COULDNT_CONNECT, 0), HttpClass::kTransient);
  EXPECT_EQ(classify_http(CURLE_OPERATION_TIMEDOUT, 0), HttpClass::kTransient);
}

TEST(CurlSender, SettingsFromTheChannelTable) {
  Result<CurlSettings> s =
      curl_settings(ChannelConfig{"x", "webhook", {{"timeout", "5s"}, {"ca_file", "/ca.pem"}}});
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ(s->timeout.count(), 5000);
  EXPECT_EQ(s->connect_timeout.count(), 5000);
  EXPECT_EQ(s->ca_file, "/ca.pem");
  EXPECT_FALSE(curl_settings(ChannelConfig{"x", "webhook", {{"timeout", "1d"}}}).is_ok());
}

}  // namespace
}  // namespace nudged
