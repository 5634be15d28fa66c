#include "events/series.h"

#include <gtest/gtest.h>

#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

using testing::at;

TEST(SeriesTest, SecondTuesdayOfEachMonthAtTheSameLocalTime) {
  Instant first = *parse_rfc3339("2027-01-12T19:00:00-05:00");
  auto occ = expand_series("FREQ=MONTHLY;BYDAY=2TU", first, "America/New_York",
                           at("2027-01-01T00:00:00Z"), at("2027-05-01T00:00:00Z"));
  ASSERT_TRUE(occ.is_ok()) << occ.status().to_string();
  ASSERT_EQ(occ->size(), 4u);
  EXPECT_EQ((*occ)[0].local_date, "2027-01-12");
  EXPECT_EQ((*occ)[1].local_date, "2027-02-09");
  EXPECT_EQ((*occ)[2].local_date, "2027-03-09");
  EXPECT_EQ((*occ)[3].local_date, "2027-04-13");
  // 19:00 local on both sides of the March DST change: 00:00Z in winter, 23:00Z in summer.
  EXPECT_EQ(format_utc_millis((*occ)[2].starts_at), "2027-03-10T00:00:00.000Z");
  EXPECT_EQ(format_utc_millis((*occ)[3].starts_at), "2027-04-13T23:00:00.000Z");
}

TEST(SeriesTest, WindowUntilAndCountBoundTheSeries) {
  Instant first = *parse_rfc3339("2027-01-12T19:00:00-05:00");
  auto window = expand_series("FREQ=WEEKLY", first, "America/New_York", at("2027-02-01T00:00:00Z"),
                              at("2027-02-20T00:00:00Z"));
  ASSERT_TRUE(window.is_ok());
  ASSERT_EQ(window->size(), 3u);
  EXPECT_EQ(window->front().local_date, "2027-02-02");

  auto counted = expand_series("FREQ=WEEKLY;COUNT=2", first, "America/New_York",
                               at("2027-01-01T00:00:00Z"), at("2028-01-01T00:00:00Z"));
  EXPECT_EQ(counted->size(), 2u);

  Instant until = *parse_rfc3339("2027-01-26T00:00:00Z");  // UNTIL is inclusive (RFC 5545)
  auto bounded = expand_series("FREQ=WEEKLY", first, "America/New_York", at("2027-01-01T00:00:00Z"),
                               at("2028-01-01T00:00:00Z"), &until);
  EXPECT_EQ(bounded->size(), 2u);
}

// The rule's own UNTIL is an instant (UTC, as RFC 5545 wants with a zoned start): a meeting
// at 18:00 Los Angeles on 23 December starts at 02:00Z on the 24th, after
// UNTIL=20261223T235959Z, and is not one (libical, iterating local times, let it through). A
// floating UNTIL is the series' local time; a date-only one takes in that whole day.
TEST(SeriesTest, TheRulesUntilIsAnInstant) {
  Instant first = *parse_rfc3339("2026-12-02T18:00:00-08:00");
  auto dates = [&](const char* rule) {
    std::vector<std::string> out;
    auto occ = expand_series(rule, first, "America/Los_Angeles", at("2026-12-01T00:00:00Z"),
                             at("2027-02-01T00:00:00Z"));
    EXPECT_TRUE(occ.is_ok()) << occ.status().to_string();
    if (occ.is_ok()) {
      for (const Occurrence& o : *occ)
        out.push_back(o.local_date);
    }
    return out;
  };
  const std::vector<std::string> three = {"2026-12-02", "2026-12-09", "2026-12-16"};
  const std::vector<std::string> four = {"2026-12-02", "2026-12-09", "2026-12-16", "2026-12-23"};
  EXPECT_EQ(dates("FREQ=WEEKLY;UNTIL=20261223T235959Z"), three);
  EXPECT_EQ(dates("FREQ=WEEKLY;UNTIL=20261224T020000Z"), four);  // inclusive
  EXPECT_EQ(dates("FREQ=WEEKLY;UNTIL=20261223T180000"), four);   // floating: local
  EXPECT_EQ(dates("FREQ=WEEKLY;UNTIL=20261223T175959"), three);
}

