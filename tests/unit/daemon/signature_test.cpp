#include "daemon/signature.h"

#include <gtest/gtest.h>

namespace nudged {
namespace {

using std::chrono::seconds;

TEST(NudgedSignature, RoundTripsAndRefusesEveryKindOfBadHeader) {
  std::string body = R"({"a":1})";
  std::string header = nudged_signature("secret", 1000, body);
  EXPECT_TRUE(verify_nudged("secret", header, body, 1000, seconds(300)));
  EXPECT_TRUE(verify_nudged("secret", header, body, 1300, seconds(300)));
  EXPECT_FALSE(verify_nudged("secret", header, body, 1301, seconds(300)));  // stale
  EXPECT_FALSE(verify_nudged("secret", header, body, 699, seconds(300)));   // from the future
  EXPECT_FALSE(verify_nudged("other", header, body, 1000, seconds(300)));
  EXPECT_FALSE(verify_nudged("secret", header, body + " ", 1000, seconds(300)));
  EXPECT_FALSE(verify_nudged("secret", "", body, 1000, seconds(300)));
  EXPECT_FALSE(verify_nudged("secret", "t=abc,v1=00", body, 1000, seconds(300)));
  EXPECT_FALSE(verify_nudged("secret", "v1=00", body, 1000, seconds(300)));
  EXPECT_FALSE(verify_nudged("", header, body, 1000, seconds(300)));  // not configured
  // A key rotation: any one v1 may match; upper-case hex is fine.
  std::string mac = header.substr(header.find("v1=") + 3);
  for (char& c : mac)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(verify_nudged("secret", "t=1000, v1=deadbeef, v1=" + mac, body, 1000, seconds(5)));
}

TEST(NudgedSignature, MatchesAnIndependentlyComputedHmac) {
  // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231 style vector.
  EXPECT_EQ(hmac_sha256_hex("key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  EXPECT_EQ(nudged_signature("key", 5, "x"), "t=5,v1=" + hmac_sha256_hex("key", "5.x"));
}

TEST(ZoomSignature, ChecksTheV0SchemeAndTheTimestamp) {
  std::string body = R"({"event":"meeting.registration_created"})";
  std::string sig = "v0=" + hmac_sha256_hex("tok", "v0:1000:" + body);
  EXPECT_TRUE(verify_zoom("tok", sig, "1000", body, 1010, seconds(300)));
  EXPECT_FALSE(verify_zoom("tok", sig, "1000", body, 2000, seconds(300)));
  EXPECT_FALSE(verify_zoom("tok", sig, "1001", body, 1010, seconds(300)));
  EXPECT_FALSE(verify_zoom("tok", sig, "", body, 1010, seconds(300)));
  EXPECT_FALSE(verify_zoom("", sig, "1000", body, 1010, seconds(300)));
}

TEST(TwilioSignature, MatchesTwilioDocumentedExample) {
  // The shape of Twilio's documented example; the value computed independently with Python's
  // hmac and base64 modules from the algorithm Twilio describes.
  std::vector<std::pair<std::string, std::string>> params = {
      {"CallSid", "CA1234567890ABCDE"}, {"Caller", "+12349013030"}, {"Digits", "1234"},
      {"From", "+12349013030"},         {"To", "+18005551212"},
  };
  std::string url = "https://mycompany.com/myapp.php?foo=1&bar=2";
  EXPECT_EQ(twilio_signature("12345", url, params), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
  EXPECT_TRUE(verify_twilio("12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", url, params));
  EXPECT_FALSE(verify_twilio("12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", url + "&x=1", params));
  params[2].second = "4321";
  EXPECT_FALSE(verify_twilio("12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", url, params));
}

TEST(ConstantTime, ComparesContentAndLength) {
  EXPECT_TRUE(equal_in_constant_time("abc", "abc"));
  EXPECT_FALSE(equal_in_constant_time("abc", "abd"));
  EXPECT_FALSE(equal_in_constant_time("abc", "ab"));
}

}  // namespace
}  // namespace nudged

namespace nudged {
namespace {

TEST(SignatureLedger, RefusesASignatureOnAnotherPathUntilItIsStale) {
  SignatureLedger ledger;
  std::chrono::seconds tolerance(300);
  EXPECT_TRUE(ledger.admit("t=1,v1=aa", "/v1/registrations/r1/cancel", 1000, tolerance));
  EXPECT_TRUE(ledger.admit("t=1,v1=aa", "/v1/registrations/r1/cancel", 1001, tolerance));
  // Several cancels signed alike and sent together: admitted.
  EXPECT_TRUE(ledger.admit("t=1,v1=aa", "/v1/registrations/r3/cancel", 1002, tolerance));
  // Later on another path: a replay.
  EXPECT_FALSE(ledger.admit("t=1,v1=aa", "/v1/registrations/r2/cancel", 1003, tolerance));
  EXPECT_TRUE(ledger.admit("t=1,v1=aa", "/v1/registrations/r1/cancel", 1003, tolerance));
  EXPECT_TRUE(ledger.admit("t=1,v1=bb", "/v1/registrations/r2/cancel", 1002, tolerance));
  // Forgotten once no request could carry it any more (and pruned).
  EXPECT_TRUE(ledger.admit("t=1,v1=cc", "/x", 1000 + 700, tolerance));
  EXPECT_EQ(ledger.size(), 1u);
}

}  // namespace
}  // namespace nudged
