// Tests of events/codec.h: strict and stored decoding of every event type of SPEC §3, the
// field named by each strict error, canonical encoding, and redacted / opened personal values.
#include "events/codec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <set>
#include <string>
#include <vector>

namespace nudged {
namespace {

using Json = nlohmann::ordered_json;

// ---- helpers ------------------------------------------------------------------------------

EventType type_named(std::string_view name) {
  std::optional<EventType> type = parse_event_type(name);
  EXPECT_TRUE(type.has_value()) << name;
  return type.value_or(EventType::kSessionScheduled);
}

EventData decode_ok(std::string_view type, std::string_view json,
                    DecodeMode mode = DecodeMode::kStrict) {
  Decoder decoder;
  Result<EventData> r = decoder.decode(type_named(type), json, mode);
  EXPECT_TRUE(r.is_ok()) << type << " " << json << "\n" << r.status().to_string();
  return r.is_ok() ? *r : EventData{};
}

// The Status of a decode that must fail.
Status decode_error(std::string_view type, std::string_view json,
                    DecodeMode mode = DecodeMode::kStrict) {
  Decoder decoder;
  Result<EventData> r = decoder.decode(type_named(type), json, mode);
  EXPECT_FALSE(r.is_ok()) << type << " " << json << " decoded, but should not";
  return r.status();
}

// The field named by a strict decode that must fail with an invalid field.
std::string error_field(std::string_view type, std::string_view json) {
  Status s = decode_error(type, json);
  EXPECT_EQ(s.code(), Code::kInvalidField) << s.to_string();
  return s.field();
}

// A valid example, edited.
std::string edited(std::string_view json, const std::function<void(Json&)>& edit) {
  Json j = Json::parse(json);
  edit(j);
  return j.dump();
}

// A sealer whose sealed form is "S(<plaintext>)", and which records the contexts it opens with.
class WrapSealer final : public Sealer {
 public:
  Result<std::string> seal(std::string_view plaintext, const SealContext&) override {
    return "S(" + std::string(plaintext) + ")";
  }
  Result<std::string> open(std::string_view sealed, const SealContext& ctx) const override {
    opened_with.push_back(std::string(ctx.subject) + " " + std::string(ctx.event_id));
    if (sealed.size() < 3 || sealed.substr(0, 2) != "S(" || sealed.back() != ')') {
      return Status::corrupt("not sealed by this sealer");
    }
    return std::string(sealed.substr(2, sealed.size() - 3));
  }
  std::string blind_index(std::string_view plaintext) const override {
    return "S(" + std::string(plaintext) + ")";
  }
  mutable std::vector<std::string> opened_with;
};

// ---- valid examples of every event type ---------------------------------------------------

constexpr std::string_view kSession = R"json({
  "session_id": "general-2027-01-12", "group": "general", "title": "Monthly peer support",
  "starts_at": "2027-01-12T19:00:00-05:00", "time_zone": "America/New_York",
  "duration_minutes": 90, "join_url": "https://zoom.example.org/j/111",
  "facilitators": [{"name": "Sam Rivera", "email": "sam@example.org"}]})json";

constexpr std::string_view kSeries = R"json({
  "series_id": "higher-ed", "group": "higher-ed", "title": "Higher-education peer support",
  "rrule": "FREQ=MONTHLY;BYDAY=2TU", "first_starts_at": "2027-01-12T18:00:00-08:00",
  "time_zone": "America/Los_Angeles", "duration_minutes": 60,
  "join_url": "https://zoom.example.org/j/222", "facilitators": [{"name": "Alex Chen"}]})json";

constexpr std::string_view kRegistration = R"json({
  "registration_id": "r-1001", "session_id": "general-2027-01-12",
  "participant": {"name": "Riley Morgan", "email": "riley@example.org",
                  "phone": "+14155550142", "time_zone": "America/Los_Angeles"},
  "channels": ["email", "sms"], "sms_consent": true,
  "accommodations": [{"kind": "captions", "details": "needs live captions"}]})json";

struct Example {
  const char* type;
  const char* input;      // fields shuffled, with whitespace, every optional present
  const char* canonical;  // what encode_data must write
};

