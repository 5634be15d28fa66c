// Email header values for the smtp channel: RFC 2047 encoded words for non-ASCII text, the
// RFC 5322 Date, a stable Message-ID and the address inside "Name <address>". (What a refusal
// is recorded as: channels/failure_text.h.)
//
// Pure functions; any thread.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace nudged {

// The value as is when it is printable ASCII; otherwise RFC 2047 "=?UTF-8?B?...?=" words of at
// most 75 characters, never splitting a UTF-8 character, folded with CRLF SP. CR and LF in the
// input become spaces first: a value can never start a header of its own.
std::string encode_header_text(std::string_view utf8);

// "Name <address>" -> "address"; a bare address is returned trimmed.
std::string address_of(std::string_view mailbox);
// "Name <address>" with the name encoded when it is not ASCII.
std::string encode_mailbox(std::string_view mailbox);

// "Thu, 26 Nov 2026 13:10:11 +0000".
std::string rfc5322_date(std::time_t t);

// "<token@domain>", the token Message::message_id_token (a keyed hash of the notification id,
// made by compose): stable, so a repeated delivery of one notification (at-least-once) carries
// the same Message-ID and mail systems can tell it is a duplicate. "" for an empty token.
std::string message_id(std::string_view token, std::string_view domain);

}  // namespace nudged
