#include "daemon/compose.h"

#include <gtest/gtest.h>
#include <libical/ical.h>

#include <regex>

#include <filesystem>

#include "channels/signature.h"
#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

using testing::at;
using testing::make_event;

const Templates& builtin() {
  static const Result<Templates> t =
      Templates::load((std::filesystem::path(__FILE__).parent_path() / "../../../config/templates")
                          .lexically_normal()
                          .string(),
                      "");
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  return *t;
}

class ComposeTest : public ::testing::Test {
 protected:
  ComposeTest() {
    config_.daemon.public_url = "https://reminders.example.org";
    config_.plan.coordinators.push_back(StaffAddress{"email", "access@example.org"});
    GroupPolicy ibd;
    ibd.name = "IBD peer support";
    config_.plan.groups["ibd"] = ibd;
    apply(
        R"({"type":"session.scheduled","data":{"session_id":"s1","group":"ibd","title":"IBD peer support","starts_at":"2027-01-12T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":90,"join_url":"https://zoom.example.org/j/1","facilitators":[{"name":"Sam Rivera","email":"sam@example.org"}]}})");
  }
  void apply(const std::string& json) { testing::apply_json(state_, json, "2026-12-01T00:00:00Z"); }
  void registration(const std::string& id, bool discreet, const std::string& extra = "") {
    apply(
        R"({"type":"registration.received","data":{"registration_id":")" + id +
        R"(","session_id":"s1","participant":{"participant_id":"p-)" + id +
        R"(","name":"Riley Morgan","email":"riley@example.org","phone":"+14155550142","time_zone":"America/Los_Angeles"},"channels":["email","sms"],"sms_consent":true,"discreet":)" +
        (discreet ? "true" : "false") + extra + "}}");
  }
  Notification find(NotificationKind kind, const std::string& channel) {
    for (const Notification& n : plan(state_, config_.plan, at("2026-12-01T00:00:01Z"))) {
      if (n.kind == kind && n.channel == channel) return n;
    }
    ADD_FAILURE() << "no " << kind_name(kind) << " on " << channel;
    return {};
  }
  Result<Message> compose_one(const Notification& n) {
    ComposeContext ctx{state_, config_, builtin(), sealer_, key_, now_};
    return compose(n, ctx);
  }

  State state_;
  Config config_;
  PlainSealer sealer_;
  std::string key_ = std::string(32, 'k');
  TimePoint now_ = at("2026-12-01T00:00:01Z");
};

TEST_F(ComposeTest, ReminderEmailIsAddressedInTheReadersZoneWithOneClickUnsubscribe) {
  registration("r1", false);
  Result<Message> m = compose_one(find(NotificationKind::kReminder, "email"));
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(m->to, "riley@example.org");
  EXPECT_NE(m->text.find("4:00 PM PST"), std::string::npos) << m->text;  // 19:00 EST in LA
  EXPECT_NE(m->text.find("https://zoom.example.org/j/1"), std::string::npos);
  std::string pid = state_.registration("r1")->participant_id();
  std::string url =
      "https://reminders.example.org/v1/unsubscribe?token=" + unsubscribe_token(key_, pid);
  EXPECT_NE(m->text.find(url), std::string::npos);
  ASSERT_EQ(m->headers.size(), 2u);
  // Only the https one-click URL (RFC 8058): no mailto, as nudged reads no incoming mail and
  // a message sent there would opt nobody out.
  EXPECT_EQ(m->headers[0], std::make_pair(std::string("List-Unsubscribe"), "<" + url + ">"));
  EXPECT_EQ(m->headers[1].second, "List-Unsubscribe=One-Click");
  EXPECT_FALSE(m->calendar.has_value());  // reminders carry no invitation
}

// The UID line of an invitation ("" when none).
std::string uid_of(const std::string& ics) {
  size_t at = ics.find("\r\nUID:");
  if (at == std::string::npos) return {};
  at += 2;
  return ics.substr(at, ics.find("\r\n", at) - at);
}

TEST_F(ComposeTest, ConfirmationEmailCarriesAnInvitationInTheSessionsZone) {
  ChannelTable email{"email", "smtp", {{"from", "Peer Support <meetings@example.org>"}}};
  config_.channels.push_back(email);
  registration("r1", false);
  Result<Message> m = compose_one(find(NotificationKind::kConfirmation, "email"));
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  ASSERT_TRUE(m->calendar.has_value());
  EXPECT_EQ(m->calendar->method, "REQUEST");
  const std::string& ics = m->calendar->ics;
  EXPECT_NE(ics.find("METHOD:REQUEST"), std::string::npos) << ics;
  // Meaningless to readers (ids may name the group), at our domain.
  EXPECT_TRUE(std::regex_match(uid_of(ics),
                               std::regex("UID:nudged-[0-9a-f]{32}@reminders\\.example\\.org")))
      << ics;
  EXPECT_NE(ics.find("SEQUENCE:1"), std::string::npos) << ics;
  EXPECT_NE(ics.find("DTSTART;TZID=America/New_York:20270112T190000"), std::string::npos) << ics;
  EXPECT_NE(ics.find("DTEND;TZID=America/New_York:20270112T203000"), std::string::npos) << ics;
  EXPECT_NE(ics.find("TZID:America/New_York"), std::string::npos) << ics;  // the VTIMEZONE
  EXPECT_NE(ics.find("ORGANIZER:mailto:meetings@example.org"), std::string::npos) << ics;
  EXPECT_NE(ics.find("SUMMARY:IBD peer support"), std::string::npos) << ics;
  EXPECT_EQ(m->headers[0].second.find("mailto:"), std::string::npos) << m->headers[0].second;
  // The text says an invitation is attached.
  EXPECT_NE(m->text.find("invite attached"), std::string::npos) << m->text;
}

