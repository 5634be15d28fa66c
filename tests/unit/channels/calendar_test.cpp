#include "channels/calendar.h"

#include <gtest/gtest.h>
#include <libical/ical.h>

#include <string>
#include <vector>

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

// The local time and TZID of a parsed date-time property ("20270209T190000 America/New_York").
std::string zoned(icalproperty* p, icaltimetype t) {
  icalparameter* tzid = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
  return std::string(icaltime_as_ical_string(t)) + " " +
         (tzid != nullptr ? icalparameter_get_tzid(tzid) : "");
}

// A series with meetings cancelled and moved one by one: the cancelled ones are EXDATEs of the
// series (where the rule puts them, in its zone), each moved one a VEVENT of the same UID with
// a RECURRENCE-ID. Parsed back with libical, which finds them where calendars will.
TEST(Calendar, ASeriesCarriesItsCancelledAndMovedMeetings) {
  Meeting m = meeting();
  m.uid = calendar_uid("he.r1", "reminders.example.org");
  m.starts_at = at("2027-01-13T00:00:00Z");  // 19:00 EST, Tuesday 12 January
  m.rrule = "FREQ=MONTHLY;BYDAY=2TU";
  m.exdates = {at("2027-03-10T00:00:00Z"), at("2027-04-13T23:00:00Z")};  // March 9, April 13
  MeetingException moved;
  moved.recurrence_id = at("2027-02-10T00:00:00Z");  // Tuesday 9 February, 19:00 EST
  moved.starts_at = at("2027-02-11T00:00:00Z");      // to Wednesday 10 February
  moved.duration_minutes = 60;
  moved.sequence = 10001;
  moved.summary = "Game night, moved";
  moved.url = "https://zoom.example.org/j/2";
  m.exceptions = {moved};
  Result<CalendarPart> part = build_calendar(m);
  ASSERT_TRUE(part.is_ok()) << part.status().to_string();
  EXPECT_EQ(part->method, "REQUEST");

  icalcomponent* cal = icalparser_parse_string(part->ics.c_str());
  ASSERT_NE(cal, nullptr) << part->ics;
  ASSERT_EQ(icalcomponent_count_components(cal, ICAL_VEVENT_COMPONENT), 2) << part->ics;
  icalcomponent* series = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT);
  icalcomponent* exception = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT);
  EXPECT_EQ(icalcomponent_get_first_property(series, ICAL_RECURRENCEID_PROPERTY), nullptr);
  ASSERT_NE(icalcomponent_get_first_property(series, ICAL_RRULE_PROPERTY), nullptr);
  std::vector<std::string> exdates;
  for (icalproperty* p = icalcomponent_get_first_property(series, ICAL_EXDATE_PROPERTY);
       p != nullptr; p = icalcomponent_get_next_property(series, ICAL_EXDATE_PROPERTY)) {
    exdates.push_back(zoned(p, icalproperty_get_exdate(p)));
  }
  EXPECT_EQ(exdates, (std::vector<std::string>{"20270309T190000 America/New_York",
                                               "20270413T190000 America/New_York"}))
      << part->ics;

  EXPECT_STREQ(icalcomponent_get_uid(exception), icalcomponent_get_uid(series));
  icalproperty* rid = icalcomponent_get_first_property(exception, ICAL_RECURRENCEID_PROPERTY);
  ASSERT_NE(rid, nullptr) << part->ics;
  EXPECT_EQ(zoned(rid, icalproperty_get_recurrenceid(rid)), "20270209T190000 America/New_York");
  icalproperty* start = icalcomponent_get_first_property(exception, ICAL_DTSTART_PROPERTY);
  EXPECT_EQ(zoned(start, icalproperty_get_dtstart(start)), "20270210T190000 America/New_York");
  icalproperty* end = icalcomponent_get_first_property(exception, ICAL_DTEND_PROPERTY);
  EXPECT_EQ(zoned(end, icalproperty_get_dtend(end)), "20270210T200000 America/New_York");
  EXPECT_EQ(icalcomponent_get_sequence(exception), 10001);
  EXPECT_STREQ(icalcomponent_get_summary(exception), "Game night, moved");
  EXPECT_EQ(icalcomponent_get_first_property(exception, ICAL_RRULE_PROPERTY), nullptr);
  icalcomponent_free(cal);

  // Cancelled as a whole, the series goes by its UID alone.
  m.cancelled = true;
  Result<CalendarPart> cancel = build_calendar(m);
  ASSERT_TRUE(cancel.is_ok());
  EXPECT_EQ(cancel->ics.find("EXDATE"), std::string::npos) << cancel->ics;
  EXPECT_EQ(cancel->ics.find("RECURRENCE-ID"), std::string::npos) << cancel->ics;
}

// New York falls back at 02:00 EDT on 7 November 2027, so 01:00-01:59 comes twice. A local
// time with a TZID names the first of the two (RFC 5545 §3.3.5): one in the second is written
// in UTC, or calendars show it an hour early (here, an end before its start).
TEST(Calendar, TimesInTheRepeatedHourAreWrittenInUtc) {
  Meeting m = meeting();
  m.starts_at = at("2027-11-07T05:30:00Z");  // 01:30 EDT, the first
  m.duration_minutes = 45;                   // to 01:15 EST, the second
  Result<CalendarPart> part = build_calendar(m);
  ASSERT_TRUE(part.is_ok()) << part.status().to_string();
  EXPECT_NE(part->ics.find("\r\nDTSTART;TZID=America/New_York:20271107T013000\r\n"),
            std::string::npos)
      << part->ics;
  EXPECT_NE(part->ics.find("\r\nDTEND:20271107T061500Z\r\n"), std::string::npos) << part->ics;

  m.starts_at = at("2027-11-07T06:30:00Z");  // 01:30 EST, the second
  m.duration_minutes = 60;                   // to 02:30 EST, once only
  part = build_calendar(m);
  ASSERT_TRUE(part.is_ok()) << part.status().to_string();
  EXPECT_NE(part->ics.find("\r\nDTSTART:20271107T063000Z\r\n"), std::string::npos) << part->ics;
  EXPECT_NE(part->ics.find("\r\nDTEND;TZID=America/New_York:20271107T023000\r\n"),
            std::string::npos)
      << part->ics;

  // A meeting of a series moved into the second 01:30: its own times too.
  m = meeting();
  m.starts_at = at("2027-10-31T05:30:00Z");  // Sundays at 01:30 EDT
  m.rrule = "FREQ=WEEKLY";
  MeetingException moved;
  moved.recurrence_id = at("2027-11-14T06:30:00Z");
  moved.starts_at = at("2027-11-07T06:30:00Z");
  moved.duration_minutes = 60;
  moved.summary = "Moved";
  m.exceptions = {moved};
  part = build_calendar(m);
  ASSERT_TRUE(part.is_ok()) << part.status().to_string();
  EXPECT_NE(part->ics.find("\r\nDTSTART;TZID=America/New_York:20271031T013000\r\n"),
            std::string::npos)
      << part->ics;
  EXPECT_NE(part->ics.find("\r\nDTSTART:20271107T063000Z\r\n"), std::string::npos) << part->ics;
  EXPECT_NE(part->ics.find("\r\nRECURRENCE-ID;TZID=America/New_York:20271114T013000\r\n"),
            std::string::npos)
      << part->ics;
}

TEST(Calendar, UnknownZonesFail) {
  Meeting m = meeting();
  m.time_zone = "Mars/Olympus_Mons";
  EXPECT_FALSE(build_calendar(m).is_ok());
}

}  // namespace
}  // namespace nudged
