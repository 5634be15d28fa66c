#include "daemon/link_token.h"

#include <sodium.h>

namespace nudged {

std::string unsubscribe_token(std::string_view key, const std::string& participant_id) {
  // Domain-separated: the same key derives participant ids from addresses, and a participant
  // id may itself look like an address.
  std::string message = "unsubscribe\n" + participant_id;
  unsigned char mac[16];
  crypto_generichash(mac, sizeof mac, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), reinterpret_cast<const unsigned char*>(key.data()),
                     key.size());
  char hex[sizeof mac * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  return participant_id + "." + hex;
}

}  // namespace nudged
