// Link tokens: the one-click unsubscribe token of SPEC §5 that every email's links carry.
// Pure (libsodium); any thread.
#pragma once

#include <string>
#include <string_view>

namespace nudged {

// A keyed BLAKE2b-128 of `message`, in hex: the ids and tokens the daemon derives from its link
// key. Callers domain-separate: each use starts its message with its own word and a newline.
std::string keyed_hex(std::string_view key, const std::string& message);

// The local part of an email's Message-ID: a keyed hash of the notification id, so that it is
// the same on every attempt (mail systems can tell a duplicate) and names nothing. A hash with a
// public key would not do: the id holds the registration and session ids and the due time, and
// whoever holds a forwarded email could test guessed session ids (which often name the group)
// against it.
std::string message_id_token(std::string_view key, const std::string& notification_id);

// "<participant_id>.<mac>", the MAC a keyed BLAKE2b of the id, so a link cannot be forged for
// someone else.
std::string unsubscribe_token(std::string_view key, const std::string& participant_id);

// What a staff member's token names instead of a participant id: "staff~" (a '~' no participant
// id may hold) and a keyed hash of their address's match key (Sealer::blind_index; its first key
// only, so links already sent stay good when a second key is added), so the link names no one. The
// unsubscribe route finds the address among the coordinators and facilitators by the same hash,
// comparing match keys: nothing is opened but the one it finds.
inline constexpr std::string_view kStaffTokenPrefix = "staff~";
std::string staff_token_subject(std::string_view key, std::string_view address_match_key);

}  // namespace nudged