TEST_F(ComposeTest, CancellationSendsMethodCancelWithTheSameUidAndAHigherSequence) {
  registration("r1", true);
  Result<Message> confirmation = compose_one(find(NotificationKind::kConfirmation, "email"));
  ASSERT_TRUE(confirmation.is_ok()) << confirmation.status().to_string();
  const std::string uid = uid_of(confirmation->calendar->ics);
  ASSERT_FALSE(uid.empty());
  // A discreet registrant's calendar entry does not name the group, its UID included.
  EXPECT_EQ(uid.find("s1"), std::string::npos) << uid;
  EXPECT_EQ(uid.find("r1"), std::string::npos) << uid;
  testing::apply_json(state_, R"({"type":"session.cancelled","data":{"session_id":"s1"}})",
                      "2026-12-01T00:00:00.500Z");
  Result<Message> m = compose_one(find(NotificationKind::kChanged, "email"));
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  ASSERT_TRUE(m->calendar.has_value());
  EXPECT_EQ(m->calendar->method, "CANCEL");
  const std::string& ics = m->calendar->ics;
  EXPECT_NE(ics.find("METHOD:CANCEL"), std::string::npos) << ics;
  EXPECT_NE(ics.find("STATUS:CANCELLED"), std::string::npos) << ics;
  EXPECT_EQ(uid_of(ics), uid) << ics;
  EXPECT_NE(ics.find("SEQUENCE:2"), std::string::npos) << ics;
  // Discreet: the calendar entry does not name the group.
  EXPECT_EQ(ics.find("IBD"), std::string::npos) << ics;
  // No SMS invitation, ever.
  Result<Message> sms = compose_one(find(NotificationKind::kChanged, "sms"));
  ASSERT_TRUE(sms.is_ok()) << sms.status().to_string();
  EXPECT_FALSE(sms->calendar.has_value());
}

// A series registrant's calendar holds the series (one UID, an RRULE): a change to one
// occurrence is that occurrence of it (same UID, RECURRENCE-ID where the rule put it), not a
// meeting of its own that would leave the old one standing.
TEST_F(ComposeTest, AnOccurrenceChangeReachesTheSeriesInTheCalendar) {
  apply(
      R"({"type":"series.scheduled","data":{"series_id":"he","group":"ibd","title":"HE","rrule":"FREQ=MONTHLY;BYDAY=2TU","first_starts_at":"2027-01-12T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"https://zoom.example.org/j/2","facilitators":[]}})");
  apply(
      R"({"type":"registration.received","data":{"registration_id":"r-he","series_id":"he","participant":{"name":"Riley Morgan","email":"riley@example.org"},"channels":["email"],"sms_consent":false}})");
  Result<Message> confirmation = compose_one(find(NotificationKind::kConfirmation, "email"));
  ASSERT_TRUE(confirmation.is_ok()) << confirmation.status().to_string();
  const std::string& invite = confirmation->calendar->ics;
  const std::string uid = uid_of(invite);
  ASSERT_FALSE(uid.empty()) << invite;
  EXPECT_NE(invite.find("RRULE:FREQ=MONTHLY;BYDAY=2TU"), std::string::npos) << invite;

  testing::apply_json(state_,
                      R"({"type":"session.cancelled","data":{"session_id":"he@2027-02-09"}})",
                      "2026-12-01T00:00:00.500Z");
  Result<Message> m = compose_one(find(NotificationKind::kChanged, "email"));
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  const std::string& ics = m->calendar->ics;
  EXPECT_NE(ics.find("METHOD:CANCEL"), std::string::npos) << ics;
  EXPECT_EQ(uid_of(ics), uid) << ics;
  EXPECT_NE(ics.find("RECURRENCE-ID;TZID=America/New_York:20270209T190000"), std::string::npos)
      << ics;
  EXPECT_EQ(ics.find("RRULE:FREQ=MONTHLY"), std::string::npos) << ics;  // the VTIMEZONE has its own
}

// A meeting registered for on its own that the series, scheduled again at other times, no
// longer has: the notice says it is cancelled, at the time it had, and takes the entry its
// confirmation made (same UID, higher SEQUENCE) off the calendar.
TEST_F(ComposeTest, AMeetingTheSeriesNoLongerHasIsToldAsCancelled) {
  const std::string tuesdays =
      R"({"type":"series.scheduled","data":{"series_id":"he","group":"ibd","title":"HE","rrule":"FREQ=MONTHLY;BYDAY=2TU","first_starts_at":"2027-01-12T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"https://zoom.example.org/j/2","facilitators":[]}})";
  apply(tuesdays);
  apply(
      R"({"type":"registration.received","data":{"registration_id":"r-feb","session_id":"he@2027-02-09","participant":{"name":"Riley Morgan","email":"riley@example.org"},"channels":["email"],"sms_consent":false}})");
  Result<Message> confirmation = compose_one(find(NotificationKind::kConfirmation, "email"));
  ASSERT_TRUE(confirmation.is_ok()) << confirmation.status().to_string();
  const std::string uid = uid_of(confirmation->calendar->ics);
  ASSERT_FALSE(uid.empty());

  std::string wednesdays = tuesdays;
  wednesdays.replace(wednesdays.find("2TU"), 3, "2WE");
  wednesdays.replace(wednesdays.find("2027-01-12T19"), 13, "2027-01-13T19");
  testing::apply_json(state_, wednesdays, "2026-12-01T00:00:00.500Z");
  Result<Message> m = compose_one(find(NotificationKind::kChanged, "email"));
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(m->subject, "Cancelled: HE on Tuesday, February 9, 7:00 PM EST");
  EXPECT_NE(m->text.find("We had to cancel HE on Tuesday, February 9, 7:00 PM EST."),
            std::string::npos)
      << m->text;
  ASSERT_TRUE(m->calendar.has_value());
  const std::string& ics = m->calendar->ics;
  EXPECT_EQ(m->calendar->method, "CANCEL");
  EXPECT_EQ(uid_of(ics), uid) << ics;
  EXPECT_NE(ics.find("SEQUENCE:20000"), std::string::npos) << ics;
  EXPECT_NE(ics.find("DTSTART;TZID=America/New_York:20270209T190000"), std::string::npos) << ics;
}

