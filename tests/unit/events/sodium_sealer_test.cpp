// Tests of events/sodium_sealer.h, events/keystore.h and events/erasure.h: per-subject
// XChaCha20-Poly1305 sealing, the key store (wrong master key, erasure) and opt-out matching by
// blind index.
#include "events/sodium_sealer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <iterator>

#include "events/erasure.h"
#include "events/intake.h"
#include "events/state.h"
#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

const std::string kMaster(32, 'm');

class SealerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ks = KeyStore::open(dir_.file("nudged.db.keys"), kMaster);
    ASSERT_TRUE(ks.is_ok()) << ks.status().to_string();
    keys_ = std::move(*ks);
    sealer_ = std::make_unique<SodiumSealer>(*keys_);
  }
  std::string seal(std::string_view plain, std::string_view subject, std::string_view event,
                   bool index = false) {
    Result<std::string> r = sealer_->seal(plain, SealContext{subject, event, index});
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? *r : std::string();
  }
  // Takes an event in through an Intake sealing with this sealer, and applies it to `state`.
  void take_in(State& state, const std::string& json) {
    Intake intake(IntakeOptions{sealer_.get(), std::string(32, 'k'), nullptr});
    Result<NewEvent> ev = intake.from_envelope_json(json);
    ASSERT_TRUE(ev.is_ok()) << ev.status().to_string();
    Envelope env;
    env.position = state.position() + 1;
    env.id = ev->id;
    env.type = type_of(ev->data);
    state.apply(env, std::move(ev->data));
  }
  std::string file_bytes(const std::string& name) {
    std::ifstream in(dir_.file(name), std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  testing::TempDir dir_;
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<SodiumSealer> sealer_;
};

TEST_F(SealerTest, RoundTrip) {
  std::string s = seal("Alex Doe", "participant/p-1", "evt-1");
  EXPECT_EQ(s.find("Alex"), std::string::npos);
  EXPECT_EQ(s.rfind("nv1:", 0), 0u);
  Result<std::string> o = sealer_->open(s, SealContext{"participant/p-1", "evt-1"});
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_EQ(*o, "Alex Doe");
  // Rendering knows no event id: the value still opens.
  EXPECT_EQ(*sealer_->open(s, SealContext{"participant/p-1", {}}), "Alex Doe");
}

TEST_F(SealerTest, DeterministicForSameEventAndPlaintext) {
  EXPECT_EQ(seal("alex@example.org", "participant/p-1", "evt-1"),
            seal("alex@example.org", "participant/p-1", "evt-1"));
  EXPECT_NE(seal("alex@example.org", "participant/p-1", "evt-1"),
            seal("alex@example.org", "participant/p-1", "evt-2"));
}

TEST_F(SealerTest, DifferentPerParticipant) {
  std::string a = seal("same text", "participant/p-1", "evt-1");
  std::string b = seal("same text", "participant/p-2", "evt-1");
  EXPECT_NE(a.substr(0, a.find(':', 4)), b.substr(0, b.find(':', 4)));
  Result<DataKey> k1 = keys_->key_for("participant/p-1", false);
  Result<DataKey> k2 = keys_->key_for("participant/p-2", false);
  ASSERT_TRUE(k1.is_ok() && k2.is_ok());
  EXPECT_NE(*k1, *k2);
}

TEST_F(SealerTest, WrongEventIdIsRefused) {
  std::string s = seal("Alex Doe", "participant/p-1", "evt-1");
  EXPECT_FALSE(sealer_->open(s, SealContext{"participant/p-1", "evt-2"}).is_ok());
}

TEST_F(SealerTest, MovedToAnotherSubjectIsRefused) {
  std::string s = seal("Alex Doe", "participant/p-1", "evt-1");
  seal("x", "participant/p-2", "evt-9");
  std::string moved = s.substr(0, s.rfind(':') + 1) + "participant/p-2";
  EXPECT_FALSE(sealer_->open(moved, SealContext{"participant/p-2", {}}).is_ok());
}

TEST_F(SealerTest, TamperedCiphertextIsRefused) {
  std::string s = seal("Alex Doe", "participant/p-1", "evt-1");
  s[8] = s[8] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(sealer_->open(s, SealContext{"participant/p-1", {}}).is_ok());
}

TEST_F(SealerTest, WrongMasterKeyIsRefusedAndWritesNothing) {
  seal("Alex Doe", "participant/p-1", "evt-1");
  keys_.reset();
  std::string before = file_bytes("nudged.db.keys");
  auto other = KeyStore::open(dir_.file("nudged.db.keys"), std::string(32, 'x'));
  ASSERT_FALSE(other.is_ok());
  EXPECT_NE(other.status().message().find("master key"), std::string::npos);
  EXPECT_EQ(file_bytes("nudged.db.keys"), before);
}

TEST_F(SealerTest, ErasedKeyNoLongerOpensAndLeavesNoBytes) {
  std::string s = seal("Alex Doe", "participant/p-1", "evt-1");
  std::string t = seal("Sam Roe", "participant/p-2", "evt-2");
  std::string wrapped_before = file_bytes("nudged.db.keys") + file_bytes("nudged.db.keys-wal");
  Result<int> n = keys_->erase({"participant/p-1"});
  ASSERT_TRUE(n.is_ok()) << n.status().to_string();
  EXPECT_EQ(*n, 1);
  EXPECT_FALSE(sealer_->open(s, SealContext{"participant/p-1", {}}).is_ok());
  EXPECT_EQ(*sealer_->open(t, SealContext{"participant/p-2", {}}), "Sam Roe");
  EXPECT_EQ(file_bytes("nudged.db.keys-wal").size(), 0u);  // checkpointed and truncated
  // The subject name no longer appears anywhere in the file (secure_delete + VACUUM).
  EXPECT_EQ(file_bytes("nudged.db.keys").find("participant/p-1"), std::string::npos);
  // A reopened store does not bring it back.
  keys_.reset();
  auto again = KeyStore::open(dir_.file("nudged.db.keys"), kMaster);
  ASSERT_TRUE(again.is_ok());
  EXPECT_FALSE((*again)->key_for("participant/p-1", false).is_ok());
  EXPECT_TRUE((*again)->key_for("participant/p-2", false).is_ok());
}

TEST_F(SealerTest, BlindIndexMatchesOptOutsAcrossSealings) {
  State state;
  auto apply = [&](const std::string& json) { take_in(state, json); };
  apply(R"({"type":"registration.received","data":{"registration_id":"r-1","session_id":"s-1",
    "participant":{"name":"Alex","email":"alex@Example.org","phone":"+1 415 555 0142"},
    "channels":["email","sms"],"sms_consent":true,"accommodations":[]}})");
  const ParticipantState* p = &state.participants().begin()->second;
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->email.sealed.find("xample"), std::string::npos);
  EXPECT_FALSE(state.opted_out("email", p->email));
  apply(
      R"({"type":"participant.opted_out","data":{"channel":"email","address":"alex@example.org"}})");
  apply(R"({"type":"participant.opted_out","data":{"channel":"sms","address":"+14155550142"}})");
  EXPECT_TRUE(state.opted_out("email", p->email));
  EXPECT_TRUE(state.opted_out("sms", p->phone));
  EXPECT_FALSE(state.opted_out("sms", p->email));

  // Erasure destroys the participant's key and the keys of their opted-out addresses.
  std::string pid = state.participants().begin()->first;
  apply(R"({"type":"participant.erased","data":{"participant_id":")" + pid + R"("}})");
  Result<ShredReport> r = shred_erased(state, *keys_);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->participants, 1);
  EXPECT_EQ(r->keys, 3);  // participant and two addresses (registration r-1 has no key)
  EXPECT_FALSE(keys_->key_for("participant/" + pid, false).is_ok());
  Result<ShredReport> again = shred_erased(state, *keys_);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->keys, 0);
}

