// Tests of events/time.h: RFC 3339 parsing and formatting, and IANA zone lookup.
#include "events/time.h"

#include <gtest/gtest.h>

#include <date/date.h>
#include <date/tz.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace nudged {
namespace {

using namespace std::chrono;

// The UTC time point of a calendar date and time of day, for expected values.
TimePoint utc(int y, unsigned mo, unsigned d, int h, int mi, int s, int ms = 0) {
  return TimePoint(date::sys_days(date::year{y} / mo / d)) + hours(h) + minutes(mi) + seconds(s) +
         Millis(ms);
}

Instant parse_ok(std::string_view text) {
  Result<Instant> r = parse_rfc3339(text);
  EXPECT_TRUE(r.is_ok()) << text << ": " << r.status().to_string();
  return r.is_ok() ? *r : Instant{};
}

TEST(ParseRfc3339, NegativeOffsetIsSubtractedToGetUtc) {
  Instant t = parse_ok("2026-12-08T19:00:00-05:00");
  EXPECT_EQ(t.utc, utc(2026, 12, 9, 0, 0, 0));
  EXPECT_EQ(t.offset_minutes, -300);
  EXPECT_FALSE(t.has_millis);
}

TEST(ParseRfc3339, PositiveOffsetWithMinutes) {
  Instant t = parse_ok("2027-01-20T18:30:00+05:30");
  EXPECT_EQ(t.utc, utc(2027, 1, 20, 13, 0, 0));
  EXPECT_EQ(t.offset_minutes, 330);
}

TEST(ParseRfc3339, ZuluAndLowerCaseSeparators) {
  Instant upper = parse_ok("2026-11-26T10:00:00Z");
  Instant lower = parse_ok("2026-11-26t10:00:00z");
  EXPECT_EQ(upper.utc, utc(2026, 11, 26, 10, 0, 0));
  EXPECT_EQ(upper.offset_minutes, 0);
  EXPECT_EQ(lower.utc, upper.utc);
  EXPECT_EQ(lower.offset_minutes, 0);
}

TEST(ParseRfc3339, Milliseconds) {
  Instant t = parse_ok("2026-11-26T10:00:00.123Z");
  EXPECT_EQ(t.utc, utc(2026, 11, 26, 10, 0, 0, 123));
  EXPECT_TRUE(t.has_millis);
}

TEST(ParseRfc3339, FractionalSecondsOfAnyLengthAreKeptToTheMillisecond) {
  EXPECT_EQ(parse_ok("2026-11-26T10:00:00.5Z").utc, utc(2026, 11, 26, 10, 0, 0, 500));
  EXPECT_EQ(parse_ok("2026-11-26T10:00:00.05Z").utc, utc(2026, 11, 26, 10, 0, 0, 50));
  EXPECT_EQ(parse_ok("2026-11-26T10:00:00.123456789Z").utc, utc(2026, 11, 26, 10, 0, 0, 123));
  EXPECT_EQ(parse_ok("2026-11-26T10:00:00.999999-01:00").utc, utc(2026, 11, 26, 11, 0, 0, 999));
  EXPECT_TRUE(parse_ok("2026-11-26T10:00:00.000Z").has_millis);
}

TEST(ParseRfc3339, LeapDayOnlyInLeapYears) {
  EXPECT_EQ(parse_ok("2028-02-29T12:00:00Z").utc, utc(2028, 2, 29, 12, 0, 0));
  EXPECT_FALSE(parse_rfc3339("2027-02-29T12:00:00Z").is_ok());
}

TEST(ParseRfc3339, RejectsOutOfRangeFields) {
  for (const char* text : {
           "2027-02-30T10:00:00Z",       // February 30th
           "2026-04-31T10:00:00Z",       // April has 30 days
           "2026-13-01T10:00:00Z",       // month 13
           "2026-00-10T10:00:00Z",       // month 0
           "2026-01-00T10:00:00Z",       // day 0
           "2026-01-32T10:00:00Z",       // day 32
           "2026-01-01T24:00:00Z",       // hour 24
           "2026-01-01T10:60:00Z",       // minute 60
           "2026-01-01T10:00:60Z",       // leap second: not representable
           "2026-01-01T10:00:00+24:00",  // offset hour 24
           "2026-01-01T10:00:00+05:60",  // offset minute 60
       }) {
    Result<Instant> r = parse_rfc3339(text);
    EXPECT_FALSE(r.is_ok()) << text;
    EXPECT_EQ(r.status().code(), Code::kInvalidField) << text;
  }
}

TEST(ParseRfc3339, RejectsOtherFormats) {
  for (const char* text : {
           "",
           "2026-11-26",                  // date only
           "2026-11-26T10:00:00",         // no offset
           "2026-11-26 10:00:00Z",        // space instead of T
           "2026-11-26T10:00Z",           // no seconds
           "2026-11-26T10:00:00+0500",    // offset without colon
           "2026-11-26T10:00:00+05",      // offset without minutes
           "2026-11-26T10:00:00+5:00",    // one-digit offset hour
           "2026-11-26T10:00:00.Z",       // empty fraction
           "2026-11-26T10:00:00,5Z",      // comma fraction
           "2026-11-26T10:00:00Z ",       // trailing space
           " 2026-11-26T10:00:00Z",       // leading space
           "2026-11-26T10:00:00ZZ",       // trailing garbage
           "26-11-26T10:00:00Z",          // two-digit year
           "2026/11/26T10:00:00Z",        // slashes
           "2026-1-26T10:00:00Z",         // one-digit month
           "2026-11-26T10:00:00 -05:00",  // space before offset
           "tomorrow at seven",
       }) {
    Result<Instant> r = parse_rfc3339(text);
    EXPECT_FALSE(r.is_ok()) << '"' << text << '"';
  }
}

// The error gives an example and never repeats the text: a sender's free text in the wrong
// field ("not a time Eve has HIV") must not come back in an error that may be logged.
TEST(ParseRfc3339, ErrorGivesAnExampleButNotTheText) {
  Result<Instant> r = parse_rfc3339("2027-02-30T10:00:00Z");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message().find("2027-02-30"), std::string::npos);
  EXPECT_NE(r.status().message().find("RFC 3339"), std::string::npos);
  Result<Instant> text = parse_rfc3339("not a time Eve has HIV");
  ASSERT_FALSE(text.is_ok());
  EXPECT_EQ(text.status().message().find("Eve"), std::string::npos);
}