const Example kExamples[] = {
    {"session.scheduled",
     R"json({"title": "Monthly peer support", "session_id": "general-2027-01-12",
             "description": "Bring a drink", "capacity": 20, "zoom_meeting_id": "111",
             "group": "general", "time_zone": "America/New_York",
             "starts_at": "2027-01-12T19:00:00-05:00", "duration_minutes": 90,
             "join_url": "https://zoom.example.org/j/111",
             "facilitators": [{"phone": "+14155550123", "email": "sam@example.org",
                               "name": "Sam Rivera"}]})json",
     R"json({"session_id":"general-2027-01-12","group":"general","title":"Monthly peer support","starts_at":"2027-01-12T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":90,"join_url":"https://zoom.example.org/j/111","facilitators":[{"name":"Sam Rivera","email":"sam@example.org","phone":"+14155550123"}],"zoom_meeting_id":"111","capacity":20,"description":"Bring a drink"})json"},
    {"series.scheduled",
     R"json({"until": "2027-12-31T23:59:59Z", "zoom_meeting_id": "222",
             "rrule": "FREQ=MONTHLY;BYDAY=2TU", "series_id": "higher-ed", "group": "higher-ed",
             "title": "Higher-education peer support", "time_zone": "America/Los_Angeles",
             "first_starts_at": "2027-01-12T18:00:00-08:00", "duration_minutes": 60,
             "join_url": "https://zoom.example.org/j/222",
             "facilitators": [{"name": "Alex Chen", "phone": "+14155550123"},
                              {"name": "Jo Patel"}]})json",
     R"json({"series_id":"higher-ed","group":"higher-ed","title":"Higher-education peer support","rrule":"FREQ=MONTHLY;BYDAY=2TU","first_starts_at":"2027-01-12T18:00:00-08:00","time_zone":"America/Los_Angeles","duration_minutes":60,"join_url":"https://zoom.example.org/j/222","facilitators":[{"name":"Alex Chen","phone":"+14155550123"},{"name":"Jo Patel"}],"zoom_meeting_id":"222","until":"2027-12-31T23:59:59Z"})json"},
    {"series.cancelled", R"json({"reason": "merged with ibd", "series_id": "higher-ed"})json",
     R"json({"series_id":"higher-ed","reason":"merged with ibd"})json"},
    {"session.updated",
     R"json({"description": "New room", "facilitators": [{"name": "Jo Patel"}],
             "duration_minutes": 75, "join_url": "https://zoom.example.org/j/444",
             "title": "IBD support", "session_id": "ibd-2027-01-20"})json",
     R"json({"session_id":"ibd-2027-01-20","title":"IBD support","join_url":"https://zoom.example.org/j/444","duration_minutes":75,"facilitators":[{"name":"Jo Patel"}],"description":"New room"})json"},
    {"session.rescheduled",
     R"json({"time_zone": "Europe/London", "starts_at": "2027-01-21T18:30:00.000+00:00",
             "session_id": "ibd-2027-01-20"})json",
     R"json({"session_id":"ibd-2027-01-20","starts_at":"2027-01-21T18:30:00.000Z","time_zone":"Europe/London"})json"},
    {"session.cancelled",
     R"json({"reason": "Facilitator unwell", "session_id": "general-2027-01-12"})json",
     R"json({"session_id":"general-2027-01-12","reason":"Facilitator unwell"})json"},
    {"registration.received",
     R"json({"discreet": true, "sms_consent": true, "channels": ["sms", "email"],
             "participant": {"locale": "en-US", "time_zone": "America/Los_Angeles",
                             "phone": "+14155550142", "email": "riley@example.org",
                             "name": "Riley Morgan", "participant_id": "p-1"},
             "session_id": "general-2027-01-12", "registration_id": "r-1001",
             "accommodations": [{"details": "needs live captions", "kind": "captions"},
                                {"kind": "asl"}]})json",
     R"json({"registration_id":"r-1001","session_id":"general-2027-01-12","participant":{"participant_id":"p-1","name":"Riley Morgan","email":"riley@example.org","phone":"+14155550142","time_zone":"America/Los_Angeles","locale":"en-US"},"channels":["sms","email"],"sms_consent":true,"discreet":true,"accommodations":[{"kind":"captions","details":"needs live captions"},{"kind":"asl"}]})json"},
    {"registration.cancelled",
     R"json({"reason": "Clashes with a hospital appointment", "registration_id": "r-1001"})json",
     R"json({"registration_id":"r-1001","reason":"Clashes with a hospital appointment"})json"},
    {"accommodation.arranged",
     R"json({"note": "CART writer booked", "kind": "cart", "registration_id": "r-1001"})json",
     R"json({"registration_id":"r-1001","kind":"cart","note":"CART writer booked"})json"},
    {"participant.opted_out", R"json({"address": "riley@example.org", "channel": "email"})json",
     R"json({"channel":"email","address":"riley@example.org"})json"},
    {"participant.opted_in", R"json({"address": "+14155550142", "channel": "sms"})json",
     R"json({"channel":"sms","address":"+14155550142"})json"},
    {"participant.erased", R"json({"participant_id": "p-1"})json",
     R"json({"participant_id":"p-1"})json"},
    {"notification.sent",
     R"json({"provider_id": "SM123", "attempt": 1, "channel": "sms",
             "notification_id": "n-abc"})json",
     R"json({"notification_id":"n-abc","channel":"sms","attempt":1,"provider_id":"SM123"})json"},
    {"notification.failed",
     R"json({"retry_at": "2027-01-12T18:05:00.250Z", "permanent": false,
             "error": "503 from provider", "attempt": 2, "channel": "email",
             "notification_id": "n-abc"})json",
     R"json({"notification_id":"n-abc","channel":"email","attempt":2,"error":"503 from provider","permanent":false,"retry_at":"2027-01-12T18:05:00.250Z"})json"},
    {"notification.expired",
     R"json({"reason": "missed while down", "notification_id": "n-abc"})json",
     R"json({"notification_id":"n-abc","reason":"missed while down"})json"},
};

TEST(Codec, ExamplesCoverEveryEventType) {
  std::set<EventType> covered;
  for (const Example& ex : kExamples)
    covered.insert(type_named(ex.type));
  EXPECT_EQ(covered.size(), kEventTypeCount);
}

TEST(Codec, EventTypeNamesRoundTrip) {
  for (size_t i = 0; i < kEventTypeCount; ++i) {
    EventType type = static_cast<EventType>(i);
    EXPECT_EQ(parse_event_type(event_type_name(type)), type) << event_type_name(type);
  }
}

TEST(Codec, UnknownEventTypeNames) {
  for (const char* name : {"", "registration.recieved", "Registration.Received",
                           "registration.received ", "registration", "session.exploded"}) {
    EXPECT_FALSE(parse_event_type(name).has_value()) << '"' << name << '"';
  }
  Decoder decoder;
  Result<EventData> r = decoder.decode(static_cast<EventType>(kEventTypeCount),
                                       R"({"session_id":"s-1"})", DecodeMode::kStrict);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().field(), "type");
}

