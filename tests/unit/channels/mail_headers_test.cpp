#include "channels/mail_headers.h"

#include <gtest/gtest.h>

namespace nudged {
namespace {

TEST(MailHeaders, AsciiSubjectsAreLeftAloneButCannotBreakTheHeader) {
  EXPECT_EQ(encode_header_text("Your meeting tomorrow"), "Your meeting tomorrow");
  EXPECT_EQ(encode_header_text("a\r\nBcc: x@example.org"), "a  Bcc: x@example.org");
}

TEST(MailHeaders, NonAsciiSubjectsAreRfc2047EncodedWords) {
  EXPECT_EQ(encode_header_text("Réunion"), "=?UTF-8?B?UsOpdW5pb24=?=");
  // Long ones are split into words of at most 75 characters, never inside a character.
  std::string subject;
  for (int i = 0; i < 40; ++i)
    subject += "é";
  std::string encoded = encode_header_text(subject + "!");
  size_t start = 0;
  int words = 0;
  while (start < encoded.size()) {
    size_t end = encoded.find("\r\n ", start);
    std::string word = encoded.substr(start, end == std::string::npos ? end : end - start);
    EXPECT_LE(word.size(), 75u) << word;
    EXPECT_EQ(word.substr(0, 10), "=?UTF-8?B?");
    ++words;
    start = end == std::string::npos ? encoded.size() : end + 3;
  }
  EXPECT_EQ(words, 2);  // 81 bytes: 44 (22 é) + 37
  EXPECT_EQ(encoded.substr(0, encoded.find("\r\n")),
            "=?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6k=?=");
}

TEST(MailHeaders, MailboxesAndAddresses) {
  EXPECT_EQ(address_of("Peer Support <meetings@example.org>"), "meetings@example.org");
  EXPECT_EQ(address_of(" meetings@example.org "), "meetings@example.org");
  EXPECT_EQ(encode_mailbox("Peer Support <meetings@example.org>"),
            "Peer Support <meetings@example.org>");
  EXPECT_EQ(encode_mailbox("Équipe <e@example.org>"), "=?UTF-8?B?w4lxdWlwZQ==?= <e@example.org>");
}

TEST(MailHeaders, DateAndMessageId) {
  EXPECT_EQ(rfc5322_date(1795000000), "Wed, 18 Nov 2026 11:06:40 +0000");
  // The token is compose's keyed hash (daemon/link_token.h: message_id_token); here it is only
  // wrapped, at the sender's domain.
  EXPECT_EQ(message_id("0123456789abcdef0123456789abcdef", "example.org"),
            "<0123456789abcdef0123456789abcdef@example.org>");
  EXPECT_EQ(message_id("", "example.org"), "");  // no token, no Message-ID of ours
}

}  // namespace
}  // namespace nudged
