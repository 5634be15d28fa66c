// Tests of events/intake.h: envelopes and data from outside become events ready to append —
// addresses normalised, participant ids derived, ids chosen, personal values sealed.
#include "events/intake.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

using Json = nlohmann::ordered_json;

const std::string kKey(32, 'k');

// Seals as "S(<plaintext>)" and records the context of every seal.
class WrapSealer final : public Sealer {
 public:
  Result<std::string> seal(std::string_view plaintext, const SealContext& ctx) override {
    sealed_with.push_back(std::string(ctx.subject) + " " + std::string(ctx.event_id));
    return "S(" + std::string(plaintext) + ")";
  }
  Result<std::string> open(std::string_view sealed, const SealContext&) const override {
    return std::string(sealed.substr(2, sealed.size() - 3));
  }
  std::string blind_index(std::string_view plaintext) const override {
    return "S(" + std::string(plaintext) + ")";  // match_key() of what seal() makes
  }
  std::vector<std::string> sealed_with;
};

// Seals as "x:" and the hex of "<subject>|<event id>|<plaintext>", so no plaintext shows, and
// opens only with the context it was sealed with (as an AEAD would).
class HexSealer final : public Sealer {
 public:
  Result<std::string> seal(std::string_view plaintext, const SealContext& ctx) override {
    std::string all =
        std::string(ctx.subject) + "|" + std::string(ctx.event_id) + "|" + std::string(plaintext);
    static const char* kHex = "0123456789abcdef";
    std::string out = "x:";
    for (unsigned char c : all) {
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    return out;
  }
  Result<std::string> open(std::string_view sealed, const SealContext& ctx) const override {
    if (sealed.substr(0, 2) != "x:") return Status::corrupt("not sealed");
    std::string all;
    for (size_t i = 2; i + 1 < sealed.size(); i += 2)
      all += static_cast<char>(std::stoi(std::string(sealed.substr(i, 2)), nullptr, 16));
    std::string prefix = std::string(ctx.subject) + "|" + std::string(ctx.event_id) + "|";
    if (all.rfind(prefix, 0) != 0) return Status::corrupt("sealed for another context");
    return all.substr(prefix.size());
  }
  std::string blind_index(std::string_view) const override { return "(no index)"; }
};

// A registration as a web form sends it; edited per test.
constexpr std::string_view kRegistration = R"json({
  "registration_id": "r-1001", "session_id": "general-2027-01-12",
  "participant": {"name": "Riley Morgan", "email": "  Riley.Morgan@Example.ORG ",
                  "phone": "(201) 555-0123", "locale": "en-US"},
  "channels": ["email", "sms"], "sms_consent": true,
  "accommodations": [{"kind": "captions", "details": "hard of hearing"}]})json";

constexpr std::string_view kSession = R"json({
  "session_id": "s-1", "group": "ibd", "title": "IBD peer support",
  "starts_at": "2027-01-20T18:30:00Z", "time_zone": "Europe/London", "duration_minutes": 75,
  "join_url": "https://zoom.example.org/j/333",
  "facilitators": [{"name": "Jo Patel", "email": "Jo@Example.ORG", "phone": "+44 20 7946 0958"}]})json";

std::string edited(std::string_view json, const std::function<void(Json&)>& edit) {
  Json j = Json::parse(json);
  edit(j);
  return j.dump();
}

// An envelope around `data`.
std::string envelope(
    std::string_view type, std::string_view data,
    const std::function<void(Json&)>& edit = [](Json&) {}) {
  Json j = {{"type", std::string(type)}, {"data", Json::parse(data)}};
  edit(j);
  return j.dump();
}

class IntakeTest : public ::testing::Test {
 protected:
  Intake make(Sealer* sealer, std::string key = kKey) {
    return Intake(IntakeOptions{sealer, std::move(key),
                                [this] { return "evt-test-" + std::to_string(++ids_made_); }});
  }

  NewEvent ok(Result<NewEvent> r) {
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? std::move(*r) : NewEvent{};
  }

  // The Status of an intake that must fail.
  static Status error(const Result<NewEvent>& r) {
    EXPECT_FALSE(r.is_ok()) << "accepted, but should not be";
    return r.status();
  }

  static RegistrationReceived registration(const NewEvent& ev) {
    return std::get<RegistrationReceived>(ev.data);
  }

  PlainSealer plain_;
  int ids_made_ = 0;
};

// ---- addresses and participant ids ------------------------------------------------------

