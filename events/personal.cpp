#include "events/personal.h"

namespace nudged {

std::string redact(std::string_view personal_value) {
  (void)personal_value;  // deliberately unused: nothing of the value may leak, not even length
  return std::string(kRedacted);
}

std::string_view match_key(const Personal& p) {
  // "nv1:<base64>:<index hex>:<subject>" (see sodium_sealer.h); base64 has no ':'.
  std::string_view s = p.sealed;
  if (s.substr(0, 4) != "nv1:") return s;
  size_t a = s.find(':', 4);
  if (a == std::string_view::npos) return s;
  size_t b = s.find(':', a + 1);
  if (b == std::string_view::npos || b == a + 1) return s;
  return s.substr(a + 1, b - a - 1);
}

}  // namespace nudged