// Notices tell a series registrant how often it meets, but only when the rule is simple
// enough to say truly in a few words.
TEST(SeriesTest, SimpleRulesAreDescribedInPlainWords) {
  EXPECT_EQ(describe_rrule("FREQ=WEEKLY"), "every week");
  EXPECT_EQ(describe_rrule("FREQ=WEEKLY;BYDAY=MO"), "every week");
  EXPECT_EQ(describe_rrule("FREQ=WEEKLY;INTERVAL=2;UNTIL=20271231T000000Z"), "every 2 weeks");
  EXPECT_EQ(describe_rrule("FREQ=DAILY;COUNT=5"), "every day");
  EXPECT_EQ(describe_rrule("FREQ=MONTHLY"), "every month");
  EXPECT_EQ(describe_rrule("FREQ=MONTHLY;BYDAY=2TU"), "on the second Tuesday of each month");
  EXPECT_EQ(describe_rrule("FREQ=MONTHLY;BYDAY=-1FR"), "on the last Friday of each month");
  EXPECT_EQ(describe_rrule("FREQ=YEARLY"), "every year");
  // More than a few words can say truly: nothing rather than something wrong.
  EXPECT_EQ(describe_rrule("FREQ=WEEKLY;BYDAY=MO,WE"), "");
  EXPECT_EQ(describe_rrule("FREQ=MONTHLY;BYMONTHDAY=1,15"), "");
  EXPECT_EQ(describe_rrule("FREQ=MONTHLY;BYDAY=TU"), "");  // every Tuesday of the month
  EXPECT_EQ(describe_rrule("FREQ=MONTHLY;INTERVAL=2;BYDAY=2TU"), "");
  EXPECT_EQ(describe_rrule("not a rule"), "");
}

TEST(SeriesTest, BadRulesAreRefused) {
  EXPECT_TRUE(check_rrule("FREQ=MONTHLY;BYDAY=2TU").is_ok());
  EXPECT_FALSE(check_rrule("MONTHLY").is_ok());
  EXPECT_FALSE(check_rrule("FREQ=SOMETIMES").is_ok());
}

// A series meets at a local time. One whose first meeting is the second 01:30 of the night New
// York falls back (01:30 EST) cannot keep it: the rule, like RFC 5545 and every calendar, puts
// a local time that comes twice at the first of the two (01:30 EDT), an hour before the start
// given. Refused with the offset that works; the first 01:30 is a series' first meeting as usual.
TEST(SeriesTest, AFirstMeetingInTheSecondPassOfARepeatedHourIsRefused) {
  auto series = [](const char* first) {
    SeriesScheduled s;
    s.series_id = "late";
    s.rrule = "FREQ=WEEKLY";
    s.first_starts_at = *parse_rfc3339(first);
    s.time_zone.name = "America/New_York";
    s.duration_minutes = 60;
    return s;
  };
  Status second = check_new_series(series("2027-11-07T01:30:00-05:00"));
  EXPECT_FALSE(second);
  EXPECT_EQ(second.field(), "first_starts_at");
  EXPECT_NE(second.message().find("2027-11-07T01:30:00-04:00"), std::string::npos)
      << second.to_string();
  EXPECT_TRUE(check_new_series(series("2027-11-07T01:30:00-04:00"))) << second.to_string();
  EXPECT_TRUE(check_new_series(series("2027-11-07T05:30:00Z")));
}

// An import checks a series the log does not hold as POST /v1/events does; one it holds (an old
// log re-imported, whatever rule was taken when it was written) goes in, as a duplicate.
TEST(SeriesTest, AnImportChecksOnlySeriesNewToTheLog) {
  auto series = [](const char* id, const char* rrule) {
    return std::string(R"({"type":"series.scheduled","data":{"series_id":")") + id +
           R"(","group":"g","title":"T","rrule":")" + rrule +
           R"(","first_starts_at":"2027-01-12T18:00:00Z","time_zone":"UTC",)"
           R"("duration_minutes":60,"join_url":"u","facilitators":[]}})";
  };
  State state;
  testing::apply_json(state, series("old", "FREQ=HOURLY"), "2026-01-01T00:00:00Z");
  EXPECT_TRUE(check_imported_series(state, testing::make_event(series("old", "FREQ=HOURLY"))));
  Status hourly = check_imported_series(state, testing::make_event(series("new", "FREQ=HOURLY")));
  EXPECT_FALSE(hourly);
  EXPECT_EQ(hourly.field(), "data.rrule");
  Status unsynced =
      check_imported_series(state, testing::make_event(series("new", "FREQ=WEEKLY;BYDAY=MO")));
  EXPECT_EQ(unsynced.field(), "data.first_starts_at");
  EXPECT_TRUE(
      check_imported_series(state, testing::make_event(series("new", "FREQ=WEEKLY;BYDAY=TU"))));
  EXPECT_TRUE(check_imported_series(
      state, testing::make_event(R"({"type":"series.cancelled","data":{"series_id":"nowhere"}})")));
}

}  // namespace
}  // namespace nudged