TEST_F(IntakeTest, RefusesToDeriveIdsWithoutAProperKey) {
  for (std::string key : {std::string(), std::string(16, 'k'), std::string(100, 'k')}) {
    Intake intake = make(&plain_, key);
    Status s = error(intake.from_data_json(EventType::kRegistrationReceived, kRegistration));
    EXPECT_NE(s.message().find("participant-id key"), std::string::npos) << s.to_string();
  }
}

TEST_F(IntakeTest, EmailIsTrimmedAndItsDomainLowerCased) {
  Intake intake = make(&plain_);
  auto r = registration(ok(intake.from_data_json(EventType::kRegistrationReceived, kRegistration)));
  ASSERT_TRUE(r.participant.email.has_value());
  EXPECT_EQ(r.participant.email->sealed, "Riley.Morgan@example.org");
}

TEST_F(IntakeTest, PhoneIsReadInTheRegionOfTheLocale) {
  Intake intake = make(&plain_);
  auto us =
      registration(ok(intake.from_data_json(EventType::kRegistrationReceived, kRegistration)));
  ASSERT_TRUE(us.participant.phone.has_value());
  EXPECT_EQ(us.participant.phone->sealed, "+12015550123");

  std::string gb = edited(kRegistration, [](Json& j) {
    j["participant"]["phone"] = "020 7946 0958";
    j["participant"]["locale"] = "en-GB";
  });
  auto uk = registration(ok(intake.from_data_json(EventType::kRegistrationReceived, gb)));
  EXPECT_EQ(uk.participant.phone->sealed, "+442079460958");
}

TEST_F(IntakeTest, NationalPhoneWithoutLocaleAsksForTheCountryCode) {
  Intake intake = make(&plain_);
  std::string json = edited(kRegistration, [](Json& j) { j["participant"].erase("locale"); });
  Status s = error(intake.from_data_json(EventType::kRegistrationReceived, json));
  EXPECT_EQ(s.code(), Code::kInvalidField);
  EXPECT_EQ(s.field(), "data.participant.phone");
  EXPECT_NE(s.message().find("country code"), std::string::npos) << s.message();
}

TEST_F(IntakeTest, InvalidAddressesNameTheirField) {
  Intake intake = make(&plain_);
  for (const char* email : {"riley.example.org", "riley@example..org", "riley@localhost"}) {
    std::string json = edited(kRegistration, [&](Json& j) { j["participant"]["email"] = email; });
    EXPECT_EQ(error(intake.from_data_json(EventType::kRegistrationReceived, json)).field(),
              "data.participant.email")
        << email;
  }
  for (const char* phone : {"hello", "+1 555", "0"}) {
    std::string json = edited(kRegistration, [&](Json& j) { j["participant"]["phone"] = phone; });
    EXPECT_EQ(error(intake.from_data_json(EventType::kRegistrationReceived, json)).field(),
              "data.participant.phone")
        << phone;
  }
  EXPECT_EQ(error(intake.from_data_json(
                      EventType::kSessionScheduled,
                      edited(kSession, [](Json& j) { j["facilitators"][0]["email"] = "jo@"; })))
                .field(),
            "data.facilitators[0].email");
  EXPECT_EQ(error(intake.from_data_json(EventType::kParticipantOptedOut,
                                        R"({"channel":"sms","address":"not a number"})"))
                .field(),
            "data.address");
}

// Intake takes any rule libical reads: an import of a log written before the HTTP route
// refused rules with two meetings a day must still go in (see ingress_native.cpp).
TEST_F(IntakeTest, AnImportedSeriesKeepsItsRule) {
  Intake intake = make(&plain_);
  auto series = std::get<SeriesScheduled>(
      ok(intake.from_data_json(EventType::kSeriesScheduled,
                               R"({"series_id":"x","group":"g","title":"T",)"
                               R"("rrule":"FREQ=DAILY;BYHOUR=9,17","time_zone":"UTC",)"
                               R"("first_starts_at":"2027-01-12T18:00:00Z",)"
                               R"("duration_minutes":60,"join_url":"u","facilitators":[]})"))
          .data);
  EXPECT_EQ(series.rrule, "FREQ=DAILY;BYHOUR=9,17");
}

TEST_F(IntakeTest, ParticipantIdIsDerivedFromTheNormalisedEmail) {
  Intake intake = make(&plain_);
  auto r = registration(ok(intake.from_data_json(EventType::kRegistrationReceived, kRegistration)));
  ASSERT_TRUE(r.participant.participant_id.has_value());
  EXPECT_EQ(*r.participant.participant_id, derive_participant_id(kKey, "riley.morgan@example.org"));
  EXPECT_TRUE(std::regex_match(*r.participant.participant_id, std::regex("p-[0-9a-f]{32}")))
      << *r.participant.participant_id;
}

