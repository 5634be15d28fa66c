// The routes of SPEC §5 as pure decisions: request + State in, Verdict out. No sockets, no
// store: what the e2e suite shows over the wire, shown here rule by rule in microseconds.
#include "daemon/ingress.h"

#include <gtest/gtest.h>

#include <regex>

#include <nlohmann/json.hpp>

#include "../events/test_events.h"
#include "daemon/link_token.h"
#include "daemon/signature.h"

namespace nudged {
namespace {

using testing::apply_json;
using testing::session_json;

constexpr int64_t kNow = 1'900'000'000;

class IngressTest : public ::testing::Test {
 protected:
  IngressTest() : intake_(IntakeOptions{&sealer_, std::string(32, 'k'), nullptr}) {
    config_.webhooks.secret = "route-test-secret-0123";
    config_.webhooks.zoom.secret_token = "zoom-token";
    config_.webhooks.twilio.auth_token = "twilio-token";
    config_.webhooks.twilio.public_url = "https://example.org/v1/webhooks/twilio/sms";
    std::string s = session_json("s1", "2030-05-01T19:00:00-04:00");
    s.insert(s.rfind("}}"), R"(,"zoom_meeting_id":"777")");
    apply_json(state_, s, "2030-01-01T00:00:00Z");
    apply_json(state_, testing::registration_json("r1", "s1", "pat@example.org"),
               "2030-01-01T00:00:01Z");
  }

  IngressContext ctx() { return IngressContext{config_, state_, intake_, sealer_, key_, kNow}; }

  HttpRequest signed_post(std::string path, std::string body) {
    HttpRequest r;
    r.method = "POST";
    r.path = std::move(path);
    r.headers = {{"content-type", "application/json"},
                 {"nudged-signature", nudged_signature(config_.webhooks.secret, kNow, body)}};
    r.body = std::move(body);
    return r;
  }

  Verdict route(const HttpRequest& r) {
    std::vector<std::string> params;
    bool path_matched = false;
    const Route* found = match_route(event_routes(), r, params, path_matched);
    EXPECT_NE(found, nullptr) << r.path;
    return found ? found->handler(r, params, ctx()) : Verdict{};
  }

  static nlohmann::json error_of(const Verdict& v) { return nlohmann::json::parse(v.reply.body); }