// A series registration made long after the series began: its notices name the reader's next
// meeting (not the series' first, 60 days back), say it repeats, and carry the join link.
class SeriesComposeTest : public ComposeTest {
 protected:
  SeriesComposeTest() {
    // Mondays at 7 PM in New York since October 5; the registration comes at 7 PM on Monday,
    // November 30, as that day's meeting starts: the first meeting it covers is December 7.
    apply(
        R"({"type":"series.scheduled","data":{"series_id":"wc","group":"ibd","title":"Weekly circle","rrule":"FREQ=WEEKLY","first_starts_at":"2026-10-05T19:00:00-04:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"https://zoom.example.org/j/3","facilitators":[]}})");
  }
  void register_for_series(bool discreet) {
    apply(
        R"({"type":"registration.received","data":{"registration_id":"r-wc","series_id":"wc","participant":{"participant_id":"p-wc","name":"Riley Morgan","email":"riley@example.org","phone":"+14155550142"},"channels":["email","sms"],"sms_consent":true,"discreet":)" +
        std::string(discreet ? "true" : "false") + "}}");
  }
  Message about_series(NotificationKind kind, const std::string& channel) {
    for (const Notification& n : plan(state_, config_.plan, at("2026-12-01T00:00:01Z"))) {
      if (n.kind != kind || n.channel != channel || n.session_id != "wc") continue;
      Result<Message> m = compose_one(n);
      EXPECT_TRUE(m.is_ok()) << m.status().to_string();
      return m.is_ok() ? *m : Message{};
    }
    ADD_FAILURE() << "no " << kind_name(kind) << " about the series on " << channel;
    return {};
  }
};

TEST_F(SeriesComposeTest, ConfirmationNamesTheNextMeetingSaysItRepeatsAndLinksToIt) {
  register_for_series(false);
  Message email = about_series(NotificationKind::kConfirmation, "email");
  EXPECT_EQ(email.subject,
            "You're registered: Weekly circle, starting Monday, December 7, 7:00 PM EST");
  EXPECT_NE(email.text.find("Next meeting: Monday, December 7, 7:00 PM EST\n"), std::string::npos)
      << email.text;
  EXPECT_NE(email.text.find("Repeats: every week\n"), std::string::npos) << email.text;
  EXPECT_NE(email.text.find("and the ones after it"), std::string::npos) << email.text;
  EXPECT_NE(email.text.find("Join here: https://zoom.example.org/j/3"), std::string::npos)
      << email.text;
  EXPECT_NE(email.html.find(R"(<a href="https://zoom.example.org/j/3">)"), std::string::npos)
      << email.html;
  for (const std::string* part : {&email.subject, &email.text, &email.html})
    EXPECT_EQ(part->find("October"), std::string::npos) << *part;
  ASSERT_TRUE(email.calendar.has_value());
  const std::string& ics = email.calendar->ics;
  EXPECT_NE(ics.find("DESCRIPTION:Join: https://zoom.example.org/j/3"), std::string::npos) << ics;
  EXPECT_NE(ics.find("RRULE:FREQ=WEEKLY"), std::string::npos) << ics;

  Message sms = about_series(NotificationKind::kConfirmation, "sms");
  EXPECT_EQ(sms.text,
            "Hi Riley Morgan, you're registered for Weekly circle on Monday, December 7, 7:00 PM "
            "EST and the meetings after it. It repeats every week. Reply STOP to opt out.");
}

TEST_F(SeriesComposeTest, DiscreetConfirmationStillHidesTheGroupOutside) {
  register_for_series(true);
  Message email = about_series(NotificationKind::kConfirmation, "email");
  Message sms = about_series(NotificationKind::kConfirmation, "sms");
  for (const std::string* outside : {&email.subject, &sms.text}) {
    EXPECT_EQ(outside->find("Weekly circle"), std::string::npos) << *outside;
    EXPECT_EQ(outside->find("IBD"), std::string::npos) << *outside;
    EXPECT_NE(outside->find("December 7"), std::string::npos) << *outside;
  }
}

// A confirmation sent late (retried for hours, or after downtime) names the next meeting from
// when it goes out, not the one already past by then.
TEST_F(SeriesComposeTest, ALateConfirmationNamesAMeetingStillToCome) {
  register_for_series(false);
  now_ = at("2026-12-15T12:00:00Z");  // after the December 7 and 14 meetings
  Message email = about_series(NotificationKind::kConfirmation, "email");
  EXPECT_EQ(email.subject,
            "You're registered: Weekly circle, starting Monday, December 21, 7:00 PM EST");
  EXPECT_NE(email.text.find("Next meeting: Monday, December 21, 7:00 PM EST\n"), std::string::npos)
      << email.text;
  // The invitation still starts where the rule does.
  EXPECT_NE(email.calendar->ics.find("DTSTART;TZID=America/New_York:20261005T190000"),
            std::string::npos)
      << email.calendar->ics;
}

// A series with no meeting still to come (its last was before the message went out): the
// notice gives no date rather than the series' first start, months back, and still reads well.
TEST_F(SeriesComposeTest, WithNoMeetingStillToComeTheNoticeGivesNoDate) {
  testing::apply_json(
      state_,
      R"({"type":"series.scheduled","data":{"series_id":"short","group":"ibd","title":"Short course","rrule":"FREQ=WEEKLY","first_starts_at":"2026-10-05T19:00:00-04:00","until":"2026-11-30T23:59:00-05:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"https://zoom.example.org/j/4","facilitators":[]}})",
      "2026-10-01T00:00:00Z");
  apply(
      R"({"type":"registration.received","data":{"registration_id":"r-short","series_id":"short","participant":{"participant_id":"p-short","name":"Riley Morgan","email":"riley@example.org","phone":"+14155550142"},"channels":["email","sms"],"sms_consent":true}})");
  now_ = at("2026-12-02T12:00:00Z");
  std::map<std::string, Message> sent;
  for (const Notification& n : plan(state_, config_.plan, at("2026-12-01T00:00:01Z"))) {
    if (n.kind != NotificationKind::kConfirmation || n.session_id != "short") continue;
    Result<Message> m = compose_one(n);
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    sent[n.channel] = *m;
  }
  ASSERT_EQ(sent.size(), 2u);
  const Message& email = sent["email"];
  const Message& sms = sent["sms"];
  EXPECT_EQ(email.subject, "You're registered: Short course");
  EXPECT_EQ(email.text.find("Next meeting"), std::string::npos) << email.text;
  EXPECT_NE(email.text.find("You're signed up for its meetings."), std::string::npos) << email.text;
  EXPECT_EQ(email.html.find("Next meeting"), std::string::npos) << email.html;
  for (const std::string* part : {&email.subject, &email.text, &email.html, &sms.text})
    EXPECT_EQ(part->find("October"), std::string::npos) << *part;
  EXPECT_EQ(sms.text,
            "Hi Riley Morgan, you're registered for Short course. It repeats every week. Reply "
            "STOP to opt out.");
}

