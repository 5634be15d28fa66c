#include "channels/sms_text.h"

#include <cstdint>
#include <vector>

namespace nudged {
namespace {

// Decodes one UTF-8 code point at `i` (advancing it); malformed bytes read as U+FFFD.
char32_t next_code_point(std::string_view s, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b = byte(i);
  int extra = b < 0x80 ? 0 : (b >> 5) == 0x6 ? 1 : (b >> 4) == 0xe ? 2 : (b >> 3) == 0x1e ? 3 : -1;
  if (extra < 0 || i + extra >= s.size() + (extra == 0 ? 1 : 0)) {
    ++i;
    return 0xfffd;
  }
  char32_t cp = extra == 0 ? b : (b & (0x3f >> extra));
  for (int k = 1; k <= extra; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) {
      ++i;
      return 0xfffd;
    }
    cp = (cp << 6) | (byte(i + k) & 0x3f);
  }
  i += static_cast<size_t>(extra) + 1;
  return cp;
}

// GSM 03.38 basic character set (one septet each).
bool gsm_basic(char32_t c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  if (c < 0x80) {
    // ASCII punctuation in the basic set; the rest of ASCII is extended or absent.
    static constexpr std::string_view ascii = "\n\r !\"#$%&'()*+,-./:;<=>?@_";
    return ascii.find(static_cast<char>(c)) != std::string_view::npos;
  }
  static const std::u32string_view basic =
      U"@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà";
  return basic.find(c) != std::u32string_view::npos;
}

// The extension table: an escape septet plus one.
bool gsm_extended(char32_t c) {
  static const std::u32string_view ext = U"^{}\\[~]|€\f";
  return ext.find(c) != std::u32string_view::npos;
}

struct Char {
  size_t begin = 0, end = 0;  // byte range in the UTF-8 text
  char32_t cp = 0;
  int gsm_cost = 0;   // 1 or 2; 0 when not in GSM-7 at all
  int ucs2_cost = 0;  // 1 or 2 (surrogate pair)
};

std::vector<Char> split(std::string_view s) {
  std::vector<Char> out;
  for (size_t i = 0; i < s.size();) {
    Char c;
    c.begin = i;
    c.cp = next_code_point(s, i);
    c.end = i;
    c.gsm_cost = gsm_basic(c.cp) ? 1 : gsm_extended(c.cp) ? 2 : 0;
    c.ucs2_cost = c.cp > 0xffff ? 2 : 1;
    out.push_back(c);
  }
  return out;
}

// Segments for a run of per-character costs: one when all fits `single`, else greedy packing
// into segments of `multi` that never split a character.
int pack(const std::vector<int>& costs, int total, int single, int multi) {
  if (total == 0) return 0;
  if (total <= single) return 1;
  int segments = 1, used = 0;
  for (int c : costs) {
    if (used + c > multi) {
      ++segments;
      used = 0;
    }
    used += c;
  }
  return segments;
}

SmsSize size_of(const std::vector<Char>& chars, size_t count, bool gsm7) {
  SmsSize size;
  size.gsm7 = gsm7;
  std::vector<int> costs;
  costs.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    int c = gsm7 ? chars[i].gsm_cost : chars[i].ucs2_cost;
    costs.push_back(c);
    size.units += c;
  }
  size.segments = gsm7 ? pack(costs, size.units, 160, 153) : pack(costs, size.units, 70, 67);
  return size;
}

bool all_gsm(const std::vector<Char>& chars, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (chars[i].gsm_cost == 0) return false;
  }
  return true;
}

bool is_space(char32_t c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

bool is_trailing_junk(char32_t c) {
  return is_space(c) || c == ',' || c == ';' || c == ':' || c == '-' || c == '.';
}

// Greedy packing as the text streams by, for one encoding: no allocation.
struct Packer {
  int single, multi;
  int units = 0, segments = 1, used = 0;
  void add(int cost) {
    units += cost;
    if (used + cost > multi) {
      ++segments;
      used = 0;
    }
    used += cost;
  }
  int total() const { return units == 0 ? 0 : units <= single ? 1 : segments; }
};

}  // namespace

