#include "channels/calendar.h"

#include <gtest/gtest.h>
#include <libical/ical.h>

#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

using testing::at;

Meeting meeting() {
  Meeting m;
  m.uid = calendar_uid("s1.r1", "reminders.example.org");
  m.sequence = 3;
  m.summary = "Game night";
  m.url = "https://zoom.example.org/j/1";
  m.description = "Join: https://zoom.example.org/j/1";
  m.starts_at = at("2027-03-14T01:30:00Z");  // 21:30 EDT on the 13th... EST: DST starts the 14th
  m.duration_minutes = 90;
  m.time_zone = "America/New_York";
  m.stamp = at("2027-03-01T00:00:00Z");
  m.organizer = "meetings@example.org";
  m.attendee = "riley@example.org";
  return m;
}

TEST(Calendar, UidIsStableAndSafe) {
  EXPECT_EQ(calendar_uid("nudged-0a1b", "example.org"), "nudged-0a1b@example.org");
  EXPECT_EQ(calendar_uid("a b;c\r\n", "example.org"), "a-b-c--@example.org");
}

TEST(Calendar, RequestParsesBackWithTheZoneAndFields) {
  Result<CalendarPart> part = build_calendar(meeting());
  ASSERT_TRUE(part.is_ok()) << part.status().to_string();
  EXPECT_EQ(part->method, "REQUEST");
  const std::string& ics = part->ics;
  EXPECT_NE(ics.find("\r\n"), std::string::npos);  // CRLF line ends
  EXPECT_NE(ics.find("DTSTART;TZID=America/New_York:20270313T203000"), std::string::npos) << ics;
  EXPECT_NE(ics.find("DTEND;TZID=America/New_York:20270313T220000"), std::string::npos) << ics;
  EXPECT_NE(ics.find("DTSTAMP:20270301T000000Z"), std::string::npos) << ics;

  icalcomponent* cal = icalparser_parse_string(ics.c_str());
  ASSERT_NE(cal, nullptr);
  EXPECT_EQ(icalcomponent_get_method(cal), ICAL_METHOD_REQUEST);
  icalcomponent* tz = icalcomponent_get_first_component(cal, ICAL_VTIMEZONE_COMPONENT);
  ASSERT_NE(tz, nullptr);
  EXPECT_STREQ(icalproperty_get_tzid(icalcomponent_get_first_property(tz, ICAL_TZID_PROPERTY)),
               "America/New_York");
  icalcomponent* ev = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT);
  ASSERT_NE(ev, nullptr);
  EXPECT_STREQ(icalcomponent_get_uid(ev), "s1.r1@reminders.example.org");
  EXPECT_EQ(icalcomponent_get_sequence(ev), 3);
  EXPECT_STREQ(icalcomponent_get_summary(ev), "Game night");
  EXPECT_EQ(icalcomponent_get_status(ev), ICAL_STATUS_CONFIRMED);
  EXPECT_STREQ(
      icalproperty_get_organizer(icalcomponent_get_first_property(ev, ICAL_ORGANIZER_PROPERTY)),
      "mailto:meetings@example.org");
  EXPECT_STREQ(
      icalproperty_get_attendee(icalcomponent_get_first_property(ev, ICAL_ATTENDEE_PROPERTY)),
      "mailto:riley@example.org");
  icalcomponent_free(cal);
}

// The zone's VTIMEZONE is written once and spliced into every invitation: the result must be
// exactly what libical itself writes for the parsed calendar (VTIMEZONE after the calendar's
// properties, before the VEVENT), for the first invitation in a zone and for later ones.
TEST(Calendar, TheKeptZoneTextIsWhereLibicalWouldWriteIt) {
  for (const char* zone : {"America/New_York", "Australia/Lord_Howe", "America/New_York"}) {
    Meeting m = meeting();
    m.time_zone = zone;
    Result<CalendarPart> part = build_calendar(m);
    ASSERT_TRUE(part.is_ok()) << part.status().to_string();
    icalcomponent* cal = icalparser_parse_string(part->ics.c_str());
    ASSERT_NE(cal, nullptr);
    char* again = icalcomponent_as_ical_string_r(cal);
    EXPECT_EQ(part->ics, again) << zone;
    icalmemory_free_buffer(again);
    EXPECT_EQ(icalcomponent_count_components(cal, ICAL_VTIMEZONE_COMPONENT), 1);
    icalcomponent_free(cal);
  }
}

TEST(Calendar, CancelledMeetingsAreMethodCancel) {
  Meeting m = meeting();
  m.cancelled = true;
  m.sequence = 4;
  Result<CalendarPart> part = build_calendar(m);
  ASSERT_TRUE(part.is_ok());
  EXPECT_EQ(part->method, "CANCEL");
  EXPECT_NE(part->ics.find("METHOD:CANCEL"), std::string::npos);
  EXPECT_NE(part->ics.find("STATUS:CANCELLED"), std::string::npos);
  EXPECT_NE(part->ics.find("SEQUENCE:4"), std::string::npos);
}

TEST(Calendar, UtcMeetingsAreWrittenWithZAndSeriesCarryTheirRule) {
  Meeting m = meeting();
  m.time_zone = "UTC";
  m.rrule = "FREQ=MONTHLY;BYDAY=2TU";
  Result<CalendarPart> part = build_calendar(m);
  ASSERT_TRUE(part.is_ok());
  EXPECT_NE(part->ics.find("DTSTART:20270314T013000Z"), std::string::npos) << part->ics;
  EXPECT_EQ(part->ics.find("VTIMEZONE"), std::string::npos);
  EXPECT_NE(part->ics.find("RRULE:FREQ=MONTHLY;BYDAY=2TU"), std::string::npos) << part->ics;
}

// A series with an end: calendars stop where nudged does. UNTIL in UTC (DTSTART is zoned), only
// when the rule has no end of its own.
TEST(Calendar, ASeriesEndBecomesTheRulesUntil) {
  Meeting m = meeting();
  m.rrule = "FREQ=WEEKLY;BYDAY=SA";
  m.until = at("2027-06-26T21:30:00-04:00");
  Result<CalendarPart> part = build_calendar(m);
  ASSERT_TRUE(part.is_ok()) << part.status().to_string();
  EXPECT_NE(part->ics.find("\r\nRRULE:FREQ=WEEKLY;UNTIL=20270627T013000Z;BYDAY=SA\r\n"),
            std::string::npos)
      << part->ics;

  for (const char* ended : {"FREQ=WEEKLY;COUNT=10", "FREQ=WEEKLY;UNTIL=20270501T000000Z"}) {
    m.rrule = ended;
    part = build_calendar(m);
    ASSERT_TRUE(part.is_ok()) << part.status().to_string();
    EXPECT_NE(part->ics.find(std::string("\r\nRRULE:") + ended + "\r\n"), std::string::npos)
        << part->ics;
    EXPECT_EQ(part->ics.find("20270627"), std::string::npos) << part->ics;
  }

  m.rrule = "FREQ=WEEKLY;BYDAY=SA";
  m.until.reset();
  part = build_calendar(m);
  ASSERT_TRUE(part.is_ok());
  EXPECT_NE(part->ics.find("\r\nRRULE:FREQ=WEEKLY;BYDAY=SA\r\n"), std::string::npos) << part->ics;
}

TEST(Calendar, UnknownZonesFail) {
  Meeting m = meeting();
  m.time_zone = "Mars/Olympus_Mons";
  EXPECT_FALSE(build_calendar(m).is_ok());
}

}  // namespace
}  // namespace nudged