TEST(Codec, StrictDecodeThenEncodeIsCanonicalForEveryType) {
  for (const Example& ex : kExamples) {
    SCOPED_TRACE(ex.type);
    EventData data = decode_ok(ex.type, ex.input);
    EXPECT_EQ(type_of(data), type_named(ex.type));
    EXPECT_EQ(encode_data(data), ex.canonical);
    // The canonical form decodes to the same bytes again.
    EXPECT_EQ(encode_data(decode_ok(ex.type, ex.canonical)), ex.canonical);
  }
}

TEST(Codec, StoredDecodeOfCanonicalFormIsCanonicalForEveryType) {
  for (const Example& ex : kExamples) {
    SCOPED_TRACE(ex.type);
    EXPECT_EQ(encode_data(decode_ok(ex.type, ex.canonical, DecodeMode::kStored)), ex.canonical);
  }
}

TEST(Codec, DecodedRegistrationHoldsTheValues) {
  auto r = std::get<RegistrationReceived>(decode_ok("registration.received", kRegistration));
  EXPECT_EQ(r.registration_id, "r-1001");
  EXPECT_EQ(r.session_id, "general-2027-01-12");
  EXPECT_FALSE(r.series_id.has_value());
  EXPECT_EQ(r.participant.name.sealed, "Riley Morgan");
  ASSERT_TRUE(r.participant.email.has_value());
  EXPECT_EQ(r.participant.email->sealed, "riley@example.org");
  ASSERT_TRUE(r.participant.time_zone.has_value());
  EXPECT_EQ(r.participant.time_zone->name, "America/Los_Angeles");
  EXPECT_FALSE(r.participant.participant_id.has_value());
  EXPECT_EQ(r.channels, (std::vector<std::string>{"email", "sms"}));
  EXPECT_TRUE(r.sms_consent);
  EXPECT_FALSE(r.discreet.has_value());
  ASSERT_TRUE(r.accommodations.has_value());
  ASSERT_EQ(r.accommodations->size(), 1u);
  EXPECT_EQ((*r.accommodations)[0].kind, "captions");
}

TEST(Codec, DecodedSessionKeepsInstantAndOffset) {
  auto s = std::get<SessionScheduled>(decode_ok("session.scheduled", kSession));
  EXPECT_EQ(s.starts_at, parse_rfc3339("2027-01-13T00:00:00Z").value());
  EXPECT_EQ(s.starts_at.offset_minutes, -300);
  EXPECT_EQ(s.duration_minutes, 90);
  ASSERT_EQ(s.facilitators.size(), 1u);
  EXPECT_EQ(s.facilitators[0].name.sealed, "Sam Rivera");
  EXPECT_FALSE(s.facilitators[0].phone.has_value());
}

TEST(Codec, SeriesRegistrationIsValid) {
  std::string json = edited(kRegistration, [](Json& j) {
    j.erase("session_id");
    j["series_id"] = "higher-ed";
  });
  auto r = std::get<RegistrationReceived>(decode_ok("registration.received", json));
  EXPECT_EQ(r.series_id, "higher-ed");
  EXPECT_FALSE(r.session_id.has_value());
}

TEST(Codec, AbsentAndNullOptionalsAreLeftOut) {
  EXPECT_EQ(encode_data(decode_ok("session.cancelled", R"({"session_id":"s-1"})")),
            R"({"session_id":"s-1"})");
  EXPECT_EQ(encode_data(decode_ok("session.cancelled", R"({"session_id":"s-1","reason":null})")),
            R"({"session_id":"s-1"})");
}

// The canonical form is written without nlohmann's tree; every string must still come out as
// nlohmann writes it (duplicate detection compares encodings byte for byte): escapes, control
// characters, DEL, multi-byte UTF-8 and invalid bytes (replaced).
TEST(Codec, StringsAreEscapedExactlyAsNlohmannDoes) {
  const std::string cases[] = {
      "plain text",
      "quote \" and backslash \\",
      std::string("controls \b\f\n\r\t \x01\x1f and DEL \x7f"),
      "caf\xc3\xa9, \xe2\x80\x94, \xf0\x9f\x99\x82",
      "bad \xff\xfe bytes \xc3 cut",
      "",
  };
  for (const std::string& text : cases) {
    SessionCancelled e;
    e.session_id = "s-1";
    e.reason = Personal{text};
    const std::string expected = Json{{"session_id", "s-1"}, {"reason", text}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    EXPECT_EQ(encode_data(EventData(e)), expected) << text;
  }
}

// ---- strict errors ------------------------------------------------------------------------

TEST(CodecStrict, NotAnObjectOrNotJsonIsMalformed) {
  for (const char* json : {"[]", "\"text\"", "42", "{", "{\"session_id\":}", ""}) {
    Status s = decode_error("session.cancelled", json);
    EXPECT_EQ(s.code(), Code::kMalformed) << json;
  }
}

TEST(CodecStrict, MissingField) {
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration, [](Json& j) { j.erase("registration_id"); })),
            "registration_id");
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration, [](Json& j) { j.erase("sms_consent"); })),
            "sms_consent");
  EXPECT_EQ(
      error_field("session.scheduled", edited(kSession, [](Json& j) { j.erase("time_zone"); })),
      "time_zone");
  EXPECT_EQ(error_field("series.scheduled", edited(kSeries, [](Json& j) { j.erase("rrule"); })),
            "rrule");
  EXPECT_EQ(error_field("notification.failed",
                        R"({"notification_id":"n-1","channel":"sms","attempt":1,"error":"x"})"),
            "permanent");
  Status s = decode_error("participant.erased", "{}");
  EXPECT_EQ(s.field(), "participant_id");
  EXPECT_NE(s.message().find("missing"), std::string::npos) << s.message();
}

