// Tests of events/contact.h: email and phone normalisation, and the region of a locale.
#include "events/contact.h"

#include <gtest/gtest.h>

#include <string>

namespace nudged {
namespace {

std::string email_ok(std::string_view text) {
  Result<std::string> r = normalize_email(text);
  EXPECT_TRUE(r.is_ok()) << '"' << text << "\": " << r.status().to_string();
  return r.is_ok() ? *r : std::string();
}

std::string phone_ok(std::string_view text, std::string_view region) {
  Result<std::string> r = normalize_phone(text, region);
  EXPECT_TRUE(r.is_ok()) << '"' << text << "\" in \"" << region << "\": " << r.status().to_string();
  return r.is_ok() ? *r : std::string();
}

TEST(NormalizeEmail, AcceptsUsableMailboxes) {
  EXPECT_EQ(email_ok("sam@example.org"), "sam@example.org");
  EXPECT_EQ(email_ok("first.last+meetings@mail.example.co.uk"),
            "first.last+meetings@mail.example.co.uk");
  EXPECT_EQ(email_ok("o'brien_2@my-domain.example"), "o'brien_2@my-domain.example");
}

TEST(NormalizeEmail, LowerCasesTheDomainButNotTheLocalPart) {
  EXPECT_EQ(email_ok("Riley.Morgan@Example.ORG"), "Riley.Morgan@example.org");
}

TEST(NormalizeEmail, TrimsSurroundingWhitespace) {
  EXPECT_EQ(email_ok("  dana@example.net\t\n"), "dana@example.net");
}

TEST(NormalizeEmail, RejectsUnusableAddresses) {
  for (const char* text : {
           "",
           "   ",
           "dana.example.net",         // no @
           "@example.net",             // no local part
           "dana@",                    // no domain
           "da na@example.net",        // space in local part
           "dana@exa mple.net",        // space in domain
           "dana@example..net",        // double dot in domain
           "da..na@example.net",       // double dot in local part
           ".dana@example.net",        // leading dot
           "dana.@example.net",        // trailing dot in local part
           "dana@localhost",           // no dot in domain
           "dana@.example.net",        // empty first label
           "dana@example.net.",        // empty last label
           "dana@-example.net",        // label starts with a hyphen
           "dana@example-.net",        // label ends with a hyphen
           "dana@exa_mple.net",        // underscore in domain
           "dana@@example.net",        // two @
           "Dana <dana@example.net>",  // display name
           "dana,x@example.net",       // comma
           "dana\x01@example.net",     // control character
       }) {
    Result<std::string> r = normalize_email(text);
    EXPECT_FALSE(r.is_ok()) << '"' << text << "\" gave \"" << (r.is_ok() ? *r : "") << '"';
    if (!r.is_ok()) {
      EXPECT_EQ(r.status().code(), Code::kInvalidField);
      EXPECT_EQ(r.status().message(), "not a valid email address");
    }
  }
}

TEST(NormalizeEmail, RejectsOverlongParts) {
  EXPECT_EQ(email_ok(std::string(64, 'a') + "@example.org"), std::string(64, 'a') + "@example.org");
  EXPECT_FALSE(normalize_email(std::string(65, 'a') + "@example.org").is_ok());
  EXPECT_FALSE(normalize_email("a@" + std::string(64, 'b') + ".org").is_ok());  // 64-byte label
  EXPECT_FALSE(normalize_email("a@" + std::string(250, 'b') + ".org").is_ok());
}

TEST(NormalizePhone, InternationalNumberToE164) {
  EXPECT_EQ(phone_ok("+1 (201) 555-0123", ""), "+12015550123");
  EXPECT_EQ(phone_ok("+44 20 7946 0958", ""), "+442079460958");
  EXPECT_EQ(phone_ok("  +14155552671 ", ""), "+14155552671");
  // An explicit country code wins over the region.
  EXPECT_EQ(phone_ok("+44 20 7946 0958", "US"), "+442079460958");
}

TEST(NormalizePhone, NationalNumberIsReadInTheRegion) {
  EXPECT_EQ(phone_ok("(201) 555-0123", "US"), "+12015550123");
  EXPECT_EQ(phone_ok("201.555.0123", "US"), "+12015550123");
  EXPECT_EQ(phone_ok("020 7946 0958", "GB"), "+442079460958");
}

TEST(NormalizePhone, NationalNumberWithoutRegionAsksForTheCountryCode) {
  Result<std::string> r = normalize_phone("(201) 555-0123", "");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidField);
  EXPECT_NE(r.status().message().find("country code"), std::string::npos) << r.status().message();
}

TEST(NormalizePhone, InvalidInternationalNumberHasNoCountryCodeHint) {
  Result<std::string> r = normalize_phone("+1 000", "");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(), "not a valid phone number");
}