// Staff addresses: a facilitator's (sealed at intake with an index) and a coordinator's (from
// the configuration: blind_index) match opt-outs as a participant's do.
TEST_F(SealerTest, StaffAddressesMatchOptOuts) {
  State state;
  auto apply = [&](const std::string& json) { take_in(state, json); };
  apply(R"({"type":"session.scheduled","data":{"session_id":"s-1","group":"g","title":"T",
    "starts_at":"2027-01-12T19:00:00Z","time_zone":"UTC","duration_minutes":60,"join_url":"u",
    "facilitators":[{"name":"Sam","email":"sam@Example.org","phone":"+1 415 555 0100"}]}})");
  const Facilitator& sam = state.session("s-1")->facilitators.at(0);
  EXPECT_FALSE(state.opted_out("email", *sam.email));
  EXPECT_FALSE(state.opted_out("email", sealer_->blind_index("access@example.org")));
  apply(
      R"({"type":"participant.opted_out","data":{"channel":"email","address":"sam@example.org"}})");
  apply(
      R"({"type":"participant.opted_out","data":{"channel":"email","address":"access@example.org"}})");
  EXPECT_TRUE(state.opted_out("email", *sam.email));
  EXPECT_FALSE(state.opted_out("sms", *sam.phone));
  EXPECT_TRUE(state.opted_out("email", sealer_->blind_index("access@example.org")));
  EXPECT_FALSE(state.opted_out("email", sealer_->blind_index("other@example.org")));
}

