#include "channels/mail_headers.h"

#include <cctype>

namespace nudged {
namespace {

std::string base64(std::string_view in) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], table[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    out += {table[v >> 18], table[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], '='};
  }
  return out;
}

bool printable_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string encode_header_text(std::string_view utf8) {
  std::string flat(utf8);
  for (char& c : flat) {
    if (c == '\r' || c == '\n' || c == '\t') c = ' ';
  }
  if (printable_ascii(flat)) return flat;
  // 45 bytes of text -> 60 base64 characters + 12 for "=?UTF-8?B?" and "?=" = 72 <= 75.
  constexpr size_t kChunk = 45;
  std::string out;
  size_t i = 0;
  while (i < flat.size()) {
    size_t end = std::min(flat.size(), i + kChunk);
    // Back off to a character boundary: a continuation byte is 10xxxxxx.
    while (end < flat.size() && end > i + 1 &&
           (static_cast<unsigned char>(flat[end]) & 0xc0) == 0x80) {
      --end;
    }
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(std::string_view(flat).substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

std::string address_of(std::string_view mailbox) {
  size_t open = mailbox.rfind('<');
  size_t close = mailbox.rfind('>');
  if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
    return std::string(trim(mailbox.substr(open + 1, close - open - 1)));
  }
  return std::string(trim(mailbox));
}

std::string encode_mailbox(std::string_view mailbox) {
  size_t open = mailbox.rfind('<');
  if (open == std::string_view::npos) return address_of(mailbox);
  std::string_view name = trim(mailbox.substr(0, open));
  if (name.empty()) return "<" + address_of(mailbox) + ">";
  if (printable_ascii(name)) return std::string(name) + " <" + address_of(mailbox) + ">";
  return encode_header_text(name) + " <" + address_of(mailbox) + ">";
}

std::string rfc5322_date(std::time_t t) {
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
                tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string message_id(std::string_view token, std::string_view domain) {
  if (token.empty()) return {};
  std::string out = "<";
  out += token;
  out += "@";
  out += domain;
  out += ">";
  return out;
}

}  // namespace nudged
