#include "daemon/link_token.h"

#include <sodium.h>

#include "events/personal.h"

namespace nudged {

std::string keyed_hex(std::string_view key, const std::string& message) {
  unsigned char mac[16];
  crypto_generichash(mac, sizeof mac, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), reinterpret_cast<const unsigned char*>(key.data()),
                     key.size());
  char hex[sizeof mac * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  return hex;
}

std::string staff_token_subject(std::string_view key, std::string_view address_match_key) {
  return std::string(kStaffTokenPrefix) +
         keyed_hex(key, "staff\n" + std::string(primary_match(address_match_key)));
}

std::string message_id_token(std::string_view key, const std::string& notification_id) {
  return keyed_hex(key, "message-id\n" + notification_id);
}

std::string unsubscribe_token(std::string_view key, const std::string& participant_id) {
  // Domain-separated: the same key derives participant ids from addresses, and a participant
  // id may itself look like an address.
  return participant_id + "." + keyed_hex(key, "unsubscribe\n" + participant_id);
}

}  // namespace nudged