// A series that ends: its invitation's rule ends there too, or calendars would show the meeting
// forever after nudged stops.
TEST_F(SeriesComposeTest, TheInvitationOfASeriesThatEndsEndsThere) {
  testing::apply_json(
      state_,
      R"({"type":"series.scheduled","data":{"series_id":"term","group":"ibd","title":"Spring term","rrule":"FREQ=WEEKLY","first_starts_at":"2026-11-02T19:00:00-05:00","until":"2027-03-01T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"https://zoom.example.org/j/5","facilitators":[]}})",
      "2026-10-01T00:00:00Z");
  apply(
      R"({"type":"registration.received","data":{"registration_id":"r-term","series_id":"term","participant":{"participant_id":"p-term","name":"Riley Morgan","email":"riley@example.org"},"channels":["email"],"sms_consent":false}})");
  for (const Notification& n : plan(state_, config_.plan, at("2026-12-01T00:00:01Z"))) {
    if (n.kind != NotificationKind::kConfirmation || n.session_id != "term") continue;
    Result<Message> m = compose_one(n);
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    ASSERT_TRUE(m->calendar.has_value());
    EXPECT_NE(m->calendar->ics.find("\r\nRRULE:FREQ=WEEKLY;UNTIL=20270302T000000Z\r\n"),
              std::string::npos)
        << m->calendar->ics;
    return;
  }
  ADD_FAILURE() << "no confirmation about the series";
}

// A series registration made after one meeting was cancelled and another moved: its
// invitation leaves the cancelled one out (EXDATE) and has the moved one at its new time (a
// VEVENT of the same UID with RECURRENCE-ID), as libical reads it back.
TEST_F(SeriesComposeTest, TheInvitationCarriesMeetingsAlreadyCancelledOrMoved) {
  apply(R"({"type":"session.cancelled","data":{"session_id":"wc@2026-12-14"}})");
  apply(
      R"({"type":"session.rescheduled","data":{"session_id":"wc@2026-12-21","starts_at":"2026-12-22T18:00:00-05:00"}})");
  register_for_series(true);
  Message email = about_series(NotificationKind::kConfirmation, "email");
  ASSERT_TRUE(email.calendar.has_value());
  const std::string& ics = email.calendar->ics;
  icalcomponent* cal = icalparser_parse_string(ics.c_str());
  ASSERT_NE(cal, nullptr) << ics;
  ASSERT_EQ(icalcomponent_count_components(cal, ICAL_VEVENT_COMPONENT), 2) << ics;
  icalcomponent* series = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT);
  icalcomponent* moved = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT);

  icalproperty* exdate = icalcomponent_get_first_property(series, ICAL_EXDATE_PROPERTY);
  ASSERT_NE(exdate, nullptr) << ics;
  EXPECT_STREQ(icaltime_as_ical_string(icalproperty_get_exdate(exdate)), "20261214T190000");
  EXPECT_STREQ(
      icalparameter_get_tzid(icalproperty_get_first_parameter(exdate, ICAL_TZID_PARAMETER)),
      "America/New_York");
  EXPECT_EQ(icalcomponent_get_next_property(series, ICAL_EXDATE_PROPERTY), nullptr) << ics;

  EXPECT_STREQ(icalcomponent_get_uid(moved), icalcomponent_get_uid(series));
  icalproperty* rid = icalcomponent_get_first_property(moved, ICAL_RECURRENCEID_PROPERTY);
  ASSERT_NE(rid, nullptr) << ics;
  EXPECT_STREQ(icaltime_as_ical_string(icalproperty_get_recurrenceid(rid)), "20261221T190000");
  EXPECT_STREQ(icaltime_as_ical_string(icalcomponent_get_dtstart(moved)), "20261222T180000");
  // The occurrence's revision, as its own change notice carried; discreet: no group named.
  EXPECT_EQ(icalcomponent_get_sequence(moved), 10001);
  EXPECT_STREQ(icalcomponent_get_summary(moved), "Peer support meeting");
  icalcomponent_free(cal);
}

// series.cancelled cancels every future meeting: the notice says so, not "the meeting on <a
// date>" (which was the series' first, long over).
TEST_F(SeriesComposeTest, SeriesCancelSaysEveryFutureMeetingIsOff) {
  register_for_series(false);
  testing::apply_json(state_, R"({"type":"series.cancelled","data":{"series_id":"wc"}})",
                      "2026-12-01T00:00:00.500Z");
  Message email = about_series(NotificationKind::kChanged, "email");
  EXPECT_EQ(email.subject, "Cancelled: Weekly circle, all future meetings");
  EXPECT_NE(email.text.find("We had to cancel Weekly circle. All of its future meetings are "
                            "cancelled."),
            std::string::npos)
      << email.text;
  EXPECT_NE(email.text.find("takes them off your calendar"), std::string::npos) << email.text;
  EXPECT_NE(email.html.find("All of its future meetings are cancelled."), std::string::npos)
      << email.html;
  for (const std::string* part : {&email.subject, &email.text, &email.html})
    EXPECT_EQ(part->find("October"), std::string::npos) << *part;
  EXPECT_EQ(email.calendar->method, "CANCEL");
  Message sms = about_series(NotificationKind::kChanged, "sms");
  EXPECT_EQ(sms.text, "Sorry, Weekly circle is cancelled. All of its future meetings are off.");
}

// The series scheduled again at other times (Tuesdays at 6 PM): its registrant hears of it,
// with the next meeting at the new time and an invitation that updates the whole series.
TEST_F(SeriesComposeTest, ASeriesMovedToOtherTimesUpdatesTheInvitation) {
  register_for_series(false);
  testing::apply_json(
      state_,
      R"({"type":"series.scheduled","data":{"series_id":"wc","group":"ibd","title":"Weekly circle","rrule":"FREQ=WEEKLY","first_starts_at":"2026-10-06T18:00:00-04:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"https://zoom.example.org/j/3","facilitators":[]}})",
      "2026-12-01T00:00:00.500Z");
  Message email = about_series(NotificationKind::kChanged, "email");
  EXPECT_EQ(email.subject, "Update: Weekly circle on Tuesday, December 1, 6:00 PM EST");
  EXPECT_NE(email.text.find("Some details of Weekly circle have changed."), std::string::npos)
      << email.text;
  ASSERT_TRUE(email.calendar.has_value());
  EXPECT_EQ(email.calendar->method, "REQUEST");
  const std::string& ics = email.calendar->ics;
  EXPECT_NE(ics.find("DTSTART;TZID=America/New_York:20261006T180000"), std::string::npos) << ics;
  EXPECT_NE(ics.find("RRULE:FREQ=WEEKLY"), std::string::npos) << ics;
  EXPECT_NE(ics.find("SEQUENCE:2"), std::string::npos) << ics;
}