TEST_F(IntakeTest, SomeoneErasedWhoComesBackIsANewParticipant) {
  const std::string basis = "riley.morgan@example.org";
  const std::string first = derive_participant_id(kKey, basis);
  const std::string second = derive_participant_id(kKey, basis + "#2");
  const std::string third = derive_participant_id(kKey, basis + "#3");
  std::set<std::string> erased;
  IntakeOptions options{&plain_, kKey, nullptr};
  options.erased = [&](const std::string& id) { return erased.count(id) > 0; };
  Intake intake(std::move(options));
  auto id = [&] {
    return *registration(ok(intake.from_data_json(EventType::kRegistrationReceived, kRegistration)))
                .participant.participant_id;
  };
  EXPECT_EQ(id(), first);
  erased.insert(first);
  EXPECT_EQ(id(), second);
  EXPECT_EQ(id(), second);  // the same again: a retried request names the same participant
  erased.insert(second);
  EXPECT_EQ(id(), third);
  // An id the sender gives is kept, erased or not: an exported log imported again must stay
  // a set of duplicates of what is there.
  std::string given =
      edited(kRegistration, [&](Json& j) { j["participant"]["participant_id"] = first; });
  EXPECT_EQ(*registration(ok(intake.from_data_json(EventType::kRegistrationReceived, given)))
                 .participant.participant_id,
            first);
}

TEST_F(IntakeTest, SameEmailInAnotherCaseIsTheSameParticipant) {
  Intake intake = make(&plain_);
  std::string other = edited(kRegistration, [](Json& j) {
    j["registration_id"] = "r-1002";
    j["participant"]["email"] = "riley.morgan@example.org";
    j["participant"]["phone"] = "+1 201 555 0199";  // another phone: the email decides
  });
  auto a = registration(ok(intake.from_data_json(EventType::kRegistrationReceived, kRegistration)));
  auto b = registration(ok(intake.from_data_json(EventType::kRegistrationReceived, other)));
  EXPECT_EQ(a.participant.participant_id, b.participant.participant_id);

  std::string someone_else =
      edited(kRegistration, [](Json& j) { j["participant"]["email"] = "robin@example.org"; });
  auto c = registration(ok(intake.from_data_json(EventType::kRegistrationReceived, someone_else)));
  EXPECT_NE(a.participant.participant_id, c.participant.participant_id);
}

TEST_F(IntakeTest, ParticipantIdDependsOnTheKey) {
  Intake one = make(&plain_, std::string(32, 'a'));
  Intake two = make(&plain_, std::string(32, 'b'));
  auto a = registration(ok(one.from_data_json(EventType::kRegistrationReceived, kRegistration)));
  auto b = registration(ok(two.from_data_json(EventType::kRegistrationReceived, kRegistration)));
  EXPECT_NE(a.participant.participant_id, b.participant.participant_id);
  EXPECT_EQ(derive_participant_id(std::string(32, 'a'), "x@example.org"),
            derive_participant_id(std::string(32, 'a'), "x@example.org"));
  EXPECT_NE(derive_participant_id(std::string(32, 'a'), "x@example.org"),
            derive_participant_id(std::string(32, 'b'), "x@example.org"));
}

TEST_F(IntakeTest, ParticipantIdFromPhoneWhenThereIsNoEmail) {
  Intake intake = make(&plain_);
  std::string json = edited(kRegistration, [](Json& j) {
    j["participant"].erase("email");
    j["channels"] = Json::array({"sms"});
  });
  auto r = registration(ok(intake.from_data_json(EventType::kRegistrationReceived, json)));
  EXPECT_EQ(r.participant.participant_id, derive_participant_id(kKey, "tel:+12015550123"));
}

TEST_F(IntakeTest, GivenParticipantIdIsKept) {
  Intake intake = make(&plain_);
  std::string json =
      edited(kRegistration, [](Json& j) { j["participant"]["participant_id"] = "p-admin-7"; });
  auto r = registration(ok(intake.from_data_json(EventType::kRegistrationReceived, json)));
  EXPECT_EQ(r.participant.participant_id, "p-admin-7");
}

