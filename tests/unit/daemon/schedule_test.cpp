#include "daemon/schedule.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

using testing::apply_json;
using testing::at;

// The compact schedule must give back exactly the planner's notifications: same ids (which
// decide what is never sent twice), due times, attempts and actions.
TEST(ScheduleTest, ExpandsToThePlannersNotifications) {
  State state;
  PlanConfig config;
  config.coordinators.push_back(StaffAddress{"email", "access@example.org"});
  config.defaults.quiet_hours = *parse_quiet_hours("21:00-08:00");
  apply_json(state, testing::session_json("s1", "2027-01-12T19:00:00-05:00"),
             "2026-12-01T00:00:00Z");
  apply_json(
      state,
      R"({"type":"series.scheduled","data":{"series_id":"he","group":"he","title":"HE","rrule":"FREQ=MONTHLY;BYDAY=2TU","first_starts_at":"2027-01-12T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"u","facilitators":[{"name":"Kit","phone":"+14155550100"}]}})",
      "2026-12-01T00:00:00Z");
  apply_json(
      state,
      R"({"type":"registration.received","data":{"registration_id":"r1","session_id":"s1","participant":{"name":"Pat","email":"pat@example.org","phone":"+14155550142"},"channels":["email","sms"],"sms_consent":true,"accommodations":[{"kind":"asl"},{"kind":"captions"}]}})",
      "2026-12-02T00:00:00Z");
  apply_json(
      state,
      R"({"type":"registration.received","data":{"registration_id":"r2","series_id":"he","participant":{"name":"Lee","email":"lee@example.org"},"channels":["email"],"sms_consent":false}})",
      "2026-12-02T00:00:00Z");
  apply_json(
      state,
      R"({"type":"accommodation.arranged","data":{"registration_id":"r1","kind":"captions"}})",
      "2026-12-03T00:00:00Z");
  TimePoint now = at("2026-12-03T00:00:01Z");
  // A retry, so that an attempt above 1 goes through the compact form too.
  std::vector<Notification> planned = plan(state, config, now);
  apply_json(
      state,
      R"({"type":"notification.failed","data":{"notification_id":")" + planned[0].id +
          R"(","channel":")" + planned[0].channel +
          R"(","attempt":1,"error":"421","permanent":false,"retry_at":"2026-12-03T00:00:30Z"}})",
      "2026-12-03T00:00:01Z");
  planned = plan(state, config, now);

  Schedule schedule;
  schedule.rebuild(state, config, now);
  ASSERT_EQ(schedule.size(), planned.size());
  ASSERT_GT(planned.size(), 10u);
  std::vector<Notification> expanded;
  for (const Scheduled& e : schedule.entries())
    expanded.push_back(schedule.expand(e));
  EXPECT_TRUE(std::is_sorted(schedule.entries().begin(), schedule.entries().end(),
                             [](auto& a, auto& b) { return a.due < b.due; }));
  std::sort(expanded.begin(), expanded.end(),
            [](auto& a, auto& b) { return a.due != b.due ? a.due < b.due : a.id < b.id; });
  bool saw_retry = false, saw_confirmed = false;
  for (size_t i = 0; i < planned.size(); ++i) {
    EXPECT_EQ(expanded[i].id, planned[i].id);
    EXPECT_EQ(expanded[i].due, planned[i].due) << planned[i].id;
    EXPECT_EQ(expanded[i].attempt, planned[i].attempt) << planned[i].id;
    EXPECT_EQ(expanded[i].action, planned[i].action) << planned[i].id;
    EXPECT_EQ(expanded[i].channel, planned[i].channel);
    EXPECT_EQ(expanded[i].registration_id, planned[i].registration_id);
    EXPECT_EQ(expanded[i].session_id, planned[i].session_id);
    EXPECT_EQ(expanded[i].accommodation_kind, planned[i].accommodation_kind);
    // The deadline, which a failed send's retry must fit before: to the second, never later.
    EXPECT_LE(expanded[i].deadline, planned[i].deadline) << planned[i].id;
    EXPECT_GT(expanded[i].deadline, planned[i].deadline - std::chrono::seconds(1)) << planned[i].id;
    saw_retry = saw_retry || planned[i].attempt == 2;
    saw_confirmed = saw_confirmed || !planned[i].accommodation_kind.empty();
    EXPECT_TRUE(schedule.holds(planned[i])) << planned[i].id;
  }
  EXPECT_TRUE(saw_retry);
  EXPECT_TRUE(saw_confirmed);
  Notification other = planned[0];
  other.attempt += 1;
  EXPECT_FALSE(schedule.holds(other));
  EXPECT_LE(sizeof(Scheduled), 40u);  // the point of it: see issue #3 in docs/performance.md
}

}  // namespace
}  // namespace nudged

namespace nudged {
namespace {

std::vector<std::string> ids_in_order(const Schedule& s, size_t from = 0) {
  std::vector<std::string> out;
  for (size_t i = from; i < s.entries().size(); ++i)
    out.push_back(s.expand(s.entries()[i]).id);
  return out;
}

std::string new_person(const std::string& rid, const std::string& target, int n) {
  return R"({"type":"registration.received","data":{"registration_id":")" + rid + R"(",)" + target +
         R"(,"participant":{"name":"P","email":"p)" + std::to_string(n) +
         R"(@example.org","phone":"+1415555)" + std::to_string(1000 + n) +
         R"("},"channels":["email","sms"],"sms_consent":true,"accommodations":[{"kind":"asl"}]}})";
}

