#include "channels/sms_text.h"

#include <gtest/gtest.h>

#include <string>

namespace nudged {
namespace {

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += s;
  return out;
}

TEST(SmsSize, Gsm7SingleAndMultipartLimits) {
  EXPECT_EQ(sms_size("").segments, 0);
  EXPECT_EQ(sms_size(repeat("a", 160)).segments, 1);
  EXPECT_TRUE(sms_size(repeat("a", 160)).gsm7);
  EXPECT_EQ(sms_size(repeat("a", 161)).segments, 2);
  EXPECT_EQ(sms_size(repeat("a", 306)).segments, 2);  // 2 x 153
  EXPECT_EQ(sms_size(repeat("a", 307)).segments, 3);
}

// Plain ASCII is sized arithmetically, anything else character by character: the two agree.
TEST(SmsSize, PlainAsciiAndCharacterByCharacterSizingAgree) {
  for (int n = 1; n <= 400; ++n) {
    SmsSize plain = sms_size(repeat("a", n));
    SmsSize general = sms_size(repeat("a", n - 1) + "\xc3\xa9");  // é: one septet, not ASCII
    EXPECT_EQ(plain.segments, general.segments) << n;
    EXPECT_EQ(plain.units, general.units) << n;
    EXPECT_TRUE(general.gsm7);
  }
}

TEST(SmsSize, AccentedLettersInTheGsmAlphabetStayGsm7) {
  SmsSize s = sms_size("Café à Zürich, Ñoño! ¿Qué? £5 @ 19:00");
  EXPECT_TRUE(s.gsm7);
  EXPECT_EQ(s.units, 37);
  EXPECT_FALSE(sms_size("Sí").gsm7);  // í is not in the alphabet (ì is)
}

TEST(SmsSize, ExtendedCharactersCountTwo) {
  SmsSize s = sms_size("{price} [€5] ~ok|^\\");
  EXPECT_TRUE(s.gsm7);
  EXPECT_EQ(s.units, 19 + 9);  // 19 characters, 9 of them from the extension table
  EXPECT_EQ(sms_size(repeat("€", 80)).segments, 1);  // 160 septets
  EXPECT_EQ(sms_size(repeat("€", 81)).segments, 2);
  // An escape pair is never split: 152 'a' then '€' cannot share the first segment's last
  // septet.
  EXPECT_EQ(sms_size(repeat("a", 152) + "€" + repeat("a", 152)).segments, 3);
  EXPECT_EQ(sms_size(repeat("a", 151) + "€" + repeat("a", 153)).segments, 2);
}

TEST(SmsSize, AnyOtherCharacterMakesItUcs2) {
  SmsSize s = sms_size("Hello “quoted” friend");
  EXPECT_FALSE(s.gsm7);
  EXPECT_EQ(s.units, 21);
  EXPECT_EQ(sms_size(repeat("ç", 70)).segments, 1);  // ç (lower case) is not GSM-7
  EXPECT_FALSE(sms_size("ç").gsm7);
  EXPECT_EQ(sms_size(repeat("ç", 71)).segments, 2);
  EXPECT_EQ(sms_size(repeat("ç", 134)).segments, 2);  // 2 x 67
  EXPECT_EQ(sms_size(repeat("ç", 135)).segments, 3);
}

TEST(SmsSize, CharactersOutsideTheBmpTakeTwoUnits) {
  SmsSize s = sms_size("Hi 🙂");
  EXPECT_FALSE(s.gsm7);
  EXPECT_EQ(s.units, 5);
  EXPECT_EQ(sms_size(repeat("🙂", 35)).segments, 1);
  EXPECT_EQ(sms_size(repeat("🙂", 36)).segments, 2);
}

TEST(FitSms, ShortBodiesAreUntouched) {
  std::string body = "Reminder: Peer support at 7:00 PM. Join: https://zoom.example.org/j/1";
  EXPECT_EQ(fit_sms(body, 2), body);
}

TEST(FitSms, LongGsmBodiesAreCutAtAWordWithThreeDots) {
  std::string body = repeat("word ", 100);  // 500 septets
  std::string cut = fit_sms(body, 2);
  EXPECT_LE(sms_size(cut).segments, 2);
  EXPECT_TRUE(sms_size(cut).gsm7);
  EXPECT_EQ(cut.substr(cut.size() - 7), "word...");
  EXPECT_GT(cut.size(), 290u);  // it uses the room it has
}

TEST(FitSms, LongUcs2BodiesKeepWholeCharactersAndUseAnEllipsis) {
  std::string body = repeat("naïve “ok” ", 30);
  std::string cut = fit_sms(body, 2);
  SmsSize s = sms_size(cut);
  EXPECT_FALSE(s.gsm7);
  EXPECT_LE(s.segments, 2);
  EXPECT_GE(s.units, 120);
  EXPECT_EQ(cut.substr(cut.size() - 3), "…");
  EXPECT_EQ(cut.find("  "), std::string::npos);
}

TEST(FitSms, OneLongWordIsCutMidWordRatherThanLost) {
  std::string body = repeat("x", 400);
  std::string cut = fit_sms(body, 1);
  EXPECT_EQ(cut, repeat("x", 157) + "...");
}

}  // namespace
}  // namespace nudged