TEST(NormalizePhone, RejectsGarbage) {
  for (const char* text : {"", "   ", "hello", "call me", "+", "123", "+1 555", "+999 1234 5678"}) {
    EXPECT_FALSE(normalize_phone(text, "US").is_ok()) << '"' << text << '"';
    EXPECT_FALSE(normalize_phone(text, "").is_ok()) << '"' << text << '"';
  }
  EXPECT_FALSE(normalize_phone("+1 201 555 0123" + std::string(40, ' ') + "4", "").is_ok());
}

// A keypad reading of letters would text someone else: refused. An extension is not that
// (E.164 leaves it out): taken, without it. So is an RFC 3966 tel: URI.
TEST(NormalizePhone, RejectsLettersButTakesAnExtension) {
  for (const char* text : {"+44 7700 SECRET", "+1-800-FLOWERS", "+1 415 CALL 0142 x12",
                           "+1 415 555 0142 ext. twelve"}) {
    Result<std::string> r = normalize_phone(text, "");
    ASSERT_FALSE(r.is_ok()) << text << " -> " << *r;
    EXPECT_NE(r.status().message().find("digits"), std::string::npos) << r.status().message();
  }
  for (const char* text :
       {"+1 (415) 555-0142", "tel:+1-415-555-0142", "+1 415 555 0142 ext. 12", "+1 415 555 0142x12",
        "+1 415 555 0142 Extension 7", "+1 415 555 0142 #3"}) {
    Result<std::string> r = normalize_phone(text, "");
    ASSERT_TRUE(r.is_ok()) << text << ": " << r.status().to_string();
    EXPECT_EQ(*r, "+14155550142") << text;
  }
}

TEST(NormalizePhone, AcceptsNumbersReservedForExamples) {
  // Not in any assigned range, so libphonenumber calls them invalid; SPEC §2's example is one.
  EXPECT_EQ(phone_ok("+15555550100", ""), "+15555550100");
  EXPECT_EQ(phone_ok("+1 555 123 4567", ""), "+15551234567");
  EXPECT_EQ(phone_ok("(555) 555-0123", "US"), "+15555550123");
  EXPECT_EQ(phone_ok("+44 7700 900123", ""), "+447700900123");
}

TEST(NormalizePhone, RejectsANumberDiallableOnlyLocally) {
  // A subscriber number without its area code is "possible" only locally: it has no E.164 form.
  EXPECT_FALSE(normalize_phone("555 0100", "US").is_ok());
  EXPECT_FALSE(normalize_phone("+1 555 1234", "").is_ok());
}

TEST(NormalizePhone, RejectsANumberThatIsNotValidInItsRegion) {
  // A well-formed UK national number read as a US number is not a US number.
  EXPECT_FALSE(normalize_phone("020 7946 0958", "US").is_ok());
}

TEST(RegionOfLocale, RegionSubtag) {
  EXPECT_EQ(region_of_locale("en-GB"), "GB");
  EXPECT_EQ(region_of_locale("es_US"), "US");
  EXPECT_EQ(region_of_locale("en-us"), "US");
  EXPECT_EQ(region_of_locale("zh-Hant-TW"), "TW");
  EXPECT_EQ(region_of_locale("de-DE-u-co-phonebk"), "DE");
}

TEST(RegionOfLocale, NoRegion) {
  EXPECT_EQ(region_of_locale(""), "");
  EXPECT_EQ(region_of_locale("en"), "");
  EXPECT_EQ(region_of_locale("zh-Hant"), "");
  EXPECT_EQ(region_of_locale("es-419"), "");  // a UN M.49 area, not a country
  // The language subtag is never the region, even when it is two letters.
  EXPECT_EQ(region_of_locale("de"), "");
}

TEST(RegionOfLocale, ExtensionAndPrivateUseSubtagsAreNotRegions) {
  // "ca" here is the Unicode calendar key, not Canada; "co" the collation key, not Colombia.
  EXPECT_EQ(region_of_locale("ja-u-ca-japanese"), "");
  EXPECT_EQ(region_of_locale("de-u-co-phonebk"), "");
  EXPECT_EQ(region_of_locale("en-x-us"), "");
}

}  // namespace
}  // namespace nudged