TEST_F(IntakeTest, FacilitatorAndOptOutAddressesAreNormalised) {
  Intake intake = make(&plain_);
  auto s = std::get<SessionScheduled>(
      ok(intake.from_data_json(EventType::kSessionScheduled, kSession)).data);
  EXPECT_EQ(s.facilitators[0].email->sealed, "Jo@example.org");
  EXPECT_EQ(s.facilitators[0].phone->sealed, "+442079460958");
  auto out = std::get<ParticipantOptedOut>(
      ok(intake.from_data_json(EventType::kParticipantOptedOut,
                               R"({"channel":"sms","address":"+1 (201) 555-0123"})"))
          .data);
  EXPECT_EQ(out.address.sealed, "+12015550123");
}

// ---- event ids ----------------------------------------------------------------------------

TEST_F(IntakeTest, NaturalIdsForEventsWithANaturalKey) {
  Intake intake = make(&plain_);
  EXPECT_EQ(ok(intake.from_data_json(EventType::kRegistrationReceived, kRegistration)).id,
            "registration.received/r-1001");
  EXPECT_EQ(ok(intake.from_data_json(EventType::kRegistrationCancelled,
                                     R"({"registration_id":"r-1001"})"))
                .id,
            "registration.cancelled/r-1001");
  EXPECT_EQ(ok(intake.from_data_json(EventType::kNotificationSent,
                                     R"({"notification_id":"n-1","channel":"sms","attempt":2})"))
                .id,
            "notification.sent/n-1/2");
  EXPECT_EQ(ids_made_, 0);
}

TEST_F(IntakeTest, FreshIdsOtherwise) {
  Intake intake = make(&plain_);
  EXPECT_EQ(ok(intake.from_data_json(EventType::kSessionUpdated,
                                     R"({"session_id":"s-1","title":"New title"})"))
                .id,
            "evt-test-1");
  EXPECT_EQ(ok(intake.from_data_json(EventType::kParticipantOptedOut,
                                     R"({"channel":"email","address":"a@example.org"})"))
                .id,
            "evt-test-2");
}

