// SodiumSealer: personal values sealed with per-subject keys (XChaCha20-Poly1305, libsodium).
//
// A sealed value is text: "nv1:<base64(siv || ciphertext+tag)>:<blind index or empty>:
// <subject>", the blind index one base64 key or two separated by a space (see match_key). The
// subject names the KeyStore row whose key sealed it: the event's stream for values that belong
// to no participant (a session's facilitators, a registration's cancel reason),
// "address/<last key of the blind index>" for an opted-out address; it is an id, never personal. A
// participant's own values ("participant/<id>") leave it empty: whoever opens one knows whose
// registration it reads and passes it in SealContext.
//
// Determinism (SIV-style): the nonce is a keyed BLAKE2b of (event id, plaintext) under a key
// derived from the subject's key. The same event id and plaintext seal to the same bytes, so a
// retried request (Idempotency-Key, Zoom/Twilio retries) is a no-op duplicate in the store, and
// nothing about the plaintext shows unless the subject's key is known.
//
// Binding to the event: the associated data is the subject (a value cannot be moved to another
// person's rows), and the nonce commits to the event id: open() with an event id recomputes the
// nonce from the opened plaintext and refuses a value sealed for another event. Exports pass the
// event id; message rendering reads values out of State, which no longer knows which event set
// them, and relies on the log's integrity chain (every byte of every event is hashed into it,
// `nudgectl verify`) to notice a value moved between events.
//
// Blind index: with SealContext::index, a keyed BLAKE2b-128 of the normalised address under a
// key derived from the master key, so State can match opt-outs without opening anything; and a
// second of the address lower-cased when it has capitals (see match_key in personal.h).
//
// One thread at a time (it uses the KeyStore, which is single-threaded).
#pragma once

#include "events/keystore.h"
#include "events/personal.h"

namespace nudged {

// The key subject of an opted-out address with this blind index (see kAddressSubject).
std::string address_subject(std::string_view blind_index);

class SodiumSealer final : public Sealer {
 public:
  explicit SodiumSealer(KeyStore& keys) : keys_(&keys) {}
  Result<std::string> seal(std::string_view plaintext, const SealContext& ctx) override;
  // Values without the "nv1:" prefix were written before encryption existed (or by the plain
  // sealer): they are returned as they are.
  Result<std::string> open(std::string_view sealed, const SealContext& ctx) const override;
  std::string blind_index(std::string_view plaintext) const override;

 private:
  std::string index_key_of(std::string_view text) const;  // one key: BLAKE2b-128, base64
  KeyStore* keys_;
};

}  // namespace nudged
