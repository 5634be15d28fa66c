// Tests of events/upcast.h: reading registration.received written at schema 0 (the first web
// form) as schema 1, and refusing schemas this build does not know.
#include "events/upcast.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "events/codec.h"
#include "events/intake.h"

namespace nudged {
namespace {

using Json = nlohmann::json;

// A registration as the first web form wrote it.
constexpr std::string_view kSchema0 = R"json({
  "registration_id": "r-7", "session_id": "general-2027-01-12",
  "participant": {"name": "Riley Morgan", "email": "riley@example.org", "phone": "+12015550123"},
  "channel": "both", "sms_opt_in": true, "discreet": true,
  "accommodations": [{"kind": "captions"}]})json";

std::string with_channel(std::string_view channel, bool opt_in) {
  Json j = Json::parse(kSchema0);
  j["channel"] = std::string(channel);
  j["sms_opt_in"] = opt_in;
  return j.dump();
}

Json upcast_ok(EventType type, int schema, std::string_view json) {
  Result<std::string> r = upcast_data(type, schema, json);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? Json::parse(*r) : Json();
}

TEST(Upcast, OldestSchemas) {
  EXPECT_EQ(current_schema(EventType::kRegistrationReceived), 1);
  EXPECT_EQ(oldest_schema(EventType::kRegistrationReceived), 0);
  EXPECT_EQ(oldest_schema(EventType::kSessionScheduled), 1);
  EXPECT_EQ(oldest_schema(EventType::kNotificationSent), 1);
}

TEST(Upcast, RegistrationSchema0BothLiftsToChannelsAndConsent) {
  Json j = upcast_ok(EventType::kRegistrationReceived, 0, kSchema0);
  EXPECT_EQ(j["channels"], Json::array({"email", "sms"}));
  EXPECT_EQ(j["sms_consent"], true);
  EXPECT_FALSE(j.contains("channel"));
  EXPECT_FALSE(j.contains("sms_opt_in"));
  // Everything else is carried over untouched.
  EXPECT_EQ(j["registration_id"], "r-7");
  EXPECT_EQ(j["participant"]["name"], "Riley Morgan");
  EXPECT_EQ(j["discreet"], true);
  EXPECT_EQ(j["accommodations"][0]["kind"], "captions");
}

TEST(Upcast, RegistrationSchema0SingleChannels) {
  Json email = upcast_ok(EventType::kRegistrationReceived, 0, with_channel("email", false));
  EXPECT_EQ(email["channels"], Json::array({"email"}));
  EXPECT_EQ(email["sms_consent"], false);
  Json sms = upcast_ok(EventType::kRegistrationReceived, 0, with_channel("sms", true));
  EXPECT_EQ(sms["channels"], Json::array({"sms"}));
  EXPECT_EQ(sms["sms_consent"], true);
}

TEST(Upcast, LiftedRegistrationDecodesStrictly) {
  Result<std::string> lifted = upcast_data(EventType::kRegistrationReceived, 0, kSchema0);
  ASSERT_TRUE(lifted.is_ok()) << lifted.status().to_string();
  Decoder decoder;
  Result<EventData> data =
      decoder.decode(EventType::kRegistrationReceived, *lifted, DecodeMode::kStrict);
  ASSERT_TRUE(data.is_ok()) << data.status().to_string();
  EXPECT_EQ(
      encode_data(*data),
      R"json({"registration_id":"r-7","session_id":"general-2027-01-12","participant":{"name":"Riley Morgan","email":"riley@example.org","phone":"+12015550123"},"channels":["email","sms"],"sms_consent":true,"discreet":true,"accommodations":[{"kind":"captions"}]})json");
}

TEST(Upcast, Schema0ConsentRulesStillApplyAfterLifting) {
  // "both" without opting in lifts faithfully, and the strict decoder then refuses it.
  Result<std::string> lifted =
      upcast_data(EventType::kRegistrationReceived, 0, with_channel("both", false));
  ASSERT_TRUE(lifted.is_ok()) << lifted.status().to_string();
  Decoder decoder;
  Result<EventData> data =
      decoder.decode(EventType::kRegistrationReceived, *lifted, DecodeMode::kStrict);
  ASSERT_FALSE(data.is_ok());
  EXPECT_EQ(data.status().field(), "sms_consent");
}

TEST(Upcast, Schema0BadChannelIsRefused) {
  Result<std::string> r =
      upcast_data(EventType::kRegistrationReceived, 0, with_channel("pigeon", true));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidField);
  EXPECT_EQ(r.status().field(), "channel");

  Json j = Json::parse(kSchema0);
  j["channel"] = Json::array({"email"});
  r = upcast_data(EventType::kRegistrationReceived, 0, j.dump());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().field(), "channel");
}

TEST(Upcast, Schema0ThatIsNotAJsonObjectIsMalformed) {
  for (const char* json : {"{", "not json", "[]", "42"}) {
    Result<std::string> r = upcast_data(EventType::kRegistrationReceived, 0, json);
    ASSERT_FALSE(r.is_ok()) << json;
    EXPECT_EQ(r.status().code(), Code::kMalformed) << json;
  }
}

