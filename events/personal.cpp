#include "events/personal.h"

namespace nudged {

std::string redact(std::string_view personal_value) {
  (void)personal_value;  // deliberately unused: nothing of the value may leak, not even length
  return std::string(kRedacted);
}

std::string scrub(std::string_view text) {
  auto word_char = [](char c) { return c != ' ' && c != '\t' && c != '\n' && c != '\r'; };
  auto phone_char = [](char c) {
    return (c >= '0' && c <= '9') || c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' ||
           c == '+';
  };
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    // A word with an '@' in it: an email address, perhaps in <> or quotes.
    if (word_char(text[i])) {
      size_t end = i;
      while (end < text.size() && word_char(text[end]))
        ++end;
      std::string_view word = text.substr(i, end - i);
      if (word.find('@') != std::string_view::npos) {
        out += kRedacted;
        i = end;
        continue;
      }
    }
    // A phone-number-shaped run: 7 or more digits.
    if (phone_char(text[i]) && text[i] != ' ') {
      size_t end = i;
      int digits = 0;
      while (end < text.size() && phone_char(text[end])) {
        if (text[end] >= '0' && text[end] <= '9') ++digits;
        ++end;
      }
      if (digits >= 7) {
        while (end > i && text[end - 1] == ' ')
          --end;
        out += kRedacted;
        i = end;
        continue;
      }
    }
    // Copy up to the end of this word (or one character of space).
    size_t end = i + 1;
    if (word_char(text[i])) {
      while (end < text.size() && word_char(text[end]) && !phone_char(text[end]))
        ++end;
    }
    out.append(text.substr(i, end - i));
    i = end;
  }
  return out;
}

std::string_view primary_match(std::string_view match) {
  return match.substr(0, match.find(kMatchSeparator));
}

std::string_view folded_match(std::string_view match) {
  size_t sep = match.rfind(kMatchSeparator);
  return sep == std::string_view::npos ? match : match.substr(sep + 1);
}

std::string_view match_key(const Personal& p) {
  // "nv1:<base64>:<blind index>:<subject>" (see sodium_sealer.h); base64 has no ':'.
  std::string_view s = p.sealed;
  if (s.substr(0, 4) != "nv1:") return s;
  size_t a = s.find(':', 4);
  if (a == std::string_view::npos) return s;
  size_t b = s.find(':', a + 1);
  if (b == std::string_view::npos || b == a + 1) return s;
  return s.substr(a + 1, b - a - 1);
}

}  // namespace nudged