TEST_F(IntakeTest, DefaultFreshIdsAreRandom) {
  Intake intake(IntakeOptions{&plain_, kKey, nullptr});
  std::string a =
      ok(intake.from_data_json(EventType::kSessionCancelled, R"({"session_id":"s"})")).id;
  std::string b =
      ok(intake.from_data_json(EventType::kSessionCancelled, R"({"session_id":"s"})")).id;
  EXPECT_TRUE(std::regex_match(a, std::regex("evt-[0-9a-f]{32}"))) << a;
  EXPECT_NE(a, b);
  EXPECT_NE(random_event_id(), random_event_id());
  // The first 12 digits are the system clock's milliseconds.
  int64_t now =
      std::chrono::floor<Millis>(std::chrono::system_clock::now()).time_since_epoch().count();
  int64_t stamped = std::stoll(a.substr(4, 12), nullptr, 16);
  EXPECT_LE(stamped, now);
  EXPECT_GT(stamped, now - 60'000);
}

TEST(TimeOrderedIdTest, IsThePrefixTwelveDigitsOfMillisecondsAndRandomHex) {
  TimePoint t{Millis{0x0123456789ab}};
  std::string id = time_ordered_id("reg-", t, 6);
  EXPECT_TRUE(std::regex_match(id, std::regex("reg-0123456789ab[0-9a-f]{12}"))) << id;
  EXPECT_NE(time_ordered_id("reg-", t, 6), id);  // the random part differs
  EXPECT_EQ(time_ordered_id("x", TimePoint{Millis{5}}, 0), "x000000000005");
  // A time before the epoch is written as zero, not wrapped to the end of the order.
  EXPECT_EQ(time_ordered_id("x", TimePoint{Millis{-5}}, 0), "x000000000000");
  // Never more than 32 random bytes, however many are asked for.
  EXPECT_EQ(time_ordered_id("", t, 1000).size(), 12u + 64u);
}

TEST(TimeOrderedIdTest, LaterIdsSortAfterEarlierOnesWhateverTheirRandomPart) {
  // This is what keeps the log's unique indexes append-mostly: every id made in a later
  // millisecond is greater than every id made earlier, including across digit carries.
  std::vector<int64_t> times = {
      1, 15, 16, 255, 256, 1'700'000'000'000, 1'799'999'999'999, 1'800'000'000'000};
  std::string before;
  for (int64_t ms : times) {
    for (int i = 0; i < 50; ++i) {
      std::string id = time_ordered_id("evt-", TimePoint{Millis{ms}}, 10);
      EXPECT_LT(before, id) << ms;
    }
    before = time_ordered_id("evt-", TimePoint{Millis{ms}}, 0) + std::string(20, 'f');
  }
}

TEST_F(IntakeTest, EnvelopeIdWinsOverTheNaturalId) {
  Intake intake = make(&plain_);
  NewEvent ev = ok(intake.from_envelope_json(
      envelope("registration.received", kRegistration, [](Json& j) { j["id"] = "import-42"; })));
  EXPECT_EQ(ev.id, "import-42");
  Status s = error(intake.from_envelope_json(envelope(
      "registration.received", kRegistration, [](Json& j) { j["id"] = std::string(201, 'i'); })));
  EXPECT_EQ(s.field(), "id");
}

// ---- sealing ------------------------------------------------------------------------------

TEST_F(IntakeTest, EveryPersonalValueOfARegistrationIsSealed) {
  WrapSealer sealer;
  Intake intake = make(&sealer);
  NewEvent ev = ok(intake.from_data_json(EventType::kRegistrationReceived, kRegistration));
  auto r = registration(ev);
  EXPECT_EQ(r.participant.name.sealed, "S(Riley Morgan)");
  EXPECT_EQ(r.participant.email->sealed, "S(Riley.Morgan@example.org)");
  EXPECT_EQ(r.participant.phone->sealed, "S(+12015550123)");
  EXPECT_EQ((*r.accommodations)[0].details->sealed, "S(hard of hearing)");
  // What is not personal is left alone.
  EXPECT_EQ(r.registration_id, "r-1001");
  EXPECT_EQ(r.participant.locale, "en-US");
  EXPECT_EQ((*r.accommodations)[0].kind, "captions");
  EXPECT_EQ(r.participant.participant_id->rfind("p-", 0), 0u);
  // Sealed for the participant, bound to the event.
  ASSERT_EQ(sealer.sealed_with.size(), 4u);
  for (const std::string& ctx : sealer.sealed_with) {
    EXPECT_EQ(ctx,
              "participant/" + *r.participant.participant_id + " registration.received/r-1001");
  }
}

TEST_F(IntakeTest, EveryPersonalValueOfOtherEventsIsSealed) {
  WrapSealer sealer;
  Intake intake = make(&sealer);

  auto s = std::get<SessionScheduled>(
      ok(intake.from_data_json(EventType::kSessionScheduled, kSession)).data);
  EXPECT_EQ(s.facilitators[0].name.sealed, "S(Jo Patel)");
  EXPECT_EQ(s.facilitators[0].email->sealed, "S(Jo@example.org)");
  EXPECT_EQ(s.facilitators[0].phone->sealed, "S(+442079460958)");
  EXPECT_EQ(s.title, "IBD peer support");

  auto series = std::get<SeriesScheduled>(
      ok(intake.from_data_json(EventType::kSeriesScheduled,
                               R"json({"series_id":"x","group":"g","title":"T",
                                 "rrule":"FREQ=WEEKLY","first_starts_at":"2027-01-12T18:00:00Z",
                                 "time_zone":"UTC","duration_minutes":60,"join_url":"u",
                                 "facilitators":[{"name":"Alex Chen","phone":"+14155552671"}]})json"))
          .data);
  EXPECT_EQ(series.facilitators[0].name.sealed, "S(Alex Chen)");
  EXPECT_EQ(series.facilitators[0].phone->sealed, "S(+14155552671)");

  auto updated = std::get<SessionUpdated>(
      ok(intake.from_data_json(EventType::kSessionUpdated,
                               R"({"session_id":"s-1","facilitators":[{"name":"Sam Rivera",)"
                               R"("email":"sam@example.org"}],"description":"Room 4"})"))
          .data);
  EXPECT_EQ((*updated.facilitators)[0].name.sealed, "S(Sam Rivera)");
  EXPECT_EQ((*updated.facilitators)[0].email->sealed, "S(sam@example.org)");
  // A session's free text may name a person or their health ("Jo is ill"): sealed too.
  EXPECT_EQ(updated.description->sealed, "S(Room 4)");
  auto session_cancelled = std::get<SessionCancelled>(
      ok(intake.from_data_json(EventType::kSessionCancelled,
                               R"({"session_id":"s-1","reason":"Jo Patel is ill"})"))
          .data);
  EXPECT_EQ(session_cancelled.reason->sealed, "S(Jo Patel is ill)");
  auto series_cancelled = std::get<SeriesCancelled>(
      ok(intake.from_data_json(EventType::kSeriesCancelled,
                               R"({"series_id":"he","reason":"Jo Patel is ill"})"))
          .data);
  EXPECT_EQ(series_cancelled.reason->sealed, "S(Jo Patel is ill)");

  auto out = std::get<ParticipantOptedOut>(
      ok(intake.from_data_json(EventType::kParticipantOptedOut,
                               R"({"channel":"email","address":"Riley@Example.org"})"))
          .data);
  EXPECT_EQ(out.address.sealed, "S(Riley@example.org)");
  EXPECT_EQ(out.channel, "email");

  auto in = std::get<ParticipantOptedIn>(
      ok(intake.from_data_json(EventType::kParticipantOptedIn,
                               R"({"channel":"sms","address":"+12015550123"})"))
          .data);
  EXPECT_EQ(in.address.sealed, "S(+12015550123)");

  auto cancelled = std::get<RegistrationCancelled>(
      ok(intake.from_data_json(EventType::kRegistrationCancelled,
                               R"({"registration_id":"r-1001","reason":"flare-up"})"))
          .data);
  EXPECT_EQ(cancelled.reason->sealed, "S(flare-up)");

  auto arranged = std::get<AccommodationArranged>(
      ok(intake.from_data_json(EventType::kAccommodationArranged,
                               R"({"registration_id":"r-1001","kind":"asl","note":"Kim booked"})"))
          .data);
  EXPECT_EQ(arranged.note->sealed, "S(Kim booked)");
  EXPECT_EQ(arranged.kind, "asl");
}

TEST_F(IntakeTest, SealedEncodingHoldsNoPlaintextAndOpensBack) {
  struct Case {
    EventType type;
    std::string data;
    std::vector<std::string> plaintexts;
  };
  const std::vector<Case> cases = {
      {EventType::kRegistrationReceived,
       std::string(kRegistration),
       {"Riley", "Morgan", "example.org", "+1201", "hard of hearing"}},
      {EventType::kSessionScheduled, std::string(kSession), {"Jo", "Patel", "@", "+4420"}},
      {EventType::kSessionUpdated,
       R"({"session_id":"s-1","facilitators":[{"name":"Sam Rivera","phone":"+12015550123"}]})",
       {"Sam", "Rivera", "+1201"}},
      {EventType::kParticipantOptedOut,
       R"({"channel":"email","address":"riley@example.org"})",
       {"riley", "@"}},
      {EventType::kParticipantOptedIn, R"({"channel":"sms","address":"+12015550123"})", {"+1201"}},
      {EventType::kRegistrationCancelled,
       R"({"registration_id":"r-1001","reason":"chemo moved"})",
       {"chemo"}},
      {EventType::kAccommodationArranged,
       R"({"registration_id":"r-1001","kind":"asl","note":"Kim booked"})",
       {"Kim"}},
  };
  HexSealer sealer;
  Intake intake = make(&sealer);
  Intake plain_intake = make(&plain_);
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(event_type_name(c.type)));
    NewEvent ev = ok(intake.from_data_json(c.type, c.data));
    std::string sealed = encode_data(ev.data, PersonalOut::kSealed);
    for (const std::string& plain : c.plaintexts) {
      EXPECT_EQ(sealed.find(plain), std::string::npos) << plain << " leaked into " << sealed;
    }
    // Opening with the event's id gives the normalised plaintext back, field for field.
    NewEvent expected = ok(plain_intake.from_data_json(c.type, c.data));
    EXPECT_EQ(encode_data(ev.data, PersonalOut::kOpened, &sealer, ev.id),
              encode_data(expected.data, PersonalOut::kSealed));
  }
}

