// Link tokens: the one-click unsubscribe token of SPEC §5 that every email's links carry.
// Pure (libsodium); any thread.
#pragma once

#include <string>
#include <string_view>

namespace nudged {

// "<participant_id>.<mac>", the MAC a keyed BLAKE2b of the id, so a link cannot be forged for
// someone else.
std::string unsubscribe_token(std::string_view key, const std::string& participant_id);

}  // namespace nudged
