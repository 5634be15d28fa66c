#include "channels/signature.h"

#include <gtest/gtest.h>

namespace nudged {
namespace {

TEST(Signature, HmacSha256MatchesRfc4231) {
  // RFC 4231 test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Signature, HeaderSignsTimestampDotBody) {
  std::string body = R"({"a":1})";
  std::string header = nudged_signature("s3cret", 1700000000, body);
  EXPECT_EQ(header,
            "t=1700000000,v1=" + hmac_sha256_hex("s3cret", std::string("1700000000.") + body));
  EXPECT_NE(nudged_signature("s3cret", 1700000001, body), header);
  EXPECT_NE(nudged_signature("other", 1700000000, body), header);
}

}  // namespace
}  // namespace nudged