// A mailbox is one however it is capitalised ("Riley@" typed on a phone, "riley@" on a laptop):
// an opt-out of one spelling holds for every other, and an opt-in of any spelling lifts it.
TEST_F(SealerTest, OptOutsMatchAnAddressHoweverItIsCapitalised) {
  // The index of an address with capitals has a second key: the one of its lower-cased form.
  std::string lower = sealer_->blind_index("riley@example.org");
  EXPECT_EQ(lower.find(kMatchSeparator), std::string::npos);
  std::string mixed = sealer_->blind_index("Riley@example.org");
  ASSERT_NE(mixed.find(kMatchSeparator), std::string::npos);
  EXPECT_EQ(folded_match(mixed), lower);
  EXPECT_NE(primary_match(mixed), lower);
  EXPECT_EQ(match_key(Personal{seal("Riley@example.org", "participant/p-1", "e-1", true)}), mixed);

  State state;
  auto opt = [&](const char* type, const std::string& email) {
    take_in(state, R"({"type":"participant.opted_)" + std::string(type) +
                       R"(","data":{"channel":"email","address":")" + email + R"("}})");
  };
  // Addresses as registrations (sealed for their participant) and a coordinator's carry them.
  std::vector<Personal> spellings;
  int n = 0;
  for (const char* email : {"Riley@example.org", "riley@example.org", "RILEY@example.org"})
    spellings.push_back(Personal{seal(email, "participant/p-1", "e-" + std::to_string(++n), true)});
  auto opted_out = [&] {
    std::vector<bool> out;
    for (const Personal& p : spellings)
      out.push_back(state.opted_out("email", p));
    out.push_back(state.opted_out("email", sealer_->blind_index("RiLey@example.org")));
    return out;
  };
  const std::vector<bool> all(4, true), none(4, false);
  EXPECT_EQ(opted_out(), none);
  opt("out", "riley@example.org");
  EXPECT_EQ(opted_out(), all);
  opt("in", "Riley@example.org");
  EXPECT_EQ(opted_out(), none);
  opt("out", "Riley@example.org");
  opt("out", "RILEY@example.org");
  EXPECT_EQ(opted_out(), all);
  opt("in", "riley@example.org");
  EXPECT_EQ(opted_out(), none);
  opt("out", "RILEY@example.org");
  EXPECT_EQ(opted_out(), all);
  EXPECT_FALSE(state.opted_out("email", sealer_->blind_index("Rileyy@example.org")));
}

// Participant ids come from the lower-cased address, so two spellings are one participant;
// every spelling's opted-out copy is sealed under the lower-cased key, which erasing that
// participant destroys whatever spelling they registered with last.
TEST_F(SealerTest, ErasureDestroysOptedOutCopiesOfEverySpelling) {
  State state;
  auto apply = [&](const std::string& json) { take_in(state, json); };
  for (const char* r : {R"("r-1","participant":{"name":"Riley","email":"Riley@example.org"})",
                        R"("r-2","participant":{"name":"Riley","email":"RILEY@example.org"})"}) {
    apply(R"({"type":"registration.received","data":{"registration_id":)" + std::string(r) +
          R"(,"session_id":"s-1","channels":["email"],"sms_consent":false,"accommodations":[]}})");
  }
  ASSERT_EQ(state.participants().size(), 1u);
  std::string pid = state.participants().begin()->first;
  apply(
      R"({"type":"participant.opted_out","data":{"channel":"email","address":"riley@example.org"}})");
  apply(
      R"({"type":"participant.opted_out","data":{"channel":"email","address":"Riley@example.org"}})");
  std::string copy = address_subject(sealer_->blind_index("riley@example.org"));
  EXPECT_TRUE(keys_->key_for(copy, false).is_ok());
  apply(R"({"type":"participant.erased","data":{"participant_id":")" + pid + R"("}})");
  Result<ShredReport> r = shred_erased(state, *keys_);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_FALSE(keys_->key_for(copy, false).is_ok());
  EXPECT_FALSE(keys_->key_for("participant/" + pid, false).is_ok());
}