TEST(CodecStrict, MissingNestedField) {
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration, [](Json& j) { j["participant"].erase("name"); })),
            "participant.name");
  EXPECT_EQ(error_field("session.scheduled",
                        edited(kSession, [](Json& j) { j["facilitators"][0].erase("name"); })),
            "facilitators[0].name");
  EXPECT_EQ(error_field("series.scheduled",
                        edited(kSeries,
                               [](Json& j) {
                                 j["facilitators"].push_back(Json{{"email", "jo@example.org"}});
                               })),
            "facilitators[1].name");
  EXPECT_EQ(
      error_field("registration.received",
                  edited(kRegistration, [](Json& j) { j["accommodations"][0].erase("kind"); })),
      "accommodations[0].kind");
}

TEST(Codec, ZoomMeetingIdMayBeANumberAsZoomWritesIt) {
  Decoder decoder;
  std::string json = edited(kSession, [](Json& j) { j["zoom_meeting_id"] = 85746065432; });
  Result<EventData> r = decoder.decode(EventType::kSessionScheduled, json, DecodeMode::kStrict);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const auto& s = std::get<SessionScheduled>(*r);
  EXPECT_EQ(s.zoom_meeting_id, "85746065432");
  EXPECT_NE(encode_data(*r).find(R"("zoom_meeting_id":"85746065432")"), std::string::npos);
  // Other text fields still want a string.
  EXPECT_EQ(error_field("session.scheduled", edited(kSession, [](Json& j) { j["title"] = 7; })),
            "title");
}

TEST(CodecStrict, ListsTooLongForTheScheduleAreRefused) {
  Json facilitator = {{"name", "Sam"}};
  auto facilitators = [&](size_t n) {
    return edited(kSession,
                  [&](Json& j) { j["facilitators"] = Json(std::vector(n, facilitator)); });
  };
  Decoder decoder;
  EXPECT_TRUE(
      decoder.decode(EventType::kSessionScheduled, facilitators(100), DecodeMode::kStrict).is_ok());
  EXPECT_EQ(error_field("session.scheduled", facilitators(101)), "facilitators");
  Json captions = {{"kind", "captions"}};
  auto accommodations = [&](size_t n) {
    return edited(kRegistration,
                  [&](Json& j) { j["accommodations"] = Json(std::vector(n, captions)); });
  };
  EXPECT_TRUE(
      decoder.decode(EventType::kRegistrationReceived, accommodations(32), DecodeMode::kStrict)
          .is_ok());
  EXPECT_EQ(error_field("registration.received", accommodations(33)), "accommodations");
}