TEST_F(IntakeTest, ForEachPersonalVisitsEveryPersonalValue) {
  Intake intake = make(&plain_);
  NewEvent ev = ok(intake.from_data_json(EventType::kRegistrationReceived, kRegistration));
  std::set<std::string> seen;
  for_each_personal(ev.data, [&](Personal& p) { seen.insert(p.sealed); });
  EXPECT_EQ(seen, (std::set<std::string>{"Riley Morgan", "Riley.Morgan@example.org", "+12015550123",
                                         "hard of hearing"}));
}

// ---- prepare() ----------------------------------------------------------------------------

TEST_F(IntakeTest, PrepareValidatesNormalisesAndSeals) {
  WrapSealer sealer;
  Intake intake = make(&sealer);
  ParticipantOptedOut out{"email", Personal{" Sam@Example.ORG"}};
  NewEvent ev = ok(intake.prepare(out, "", R"({"source":"test"})"));
  EXPECT_EQ(std::get<ParticipantOptedOut>(ev.data).address.sealed, "S(Sam@example.org)");
  EXPECT_EQ(ev.id, "evt-test-1");
  EXPECT_EQ(ev.meta, R"({"source":"test"})");

  RegistrationReceived bad;
  bad.registration_id = "r-1";
  bad.session_id = "s-1";
  bad.participant.name.sealed = "R";
  EXPECT_EQ(error(intake.prepare(bad)).field(), "channels");
}

