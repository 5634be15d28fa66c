// Calendar invitations: one meeting as an iCalendar (RFC 5545/5546) object, built with libical,
// for the text/calendar part of a confirmation or change email.
//
// One UID per session and registration, so a reschedule is the same event in the reader's
// calendar with a higher SEQUENCE (the session's revision), and a cancellation (METHOD:CANCEL,
// STATUS:CANCELLED) removes it. Times carry the session's IANA zone as TZID with its VTIMEZONE
// (from the system's zoneinfo through libical); UTC ones are written with Z, and so is a time in
// the second pass of an hour repeated when clocks go back (a TZID would name the first).
//
// Pure apart from libical's zone cache: call it on the loop thread (libical's built-in zone
// table is not thread-safe, and the planner uses it there too).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "channels/channel.h"
#include "events/status.h"
#include "events/time.h"

namespace nudged {

// One meeting of a series moved or changed on its own, as a VEVENT of the series' UID with a
// RECURRENCE-ID (RFC 5545 §3.8.4.4): it replaces, in the reader's calendar, the meeting the rule
// puts at `recurrence_id`.
struct MeetingException {
  TimePoint recurrence_id{};  // where the rule put it
  TimePoint starts_at{};
  int64_t duration_minutes = 0;
  int64_t sequence = 0;  // the occurrence's revision, as its own change notices carry
  std::string summary;
  std::string description;
  std::string url;
};

struct Meeting {
  std::string uid;       // stable: calendar_uid()
  int64_t sequence = 0;  // the session's revision
  bool cancelled = false;
  std::string summary;
  std::string description;
  std::string url;  // the join link: LOCATION and URL
  TimePoint starts_at{};
  int64_t duration_minutes = 0;
  std::string time_zone;  // IANA name
  std::string rrule;      // a whole series: its rule ("" for one meeting)
  // A whole series' end (series.scheduled `until`): the RRULE gets UNTIL (in UTC) when the rule
  // has neither UNTIL nor COUNT, so calendars stop where nudged does.
  std::optional<TimePoint> until;
  // One occurrence of a series the reader has in their calendar as a whole (same uid as the
  // series' invitation): where the rule put it, written as RECURRENCE-ID, so that a change or
  // cancel lands on that occurrence instead of arriving as a meeting of its own.
  std::optional<TimePoint> recurrence_id;
  // A whole series (rrule set, not cancelled): the meetings already cancelled one by one, where
  // the rule put them (EXDATE), and those moved or changed one by one. Without them an
  // invitation sent after such a change (a registration made later, the series moved) would
  // put those meetings back in the calendar as the rule has them.
  std::vector<TimePoint> exdates;
  std::vector<MeetingException> exceptions;
  TimePoint stamp{};      // DTSTAMP: when this version of the invitation was made
  std::string organizer;  // an email address (mailto:)
  std::string attendee;   // the reader's email address; personal data
};

// "<local>@<domain>", with anything outside [A-Za-z0-9@._-] as '-'. The caller makes `local`
// stable for one calendar entry (its notices must all carry the same UID) and meaningless to
// readers (see meeting_uid in daemon/compose.cpp).
std::string calendar_uid(const std::string& local, const std::string& domain);

// The VCALENDAR text (CRLF line ends, folded at 75 octets) with METHOD:REQUEST, or
// METHOD:CANCEL for a cancelled meeting. Fails on an unknown zone.
Result<CalendarPart> build_calendar(const Meeting& meeting);

}  // namespace nudged
