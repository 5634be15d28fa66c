#include "events/contact.h"

#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <cctype>

namespace nudged {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

bool domain_ok(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.find('.') == std::string_view::npos) return false;
  size_t label = 0;
  for (size_t i = 0; i <= d.size(); ++i) {
    if (i == d.size() || d[i] == '.') {
      if (label == 0 || label > 63) return false;
      if (d[i - 1] == '-' || d[i - label] == '-') return false;
      label = 0;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(d[i]);
    // Internationalised domains arrive as UTF-8; accept bytes >= 0x80 as letters.
    if (!(std::isalnum(c) || c == '-' || c >= 0x80)) return false;
    ++label;
  }
  return true;
}

}  // namespace

std::string fold_case(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

Result<std::string> normalize_email(std::string_view text) {
  std::string_view s = trim(text);
  size_t at = s.rfind('@');
  if (s.empty() || s.size() > 254 || at == std::string_view::npos || at == 0 || at > 64) {
    return Status::invalid("", "not a valid email address");
  }
  std::string_view local = s.substr(0, at);
  for (unsigned char c : local) {
    if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' ||
        c == ';' || c == ':' || c == '\\' || c == '"' || c == '[' || c == ']' || c == '@') {
      return Status::invalid("", "not a valid email address");
    }
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return Status::invalid("", "not a valid email address");
  }
  std::string domain = fold_case(s.substr(at + 1));
  if (!domain_ok(domain)) return Status::invalid("", "not a valid email address");
  return std::string(local) + "@" + domain;
}

namespace {

// "+1 415 555 0142 ext. 12" -> "+1 415 555 0142": a trailing extension (ext, ext., extension,
// x or #, then digits) taken off; anything else unchanged.
std::string_view without_extension(std::string_view s) {
  size_t end = s.size();
  while (end > 0 && std::isdigit(static_cast<unsigned char>(s[end - 1])))
    --end;
  if (end == s.size()) return s;
  size_t mark = end;
  while (mark > 0 && (s[mark - 1] == ' ' || s[mark - 1] == '.'))
    --mark;
  auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  for (std::string_view word : {"extension", "ext", "x", "#"}) {
    if (mark < word.size()) continue;
    std::string_view tail = s.substr(mark - word.size(), word.size());
    if (std::equal(tail.begin(), tail.end(), word.begin(),
                   [&](char a, char b) { return lower(a) == b; })) {
      return trim(s.substr(0, mark - word.size()));
    }
  }
  return s;
}

}  // namespace

Result<std::string> normalize_phone(std::string_view text, std::string_view region) {
  using i18n::phonenumbers::PhoneNumber;
  using i18n::phonenumbers::PhoneNumberUtil;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  std::string_view s = trim(text);
  if (s.empty() || s.size() > 40) return Status::invalid("", "not a valid phone number");
  // libphonenumber reads letters as a keypad does ("+44 7700 SECRET" is +447700732738): for a
  // person's own number that is a typo or a field mixed up, and a text to the number it makes
  // would go to a stranger. So digits only, around what libphonenumber takes anyway: an RFC
  // 3966 "tel:" in front, and an extension at the end ("ext. 12", "x12", "#12"; E.164 drops it).
  if (s.size() > 4 && (s.substr(0, 4) == "tel:" || s.substr(0, 4) == "TEL:")) s = trim(s.substr(4));
  std::string_view number_part = without_extension(s);
  if (std::any_of(number_part.begin(), number_part.end(),
                  [](char c) { return std::isalpha(static_cast<unsigned char>(c)); })) {
    return Status::invalid("",
                           "not a valid phone number: write it in digits, such as +1 415 555 0142");
  }
  std::string reg = region.empty() ? "ZZ" : std::string(region);
  PhoneNumber number;
  // Possible (the right length for its country, not only for local dialling), not "valid" (in
  // an assigned range): numbers reserved for examples and tests, such as +1 555 555 0100 or
  // +44 7700 900123, are not assigned, and SPEC §2's own example is one. A number nobody holds
  // fails at the provider, which nudged records like any other failed send.
  if (util.Parse(std::string(s), reg, &number) != PhoneNumberUtil::NO_PARSING_ERROR ||
      util.IsPossibleNumberWithReason(number) != PhoneNumberUtil::IS_POSSIBLE) {
    return Status::invalid("", s.front() == '+' || !region.empty()
                                   ? "not a valid phone number"
                                   : "not a valid phone number; write it with its country code, "
                                     "such as +1 415 555 0142");
  }
  std::string e164;
  util.Format(number, PhoneNumberUtil::E164, &e164);
  return e164;
}

std::string region_of_locale(std::string_view locale) {
  // "en-GB", "en_GB", "zh-Hant-TW": the region is the first 2-letter upper-case subtag after
  // the language.
  size_t start = 0;
  bool first = true;
  for (size_t i = 0; i <= locale.size(); ++i) {
    if (i == locale.size() || locale[i] == '-' || locale[i] == '_') {
      std::string_view tag = locale.substr(start, i - start);
      // A one-letter subtag ("u", "x") starts extensions and private use: no region after it.
      if (!first && tag.size() == 1) return "";
      if (!first && tag.size() == 2 && std::isalpha(static_cast<unsigned char>(tag[0])) &&
          std::isalpha(static_cast<unsigned char>(tag[1]))) {
        return {static_cast<char>(std::toupper(static_cast<unsigned char>(tag[0]))),
                static_cast<char>(std::toupper(static_cast<unsigned char>(tag[1])))};
      }
      first = false;
      start = i + 1;
    }
  }
  return "";
}

}  // namespace nudged