// ---- envelopes ----------------------------------------------------------------------------

TEST_F(IntakeTest, FullEnvelopeIsRead) {
  Intake intake = make(&plain_);
  NewEvent ev = ok(intake.from_envelope_json(envelope("session.scheduled", kSession, [](Json& j) {
    j["id"] = "imp-1";
    j["schema"] = 1;
    j["stream"] = "session/s-1";
    j["meta"] = Json{{"source", "import"}, {"line", 3}};
    j["expected_version"] = 0;
    j["recorded_at"] = "2026-11-26T10:00:00.123Z";
    j["position"] = 42;  // an exported line: the store's to assign, ignored
    j["version"] = 1;
  })));
  EXPECT_EQ(ev.id, "imp-1");
  EXPECT_EQ(type_of(ev.data), EventType::kSessionScheduled);
  EXPECT_EQ(ev.meta, R"({"source":"import","line":3})");
  EXPECT_EQ(ev.expected_version, 0);
  ASSERT_TRUE(ev.recorded_at.has_value());
  EXPECT_EQ(format_utc_millis(*ev.recorded_at), "2026-11-26T10:00:00.123Z");
}

// A given recorded_at is kept (an import keeps each event's time), but not one ahead of the
// clock by more than the allowed skew: the planner reads it as when the fact became known, and
// a registration "recorded" next year got neither confirmation nor reminders until then.
TEST_F(IntakeTest, ARecordedAtInTheFutureIsRefused) {
  IntakeOptions options{&plain_, kKey, nullptr};
  options.now = [] { return testing::at("2026-11-26T10:00:00Z"); };
  Intake intake(std::move(options));
  auto with = [&](const char* recorded_at) {
    return intake.from_envelope_json(envelope("registration.received", kRegistration,
                                              [&](Json& j) { j["recorded_at"] = recorded_at; }));
  };
  EXPECT_TRUE(with("2026-11-26T10:04:59Z").is_ok());  // within the skew
  EXPECT_TRUE(with("2019-01-01T00:00:00Z").is_ok());  // the past: an import of history
  for (const char* future : {"2026-11-26T10:05:01Z", "2099-01-01T00:00:00Z"}) {
    Status s = error(with(future));
    EXPECT_EQ(s.code(), Code::kInvalidField) << future;
    EXPECT_EQ(s.field(), "recorded_at") << future;
  }
}

TEST_F(IntakeTest, MinimalEnvelopeHasDefaults) {
  Intake intake = make(&plain_);
  NewEvent ev = ok(intake.from_envelope_json(envelope("registration.received", kRegistration)));
  EXPECT_EQ(ev.id, "registration.received/r-1001");
  EXPECT_EQ(ev.meta, "{}");
  EXPECT_FALSE(ev.expected_version.has_value());
  EXPECT_FALSE(ev.recorded_at.has_value());
}

TEST_F(IntakeTest, EnvelopeThatIsNotJsonOrNotAnObjectIsMalformed) {
  Intake intake = make(&plain_);
  for (const char* json : {"", "{", "not json", "{\"type\": }", "[]", "\"event\"", "null"}) {
    EXPECT_EQ(error(intake.from_envelope_json(json)).code(), Code::kMalformed) << json;
  }
}