// A series meeting's date in its id: exactly YYYY-MM-DD and a real date.
TEST(ParseLocalDate, TakesOnlyARealDateInItsOneForm) {
  std::optional<TimePoint> day = parse_local_date("2027-01-20");
  ASSERT_TRUE(day.has_value());
  EXPECT_EQ(format_utc_millis(*day), "2027-01-20T00:00:00.000Z");
  for (const char* bad :
       {"2027-02-30", "2027-1-20", "2027-01-20T", "20270120", "example.org", "2027/01/20", ""}) {
    EXPECT_FALSE(parse_local_date(bad).has_value()) << bad;
  }
}

TEST(FormatRfc3339, WritesTheOffsetItWasReadWith) {
  EXPECT_EQ(format_rfc3339(parse_ok("2026-12-08T19:00:00-05:00")), "2026-12-08T19:00:00-05:00");
  EXPECT_EQ(format_rfc3339(parse_ok("2027-01-20T18:30:00+05:30")), "2027-01-20T18:30:00+05:30");
}

TEST(FormatRfc3339, MillisecondsOnlyWhenTheTextHadAFraction) {
  EXPECT_EQ(format_rfc3339(parse_ok("2026-11-26T10:00:00Z")), "2026-11-26T10:00:00Z");
  EXPECT_EQ(format_rfc3339(parse_ok("2026-11-26T10:00:00.123Z")), "2026-11-26T10:00:00.123Z");
  EXPECT_EQ(format_rfc3339(parse_ok("2026-11-26T10:00:00.5+01:00")),
            "2026-11-26T10:00:00.500+01:00");
  EXPECT_EQ(format_rfc3339(parse_ok("2026-11-26T10:00:00.123456Z")), "2026-11-26T10:00:00.123Z");
}

// Written digit by digit; the reference is what snprintf writes for the same fields.
std::string printf_rfc3339(const Instant& in) {
  auto local = in.utc + minutes(in.offset_minutes);
  auto day = date::floor<date::days>(local);
  date::year_month_day ymd{day};
  date::hh_mm_ss<Millis> tod{local - day};
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", int(ymd.year()),
                        unsigned(ymd.month()), unsigned(ymd.day()), int(tod.hours().count()),
                        int(tod.minutes().count()), int(tod.seconds().count()));
  if (in.has_millis)
    n += std::snprintf(buf + n, sizeof buf - n, ".%03d", int(tod.subseconds().count()));
  int off = in.offset_minutes < 0 ? -in.offset_minutes : in.offset_minutes;
  if (in.offset_minutes == 0) {
    std::snprintf(buf + n, sizeof buf - n, "Z");
  } else {
    std::snprintf(buf + n, sizeof buf - n, "%c%02d:%02d", in.offset_minutes < 0 ? '-' : '+',
                  off / 60, off % 60);
  }
  return buf;
}

TEST(FormatRfc3339, DigitsAreThoseSnprintfWritesAndReadBack) {
  const int16_t offsets[] = {0, 330, -300, 840, -720, 45};
  uint64_t x = 88172645463325252ull;  // xorshift: the same instants every run
  // From 0001-01-02 to 9999-12-30, as milliseconds since the epoch.
  const int64_t lo = -62135510400000, hi = 253402041600000;
  for (int i = 0; i < 5000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    Instant in;
    in.utc = TimePoint(Millis(lo + static_cast<int64_t>(x % static_cast<uint64_t>(hi - lo))));
    in.offset_minutes = offsets[i % 6];
    in.has_millis = i % 2 == 0;
    if (!in.has_millis) in.utc = date::floor<seconds>(in.utc);
    std::string text = format_rfc3339(in);
    ASSERT_EQ(text, printf_rfc3339(in));
    Instant back = parse_ok(text);
    EXPECT_EQ(back.utc, in.utc) << text;
    EXPECT_EQ(back.offset_minutes, in.offset_minutes) << text;
  }
  Instant early;
  early.utc = date::sys_days(date::year(-1) / 6 / 1);
  EXPECT_EQ(format_rfc3339(early), printf_rfc3339(early));
}