// Opens a value only under the subject it was sealed for, as the real sealer (a key per
// subject) does: a value opened under another subject shows nothing.
class SubjectSealer final : public Sealer {
 public:
  Result<std::string> seal(std::string_view plaintext, const SealContext& ctx) override {
    return std::string(ctx.subject) + "|" + std::string(plaintext);
  }
  Result<std::string> open(std::string_view sealed, const SealContext& ctx) const override {
    std::string prefix = std::string(ctx.subject) + "|";
    if (sealed.substr(0, prefix.size()) != prefix) {
      return Status::invalid("sealed", "sealed for another subject");
    }
    return std::string(sealed.substr(prefix.size()));
  }
  std::string blind_index(std::string_view plaintext) const override {
    return std::string(plaintext);
  }
};

// series.cancelled's reason (staff free text, sealed for the series) is shown on its notices
// as a session cancel's is: on the series-wide notice and on the notice of a meeting the cancel
// took, in the email body, never to a discreet reader (whose notice names neither group nor
// condition).
class SeriesCancelReasonTest : public ComposeTest {
 protected:
  void add(const std::string& json, const char* recorded = "2026-12-01T00:00:00Z") {
    Intake intake(IntakeOptions{&subject_sealer_, std::string(32, 'k'), nullptr});
    Result<NewEvent> ev = intake.from_envelope_json(json);
    ASSERT_TRUE(ev.is_ok()) << ev.status().to_string();
    Envelope env;
    env.position = sealed_.position() + 1;
    env.id = ev->id;
    env.type = type_of(ev->data);
    env.recorded_at = at(recorded);
    sealed_.apply(env, std::move(ev->data));
  }
  void register_for(const std::string& id, const std::string& target_field,
                    const std::string& target, bool discreet) {
    add(R"({"type":"registration.received","data":{"registration_id":")" + id + R"(",")" +
        target_field + R"(":")" + target + R"(","participant":{"name":"Riley","email":")" + id +
        R"(@example.org","phone":"+14155550142"},"channels":["email","sms"],"sms_consent":true,"discreet":)" +
        (discreet ? "true" : "false") + "}}");
  }
  // The change notices, composed, by "<registration>/<channel>".
  std::map<std::string, Message> notices() {
    std::map<std::string, Message> out;
    for (const Notification& n : plan(sealed_, config_.plan, at("2026-12-01T00:00:01Z"))) {
      if (n.kind != NotificationKind::kChanged) continue;
      ComposeContext ctx{sealed_, config_, builtin(), subject_sealer_, key_, now_};
      Result<Message> m = compose(n, ctx);
      EXPECT_TRUE(m.is_ok()) << m.status().to_string();
      if (m.is_ok()) out[n.registration_id + "/" + n.channel] = *m;
    }
    return out;
  }

  State sealed_;
  SubjectSealer subject_sealer_;
};

TEST_F(SeriesCancelReasonTest, IsShownLikeASessionCancelsReasonAndNeverToTheDiscreet) {
  add(R"({"type":"series.scheduled","data":{"series_id":"wc","group":"ibd","title":"Weekly circle","rrule":"FREQ=WEEKLY","first_starts_at":"2026-10-05T19:00:00-04:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"https://zoom.example.org/j/3","facilitators":[]}})");
  register_for("r-open", "series_id", "wc", false);
  register_for("r-discreet", "series_id", "wc", true);
  register_for("r-one", "session_id", "wc@2026-12-07", false);
  add(R"({"type":"series.cancelled","data":{"series_id":"wc","reason":"The IBD nurse is away."}})",
      "2026-12-01T00:00:00.500Z");
  std::map<std::string, Message> sent = notices();
  ASSERT_EQ(sent.size(), 6u);

  for (const char* open : {"r-open/email", "r-one/email"}) {
    const Message& m = sent[open];
    EXPECT_NE(m.text.find("\nReason: The IBD nurse is away.\n"), std::string::npos)
        << open << m.text;
    EXPECT_NE(m.html.find("<p><strong>Reason:</strong> The IBD nurse is away.</p>"),
              std::string::npos)
        << open << m.html;
  }
  EXPECT_NE(sent["r-open/email"].text.find("All of its future meetings are cancelled."),
            std::string::npos);
  // Text messages leave the reason out, as a session's do.
  EXPECT_EQ(sent["r-open/sms"].text,
            "Sorry, Weekly circle is cancelled. All of its future meetings are off.");
  for (const char* discreet : {"r-discreet/email", "r-discreet/sms"}) {
    const Message& m = sent[discreet];
    for (const std::string* part : {&m.subject, &m.text, &m.html}) {
      EXPECT_EQ(part->find("nurse"), std::string::npos) << discreet << *part;
      EXPECT_EQ(part->find("IBD"), std::string::npos) << discreet << *part;
      EXPECT_EQ(part->find("Weekly circle"), std::string::npos) << discreet << *part;
    }
  }

  // Scheduled again after the cancel: that cancel's reason is gone with it.
  add(R"({"type":"series.scheduled","data":{"series_id":"wc","group":"ibd","title":"Weekly circle","rrule":"FREQ=WEEKLY","first_starts_at":"2026-10-05T19:00:00-04:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"https://zoom.example.org/j/3","facilitators":[]}})",
      "2026-12-01T00:00:00.600Z");
  EXPECT_FALSE(sealed_.series().at("wc").cancel_reason.has_value());
}