TEST(CodecStrict, MistypedField) {
  struct Case {
    std::string_view base;
    const char* type;
    std::function<void(Json&)> edit;
    const char* field;
  };
  const Case cases[] = {
      {kSession, "session.scheduled", [](Json& j) { j["duration_minutes"] = "90"; },
       "duration_minutes"},
      {kSession, "session.scheduled", [](Json& j) { j["duration_minutes"] = 90.5; },
       "duration_minutes"},
      {kSession, "session.scheduled", [](Json& j) { j["title"] = 7; }, "title"},
      {kSession, "session.scheduled", [](Json& j) { j["starts_at"] = 1799798400; }, "starts_at"},
      {kSession, "session.scheduled", [](Json& j) { j["time_zone"] = Json::array(); }, "time_zone"},
      {kSession, "session.scheduled", [](Json& j) { j["facilitators"] = "Sam Rivera"; },
       "facilitators"},
      {kSession, "session.scheduled", [](Json& j) { j["facilitators"][0] = "Sam Rivera"; },
       "facilitators[0]"},
      {kSession, "session.scheduled", [](Json& j) { j["facilitators"][0]["email"] = true; },
       "facilitators[0].email"},
      {kSession, "session.scheduled", [](Json& j) { j["capacity"] = "20"; }, "capacity"},
      {kRegistration, "registration.received", [](Json& j) { j["sms_consent"] = "true"; },
       "sms_consent"},
      {kRegistration, "registration.received", [](Json& j) { j["sms_consent"] = 1; },
       "sms_consent"},
      {kRegistration, "registration.received", [](Json& j) { j["channels"] = "email"; },
       "channels"},
      {kRegistration, "registration.received", [](Json& j) { j["channels"][1] = 2; },
       "channels[1]"},
      {kRegistration, "registration.received", [](Json& j) { j["participant"] = "Riley"; },
       "participant"},
      {kRegistration, "registration.received",
       [](Json& j) { j["participant"]["phone"] = 4155550142; }, "participant.phone"},
      {kRegistration, "registration.received", [](Json& j) { j["discreet"] = "no"; }, "discreet"},
      {kRegistration, "registration.received", [](Json& j) { j["accommodations"] = "captions"; },
       "accommodations"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(error_field(c.type, edited(c.base, c.edit)), c.field);
  }
  EXPECT_EQ(error_field("notification.sent",
                        R"({"notification_id":"n-1","channel":"sms","attempt":"1"})"),
            "attempt");
  EXPECT_EQ(error_field("notification.failed",
                        R"({"notification_id":"n-1","channel":"sms","attempt":1,"error":"x",)"
                        R"("permanent":"no"})"),
            "permanent");
}

TEST(CodecStrict, MistypedFieldMessageSaysWhatIsExpected) {
  Status s = decode_error("session.scheduled",
                          edited(kSession, [](Json& j) { j["duration_minutes"] = "90"; }));
  EXPECT_EQ(s.message(), "must be a whole number");
}

TEST(CodecStrict, BadRfc3339Time) {
  EXPECT_EQ(
      error_field("session.scheduled",
                  edited(kSession, [](Json& j) { j["starts_at"] = "2027-02-30T19:00:00-05:00"; })),
      "starts_at");
  EXPECT_EQ(error_field("session.scheduled",
                        edited(kSession, [](Json& j) { j["starts_at"] = "2027-01-12T19:00:00"; })),
            "starts_at");
  EXPECT_EQ(
      error_field("series.scheduled",
                  edited(kSeries, [](Json& j) { j["first_starts_at"] = "2027-01-12 18:00"; })),
      "first_starts_at");
  EXPECT_EQ(
      error_field("series.scheduled", edited(kSeries, [](Json& j) { j["until"] = "next year"; })),
      "until");
  EXPECT_EQ(error_field("session.rescheduled", R"({"session_id":"s-1","starts_at":"soon"})"),
            "starts_at");
  EXPECT_EQ(error_field("notification.failed",
                        R"({"notification_id":"n-1","channel":"sms","attempt":1,"error":"x",)"
                        R"("permanent":false,"retry_at":"2027-13-01T00:00:00Z"})"),
            "retry_at");
}

TEST(CodecStrict, UnknownIanaZone) {
  EXPECT_EQ(error_field("session.scheduled",
                        edited(kSession, [](Json& j) { j["time_zone"] = "America/Atlantis"; })),
            "time_zone");
  EXPECT_EQ(
      error_field("series.scheduled", edited(kSeries, [](Json& j) { j["time_zone"] = "EST-5"; })),
      "time_zone");
  EXPECT_EQ(
      error_field("registration.received",
                  edited(kRegistration,
                         [](Json& j) { j["participant"]["time_zone"] = "Mars/Olympus_Mons"; })),
      "participant.time_zone");
  EXPECT_EQ(error_field("session.rescheduled",
                        R"({"session_id":"s-1","starts_at":"2027-01-12T19:00:00Z",)"
                        R"("time_zone":"Europe/Atlantis"})"),
            "time_zone");
  // The value is not repeated (it may be free text sent in the wrong field).
  Status s = decode_error("registration.received", edited(kRegistration, [](Json& j) {
                            j["participant"]["time_zone"] = "Eve/HasMS";
                          }));
  EXPECT_EQ(s.message().find("Eve"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("America/New_York"), std::string::npos) << s.message();
}

TEST(CodecStrict, EmptyChannels) {
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration, [](Json& j) { j["channels"] = Json::array(); })),
            "channels");
}

TEST(CodecStrict, UnknownOrRepeatedChannel) {
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration, [](Json& j) { j["channels"][0] = "pigeon"; })),
            "channels[0]");
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration, [](Json& j) { j["channels"][1] = "email"; })),
            "channels[1]");
  EXPECT_EQ(error_field("participant.opted_out", R"({"channel":"fax","address":"x"})"), "channel");
}

TEST(CodecStrict, SmsChannelWithoutConsent) {
  Status s = decode_error("registration.received",
                          edited(kRegistration, [](Json& j) { j["sms_consent"] = false; }));
  EXPECT_EQ(s.code(), Code::kInvalidField);
  EXPECT_EQ(s.field(), "sms_consent");
  // Consent without the sms channel is fine: consent alone sends nothing.
  decode_ok("registration.received",
            edited(kRegistration, [](Json& j) { j["channels"] = Json::array({"email"}); }));
}

TEST(CodecStrict, ChannelWithoutItsAddress) {
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration, [](Json& j) { j["participant"].erase("phone"); })),
            "participant.phone");
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration, [](Json& j) { j["participant"].erase("email"); })),
            "participant.email");
}

TEST(CodecStrict, UnknownAccommodationKind) {
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration,
                               [](Json& j) { j["accommodations"][0]["kind"] = "interpreter"; })),
            "accommodations[0].kind");
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration,
                               [](Json& j) {
                                 j["accommodations"].push_back(Json{{"kind", "ASL"}});
                               })),
            "accommodations[1].kind");
  EXPECT_EQ(error_field("accommodation.arranged", R"({"registration_id":"r-1","kind":"braille"})"),
            "kind");
  Status s = decode_error("registration.received", edited(kRegistration, [](Json& j) {
                            j["accommodations"][0]["kind"] = "Eve needs MS wheelchair";
                          }));
  EXPECT_EQ(s.message().find("Eve"), std::string::npos) << s.message();
  for (std::string_view kind : kAccommodationKinds) {
    decode_ok("registration.received", edited(kRegistration, [&](Json& j) {
                j["accommodations"][0]["kind"] = std::string(kind);
              }));
    decode_ok("accommodation.arranged",
              R"({"registration_id":"r-1","kind":")" + std::string(kind) + R"("})");
  }
}