TEST(FormatRfc3339, ZeroOffsetIsWrittenAsZ) {
  EXPECT_EQ(format_rfc3339(parse_ok("2027-01-20T18:30:00+00:00")), "2027-01-20T18:30:00Z");
  EXPECT_EQ(format_rfc3339(parse_ok("2027-01-20t18:30:00z")), "2027-01-20T18:30:00Z");
}

TEST(FormatRfc3339, LocalDateMayDifferFromTheUtcDate) {
  // 01:30 on the 1st in UTC-05:00 is 06:30 UTC; 23:30 on the 31st in UTC+05:30 is 18:00 UTC.
  Instant early = parse_ok("2027-01-01T01:30:00-05:00");
  Instant late = parse_ok("2026-12-31T23:30:00+05:30");
  EXPECT_EQ(early.utc, utc(2027, 1, 1, 6, 30, 0));
  EXPECT_EQ(late.utc, utc(2026, 12, 31, 18, 0, 0));
  EXPECT_EQ(format_rfc3339(early), "2027-01-01T01:30:00-05:00");
  EXPECT_EQ(format_rfc3339(late), "2026-12-31T23:30:00+05:30");
}

TEST(FormatRfc3339, RoundTripsCanonicalText) {
  for (const char* text : {
           "2026-12-08T19:00:00-05:00",
           "2026-11-26T10:00:00.123Z",
           "2028-02-29T23:59:59.999+14:00",
           "1999-12-31T23:59:59-12:00",
           "2026-03-08T02:30:00-09:30",
           "2026-06-01T00:00:00.001Z",
       }) {
    EXPECT_EQ(format_rfc3339(parse_ok(text)), text);
    Instant again = parse_ok(format_rfc3339(parse_ok(text)));
    EXPECT_EQ(again.utc, parse_ok(text).utc) << text;
    EXPECT_EQ(again.offset_minutes, parse_ok(text).offset_minutes) << text;
  }
}

TEST(Instant, EqualityAndOrderAreByTheUtcTimePoint) {
  EXPECT_EQ(parse_ok("2026-12-08T19:00:00-05:00"), parse_ok("2026-12-09T00:00:00Z"));
  EXPECT_LT(parse_ok("2026-12-08T19:00:00-05:00"), parse_ok("2026-12-08T19:00:01-05:00"));
  EXPECT_LT(parse_ok("2026-12-09T00:30:00+01:00"), parse_ok("2026-12-08T19:00:00-05:00"));
}

TEST(FormatUtcMillis, AlwaysUtcWithMilliseconds) {
  EXPECT_EQ(format_utc_millis(utc(2026, 11, 26, 10, 0, 0)), "2026-11-26T10:00:00.000Z");
  EXPECT_EQ(format_utc_millis(utc(2026, 11, 26, 10, 0, 0, 123)), "2026-11-26T10:00:00.123Z");
  Instant in = instant_from_utc(utc(2026, 11, 26, 10, 0, 0, 7));
  EXPECT_EQ(in.offset_minutes, 0);
  EXPECT_TRUE(in.has_millis);
  EXPECT_EQ(parse_ok(format_utc_millis(in.utc)).utc, in.utc);
}

TEST(FindZone, KnownIanaNames) {
  for (const char* name : {"America/New_York", "Europe/London", "Asia/Kolkata", "UTC",
                           "America/Argentina/Buenos_Aires"}) {
    const date::time_zone* zone = find_zone(name);
    ASSERT_NE(zone, nullptr) << name;
  }
  EXPECT_EQ(find_zone("America/New_York"), find_zone("America/New_York"));
}

TEST(FindZone, ZoneGivesTheRightOffset) {
  const date::time_zone* ny = find_zone("America/New_York");
  ASSERT_NE(ny, nullptr);
  // 19:00 on 8 December 2026 in New York is EST, UTC-05:00.
  auto info = ny->get_info(date::sys_seconds(date::sys_days(date::year{2026} / 12 / 9)));
  EXPECT_EQ(info.offset, hours(-5));
}

TEST(FindZone, UnknownNamesAreNull) {
  for (const char* name : {"", "Mars/Olympus_Mons", "america/new_york", "New York",
                           "America/New_York ", "EST5EDT/Nowhere", "../../etc/passwd"}) {
    EXPECT_EQ(find_zone(name), nullptr) << '"' << name << '"';
  }
  EXPECT_EQ(find_zone(std::string(200, 'A')), nullptr);
}

}  // namespace
}  // namespace nudged
