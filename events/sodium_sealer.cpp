#include "events/sodium_sealer.h"

#include <sodium.h>

#include <cstring>

#include "events/contact.h"

namespace nudged {
namespace {

constexpr char kValueContext[crypto_kdf_CONTEXTBYTES + 1] = "nudgedpv";
constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
// The synthetic nonce kept with a value: 128 bits of keyed hash, padded with zeros to the 192
// bits XChaCha20 takes. Nonces are unique per (subject key, event id, plaintext) up to a 2^-64
// collision chance among a subject's few values; keeping 16 bytes rather than 24 makes every
// sealed value shorter, which replay reads by the million.
constexpr size_t kSiv = 16;
constexpr std::string_view kParticipantPrefix = "participant/";
constexpr size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr int kB64 = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

const unsigned char* u8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// The encryption and nonce keys of one subject key; zeroed when it goes out of scope.
struct ValueKeys {
  DataKey enc{}, nonce{};
  explicit ValueKeys(const DataKey& k) {
    crypto_kdf_derive_from_key(enc.data(), enc.size(), 1, kValueContext, k.data());
    crypto_kdf_derive_from_key(nonce.data(), nonce.size(), 2, kValueContext, k.data());
  }
  ~ValueKeys() {
    sodium_memzero(enc.data(), enc.size());
    sodium_memzero(nonce.data(), nonce.size());
  }
  ValueKeys(const ValueKeys&) = delete;
  ValueKeys& operator=(const ValueKeys&) = delete;
};

void siv_nonce(const ValueKeys& k, std::string_view event_id, std::string_view plaintext,
               unsigned char* out) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, k.nonce.data(), k.nonce.size(), kSiv);
  const unsigned char sep = 0;
  crypto_generichash_update(&st, u8(event_id), event_id.size());
  crypto_generichash_update(&st, &sep, 1);
  crypto_generichash_update(&st, u8(plaintext), plaintext.size());
  crypto_generichash_final(&st, out, kSiv);
}

std::string ad_of(std::string_view subject) {
  return "nudged/v1/" + std::string(subject);
}

struct Parts {
  std::string_view body, index, subject;
};
bool split(std::string_view s, Parts& p) {
  if (s.substr(0, 4) != "nv1:") return false;
  size_t a = s.find(':', 4);
  if (a == std::string_view::npos) return false;
  size_t b = s.find(':', a + 1);
  if (b == std::string_view::npos) return false;
  p.body = s.substr(4, a - 4);
  p.index = s.substr(a + 1, b - a - 1);
  p.subject = s.substr(b + 1);
  return true;
}

}  // namespace

std::string address_subject(std::string_view blind_index) {
  return std::string(kAddressSubject) + "/" + std::string(blind_index);
}

std::string SodiumSealer::index_key_of(std::string_view text) const {
  unsigned char idx[16];
  const DataKey& ik = keys_->index_key();
  crypto_generichash(idx, sizeof idx, u8(text), text.size(), ik.data(), ik.size());
  char b64[sodium_base64_ENCODED_LEN(sizeof idx, kB64)];
  sodium_bin2base64(b64, sizeof b64, idx, sizeof idx, kB64);
  return b64;
}

std::string SodiumSealer::blind_index(std::string_view plaintext) const {
  std::string index = index_key_of(plaintext);
  std::string folded = fold_case(plaintext);  // as participant ids are derived (intake)
  if (folded != plaintext) index.append(1, kMatchSeparator).append(index_key_of(folded));
  return index;
}

Result<std::string> SodiumSealer::seal(std::string_view plaintext, const SealContext& ctx) {
  if (ctx.subject.empty()) return Status::invalid("subject", "a sealed value needs a subject");
  std::string index;
  if (ctx.index) index = blind_index(plaintext);
  std::string subject(ctx.subject);
  // An opted-out copy is sealed under the last key, the lower-cased one: every spelling of a
  // mailbox shares one key, which erasing its owner destroys (see key_subjects_of).
  if (subject == kAddressSubject && !index.empty()) subject = address_subject(folded_match(index));
  Result<DataKey> key = keys_->key_for(subject, true);
  if (!key) return key.status();
  ValueKeys k(*key);
  sodium_memzero(key->data(), key->size());

  std::string raw(kSiv + plaintext.size() + kTag, '\0');
  auto* r = reinterpret_cast<unsigned char*>(raw.data());
  unsigned char nonce[kNonce] = {};
  siv_nonce(k, ctx.event_id, plaintext, nonce);
  std::memcpy(r, nonce, kSiv);
  std::string ad = ad_of(subject);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(r + kSiv, &len, u8(plaintext), plaintext.size(),
                                             u8(ad), ad.size(), nullptr, nonce, k.enc.data());

  std::string out = "nv1:";
  std::string b64(sodium_base64_ENCODED_LEN(raw.size(), kB64), '\0');
  sodium_bin2base64(b64.data(), b64.size(), r, raw.size(), kB64);
  out.append(b64.c_str());
  out += ':';
  out += index;
  out += ':';
  // A participant's values leave their subject out: every reader knows whose registration it
  // is reading ("participant/<id>" is 46 characters, on every value). Others keep it.
  if (subject.rfind(kParticipantPrefix, 0) != 0 || subject != ctx.subject) out += subject;
  return out;
}

Result<std::string> SodiumSealer::open(std::string_view sealed, const SealContext& ctx) const {
  Parts p;
  if (!split(sealed, p)) {
    if (sealed.substr(0, 4) == "nv1:") return Status::corrupt("a sealed value is malformed");
    return std::string(sealed);
  }
  std::string raw(p.body.size(), '\0');
  size_t raw_len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), p.body.data(),
                        p.body.size(), nullptr, &raw_len, nullptr, kB64) != 0 ||
      raw_len < kSiv + kTag) {
    return Status::corrupt("a sealed value is malformed");
  }
  if (p.subject.empty()) {
    if (ctx.subject.substr(0, kParticipantPrefix.size()) != kParticipantPrefix) {
      return Status::invalid("subject", "a participant's value needs the participant to open");
    }
    p.subject = ctx.subject;
  }
  Result<DataKey> key = keys_->key_for(p.subject, false);
  if (!key) return key.status();
  ValueKeys k(*key);
  sodium_memzero(key->data(), key->size());

  const auto* r = reinterpret_cast<const unsigned char*>(raw.data());
  std::string plain(raw_len - kSiv - kTag, '\0');
  std::string ad = ad_of(p.subject);
  unsigned char nonce[kNonce] = {};
  std::memcpy(nonce, r, kSiv);
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()),
                                                 &len, nullptr, r + kSiv, raw_len - kSiv, u8(ad),
                                                 ad.size(), nonce, k.enc.data()) != 0) {
    return Status::corrupt("a sealed value does not open with its subject's key");
  }
  if (!ctx.event_id.empty()) {
    unsigned char expect[kSiv];
    siv_nonce(k, ctx.event_id, plain, expect);
    if (sodium_memcmp(expect, r, kSiv) != 0) {
      sodium_memzero(plain.data(), plain.size());
      return Status::corrupt("a sealed value belongs to another event");
    }
  }
  return plain;
}

}  // namespace nudged
