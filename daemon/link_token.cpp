#include "daemon/link_token.h"

#include <sodium.h>

namespace nudged {

std::string unsubscribe_token(std::string_view key, const std::string& participant_id) {
  unsigned char mac[16];
  crypto_generichash(mac, sizeof mac, reinterpret_cast<const unsigned char*>(participant_id.data()),
                     participant_id.size(), reinterpret_cast<const unsigned char*>(key.data()),
                     key.size());
  char hex[sizeof mac * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  return participant_id + "." + hex;
}

}  // namespace nudged