TEST(Upcast, NewerSchemaIsRefused) {
  for (int schema : {2, 7}) {
    Result<std::string> r = upcast_data(EventType::kRegistrationReceived, schema, "{}");
    ASSERT_FALSE(r.is_ok()) << schema;
    EXPECT_EQ(r.status().code(), Code::kInvalidField);
    EXPECT_EQ(r.status().field(), "schema");
    EXPECT_NE(r.status().message().find("newer"), std::string::npos) << r.status().message();
  }
}

TEST(Upcast, UnknownOlderSchemaIsRefused) {
  Result<std::string> session = upcast_data(EventType::kSessionScheduled, 0, "{}");
  ASSERT_FALSE(session.is_ok());
  EXPECT_EQ(session.status().field(), "schema");
  EXPECT_NE(session.status().message().find("not known"), std::string::npos);

  Result<std::string> registration = upcast_data(EventType::kRegistrationReceived, -1, "{}");
  ASSERT_FALSE(registration.is_ok());
  EXPECT_EQ(registration.status().field(), "schema");
}

TEST(Upcast, CurrentSchemaIsReturnedUnchanged) {
  const std::string json = R"json( { "session_id" : "s-1",  "reason": "snow" } )json";
  Result<std::string> r = upcast_data(EventType::kSessionCancelled, 1, json);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, json);
  // A schema-1 registration is not touched either, even if it looks like schema 0.
  Result<std::string> reg = upcast_data(EventType::kRegistrationReceived, 1, kSchema0);
  ASSERT_TRUE(reg.is_ok());
  EXPECT_EQ(*reg, kSchema0);
}

// ---- through Intake -----------------------------------------------------------------------

class UpcastIntakeTest : public ::testing::Test {
 protected:
  Result<NewEvent> intake(std::string_view type, int schema, std::string_view data) {
    Json env = {{"type", std::string(type)}, {"schema", schema}, {"data", Json::parse(data)}};
    return intake_.from_envelope_json(env.dump());
  }

  PlainSealer sealer_;
  Intake intake_{IntakeOptions{&sealer_, std::string(32, 'k'), [] { return "evt-new"; }}};
};

TEST_F(UpcastIntakeTest, Schema0EnvelopeWorksEndToEnd) {
  Json data = Json::parse(kSchema0);
  data["participant"]["email"] = "Riley@EXAMPLE.org";
  data["participant"]["phone"] = "(201) 555-0123";
  data["participant"]["locale"] = "en-US";
  Result<NewEvent> ev = intake("registration.received", 0, data.dump());
  ASSERT_TRUE(ev.is_ok()) << ev.status().to_string();
  EXPECT_EQ(ev->id, "registration.received/r-7");
  const auto& r = std::get<RegistrationReceived>(ev->data);
  EXPECT_EQ(r.channels, (std::vector<std::string>{"email", "sms"}));
  EXPECT_TRUE(r.sms_consent);
  EXPECT_EQ(r.participant.email->sealed, "Riley@example.org");
  EXPECT_EQ(r.participant.phone->sealed, "+12015550123");
  EXPECT_EQ(r.participant.participant_id,
            derive_participant_id(std::string(32, 'k'), "riley@example.org"));
}

TEST_F(UpcastIntakeTest, Schema0EnvelopeErrorsNameTheDataField) {
  Result<NewEvent> ev = intake("registration.received", 0, with_channel("pigeon", true));
  ASSERT_FALSE(ev.is_ok());
  EXPECT_EQ(ev.status().field(), "data.channel");

  Json data = Json::parse(kSchema0);
  data["participant"]["email"] = "riley-at-example.org";
  ev = intake("registration.received", 0, data.dump());
  ASSERT_FALSE(ev.is_ok());
  EXPECT_EQ(ev.status().field(), "data.participant.email");
}

TEST_F(UpcastIntakeTest, UnknownSchemaInAnEnvelopeNamesTheSchemaField) {
  // "schema" is a field of the envelope, not of its data.
  Result<NewEvent> newer = intake("registration.received", 2, kSchema0);
  ASSERT_FALSE(newer.is_ok());
  EXPECT_EQ(newer.status().code(), Code::kInvalidField);
  EXPECT_EQ(newer.status().field(), "schema");

  Result<NewEvent> older = intake("session.cancelled", 0, R"({"session_id":"s-1"})");
  ASSERT_FALSE(older.is_ok());
  EXPECT_EQ(older.status().field(), "schema");
}

TEST_F(UpcastIntakeTest, CurrentSchemaEnvelopeOfSchema0ShapeIsRefused) {
  // Without "schema": 0 the old field names are unknown fields of schema 1.
  Json env = {{"type", "registration.received"}, {"data", Json::parse(kSchema0)}};
  Result<NewEvent> ev = intake_.from_envelope_json(env.dump());
  ASSERT_FALSE(ev.is_ok());
  EXPECT_EQ(ev.status().field(), "data.channels");
}

}  // namespace
}  // namespace nudged