// GSM-7 cost of each ASCII character (1 basic, 2 extended, 0 not in GSM-7), made once from the
// functions above: most texts are ASCII, and this keeps their sizing to a table lookup a byte.
struct AsciiCosts {
  unsigned char cost[128];
  AsciiCosts() {
    for (char32_t c = 0; c < 128; ++c)
      cost[c] = gsm_basic(c) ? 1 : gsm_extended(c) ? 2 : 0;
  }
};

// Streams the text once, sizing it both ways; the common case (a short body) allocates nothing.
SmsSize sms_size(std::string_view utf8) {
  static const AsciiCosts ascii;
  // Plain GSM-7 ASCII (the usual reminder): one septet a byte, so the size is arithmetic.
  size_t plain = 0;
  while (plain < utf8.size() && static_cast<unsigned char>(utf8[plain]) < 0x80 &&
         ascii.cost[static_cast<unsigned char>(utf8[plain])] == 1)
    ++plain;
  if (plain == utf8.size()) {
    SmsSize size;
    size.gsm7 = true;
    size.units = static_cast<int>(plain);
    size.segments = plain == 0 ? 0 : plain <= 160 ? 1 : static_cast<int>((plain + 152) / 153);
    return size;
  }
  Packer gsm{160, 153}, ucs2{70, 67};
  bool gsm7 = true;
  for (size_t i = 0; i < utf8.size();) {
    auto byte = static_cast<unsigned char>(utf8[i]);
    char32_t cp;
    int cost;
    if (byte < 0x80) {
      cp = byte;
      cost = ascii.cost[byte];
      ++i;
    } else {
      cp = next_code_point(utf8, i);
      cost = gsm_basic(cp) ? 1 : gsm_extended(cp) ? 2 : 0;
    }
    if (cost == 0) gsm7 = false;
    if (gsm7) gsm.add(cost);
    ucs2.add(cp > 0xffff ? 2 : 1);
  }
  SmsSize size;
  size.gsm7 = gsm7;
  size.units = gsm7 ? gsm.units : ucs2.units;
  size.segments = gsm7 ? gsm.total() : ucs2.total();
  return size;
}

std::string fit_sms(std::string_view utf8, int max_segments) {
  if (sms_size(utf8).segments <= max_segments) return std::string(utf8);
  std::vector<Char> chars = split(utf8);
  // The longest prefix that fits with its ellipsis; the encoding is the prefix's own.
  auto fits = [&](size_t n) {
    bool gsm7 = all_gsm(chars, n);
    std::vector<Char> with = std::vector<Char>(chars.begin(), chars.begin() + n);
    std::string_view ellipsis = gsm7 ? "..." : "…";
    std::vector<Char> tail = split(ellipsis);
    with.insert(with.end(), tail.begin(), tail.end());
    return size_of(with, with.size(), gsm7).segments <= max_segments;
  };
  size_t lo = 0, hi = chars.size();  // fits(lo) holds; find the largest
  while (lo < hi) {
    size_t mid = (lo + hi + 1) / 2;
    if (fits(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  size_t n = lo;
  // Back to the end of a word, unless that throws away more than a third of the text.
  if (n < chars.size() && !is_space(chars[n].cp)) {
    size_t k = n;
    while (k > 0 && !is_space(chars[k - 1].cp))
      --k;
    if (k > n * 2 / 3) n = k;
  }
  while (n > 0 && is_trailing_junk(chars[n - 1].cp))
    --n;
  std::string out(utf8.substr(0, n == 0 ? 0 : chars[n - 1].end));
  out += all_gsm(chars, n) ? "..." : "…";
  return out;
}

}  // namespace nudged
