#include "events/policy.h"

#include <date/tz.h>
#include <gtest/gtest.h>

#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

using testing::at;

std::string utc(TimePoint t) {
  return format_utc_millis(t);
}

TEST(OffsetTest, ParsesEachUnit) {
  EXPECT_EQ(*parse_offset("30s"), Offset::seconds(30));
  EXPECT_EQ(*parse_offset("90m"), Offset::seconds(5400));
  EXPECT_EQ(*parse_offset("2h"), Offset::seconds(7200));
  EXPECT_EQ(*parse_offset("7d"), Offset::days(7));
  EXPECT_EQ(format_offset(Offset::days(7)), "7d");
  EXPECT_EQ(format_offset(Offset::seconds(5400)), "90m");
  EXPECT_EQ(format_offset(Offset::seconds(7200)), "2h");
  for (const char* bad :
       {"", "d", "7", "7w", "-1h", "1.5h", "h1", "7 d", "99999999999999999999s"}) {
    EXPECT_FALSE(parse_offset(bad).is_ok()) << bad;
  }
  // A value too long says so, quoted with its unit (cut in the middle when very long).
  EXPECT_EQ(parse_offset("99999999999999999999h").status().message(),
            "\"99999999999999999999h\" is longer than 366 days");
  EXPECT_EQ(parse_offset("367d").status().message(), "\"367d\" is longer than 366 days");
  EXPECT_EQ(parse_offset(std::string(40, '9') + "s").status().message(),
            "\"" + std::string(20, '9') + "...s\" is longer than 366 days");
  EXPECT_EQ(parse_offset("7w").status().message(),
            "\"7w\" is not a duration such as 30s, 90m, 2h or 7d");
  EXPECT_FALSE(parse_exact_duration("1d").is_ok());
  EXPECT_EQ(parse_exact_duration("5m")->count(), 300);
}

TEST(OffsetTest, ExactOffsetsAreElapsedTime) {
  const date::time_zone* ny = find_zone("America/New_York");
  // 2h before 2027-03-14 03:30 EDT is 00:30 EST: only 2 hours of elapsed time, though the
  // wall clock moved 3 hours.
  TimePoint start = at("2027-03-14T03:30:00-04:00");
  EXPECT_EQ(utc(offset_before(start, Offset::seconds(7200), ny)), "2027-03-14T05:30:00.000Z");
}

struct DayCase {
  const char* zone;
  const char* start;
  int64_t days;
  const char* expected_utc;
};

class CalendarDayTest : public ::testing::TestWithParam<DayCase> {};

TEST_P(CalendarDayTest, SameLocalTimeNDaysEarlier) {
  const DayCase& c = GetParam();
  TimePoint due = offset_before(at(c.start), Offset::days(c.days), find_zone(c.zone));
  EXPECT_EQ(utc(due), c.expected_utc) << c.zone << " " << c.start;
}

INSTANTIATE_TEST_SUITE_P(
    DstEdges, CalendarDayTest,
    ::testing::Values(
        // New York springs forward on 2027-03-14: 19:00 EDT the 14th, 1d before is 19:00 EST
        // the 13th, 23 hours earlier.
        DayCase{"America/New_York", "2027-03-14T19:00:00-04:00", 1, "2027-03-14T00:00:00.000Z"},
        // ...and falls back on 2027-11-07: 1d before 19:00 EST is 19:00 EDT, 25 hours.
        DayCase{"America/New_York", "2027-11-07T19:00:00-05:00", 1, "2027-11-06T23:00:00.000Z"},
        DayCase{"America/New_York", "2027-03-20T19:00:00-04:00", 7, "2027-03-14T00:00:00.000Z"},
        // London: BST starts 2027-03-28, ends 2027-10-31.
        DayCase{"Europe/London", "2027-03-28T18:30:00+01:00", 1, "2027-03-27T18:30:00.000Z"},
        DayCase{"Europe/London", "2027-10-31T18:30:00Z", 1, "2027-10-30T17:30:00.000Z"},
        // Lord Howe shifts by 30 minutes: +11:00 in summer, +10:30 in winter; it falls back
        // on 2027-04-04 and springs forward on 2027-10-03.
        DayCase{"Australia/Lord_Howe", "2027-04-04T19:00:00+10:30", 1, "2027-04-03T08:00:00.000Z"},
        DayCase{"Australia/Lord_Howe", "2027-10-03T19:00:00+11:00", 1, "2027-10-02T08:30:00.000Z"},
        // A local time that does not exist: 02:30 on 2027-03-14 in New York is in the gap,
        // so it moves forward by the gap to 03:30 EDT.
        DayCase{"America/New_York", "2027-03-15T02:30:00-04:00", 1, "2027-03-14T07:30:00.000Z"},
        // A local time that occurs twice: 01:30 on 2027-11-07 in New York; the earlier (EDT).
        DayCase{"America/New_York", "2027-11-08T01:30:00-05:00", 1, "2027-11-07T05:30:00.000Z"}));

TEST(QuietHoursTest, Parses) {
  QuietHours q = *parse_quiet_hours("21:00-08:00");
  EXPECT_TRUE(q.enabled);
  EXPECT_EQ(q.start_minute, 21 * 60);
  EXPECT_EQ(q.end_minute, 8 * 60);
  EXPECT_FALSE(parse_quiet_hours("")->enabled);
  for (const char* bad : {"25:00-08:00", "21:00", "21:00-21:00", "9:00-8:00", "21:00-08:00x"}) {
    EXPECT_FALSE(parse_quiet_hours(bad).is_ok()) << bad;
  }
}

TEST(StaffAddressTest, Parses) {
  StaffAddress a = *parse_staff_address("email:access@example.org");
  EXPECT_EQ(a.channel, "email");
  EXPECT_EQ(a.address, "access@example.org");
  EXPECT_FALSE(parse_staff_address("access@example.org").is_ok());
  EXPECT_FALSE(parse_staff_address("email:").is_ok());
}

}  // namespace
}  // namespace nudged