TEST(CodecStrict, UnknownField) {
  EXPECT_EQ(error_field("registration.received", edited(kRegistration,
                                                        [](Json& j) {
                                                          j.erase("sms_consent");
                                                          j["sms_concent"] = true;
                                                        })),
            "sms_consent");  // the missing field is found first
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration, [](Json& j) { j["sms_concent"] = true; })),
            "sms_concent");
  EXPECT_EQ(
      error_field("registration.received",
                  edited(kRegistration, [](Json& j) { j["participant"]["nickname"] = "Ri"; })),
      "participant.nickname");
  EXPECT_EQ(
      error_field("session.scheduled",
                  edited(kSession, [](Json& j) { j["facilitators"][0]["pronouns"] = "they"; })),
      "facilitators[0].pronouns");
  EXPECT_EQ(
      error_field("registration.received",
                  edited(kRegistration, [](Json& j) { j["accommodations"][0]["urgent"] = true; })),
      "accommodations[0].urgent");
  // Fields of other types are unknown too, and an unknown field set to null is still unknown.
  EXPECT_EQ(error_field("session.cancelled", R"({"session_id":"s-1","starts_at":null})"),
            "starts_at");
}

TEST(CodecStrict, DuplicatedField) {
  EXPECT_EQ(error_field("session.cancelled", R"({"session_id":"s-1","reason":"a","reason":"b"})"),
            "reason");
  EXPECT_EQ(error_field("participant.opted_out", R"({"channel":"email","address":"a@example.org",)"
                                                 R"("address":"b@example.org"})"),
            "address");
  EXPECT_EQ(error_field("registration.received",
                        R"({"registration_id":"r-1","session_id":"s-1",)"
                        R"("participant":{"name":"R","email":"a@example.org",)"
                        R"("email":"b@example.org"},"channels":["email"],"sms_consent":false})"),
            "participant.email");
}

TEST(CodecStrict, SessionOrSeriesExactlyOne) {
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration, [](Json& j) { j["series_id"] = "higher-ed"; })),
            "series_id");
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration, [](Json& j) { j.erase("session_id"); })),
            "session_id");
  // null counts as absent.
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration, [](Json& j) { j["session_id"] = nullptr; })),
            "session_id");
}

TEST(CodecStrict, EmptyNamesAreNamedWithTheirPath) {
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration, [](Json& j) { j["participant"]["name"] = ""; })),
            "participant.name");
  EXPECT_EQ(error_field("session.scheduled",
                        edited(kSession, [](Json& j) { j["facilitators"][0]["name"] = ""; })),
            "facilitators[0].name");
  EXPECT_EQ(error_field("session.updated",
                        R"({"session_id":"s-1","facilitators":[{"name":"Jo"},{"name":""}]})"),
            "facilitators[1].name");
}

TEST(CodecStrict, IdsDurationsAndOtherValues) {
  EXPECT_EQ(error_field("session.scheduled",
                        edited(kSession, [](Json& j) { j["session_id"] = "has space"; })),
            "session_id");
  EXPECT_EQ(error_field("session.scheduled", edited(kSession, [](Json& j) { j["group"] = ""; })),
            "group");
  EXPECT_EQ(error_field("session.scheduled",
                        edited(kSession, [](Json& j) { j["duration_minutes"] = 0; })),
            "duration_minutes");
  EXPECT_EQ(error_field("session.scheduled",
                        edited(kSession, [](Json& j) { j["duration_minutes"] = 1441; })),
            "duration_minutes");
  EXPECT_EQ(error_field("session.scheduled", edited(kSession, [](Json& j) { j["capacity"] = 0; })),
            "capacity");
  EXPECT_EQ(error_field("session.scheduled", edited(kSession, [](Json& j) { j["title"] = ""; })),
            "title");
  EXPECT_EQ(
      error_field("series.scheduled", edited(kSeries, [](Json& j) { j["rrule"] = "MONTHLY"; })),
      "rrule");
  EXPECT_EQ(error_field("series.scheduled",
                        edited(kSeries, [](Json& j) { j["until"] = "2026-01-01T00:00:00Z"; })),
            "until");
  EXPECT_EQ(error_field(
                "registration.received",
                edited(kRegistration, [](Json& j) { j["participant"]["participant_id"] = "p 1"; })),
            "participant.participant_id");
  // A new id may not be an email address: ids outlive erasure and go into logs and links.
  EXPECT_EQ(error_field("registration.received", edited(kRegistration,
                                                        [](Json& j) {
                                                          j["participant"]["participant_id"] =
                                                              "pat.patient@example.org";
                                                        })),
            "participant.participant_id");
  EXPECT_EQ(error_field("registration.received",
                        edited(kRegistration,
                               [](Json& j) { j["registration_id"] = "mo.email@example.org"; })),
            "registration_id");
  EXPECT_EQ(error_field("series.scheduled",
                        edited(kSeries, [](Json& j) { j["series_id"] = "a@example.org"; })),
            "series_id");
  EXPECT_EQ(error_field("session.scheduled",
                        edited(kSession, [](Json& j) { j["session_id"] = "jo@example.org"; })),
            "session_id");
  // '@' stays where it belongs: a series meeting's id, and ids that refer to what a log may
  // already hold (so that it can still be cancelled or erased).
  decode_ok("registration.received", edited(kRegistration, [](Json& j) {
              j.erase("session_id");
              j["session_id"] = "ibd-monthly@2027-01-12";
            }));
  decode_ok("session.scheduled",
            edited(kSession, [](Json& j) { j["session_id"] = "ibd-monthly@2027-01-12"; }));
  decode_ok("registration.cancelled", R"({"registration_id":"mo.email@example.org"})");
  decode_ok("participant.erased", R"({"participant_id":"pat.patient@example.org"})");
  EXPECT_EQ(
      error_field("notification.sent", R"({"notification_id":"n-1","channel":"sms","attempt":0})"),
      "attempt");
  EXPECT_EQ(error_field("participant.opted_in", R"({"channel":"sms","address":""})"), "address");
  // A session.updated that changes nothing is refused (the whole object is at fault).
  Status s = decode_error("session.updated", R"({"session_id":"s-1"})");
  EXPECT_EQ(s.code(), Code::kInvalidField);
  EXPECT_EQ(s.field(), "");
}