// Values sealed before the lower-cased key existed carry only the first key. They go on
// matching what they matched (the same spelling), both ways, next to values that have both;
// and once a two-key value of their spelling has been seen, every other spelling too.
TEST_F(SealerTest, IndexesWrittenBeforeTheLowerCasedKeyStillMatch) {
  auto legacy = [](std::string sealed) {  // drops the second key, as an older nudged wrote it
    size_t sep = sealed.find(kMatchSeparator);
    if (sep != std::string::npos) sealed.erase(sep, sealed.find(':', sep) - sep);
    return Personal{sealed};
  };
  Personal old_mixed = legacy(seal("Riley@example.org", "participant/p-1", "e-1", true));
  Personal new_mixed{seal("Riley@example.org", "participant/p-2", "e-2", true)};
  Personal new_lower{seal("riley@example.org", "participant/p-2", "e-3", true)};
  ASSERT_EQ(match_key(old_mixed), primary_match(match_key(new_mixed)));
  ASSERT_NE(match_key(old_mixed), match_key(new_mixed));
  auto out = [](Personal p) { return EventData{ParticipantOptedOut{"email", std::move(p)}}; };
  auto in = [](Personal p) { return EventData{ParticipantOptedIn{"email", std::move(p)}}; };

  // An opt-out from before, a value from after: matched.
  State before;
  before.apply(Envelope{}, out(old_mixed));
  EXPECT_TRUE(before.opted_out("email", new_mixed));
  EXPECT_TRUE(before.opted_out("email", old_mixed));
  // A value from before, an opt-out (an unsubscribe) from after: matched.
  State after;
  after.apply(Envelope{}, out(new_mixed));
  EXPECT_TRUE(after.opted_out("email", old_mixed));
  // Lifted by a later opt-in (a later one has both keys), whichever the opt-out was.
  for (State* state : {&before, &after}) {
    state->apply(Envelope{}, in(new_mixed));
    EXPECT_FALSE(state->opted_out("email", old_mixed));
    EXPECT_FALSE(state->opted_out("email", new_mixed));
  }

  // Another spelling: an old value says nothing of its lower-cased key...
  State other;
  other.apply(Envelope{}, out(old_mixed));
  EXPECT_FALSE(other.opted_out("email", new_lower));
  // ...until a two-key value of the same spelling (any event) has been seen.
  other.apply(Envelope{}, in(Personal{seal("Riley@example.org", "address", "e-4", true)}));
  other.apply(Envelope{}, out(old_mixed));
  EXPECT_TRUE(other.opted_out("email", new_lower));
  other.apply(Envelope{}, in(new_lower));  // and an opt-in of another spelling lifts it
  EXPECT_FALSE(other.opted_out("email", old_mixed));
  other.apply(Envelope{}, out(new_lower));
  EXPECT_TRUE(other.opted_out("email", old_mixed));
}

// Someone who registered before the second key existed, with capitals, unsubscribes after it
// (the opted-out copy is sealed under the lower-cased key) and is then erased: that copy's key
// is destroyed too, found through what the opt-out taught.
TEST_F(SealerTest, ErasureFindsTheCopyOfAnAddressSealedBefore) {
  State state;
  std::string old_email = seal("Riley@example.org", "participant/p-old", "e-1", true);
  old_email.erase(
      old_email.find(kMatchSeparator),
      old_email.find(':', old_email.find(kMatchSeparator)) - old_email.find(kMatchSeparator));
  RegistrationReceived r;
  r.registration_id = "r-old";
  r.session_id = "s-1";
  r.participant.participant_id = "p-old";
  r.participant.name = Personal{seal("Riley", "participant/p-old", "e-1")};
  r.participant.email = Personal{old_email};
  r.channels = {"email"};
  state.apply(Envelope{}, EventData{std::move(r)});
  take_in(
      state,
      R"({"type":"participant.opted_out","data":{"channel":"email","address":"Riley@example.org"}})");
  std::string copy = address_subject(sealer_->blind_index("riley@example.org"));
  EXPECT_TRUE(keys_->key_for(copy, false).is_ok());
  take_in(state, R"({"type":"participant.erased","data":{"participant_id":"p-old"}})");
  Result<ShredReport> shred = shred_erased(state, *keys_);
  ASSERT_TRUE(shred.is_ok()) << shred.status().to_string();
  EXPECT_FALSE(keys_->key_for(copy, false).is_ok());
}

}  // namespace
}  // namespace nudged

namespace nudged {
namespace {

TEST(Scrub, RemovesAddressesAndNumbersKeepsTheRest) {
  EXPECT_EQ(scrub("550 5.1.1 <ana@example.org>: user unknown"),
            "550 5.1.1 [redacted] user unknown");
  EXPECT_EQ(scrub("21211: The 'To' number +1 (415) 555-0123 is not valid"),
            "21211: The 'To' number [redacted] is not valid");
  EXPECT_EQ(scrub("connection timed out after 30000 ms"), "connection timed out after 30000 ms");
  EXPECT_EQ(scrub("HTTP 503"), "HTTP 503");
}

}  // namespace
}  // namespace nudged