  Config config_;
  State state_;
  PlainSealer sealer_;
  Intake intake_;
  std::string key_ = std::string(32, 'L');
};

const char* kRegistration =
    R"({"session_id":"s1","participant":{"name":"Ana","email":"ana@example.org"},)"
    R"("channels":["email"],"sms_consent":false})";

// The 202 body is written by hand: it must be the JSON nlohmann would write, escapes included.
TEST(AcceptedBody, IsTheJsonOfEachIdAndPosition) {
  std::vector<std::string> ids = {"registration.received:r-1", "odd \"id\"\\\n\x01", "caf\xc3\xa9"};
  std::vector<Appended> appended = {{41, 1, false}, {42, 1, false}, {7, 2, true}};
  nlohmann::ordered_json events = nlohmann::ordered_json::array();
  for (size_t i = 0; i < ids.size(); ++i)
    events.push_back({{"id", ids[i]}, {"position", appended[i].position}});
  const std::string expected = nlohmann::ordered_json{{"events", events}}.dump();
  EXPECT_EQ(accepted_body(ids, appended), expected);
  EXPECT_EQ(accepted_body(std::vector<std::string>{}, std::vector<Appended>{}), R"({"events":[]})");
}

TEST_F(IngressTest, RoutesMatchPatternsAndTellMissingFromWrongMethod) {
  HttpRequest r;
  r.method = "POST";
  r.path = "/v1/registrations/r%2D1/cancel";
  std::vector<std::string> params;
  bool path_matched = false;
  const Route* found = match_route(event_routes(), r, params, path_matched);
  ASSERT_NE(found, nullptr);
  EXPECT_STREQ(found->pattern, "/v1/registrations/{id}/cancel");
  EXPECT_EQ(params, std::vector<std::string>{"r-1"});
  r.method = "GET";
  EXPECT_EQ(match_route(event_routes(), r, params, path_matched), nullptr);
  EXPECT_TRUE(path_matched);  // 405, not 404
  r.path = "/v1/nothing";
  EXPECT_EQ(match_route(event_routes(), r, params, path_matched), nullptr);
  EXPECT_FALSE(path_matched);
}

TEST_F(IngressTest, AGoodRegistrationIsOneEventAndItsAnswerNamesIt) {
  Verdict v = route(signed_post("/v1/registrations", kRegistration));
  ASSERT_EQ(v.batch.size(), 1u) << v.reply.body;
  const auto& reg = std::get<RegistrationReceived>(v.batch[0].data);
  // "reg-", 12 hex digits of the clock's milliseconds, 12 random: ids made later sort later.
  EXPECT_TRUE(std::regex_match(reg.registration_id, std::regex("reg-[0-9a-f]{24}")))
      << reg.registration_id;
  Verdict later = route(signed_post("/v1/registrations", kRegistration));
  ASSERT_EQ(later.batch.size(), 1u);
  const std::string& later_id = std::get<RegistrationReceived>(later.batch[0].data).registration_id;
  EXPECT_NE(later_id, reg.registration_id);
  EXPECT_LE(reg.registration_id.substr(0, 16), later_id.substr(0, 16));
  // The 12 digits are the clock's (a random id would be decades off).
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  int64_t stamped = std::stoll(reg.registration_id.substr(4, 12), nullptr, 16);
  EXPECT_LE(stamped, now_ms);
  EXPECT_GT(stamped, now_ms - 60'000);
  EXPECT_EQ(v.batch[0].meta, R"({"source":"webhook:native"})");
  HttpResponse answer = v.accepted({Appended{42, 1, false}});
  EXPECT_EQ(answer.status, 202);
  auto j = nlohmann::json::parse(answer.body);
  EXPECT_EQ(j["registration_id"], reg.registration_id);
  EXPECT_EQ(j["position"], 42);
}

TEST_F(IngressTest, EveryRefusalIsAnAnswerWithNothingToAppend) {
  struct Case {
    HttpRequest request;
    int status;
    const char* code;
    const char* field;
  };
  HttpRequest unsigned_request = signed_post("/v1/registrations", kRegistration);
  unsigned_request.headers.pop_back();
  HttpRequest wrong_type = signed_post("/v1/registrations", kRegistration);
  wrong_type.headers[0].second = "text/plain";
  std::string sms = kRegistration;
  sms.replace(sms.find(R"(["email"])"), 9, R"(["sms"])");
  std::string unknown = kRegistration;
  unknown.replace(unknown.find("s1"), 2, "s9");
  std::vector<Case> cases = {
      {unsigned_request, 401, "bad_signature", ""},
      {wrong_type, 415, "unsupported_media_type", ""},
      {signed_post("/v1/registrations", "{"), 400, "malformed", ""},
      {signed_post("/v1/registrations", unknown), 422, "unknown_session", "session_id"},
      {signed_post("/v1/registrations", sms), 422, "invalid_field", "participant.phone"},
      {signed_post("/v1/registrations/r-none/cancel", ""), 422, "unknown_registration",
       "registration_id"},
      {signed_post("/v1/events", R"({"events":[]})"), 422, "invalid_field", "events"},
  };
  for (const Case& c : cases) {
    Verdict v = route(c.request);
    EXPECT_TRUE(v.batch.empty()) << c.request.body;
    EXPECT_EQ(v.reply.status, c.status) << v.reply.body;
    auto e = error_of(v)["error"];
    EXPECT_EQ(e["code"], c.code) << v.reply.body;
    if (*c.field) {
      EXPECT_EQ(e["field"], c.field) << v.reply.body;
    }
  }
}

// What an event refers to must exist, in the log or earlier in the same batch; a registration
// must be for a meeting still to come (one cancelled or over would be kept and never answered).
TEST_F(IngressTest, EventsMustReferToWhatExists) {
  auto event = [](const std::string& type, const std::string& data) {
    return R"({"type":")" + type + R"(","data":)" + data + "}";
  };
  struct Case {
    std::string body;
    const char* code;
    const char* field;
  };
  std::vector<Case> refused = {
      {event("session.cancelled", R"({"session_id":"s9"})"), "unknown_session", "session_id"},
      {event("session.updated", R"({"session_id":"s9","title":"T"})"), "unknown_session",
       "session_id"},
      {event("session.rescheduled", R"({"session_id":"s9","starts_at":"2030-05-02T19:00:00Z"})"),
       "unknown_session", "session_id"},
      {event("series.cancelled", R"({"series_id":"x9"})"), "unknown_series", "series_id"},
      {event("registration.cancelled", R"({"registration_id":"r9"})"), "unknown_registration",
       "registration_id"},
      {event("accommodation.arranged", R"({"registration_id":"r9","kind":"asl"})"),
       "unknown_registration", "registration_id"},
      // r1 asked for no accommodation: "your ASL interpreting is ready" would be wrong.
      {event("accommodation.arranged", R"({"registration_id":"r1","kind":"asl"})"), "invalid_field",
       "kind"},
      {event("participant.erased", R"({"participant_id":"p-nobody"})"), "unknown_participant",
       "participant_id"},
  };
  for (const Case& c : refused) {
    Verdict v = route(signed_post("/v1/events", c.body));
    EXPECT_TRUE(v.batch.empty()) << c.body;
    EXPECT_EQ(v.reply.status, 422) << v.reply.body;
    auto e = error_of(v)["error"];
    EXPECT_EQ(e["code"], c.code) << v.reply.body;
    EXPECT_EQ(e["field"], c.field) << v.reply.body;
  }
  // Made earlier in the same batch: accepted. A session scheduled and cancelled in one go.
  Verdict together = route(signed_post(
      "/v1/events", R"({"events":[)" + session_json("s8", "2030-06-01T19:00:00-04:00") + "," +
                        event("session.cancelled", R"({"session_id":"s8"})") + "]}"));
  EXPECT_EQ(together.batch.size(), 2u) << together.reply.body;
  // In a list, the error names the event.
  Verdict listed = route(signed_post(
      "/v1/events", R"({"events":[)" + event("session.cancelled", R"({"session_id":"s1"})") + "," +
                        event("session.cancelled", R"({"session_id":"s9"})") + "]}"));
  EXPECT_EQ(error_of(listed)["error"]["field"], "events[1].data.session_id") << listed.reply.body;
  // Known things are fine.
  EXPECT_EQ(route(signed_post("/v1/events",
                              event("registration.cancelled", R"({"registration_id":"r1"})")))
                .batch.size(),
            1u);
}

TEST_F(IngressTest, NoRegistrationForAMeetingCancelledOrOver) {
  apply_json(state_, session_json("s-gone", "2030-05-02T19:00:00-04:00"), "2030-01-01T00:00:02Z");
  apply_json(state_, R"({"type":"session.cancelled","data":{"session_id":"s-gone"}})",
             "2030-01-01T00:00:03Z");
  // kNow is 2030-03-17T17:46:40Z: this one ended the day before.
  apply_json(state_, session_json("s-past", "2030-03-16T19:00:00-04:00"), "2030-01-01T00:00:04Z");
  for (auto [session, code] :
       {std::pair{"s-gone", "session_cancelled"}, std::pair{"s-past", "session_over"}}) {
    std::string body = kRegistration;
    body.replace(body.find("s1"), 2, session);
    Verdict v = route(signed_post("/v1/registrations", body));
    EXPECT_TRUE(v.batch.empty()) << session;
    EXPECT_EQ(v.reply.status, 422) << v.reply.body;
    EXPECT_EQ(error_of(v)["error"]["code"], code) << v.reply.body;
    EXPECT_EQ(error_of(v)["error"]["field"], "session_id") << v.reply.body;
  }
  EXPECT_EQ(route(signed_post("/v1/registrations", kRegistration)).batch.size(), 1u);
}

// "<series>@<date>" names a meeting only when the rule has one on that local date: an id for
// any other date was accepted and changed nothing, and the real meeting still happened.
TEST_F(IngressTest, AnOccurrenceIdMustBeADateTheRuleGives) {
  // Tuesdays at 20:00 in New York, ten of them: 2030-03-05 to 2030-05-07 (kNow is 03-17).
  auto series = [](const std::string& id) {
    return R"({"type":"series.scheduled","data":{"series_id":")" + id +
           R"(","group":"g","title":"T","rrule":"FREQ=WEEKLY;BYDAY=TU;COUNT=10",)"
           R"("first_starts_at":"2030-03-05T20:00:00-05:00","time_zone":"America/New_York",)"
           R"("duration_minutes":60,"join_url":"u","facilitators":[]}})";
  };
  apply_json(state_, series("w"), "2030-01-01T00:00:05Z");
  auto cancel = [](const std::string& id) {
    return R"({"type":"session.cancelled","data":{"session_id":")" + id + R"("}})";
  };
  auto reschedule = [](const std::string& id) {
    return R"({"type":"session.rescheduled","data":{"session_id":")" + id +
           R"(","starts_at":"2030-03-21T20:00:00-04:00"}})";
  };
  auto registration = [](const std::string& id) {
    std::string body = kRegistration;
    return body.replace(body.find("s1"), 2, id);
  };
  auto expect_unknown = [&](const Verdict& v, const std::string& what,
                            const char* field = "session_id") {
    EXPECT_TRUE(v.batch.empty()) << what;
    EXPECT_EQ(v.reply.status, 422) << what << ": " << v.reply.body;
    if (v.reply.status != 422) return;
    EXPECT_EQ(error_of(v)["error"]["code"], "unknown_session") << what;
    EXPECT_EQ(error_of(v)["error"]["field"], field) << what;
  };
  // 2030-03-20: the UTC date of the 03-19 meeting (00:00Z); 2030-03-20 is also a Wednesday;
  // 02-26 is before the first meeting, 05-14 after the tenth.
  for (const char* id : {"w@2030-03-20", "w@tuesday", "w@", "w@2030-13-45", "w@2030-02-26",
                         "w@2030-05-14", "w@2030-3-19", "w@2030-03-19x"}) {
    expect_unknown(route(signed_post("/v1/events", cancel(id))), std::string("cancel ") + id);
    expect_unknown(route(signed_post("/v1/events", reschedule(id))),
                   std::string("reschedule ") + id);
    expect_unknown(route(signed_post("/v1/registrations", registration(id))),
                   std::string("register ") + id);
  }
  // The meetings the rule gives are known: the last one too; one already over keeps its answer.
  for (const char* id : {"w@2030-03-19", "w@2030-05-07"}) {
    EXPECT_EQ(route(signed_post("/v1/events", cancel(id))).batch.size(), 1u) << id;
    EXPECT_EQ(route(signed_post("/v1/registrations", registration(id))).batch.size(), 1u) << id;
  }
  Verdict over = route(signed_post("/v1/registrations", registration("w@2030-03-12")));
  EXPECT_EQ(error_of(over)["error"]["code"], "session_over") << over.reply.body;
  // A series scheduled earlier in the same batch is expanded by its own rule.
  Verdict wrong = route(signed_post(
      "/v1/events", R"({"events":[)" + series("v") + "," + cancel("v@2030-03-20") + "]}"));
  expect_unknown(wrong, "batch", "events[1].data.session_id");
  Verdict right = route(signed_post(
      "/v1/events", R"({"events":[)" + series("v") + "," + cancel("v@2030-03-19") + "]}"));
  EXPECT_EQ(right.batch.size(), 2u) << right.reply.body;
}