// ---- stored mode ----------------------------------------------------------------------------

TEST(CodecStored, IgnoresUnknownFields) {
  std::string json = edited(kRegistration, [](Json& j) {
    j["added_in_schema_2"] = Json{{"anything", 1}};
    j["participant"]["pronouns"] = "they";
    j["accommodations"][0]["urgent"] = true;
  });
  // Strict mode refuses it (the nested object is checked as it is read, so it is named first).
  EXPECT_EQ(error_field("registration.received", json), "participant.pronouns");
  EventData data = decode_ok("registration.received", json, DecodeMode::kStored);
  std::string out = encode_data(data);
  EXPECT_EQ(out.find("added_in_schema_2"), std::string::npos);
  EXPECT_EQ(out.find("pronouns"), std::string::npos);
  EXPECT_EQ(out.find("urgent"), std::string::npos);
  EXPECT_EQ(out, encode_data(decode_ok("registration.received", kRegistration)));
}

TEST(CodecStored, DoesNotCheckZones) {
  std::string json = edited(kSession, [](Json& j) { j["time_zone"] = "Gone/Renamed_Since"; });
  auto s = std::get<SessionScheduled>(decode_ok("session.scheduled", json, DecodeMode::kStored));
  EXPECT_EQ(s.time_zone.name, "Gone/Renamed_Since");
}

TEST(CodecStored, StillNeedsWellTypedRequiredFields) {
  EXPECT_EQ(
      decode_error("session.scheduled", edited(kSession, [](Json& j) { j.erase("starts_at"); }),
                   DecodeMode::kStored)
          .field(),
      "starts_at");
  EXPECT_EQ(decode_error("session.scheduled",
                         edited(kSession, [](Json& j) { j["duration_minutes"] = "90"; }),
                         DecodeMode::kStored)
                .field(),
            "duration_minutes");
}

// ---- validate() and seal_subject() on data built in code ----------------------------------

TEST(CodecValidate, ChecksDataBuiltInCode) {
  RegistrationReceived r;
  r.registration_id = "r-1";
  r.session_id = "s-1";
  r.series_id = "x-1";
  r.participant.name.sealed = "Riley";
  r.participant.email = Personal{"riley@example.org"};
  r.channels = {"email"};
  EXPECT_EQ(validate(r).field(), "series_id");
  r.series_id.reset();
  EXPECT_TRUE(validate(r).is_ok()) << validate(r).to_string();
  r.accommodations = std::vector<Accommodation>{{"captions", {}}, {"pony", {}}};
  EXPECT_EQ(validate(r).field(), "accommodations[1].kind");
}

TEST(CodecValidate, SealSubject) {
  auto r = std::get<RegistrationReceived>(decode_ok("registration.received", kRegistration));
  EXPECT_EQ(seal_subject(r), "registration/r-1001");
  r.participant.participant_id = "p-1";
  EXPECT_EQ(seal_subject(r), "participant/p-1");
  EXPECT_EQ(seal_subject(decode_ok("session.scheduled", kSession)), "session/general-2027-01-12");
}

// ---- personal values: redacted and opened --------------------------------------------------

// Personal values of one example and where they sit in its canonical JSON.
struct PersonalCase {
  const char* type;
  const char* json;
  std::vector<std::string> pointers;    // JSON pointers of every personal value
  std::vector<std::string> plaintexts;  // none of which may appear when redacted
};

const PersonalCase kPersonalCases[] = {
    {"registration.received",
     R"json({"registration_id":"r-1001","session_id":"s-1",
             "participant":{"participant_id":"p-1","name":"Riley Morgan",
                            "email":"riley@example.org","phone":"+14155550142",
                            "time_zone":"America/Los_Angeles","locale":"en-US"},
             "channels":["email","sms"],"sms_consent":true,
             "accommodations":[{"kind":"captions","details":"hard of hearing since 2019"},
                               {"kind":"other","details":"uses a wheelchair"}]})json",
     {"/participant/name", "/participant/email", "/participant/phone", "/accommodations/0/details",
      "/accommodations/1/details"},
     {"Riley", "Morgan", "riley@", "example.org", "4155550142", "hard of hearing", "wheelchair"}},
    {"session.scheduled",
     R"json({"session_id":"s-1","group":"ibd","title":"IBD peer support",
             "starts_at":"2027-01-20T18:30:00Z","time_zone":"Europe/London",
             "duration_minutes":75,"join_url":"https://zoom.example.org/j/333",
             "facilitators":[{"name":"Jo Patel","email":"jo@example.org","phone":"+442079460958"},
                             {"name":"Sam Rivera"}]})json",
     {"/facilitators/0/name", "/facilitators/0/email", "/facilitators/0/phone",
      "/facilitators/1/name"},
     {"Jo Patel", "jo@example.org", "2079460958", "Sam Rivera"}},
    {"session.updated",
     R"json({"session_id":"s-1","facilitators":[{"name":"Jo Patel","email":"jo@example.org"}]})json",
     {"/facilitators/0/name", "/facilitators/0/email"},
     {"Jo Patel", "jo@example.org"}},
    {"registration.cancelled",
     R"json({"registration_id":"r-1001","reason":"my chemo moved to Tuesday"})json",
     {"/reason"},
     {"chemo"}},
    {"accommodation.arranged",
     R"json({"registration_id":"r-1001","kind":"asl","note":"interpreter Kim booked"})json",
     {"/note"},
     {"Kim"}},
    {"participant.opted_out",
     R"json({"channel":"email","address":"riley@example.org"})json",
     {"/address"},
     {"riley"}},
    {"participant.opted_in",
     R"json({"channel":"sms","address":"+14155550142"})json",
     {"/address"},
     {"4155550142"}},
};

