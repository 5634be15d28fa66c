// Realistic MessageViews for every message kind: what the render tests check, and what the
// accessibility check (tests/a11y) renders and hands to axe-core.
#pragma once

#include <string>
#include <vector>

#include "channels/render.h"

namespace nudged::testing {

inline const std::string kUnsubscribe = "https://reminders.example.org/v1/unsubscribe?token=abc";

// A realistic view: a participant-facing reschedule with an accommodation, plus staff fields.
inline MessageView view_of(const std::string& kind, const std::string& medium) {
  MessageView v;
  v.kind = kind;
  v.medium = medium;
  v.participant_name = "Sam";
  v.session_title = "Winter check-in";
  v.group_name = "IBD peer support";
  v.starts_at_local = "Tuesday, January 12, 7:00 PM EST";
  v.time_zone = "America/New_York";
  v.duration_minutes = 90;
  v.join_url = "https://zoom.us/j/81234567890";
  v.unsubscribe_url = kUnsubscribe;
  v.calendar_attached = medium == "email";
  v.accommodations = {"live captions"};
  v.registration_id = "r-123";
  v.registered_count = 12;
  v.accommodation_needs = {{"live captions", 2}, {"ASL interpreting", 1}};
  v.lead_time = "10 days";
  return v;
}

// The variants session.changed can take (a whole series cancelled among them), a series
// registration's confirmation, and one plain view for every other kind.
inline std::vector<MessageView> variants(const std::string& kind, const std::string& medium) {
  MessageView base = view_of(kind, medium);
  MessageView series = base;
  series.series = true;
  series.repeats = "on the second Tuesday of each month";
  if (kind == "registration.confirmation") return {base, series};
  if (kind != "session.changed") return {base};
  MessageView moved = base;
  moved.old_starts_at_local = "Monday, January 11, 7:00 PM EST";
  MessageView cancelled = base;
  cancelled.cancelled = true;
  cancelled.cancel_reason = "The host is ill.";
  MessageView series_cancelled = cancelled;
  series_cancelled.series = true;
  return {base, moved, cancelled, series_cancelled};
}

}  // namespace nudged::testing