// One meeting of a series cancelled on its own, with a reason: its notice shows the reason
// as a single session's does, to those registered for the series and for that meeting alike.
TEST_F(SeriesCancelReasonTest, AMeetingCancelledOnItsOwnShowsItsReason) {
  add(R"({"type":"series.scheduled","data":{"series_id":"wc","group":"ibd","title":"Weekly circle","rrule":"FREQ=WEEKLY","first_starts_at":"2026-10-05T19:00:00-04:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"https://zoom.example.org/j/3","facilitators":[]}})");
  register_for("r-series", "series_id", "wc", false);
  register_for("r-one", "session_id", "wc@2026-12-07", false);
  register_for("r-discreet", "session_id", "wc@2026-12-07", true);
  add(R"({"type":"session.cancelled","data":{"session_id":"wc@2026-12-07","reason":"The IBD nurse is away."}})",
      "2026-12-01T00:00:00.500Z");
  std::map<std::string, Message> sent = notices();
  ASSERT_EQ(sent.size(), 6u);
  for (const char* open : {"r-series/email", "r-one/email"}) {
    EXPECT_NE(sent[open].text.find("\nReason: The IBD nurse is away.\n"), std::string::npos)
        << open << sent[open].text;
  }
  for (const std::string* part : {&sent["r-discreet/email"].subject, &sent["r-discreet/email"].text,
                                  &sent["r-discreet/email"].html, &sent["r-discreet/sms"].text}) {
    EXPECT_EQ(part->find("nurse"), std::string::npos) << *part;
  }
}

TEST_F(ComposeTest, DiscreetSmsNamesNeitherGroupNorTitle) {
  registration("r1", true);
  Result<Message> sms = compose_one(find(NotificationKind::kReminder, "sms"));
  ASSERT_TRUE(sms.is_ok()) << sms.status().to_string();
  EXPECT_EQ(sms->to, "+14155550142");
  EXPECT_EQ(sms->text.find("IBD"), std::string::npos) << sms->text;
  Result<Message> email = compose_one(find(NotificationKind::kReminder, "email"));
  ASSERT_TRUE(email.is_ok());
  EXPECT_EQ(email->subject.find("IBD"), std::string::npos) << email->subject;
}

// discreet_default is a default: a registrant who leaves discreet out gets it, one who says
// false does not.
TEST_F(ComposeTest, DiscreetDefaultAppliesUnlessTheRegistrantChose) {
  config_.plan.groups["ibd"].policy.discreet_default = true;
  apply(
      R"({"type":"registration.received","data":{"registration_id":"r-default","session_id":"s1","participant":{"name":"Riley Morgan","phone":"+14155550142"},"channels":["sms"],"sms_consent":true}})");
  registration("r-open", false);
  int checked = 0;
  for (const Notification& n : plan(state_, config_.plan, at("2026-12-01T00:00:01Z"))) {
    if (n.kind != NotificationKind::kReminder || n.channel != "sms") continue;
    ++checked;
    Result<Message> sms = compose_one(n);
    ASSERT_TRUE(sms.is_ok()) << sms.status().to_string();
    bool names_group = sms->text.find("IBD") != std::string::npos;
    EXPECT_EQ(names_group, n.registration_id == "r-open") << n.registration_id << ": " << sms->text;
  }
  EXPECT_EQ(checked, 2);
}

TEST_F(ComposeTest, CoordinatorGetsNeedsAndIdsButNoNames) {
  registration("r1", false, R"(,"accommodations":[{"kind":"asl","details":"same interpreter"}])");
  Result<Message> m = compose_one(find(NotificationKind::kAccommodationRequest, "email"));
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(m->to, "access@example.org");
  EXPECT_NE(m->text.find("ASL interpreting"), std::string::npos) << m->text;
  EXPECT_NE(m->text.find("r1"), std::string::npos);
  EXPECT_EQ(m->text.find("Riley"), std::string::npos);
}

TEST_F(ComposeTest, RosterCountsPeopleAndNeedsWithoutContactDetails) {
  registration("r1", false, R"(,"accommodations":[{"kind":"captions"}])");
  apply(
      R"({"type":"registration.received","data":{"registration_id":"r2","session_id":"s1","participant":{"participant_id":"p-r2","name":"Lee","email":"lee@example.org"},"channels":["email"],"sms_consent":false,"accommodations":[{"kind":"captions"}]}})");
  Result<Message> m = compose_one(find(NotificationKind::kRoster, "email"));
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(m->to, "sam@example.org");
  EXPECT_NE(m->text.find("Signed up: 2 people"), std::string::npos) << m->text;
  EXPECT_NE(m->text.find("live captions: 2 people"), std::string::npos) << m->text;
  for (const char* personal :
       {"Riley", "Lee", "riley@example.org", "lee@example.org", "4155550142"}) {
    EXPECT_EQ(m->text.find(personal), std::string::npos) << personal;
    EXPECT_EQ(m->html.find(personal), std::string::npos) << personal;
  }
}

// A roster counts people, not registrations: one person registered twice (same participant,
// their address written two ways) asking for captions both times is one person and one
// captions need; a cancelled registration is no one.
TEST_F(ComposeTest, RosterCountsEachPersonAndEachOfTheirNeedsOnce) {
  auto registered = [this](const std::string& id, const std::string& participant,
                           const std::string& email, const std::string& kind) {
    apply(R"({"type":"registration.received","data":{"registration_id":")" + id +
          R"(","session_id":"s1","participant":{"participant_id":")" + participant +
          R"(","name":"Dee","email":")" + email +
          R"("},"channels":["email"],"sms_consent":false,"accommodations":[{"kind":")" + kind +
          R"("}]}})");
  };
  registered("r-dup1", "p-dup", "dup@example.org", "captions");
  registered("r-dup2", "p-dup", "Dup@example.org", "captions");
  registered("r-asl", "p-asl", "asl@example.org", "asl");
  registered("r-gone", "p-gone", "gone@example.org", "cart");
  apply(R"({"type":"registration.cancelled","data":{"registration_id":"r-gone"}})");
  Result<Message> m = compose_one(find(NotificationKind::kRoster, "email"));
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_NE(m->text.find("Signed up: 2 people\n"), std::string::npos) << m->text;
  EXPECT_NE(m->text.find("- live captions: 1 person\n"), std::string::npos) << m->text;
  EXPECT_NE(m->text.find("- ASL interpreting: 1 person\n"), std::string::npos) << m->text;
  EXPECT_EQ(m->text.find("CART"), std::string::npos) << m->text;
}