TEST(CodecPersonal, RedactedReplacesEveryPersonalValue) {
  for (const PersonalCase& c : kPersonalCases) {
    SCOPED_TRACE(c.type);
    std::string out = encode_data(decode_ok(c.type, c.json), PersonalOut::kRedacted);
    Json j = Json::parse(out);
    for (const std::string& ptr : c.pointers) {
      EXPECT_EQ(j.at(Json::json_pointer(ptr)), "[redacted]") << ptr;
    }
    for (const std::string& plain : c.plaintexts) {
      EXPECT_EQ(out.find(plain), std::string::npos) << plain << " leaked into " << out;
    }
  }
}

TEST(CodecPersonal, RedactedKeepsTheRestAndItsShape) {
  std::string out = encode_data(decode_ok("registration.received", kPersonalCases[0].json),
                                PersonalOut::kRedacted);
  EXPECT_EQ(
      out,
      R"json({"registration_id":"r-1001","session_id":"s-1","participant":{"participant_id":"p-1","name":"[redacted]","email":"[redacted]","phone":"[redacted]","time_zone":"America/Los_Angeles","locale":"en-US"},"channels":["email","sms"],"sms_consent":true,"accommodations":[{"kind":"captions","details":"[redacted]"},{"kind":"other","details":"[redacted]"}]})json");
}

TEST(CodecPersonal, SealedIsAsStored) {
  const PersonalCase& c = kPersonalCases[0];
  EventData data = decode_ok(c.type, c.json);
  EXPECT_EQ(encode_data(data, PersonalOut::kSealed), encode_data(data));
  Json j = Json::parse(encode_data(data));
  EXPECT_EQ(j["participant"]["name"], "Riley Morgan");
}

TEST(CodecPersonal, OpenedWithTheSealer) {
  WrapSealer sealer;
  EventData data = decode_ok("registration.received", R"json({
      "registration_id":"r-1","session_id":"s-1",
      "participant":{"participant_id":"p-1","name":"S(Riley Morgan)","email":"S(riley@example.org)"},
      "channels":["email"],"sms_consent":false,
      "accommodations":[{"kind":"other","details":"S(step-free access)"}]})json");
  std::string out = encode_data(data, PersonalOut::kOpened, &sealer, "evt-1");
  Json j = Json::parse(out);
  EXPECT_EQ(j["participant"]["name"], "Riley Morgan");
  EXPECT_EQ(j["participant"]["email"], "riley@example.org");
  EXPECT_EQ(j["accommodations"][0]["details"], "step-free access");
  EXPECT_EQ(j["participant"]["participant_id"], "p-1");
  // Opened with the participant's key and the event as associated data.
  ASSERT_EQ(sealer.opened_with.size(), 3u);
  for (const std::string& ctx : sealer.opened_with)
    EXPECT_EQ(ctx, "participant/p-1 evt-1");
}

TEST(CodecPersonal, OpenedFacilitatorsUseTheSessionStream) {
  WrapSealer sealer;
  EventData data = decode_ok("session.updated",
                             R"json({"session_id":"s-1","facilitators":[{"name":"S(Jo)"}]})json");
  Json j = Json::parse(encode_data(data, PersonalOut::kOpened, &sealer, "evt-2"));
  EXPECT_EQ(j["facilitators"][0]["name"], "Jo");
  ASSERT_EQ(sealer.opened_with.size(), 1u);
  EXPECT_EQ(sealer.opened_with[0], "session/s-1 evt-2");
}

TEST(CodecPersonal, ValueThatCannotBeOpenedIsRedacted) {
  WrapSealer sealer;
  EventData data = decode_ok("participant.opted_out",
                             R"json({"channel":"email","address":"not-sealed@example.org"})json");
  EXPECT_EQ(encode_data(data, PersonalOut::kOpened, &sealer, "evt-3"),
            R"json({"channel":"email","address":"[redacted]"})json");
  EXPECT_EQ(encode_data(data, PersonalOut::kOpened, nullptr, "evt-3"),
            R"json({"channel":"email","address":"[redacted]"})json");
}

// ---- meta ---------------------------------------------------------------------------------

TEST(Codec, MinifyObject) {
  Decoder decoder;
  Result<std::string> m =
      decoder.minify_object(R"( { "source" : "webhook:native" , "n": [1, 2] } )");
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(*m, R"({"source":"webhook:native","n":[1,2]})");
  EXPECT_EQ(decoder.minify_object("[1]").status().field(), "meta");
  EXPECT_EQ(decoder.minify_object("{").status().field(), "meta");
}

}  // namespace
}  // namespace nudged