TEST_F(IntakeTest, EnvelopeFieldErrors) {
  Intake intake = make(&plain_);
  struct Case {
    const char* what;
    std::function<void(Json&)> edit;
    const char* field;
  };
  const Case cases[] = {
      {"missing type", [](Json& j) { j.erase("type"); }, "type"},
      {"type not a string", [](Json& j) { j["type"] = 6; }, "type"},
      {"unknown type", [](Json& j) { j["type"] = "registration.recieved"; }, "type"},
      {"unknown envelope field", [](Json& j) { j["payload"] = Json::object(); }, "payload"},
      {"mismatched stream", [](Json& j) { j["stream"] = "registration/r-9"; }, "stream"},
      {"stream not a string", [](Json& j) { j["stream"] = 1; }, "stream"},
      {"bad recorded_at", [](Json& j) { j["recorded_at"] = "yesterday"; }, "recorded_at"},
      {"recorded_at not a string", [](Json& j) { j["recorded_at"] = 1764151200; }, "recorded_at"},
      {"impossible recorded_at", [](Json& j) { j["recorded_at"] = "2027-02-30T00:00:00Z"; },
       "recorded_at"},
      {"negative expected_version", [](Json& j) { j["expected_version"] = -1; },
       "expected_version"},
      {"expected_version as text", [](Json& j) { j["expected_version"] = "3"; },
       "expected_version"},
      {"fractional expected_version", [](Json& j) { j["expected_version"] = 1.5; },
       "expected_version"},
      {"missing data", [](Json& j) { j.erase("data"); }, "data"},
      {"data not an object", [](Json& j) { j["data"] = Json::array(); }, "data"},
      {"empty id", [](Json& j) { j["id"] = ""; }, "id"},
      {"id not a string", [](Json& j) { j["id"] = 7; }, "id"},
      {"meta not an object", [](Json& j) { j["meta"] = "webhook"; }, "meta"},
      // meta is stored in clear and kept after erasure: provenance tokens only, no free text.
      {"free text in meta",
       [](Json& j) {
         j["meta"] = Json{{"source", "form"}, {"answers", "I have sickle cell"}};
       },
       "meta.answers"},
      {"an address in meta",
       [](Json& j) {
         j["meta"] = Json{{"submitted_by", "kara.meta@example.org"}};
       },
       "meta.submitted_by"},
      {"an object in meta",
       [](Json& j) {
         j["meta"] = Json{{"form", Json::object()}};
       },
       "meta.form"},
      {"a key with a space in meta",
       [](Json& j) {
         j["meta"] = Json{{"my note", "x"}};
       },
       "meta"},
      {"schema not a number", [](Json& j) { j["schema"] = "1"; }, "schema"},
      {"negative schema", [](Json& j) { j["schema"] = -1; }, "schema"},
  };
  for (const Case& c : cases) {
    Status s =
        error(intake.from_envelope_json(envelope("registration.received", kRegistration, c.edit)));
    EXPECT_EQ(s.code(), Code::kInvalidField) << c.what << ": " << s.to_string();
    EXPECT_EQ(s.field(), c.field) << c.what << ": " << s.to_string();
  }
}

TEST_F(IntakeTest, DataErrorsInAnEnvelopeArePrefixedWithData) {
  Intake intake = make(&plain_);
  auto field = [&](const std::function<void(Json&)>& edit) {
    return error(intake.from_envelope_json(
                     envelope("registration.received", edited(kRegistration, edit))))
        .field();
  };
  EXPECT_EQ(field([](Json& j) { j["participant"]["email"] = "nobody"; }), "data.participant.email");
  EXPECT_EQ(field([](Json& j) { j["participant"]["locale"] = "Eve has MS"; }),
            "data.participant.locale");
  EXPECT_EQ(field([](Json& j) { j["participant"]["phone"] = "nothing"; }),
            "data.participant.phone");
  EXPECT_EQ(field([](Json& j) { j["sms_concent"] = true; }), "data.sms_concent");
  EXPECT_EQ(field([](Json& j) { j["channels"] = Json::array(); }), "data.channels");
  EXPECT_EQ(field([](Json& j) { j["accommodations"][0]["kind"] = "x"; }),
            "data.accommodations[0].kind");
  EXPECT_EQ(field([](Json& j) { j["participant"].erase("name"); }), "data.participant.name");
}

TEST_F(IntakeTest, DataJsonMetaMustBeAnObject) {
  Intake intake = make(&plain_);
  NewEvent ev = ok(intake.from_data_json(EventType::kRegistrationReceived, kRegistration,
                                         R"( {"source": "webhook:native"} )"));
  EXPECT_EQ(ev.meta, R"({"source":"webhook:native"})");
  EXPECT_EQ(
      error(intake.from_data_json(EventType::kRegistrationReceived, kRegistration, "[]")).field(),
      "meta");
  EXPECT_EQ(error(intake.from_data_json(EventType::kRegistrationReceived, "[]")).code(),
            Code::kMalformed);
}

TEST(NaturalEventIdTest, LongIdsAreBoundedAndStable) {
  NotificationSent sent;
  sent.notification_id =
      "facilitator.roster:" + std::string(150, 's') + "/facilitator0:email:20270111T190000Z:r1";
  sent.channel = "email";
  sent.attempt = 1;
  std::string id = natural_event_id(sent);
  EXPECT_LE(id.size(), 200u);
  EXPECT_EQ(id.rfind("notification.sent/h-", 0), 0u) << id;
  EXPECT_EQ(id, natural_event_id(sent));
  sent.attempt = 2;
  EXPECT_NE(id, natural_event_id(sent));
  sent.notification_id = "short";
  EXPECT_EQ(natural_event_id(sent), "notification.sent/short/2");
}

}  // namespace
}  // namespace nudged