// A meeting of a series is named by its local date, so a rule with two meetings on one day
// would give two meetings one name: a new series must meet at most once a day.
TEST_F(IngressTest, ANewSeriesMeetsAtMostOnceADay) {
  auto series = [](const char* rrule) {
    return std::string(R"({"type":"series.scheduled","data":{"series_id":"x","group":"g",)") +
           R"("title":"T","rrule":")" + rrule +
           R"(","first_starts_at":"2027-01-12T18:00:00Z","time_zone":"UTC",)"
           R"("duration_minutes":60,"join_url":"u","facilitators":[]}})";
  };
  for (const char* rrule : {"FREQ=HOURLY", "FREQ=MINUTELY;INTERVAL=30", "FREQ=DAILY;BYHOUR=9,17",
                            "FREQ=WEEKLY;BYDAY=TU;BYMINUTE=0,30"}) {
    Verdict v = route(signed_post("/v1/events", series(rrule)));
    EXPECT_TRUE(v.batch.empty()) << rrule;
    EXPECT_EQ(v.reply.status, 422) << rrule;
    auto e = error_of(v)["error"];
    EXPECT_EQ(e["field"], "data.rrule") << v.reply.body;
    EXPECT_NE(e["message"].get<std::string>().find("at most one meeting a day"), std::string::npos);
  }
  Verdict listed = route(signed_post("/v1/events", R"({"events":[)" + series("FREQ=MONTHLY") + "," +
                                                       series("FREQ=HOURLY") + "]}"));
  EXPECT_TRUE(listed.batch.empty());
  EXPECT_EQ(error_of(listed)["error"]["field"], "events[1].data.rrule") << listed.reply.body;
  // (2027-01-12 is the second Tuesday of its month.)
  for (const char* rrule : {"FREQ=MONTHLY;BYDAY=2TU", "FREQ=WEEKLY;BYDAY=TU,TH",
                            "FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2", "FREQ=DAILY;BYHOUR=18;COUNT=3"}) {
    Verdict v = route(signed_post("/v1/events", series(rrule)));
    EXPECT_EQ(v.batch.size(), 1u) << rrule << ": " << v.reply.body;
  }
}

