// Checking and normalising the addresses people give us: email addresses and phone numbers.
//
// A registration is refused at the door when its address cannot be used, rather than failing
// silently at send time a week later. Stateless functions; safe on any thread.
#pragma once

#include <string>
#include <string_view>

#include "events/status.h"

namespace nudged {

// Returns the address trimmed, with the domain lower-cased, when it is a usable mailbox
// ("local@domain.tld", no spaces or control characters, sane lengths).
Result<std::string> normalize_email(std::string_view text);

// Returns the number in E.164 ("+15555550100") when libphonenumber finds it valid. A number
// without a leading '+' is read in `region` (ISO 3166 alpha-2 such as "US"); with an empty
// region only international numbers are accepted.
Result<std::string> normalize_phone(std::string_view text, std::string_view region);

// The text with its ASCII letters lower-cased: what an address is however someone capitalised
// it. Participant ids and the second key of a blind index are both made from it, so the two
// agree on which spellings are one mailbox. (Beyond ASCII, case is a locale's business that no
// mail provider agrees on.)
std::string fold_case(std::string_view text);

// The region of a BCP 47 locale ("en-GB" -> "GB", "es_US" -> "US"), or "" when it names none.
std::string region_of_locale(std::string_view locale);

}  // namespace nudged