// SPEC §4: every email has List-Unsubscribe and List-Unsubscribe-Post, staff's too; their
// token names a hash of their address, not the address, and the body links to the same URL.
TEST_F(ComposeTest, StaffEmailsCarryAnUnsubscribeLinkThatNamesNoOne) {
  registration("r1", false, R"(,"accommodations":[{"kind":"asl"}])");
  for (NotificationKind kind :
       {NotificationKind::kAccommodationRequest, NotificationKind::kRoster}) {
    Result<Message> m = compose_one(find(kind, "email"));
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    // PlainSealer: the blind index of an address is the address.
    std::string want = "https://reminders.example.org/v1/unsubscribe?token=" +
                       unsubscribe_token(key_, staff_token_subject(key_, m->to));
    EXPECT_NE(want.find("token=staff~"), std::string::npos) << want;  // no participant id has '~'
    std::map<std::string, std::string> headers(m->headers.begin(), m->headers.end());
    EXPECT_EQ(headers["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
    EXPECT_EQ(headers["List-Unsubscribe"], "<" + want + ">");
    EXPECT_NE(m->text.find(want), std::string::npos) << m->text;
    EXPECT_EQ(want.find(m->to.substr(0, m->to.find('@'))), std::string::npos) << want;
  }
}

// The notices to the accessibility coordinator are about one registrant and keep their
// discreet (SPEC §4) on every staff channel: an SMS, an email subject and a chat webhook show on
// lock screens. The coordinator finds the meeting by its time and the registration id; the
// session id is left out too (ids often name the group, as here). Bodies treat the group and
// title as a discreet registrant's own email does (left out) and keep what is to be arranged.
class StaffNoticeTest : public ComposeTest {
 protected:
  StaffNoticeTest() {
    config_.plan.coordinators.push_back(StaffAddress{"sms", "+14155550199"});
    config_.plan.coordinators.push_back(StaffAddress{"chat", "access-desk"});
    config_.channels.push_back(ChannelTable{
        "chat", "webhook", {{"url", "https://chat.example.org/hook"}, {"secret", "s3cret"}}});
    apply(
        R"({"type":"session.scheduled","data":{"session_id":"ibd-2027-01-20","group":"ibd","title":"Crohns and Colitis Circle","starts_at":"2027-01-20T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":90,"join_url":"https://zoom.example.org/j/2","facilitators":[]}})");
  }
  // discreet: "true", "false" or "" (left to the group's discreet_default).
  void register_asking(const std::string& id, const std::string& discreet) {
    apply(
        R"({"type":"registration.received","data":{"registration_id":")" + id +
        R"(","session_id":"ibd-2027-01-20","participant":{"participant_id":"p-)" + id +
        R"(","name":"Dana Lee","email":"dana@example.org"},"channels":["email"],"sms_consent":false,)" +
        (discreet.empty() ? "" : R"("discreet":)" + discreet + ",") +
        R"("accommodations":[{"kind":"asl"},{"kind":"other","details":"stoma-friendly seat"}]}})");
  }
  // The coordinators' notices of one kind about one registration, by channel.
  std::map<std::string, Message> notices(NotificationKind kind, const std::string& registration) {
    std::map<std::string, Message> out;
    for (const Notification& n : plan(state_, config_.plan, at("2026-12-01T00:00:01Z"))) {
      if (n.kind != kind || n.registration_id != registration) continue;
      Result<Message> m = compose_one(n);
      EXPECT_TRUE(m.is_ok()) << n.id << ": " << m.status().to_string();
      if (m) out[n.channel] = *m;
    }
    EXPECT_EQ(out.size(), 3u) << kind_name(kind) << " " << registration;
    return out;
  }

  // What names the group, the meeting, or the registrant's condition.
  const std::vector<std::string> kRevealing = {"IBD",    "Crohn", "Colitis", "Circle",
                                               "ibd-20", "ASL",   "stoma"};
  void expect_none_of(const std::vector<std::string>& words, const std::string& shown,
                      const std::string& where) {
    for (const std::string& w : words)
      EXPECT_EQ(shown.find(w), std::string::npos) << where << ": \"" << w << "\" in " << shown;
  }
};

TEST_F(StaffNoticeTest, DiscreetRegistrantsRequestAndEscalationNameNoGroupMeetingOrNeed) {
  register_asking("r-dana", "true");
  for (NotificationKind kind :
       {NotificationKind::kAccommodationRequest, NotificationKind::kAccommodationEscalation}) {
    SCOPED_TRACE(kind_name(kind));
    std::map<std::string, Message> sent = notices(kind, "r-dana");
    const Message& sms = sent["sms"];
    EXPECT_EQ(sms.to, "+14155550199");
    expect_none_of(kRevealing, sms.text, "sms");
    // Enough to act on: when, and which registration.
    EXPECT_NE(sms.text.find("a support meeting on Wednesday, January 20, 7:00 PM EST"),
              std::string::npos)
        << sms.text;
    EXPECT_NE(sms.text.find("Registration r-dana."), std::string::npos) << sms.text;

    // The email and the chat webhook (which posts the email's subject and plain text).
    for (const char* channel : {"email", "chat"}) {
      const Message& m = sent[channel];
      expect_none_of(kRevealing, m.subject, std::string(channel) + " subject");
      EXPECT_NE(m.subject.find("January 20"), std::string::npos) << m.subject;
      // The body: no group or title, as in the registrant's own discreet email; what to arrange,
      // when and for which registration stay, so the coordinator can act.
      expect_none_of({"IBD", "Crohn", "Colitis", "Circle", "ibd-20"}, m.text, channel);
      expect_none_of({"IBD", "Crohn", "Colitis", "Circle", "ibd-20"}, m.html, channel);
      EXPECT_NE(m.text.find("ASL interpreting"), std::string::npos) << m.text;
      EXPECT_NE(m.text.find("Registration: r-dana"), std::string::npos) << m.text;
      EXPECT_NE(m.text.find("When: Wednesday, January 20, 7:00 PM EST"), std::string::npos)
          << m.text;
      // Free text the registrant wrote is never on a staff notice.
      expect_none_of({"stoma", "Dana"}, m.text, channel);
    }
  }
}

TEST_F(StaffNoticeTest, OpenRegistrantsNoticesNameTheMeetingAndTheNeeds) {
  register_asking("r-open", "false");
  for (NotificationKind kind :
       {NotificationKind::kAccommodationRequest, NotificationKind::kAccommodationEscalation}) {
    SCOPED_TRACE(kind_name(kind));
    std::map<std::string, Message> sent = notices(kind, "r-open");
    EXPECT_NE(sent["sms"].text.find("Crohns and Colitis Circle"), std::string::npos)
        << sent["sms"].text;
    EXPECT_NE(sent["sms"].text.find("ASL interpreting"), std::string::npos) << sent["sms"].text;
    for (const char* channel : {"email", "chat"}) {
      const Message& m = sent[channel];
      EXPECT_NE(m.subject.find("Crohns and Colitis Circle"), std::string::npos) << m.subject;
      EXPECT_NE(m.text.find("Group: IBD peer support"), std::string::npos) << m.text;
    }
  }
}

// The coordinator finds the meeting by its time, in the meeting's zone: a registrant's own zone
// (here London, where the 19:00 EST meeting is at midnight, on the next day) would name a time
// and a day the coordinator's schedule does not show.
TEST_F(StaffNoticeTest, TimesAreTheMeetingsNotTheRegistrants) {
  apply(
      R"({"type":"registration.received","data":{"registration_id":"r-far","session_id":"ibd-2027-01-20","participant":{"participant_id":"p-far","name":"Dana Lee","email":"dana@example.org","time_zone":"Europe/London"},"channels":["email"],"sms_consent":false,"discreet":true,"accommodations":[{"kind":"asl"}]}})");
  for (NotificationKind kind :
       {NotificationKind::kAccommodationRequest, NotificationKind::kAccommodationEscalation}) {
    SCOPED_TRACE(kind_name(kind));
    std::map<std::string, Message> sent = notices(kind, "r-far");
    EXPECT_NE(sent["sms"].text.find("Wednesday, January 20, 7:00 PM EST"), std::string::npos)
        << sent["sms"].text;
    EXPECT_NE(sent["email"].text.find("When: Wednesday, January 20, 7:00 PM EST"),
              std::string::npos)
        << sent["email"].text;
  }
  // The registrant's own notices stay in their zone.
  for (const Notification& n : plan(state_, config_.plan, at("2026-12-01T00:00:01Z"))) {
    if (n.kind != NotificationKind::kConfirmation || n.registration_id != "r-far") continue;
    Result<Message> m = compose_one(n);
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    EXPECT_NE(m->text.find("Thursday, January 21, 12:00 AM GMT"), std::string::npos) << m->text;
  }
}

// A group's discreet_default holds for its registrants' staff notices as for their own.
TEST_F(StaffNoticeTest, TheGroupsDiscreetDefaultHoldsUnlessTheRegistrantChose) {
  config_.plan.groups["ibd"].policy.discreet_default = true;
  register_asking("r-default", "");
  register_asking("r-open", "false");
  std::map<std::string, Message> hidden =
      notices(NotificationKind::kAccommodationRequest, "r-default");
  expect_none_of(kRevealing, hidden["sms"].text, "sms");
  expect_none_of(kRevealing, hidden["email"].subject, "email subject");
  expect_none_of(kRevealing, hidden["chat"].subject, "chat subject");
  expect_none_of({"IBD", "Crohn"}, hidden["chat"].text, "chat text");
  std::map<std::string, Message> open = notices(NotificationKind::kAccommodationRequest, "r-open");
  EXPECT_NE(open["sms"].text.find("Crohns and Colitis Circle"), std::string::npos)
      << open["sms"].text;
}

// An email's Message-ID is a keyed hash of its notification id under the link key: the same on
// every attempt (a retry composes anew), unlike under another key, and not the hash under a
// public key it used to be, which anyone could recompute from guessed session ids.
TEST_F(ComposeTest, MessageIdIsAKeyedHashStablePerNotification) {
  registration("r1", true);
  Notification n = find(NotificationKind::kReminder, "email");
  Result<Message> first = compose_one(n);
  Result<Message> retry = compose_one(n);
  ASSERT_TRUE(first.is_ok() && retry.is_ok()) << first.status().to_string();
  EXPECT_TRUE(std::regex_match(first->message_id_token, std::regex("[0-9a-f]{32}")))
      << first->message_id_token;
  EXPECT_EQ(first->message_id_token, retry->message_id_token);
  EXPECT_EQ(first->message_id_token, message_id_token(key_, n.id));
  EXPECT_NE(first->message_id_token, hmac_sha256_hex("nudged message-id", n.id).substr(0, 32));
  EXPECT_NE(first->message_id_token,
            compose_one(find(NotificationKind::kConfirmation, "email"))->message_id_token);

  key_ = std::string(32, 'x');
  Result<Message> other_key = compose_one(n);
  ASSERT_TRUE(other_key.is_ok());
  EXPECT_EQ(other_key->message_id_token.size(), 32u);
  EXPECT_NE(other_key->message_id_token, first->message_id_token);

  Result<Message> sms = compose_one(find(NotificationKind::kReminder, "sms"));
  ASSERT_TRUE(sms.is_ok());
  EXPECT_TRUE(sms->message_id_token.empty());  // an SMS has no Message-ID
}

// Links already sent must keep working: a staff token hashes the first key of a match only, so
// an address whose index gained a lower-cased second key has the token it had before.
TEST_F(ComposeTest, StaffTokensHashTheFirstKeyOfAMatch) {
  EXPECT_EQ(staff_token_subject(key_, "AAAA BBBB"), staff_token_subject(key_, "AAAA"));
  EXPECT_NE(staff_token_subject(key_, "AAAA"), staff_token_subject(key_, "BBBB"));
}

TEST_F(ComposeTest, UnsubscribeTokensCannotBeForgedForSomeoneElse) {
  std::string a = unsubscribe_token(key_, "p-aaa");
  EXPECT_EQ(a.rfind("p-aaa.", 0), 0u);
  EXPECT_NE(a, unsubscribe_token(std::string(32, 'x'), "p-aaa"));
  EXPECT_NE(a.substr(6), unsubscribe_token(key_, "p-bbb").substr(6));
}

}  // namespace
}  // namespace nudged