// New registrations of new people are planned alone and merged in; the result must be the
// schedule a full rebuild gives, entry for entry and in the same order.
TEST(ScheduleTest, AddingNewRegistrationsEqualsPlanningAfresh) {
  State state;
  PlanConfig config;
  config.coordinators.push_back(StaffAddress{"email", "access@example.org"});
  config.defaults.quiet_hours = *parse_quiet_hours("21:00-08:00");
  apply_json(state, testing::session_json("s1", "2027-01-12T19:00:00-05:00"),
             "2026-12-01T00:00:00Z");
  apply_json(
      state,
      R"({"type":"series.scheduled","data":{"series_id":"he","group":"he","title":"HE","rrule":"FREQ=MONTHLY;BYDAY=2TU","first_starts_at":"2027-01-12T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"u","facilitators":[{"name":"Kit","phone":"+14155550100"}]}})",
      "2026-12-01T00:00:00Z");
  apply_json(state, new_person("r0", R"("session_id":"s1")", 0), "2026-12-02T00:00:00Z");
  TimePoint now = at("2026-12-02T00:00:01Z");
  Schedule incremental;
  incremental.rebuild(state, config, now);

  state.track_planning(true);
  apply_json(state, new_person("r1", R"("session_id":"s1")", 1), "2026-12-02T00:00:02Z");
  apply_json(state, new_person("r2", R"("series_id":"he")", 2), "2026-12-02T00:00:03Z");
  apply_json(state, new_person("r3", R"("session_id":"he@2027-02-09")", 3), "2026-12-02T00:00:04Z");
  PlanningDelta delta = state.take_planning_delta();
  EXPECT_FALSE(delta.other);
  ASSERT_EQ(delta.new_registrations, (std::vector<std::string>{"r1", "r2", "r3"}));
  std::vector<const RegistrationState*> added;
  for (const std::string& id : delta.new_registrations)
    added.push_back(state.registration(id));
  incremental.add(state, config, now, added, 0);

  Schedule fresh;
  fresh.rebuild(state, config, now);
  EXPECT_GT(fresh.size(), 20u);
  EXPECT_EQ(ids_in_order(incremental), ids_in_order(fresh));

  // Merging from a cursor leaves what is before it alone.
  std::vector<std::string> head = ids_in_order(incremental);
  head.resize(3);
  apply_json(state, new_person("r4", R"("session_id":"s1")", 4), "2026-12-02T00:00:05Z");
  delta = state.take_planning_delta();
  incremental.add(state, config, now, {state.registration("r4")}, 3);
  std::vector<std::string> after = ids_in_order(incremental);
  EXPECT_EQ(std::vector<std::string>(after.begin(), after.begin() + 3), head);
  EXPECT_TRUE(std::is_sorted(incremental.entries().begin() + 3, incremental.entries().end(),
                             [](auto& a, auto& b) { return a.due < b.due; }));
}

// What cannot be planned alone marks the delta, so the daemon plans afresh.
TEST(ScheduleTest, ReturningPeopleAndOtherEventsNeedAFullPlan) {
  State state;
  apply_json(state, testing::session_json("s1", "2027-01-12T19:00:00-05:00"),
             "2026-12-01T00:00:00Z");
  state.track_planning(true);
  apply_json(state, new_person("r1", R"("session_id":"s1")", 1), "2026-12-02T00:00:00Z");
  EXPECT_FALSE(state.take_planning_delta().other);
  // The same person again (their time zone could move their other reminders).
  apply_json(state, new_person("r2", R"("session_id":"s1")", 1), "2026-12-02T00:00:01Z");
  EXPECT_TRUE(state.take_planning_delta().other);
  // The same registration id again.
  apply_json(state, new_person("r1", R"("session_id":"s1")", 9), "2026-12-02T00:00:02Z");
  EXPECT_TRUE(state.take_planning_delta().other);
  // An unknown session, and a reschedule.
  apply_json(state, new_person("r5", R"("session_id":"nope")", 5), "2026-12-02T00:00:03Z");
  EXPECT_TRUE(state.take_planning_delta().other);
  apply_json(
      state,
      R"({"type":"session.rescheduled","data":{"session_id":"s1","starts_at":"2027-01-13T19:00:00-05:00"}})",
      "2026-12-02T00:00:04Z");
  EXPECT_TRUE(state.take_planning_delta().other);
  // Outcomes that only settle their own notification are not plan inputs at all.
  apply_json(
      state,
      R"({"type":"notification.sent","data":{"notification_id":"x","channel":"email","attempt":1}})",
      "2026-12-02T00:00:05Z");
  PlanningDelta d = state.take_planning_delta();
  EXPECT_FALSE(d.other);
  EXPECT_TRUE(d.new_registrations.empty());
}

}  // namespace
}  // namespace nudged