// A first_starts_at the rule does not give is undefined in RFC 5545, and libical skips it: the
// first meeting silently vanished. A rule with no meeting at all was confirmed to registrants.
TEST_F(IngressTest, ANewSeriesStartsOnAMeetingOfItsRule) {
  auto series = [](const std::string& rrule, const std::string& first,
                   const std::string& extra = "") {
    return R"({"type":"series.scheduled","data":{"series_id":"x","group":"g","title":"T",)"
           R"("rrule":")" +
           rrule + R"(","first_starts_at":")" + first +
           R"(","time_zone":"America/New_York","duration_minutes":60,"join_url":"u",)"
           R"("facilitators":[])" +
           extra + "}}";
  };
  struct Case {
    std::string body;
    const char* field;
  };
  // 2030-04-02 is a Tuesday.
  std::vector<Case> refused = {
      {series("FREQ=DAILY;BYHOUR=10", "2030-04-02T19:00:00-04:00"), "data.first_starts_at"},
      {series("FREQ=WEEKLY;BYDAY=MO,WE", "2030-04-02T19:00:00-04:00"), "data.first_starts_at"},
      {series("FREQ=MONTHLY;BYDAY=1TU", "2030-04-09T19:00:00-04:00"), "data.first_starts_at"},
      {series("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "2030-04-02T19:00:00-04:00"), "data.rrule"},
      {series("FREQ=YEARLY;BYMONTH=13", "2030-04-02T19:00:00-04:00"), "data.rrule"},
      {series("FREQ=WEEKLY;UNTIL=20300301T000000Z", "2030-04-02T19:00:00-04:00"), "data.rrule"},
      {series("FREQ=WEEKLY", "2030-04-02T19:00:00-04:00", R"(,"until":"2030-03-01T00:00:00Z")"),
       "data.until"},
  };
  for (const Case& c : refused) {
    Verdict v = route(signed_post("/v1/events", c.body));
    EXPECT_TRUE(v.batch.empty()) << c.body;
    EXPECT_EQ(v.reply.status, 422) << c.body;
    if (v.reply.status != 422) continue;
    EXPECT_EQ(error_of(v)["error"]["field"], c.field) << v.reply.body;
  }
  Verdict daily =
      route(signed_post("/v1/events", series("FREQ=DAILY;BYHOUR=10", "2030-04-02T19:00:00-04:00")));
  EXPECT_NE(error_of(daily)["error"]["message"].get<std::string>().find("2030-04-03 10:00"),
            std::string::npos)
      << daily.reply.body;
  for (const Case& c : std::vector<Case>{
           {series("FREQ=DAILY;BYHOUR=19", "2030-04-02T19:00:00-04:00"), ""},
           {series("FREQ=WEEKLY;BYDAY=TU,TH", "2030-04-02T19:00:00-04:00"), ""},
           {series("FREQ=MONTHLY;BYDAY=1TU;COUNT=2", "2030-04-02T19:00:00-04:00"), ""},
           {series("FREQ=WEEKLY", "2030-04-02T19:00:00-04:00",
                   R"(,"until":"2030-04-02T23:00:00Z")"),
            ""}}) {
    Verdict v = route(signed_post("/v1/events", c.body));
    EXPECT_EQ(v.batch.size(), 1u) << c.body << ": " << v.reply.body;
  }
}

TEST_F(IngressTest, AnIdempotencyKeyMakesTheSameIdsForTheSameRequest) {
  HttpRequest a = signed_post("/v1/registrations", kRegistration);
  a.headers.emplace_back("idempotency-key", "k-1");
  Verdict first = route(a), second = route(a);
  ASSERT_EQ(first.batch.size(), 1u);
  EXPECT_EQ(first.batch[0].id, second.batch[0].id);
  EXPECT_EQ(std::get<RegistrationReceived>(first.batch[0].data).registration_id,
            std::get<RegistrationReceived>(second.batch[0].data).registration_id);
  a.headers.back().second = "k-2";
  EXPECT_NE(route(a).batch[0].id, first.batch[0].id);
}

TEST_F(IngressTest, ZoomRegistrationsFindTheSessionByMeetingId) {
  auto zoom = [&](const std::string& body) {
    HttpRequest r;
    r.method = "POST";
    r.path = "/v1/webhooks/zoom";
    std::string ts = std::to_string(kNow);
    r.headers = {
        {"content-type", "application/json"},
        {"x-zm-request-timestamp", ts},
        {"x-zm-signature", "v0=" + hmac_sha256_hex("zoom-token", "v0:" + ts + ":" + body)}};
    r.body = body;
    return route(r);
  };
  Verdict v = zoom(R"({"event":"meeting.registration_created","payload":{"object":{"id":777,)"
                   R"("registrant":{"id":"z1","first_name":"Zed","email":"zed@example.org"}}}})");
  ASSERT_EQ(v.batch.size(), 1u) << v.reply.body;
  const auto& reg = std::get<RegistrationReceived>(v.batch[0].data);
  EXPECT_EQ(reg.registration_id, "zoom-z1");
  EXPECT_EQ(reg.session_id, "s1");
  v = zoom(R"({"event":"meeting.registration_created","payload":{"object":{"id":778,)"
           R"("registrant":{"id":"z1","first_name":"Zed","email":"zed@example.org"}}}})");
  EXPECT_EQ(v.reply.status, 422);
  v = zoom(R"({"event":"endpoint.url_validation","payload":{"plainToken":"abc"}})");
  EXPECT_EQ(nlohmann::json::parse(v.reply.body)["encryptedToken"],
            hmac_sha256_hex("zoom-token", "abc"));
  v = zoom(R"({"event":"meeting.started","payload":{}})");
  EXPECT_EQ(v.reply.status, 200);
  EXPECT_TRUE(v.batch.empty());
}

TEST_F(IngressTest, TwilioStopOptsTheSenderOut) {
  std::vector<std::pair<std::string, std::string>> form = {
      {"From", "+14155550123"}, {"Body", " stop "}, {"MessageSid", "SM1"}};
  HttpRequest r;
  r.method = "POST";
  r.path = "/v1/webhooks/twilio/sms";
  r.body = "From=%2B14155550123&Body=+stop+&MessageSid=SM1";
  r.headers = {{"content-type", "application/x-www-form-urlencoded"},
               {"x-twilio-signature",
                twilio_signature("twilio-token", config_.webhooks.twilio.public_url, form)}};
  Verdict v = route(r);
  ASSERT_EQ(v.batch.size(), 1u) << v.reply.body;
  const auto& out = std::get<ParticipantOptedOut>(v.batch[0].data);
  EXPECT_EQ(out.channel, "sms");
  EXPECT_EQ(out.address.sealed, "+14155550123");
  r.headers[1].second = "AAAA";
  EXPECT_EQ(route(r).reply.status, 401);
}

TEST_F(IngressTest, UnsubscribeNeedsAValidTokenAndOnlyPostActs) {
  std::string pid = state_.registration("r1")->participant_id();
  HttpRequest r;
  r.method = "GET";
  r.path = "/v1/unsubscribe";
  r.query = "token=" + unsubscribe_token(key_, pid);
  Verdict get = route(r);
  EXPECT_EQ(get.reply.status, 200);
  EXPECT_TRUE(get.batch.empty());
  r.method = "POST";
  Verdict post = route(r);
  ASSERT_EQ(post.batch.size(), 1u);
  EXPECT_EQ(std::get<ParticipantOptedOut>(post.batch[0].data).address.sealed, "pat@example.org");
  r.query = "token=" + unsubscribe_token("another key", pid);
  EXPECT_EQ(route(r).reply.status, 401);
}

TEST(ErrorResponse, MapsStatusCodesToHttp) {
  EXPECT_EQ(error_response(Status::invalid("x", "bad")).status, 422);
  EXPECT_EQ(error_response(Status::malformed("bad")).status, 400);
  EXPECT_EQ(error_response(Status::conflict("dup")).status, 409);
  HttpResponse busy = error_response(Status::unavailable("disk full"));
  EXPECT_EQ(busy.status, 503);
  ASSERT_EQ(busy.headers.size(), 1u);
  EXPECT_EQ(busy.headers[0].first, "Retry-After");
  EXPECT_EQ(busy.body.find("disk"), std::string::npos);  // internals stay in the log
}

}  // namespace
}  // namespace nudged
