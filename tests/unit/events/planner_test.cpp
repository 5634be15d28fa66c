// The planner's rules (SPEC §4), one case each, with an injected clock: no sleeps, no I/O.
#include "events/planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

using testing::at;
using testing::make_event;

class PlannerTest : public ::testing::Test {
 protected:
  PlannerTest() {
    config_.coordinators.push_back(StaffAddress{"email", "access@example.org"});
    config_.defaults.quiet_hours = QuietHours{};  // tests that want quiet hours turn them on
  }

  void apply(const std::string& envelope_json, const char* recorded) {
    testing::apply_json(state_, envelope_json, recorded);
  }

  void session(const std::string& id, const std::string& starts_at,
               const std::string& zone = "America/New_York", const std::string& group = "general",
               const char* recorded = "2026-12-01T12:00:00Z") {
    apply(R"({"type":"session.scheduled","data":{"session_id":")" + id + R"(","group":")" + group +
              R"(","title":"Peer support","starts_at":")" + starts_at + R"(","time_zone":")" +
              zone +
              R"(","duration_minutes":90,"join_url":"https://zoom.example.org/j/1",)"
              R"("facilitators":[{"name":"Sam","email":"sam@example.org"},{"name":"Kit"}]}})",
          recorded);
  }

  void registration(const std::string& id, const std::string& target,
                    const char* recorded = "2026-12-02T12:00:00Z",
                    const std::string& extra = R"("channels":["email"],"sms_consent":false)",
                    const std::string& target_field = "session_id",
                    const std::string& participant =
                        R"({"name":"Pat","email":"pat@example.org","phone":"+14155550142"})") {
    apply(R"({"type":"registration.received","data":{"registration_id":")" + id + R"(",")" +
              target_field + R"(":")" + target + R"(","participant":)" + participant + "," + extra +
              "}}",
          recorded);
  }

  // "he": the second Tuesday of each month at 19:00 New York, from 12 January 2027.
  void monthly_series() {
    apply(
        R"({"type":"series.scheduled","data":{"series_id":"he","group":"higher-ed","title":"HE","rrule":"FREQ=MONTHLY;BYDAY=2TU","first_starts_at":"2027-01-12T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"u","facilitators":[]}})",
        "2026-12-01T00:00:00Z");
  }

  std::vector<Notification> plan_at(const char* now) { return plan(state_, config_, at(now)); }

  static std::vector<Notification> only(const std::vector<Notification>& all, NotificationKind kind,
                                        const std::string& channel = "") {
    std::vector<Notification> out;
    for (const Notification& n : all) {
      if (n.kind == kind && (channel.empty() || n.channel == channel)) out.push_back(n);
    }
    return out;
  }

  static std::vector<std::string> dues(const std::vector<Notification>& list) {
    std::vector<std::string> out;
    for (const Notification& n : list)
      out.push_back(format_utc_millis(n.due));
    return out;
  }

  void record(const std::string& type, const std::string& id, const char* recorded,
              const std::string& extra = R"("channel":"email","attempt":1)") {
    apply(R"({"type":")" + type + R"(","data":{"notification_id":")" + id + R"(",)" + extra + "}}",
          recorded);
  }

  State state_;
  PlanConfig config_;
};

TEST_F(PlannerTest, ConfirmationAtOnceOnEachChosenChannel) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z",
               R"("channels":["email","sms"],"sms_consent":true)");
  auto plan = plan_at("2026-12-02T12:00:01Z");
  auto confirmations = only(plan, NotificationKind::kConfirmation);
  ASSERT_EQ(confirmations.size(), 2u);
  for (const Notification& n : confirmations) {
    EXPECT_EQ(format_utc_millis(n.due), "2026-12-02T12:00:00.000Z");
    EXPECT_EQ(n.action, Notification::Action::kSend);
    EXPECT_EQ(n.registration_id, "r1");
  }
  EXPECT_EQ(confirmations[0].channel, "email");
  EXPECT_EQ(confirmations[1].channel, "sms");
  EXPECT_EQ(confirmations[0].id, "registration.confirmation:r1:email:20261202T120000Z:r0");
}

TEST_F(PlannerTest, RemindersAtEachOffsetWithCalendarDays) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z",
               R"("channels":["email","sms"],"sms_consent":true)");
  auto plan = plan_at("2026-12-02T12:00:01Z");
  EXPECT_EQ(dues(only(plan, NotificationKind::kReminder, "email")),
            (std::vector<std::string>{"2027-01-06T00:00:00.000Z", "2027-01-12T00:00:00.000Z",
                                      "2027-01-12T23:00:00.000Z"}));
  EXPECT_EQ(dues(only(plan, NotificationKind::kReminder, "sms")),
            (std::vector<std::string>{"2027-01-12T22:00:00.000Z"}));
}

TEST_F(PlannerTest, CalendarDayRemindersUseTheRecipientsZone) {
  session("s1", "2027-03-14T19:00:00-04:00");  // New York, the day DST starts
  registration("r1", "s1", "2026-12-02T12:00:00Z", R"("channels":["email"],"sms_consent":false)",
               "session_id",
               R"({"name":"Pat","email":"pat@example.org","time_zone":"Europe/London"})");
  auto reminders = only(plan_at("2026-12-02T12:00:01Z"), NotificationKind::kReminder);
  // Start is 23:00 in London on the 14th; 1d before is 23:00 London on the 13th (GMT),
  // where New York's own 1d would be 00:00Z on the 14th.
  ASSERT_EQ(reminders.size(), 3u);
  EXPECT_EQ(dues(reminders)[1], "2027-03-13T23:00:00.000Z");
}

TEST_F(PlannerTest, SameLogSamePlanAndStableIds) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1");
  registration("r2", "s1", "2026-12-02T12:00:00Z", R"("channels":["email"],"sms_consent":false)",
               "session_id", R"({"name":"Lee","email":"lee@example.org"})");
  auto a = plan_at("2026-12-03T00:00:00Z");
  auto b = plan_at("2026-12-03T00:00:00Z");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].id, b[i].id);
    EXPECT_EQ(a[i].due, b[i].due);
  }
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end(), [](const auto& x, const auto& y) {
    return x.due != y.due ? x.due < y.due : x.id < y.id;
  }));
  // A later `now` keeps the ids of what is still pending.
  auto later = plan_at("2027-01-07T00:00:00Z");
  auto reminder_1d = only(later, NotificationKind::kReminder)[0];
  auto same = std::find_if(a.begin(), a.end(), [&](auto& n) { return n.id == reminder_1d.id; });
  EXPECT_NE(same, a.end());
}

TEST_F(PlannerTest, SentExpiredAndPermanentlyFailedAreNotPlannedAgain) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1");
  auto before = only(plan_at("2026-12-02T12:00:01Z"), NotificationKind::kReminder);
  ASSERT_EQ(before.size(), 3u);
  record("notification.sent", before[0].id, "2027-01-06T00:00:01Z");
  record("notification.expired", before[1].id, "2027-01-06T00:00:01Z",
         R"("reason":"daemon was down")");
  record("notification.failed", before[2].id, "2027-01-06T00:00:01Z",
         R"("channel":"email","attempt":1,"error":"550 no such user","permanent":true)");
  EXPECT_TRUE(only(plan_at("2026-12-02T12:00:01Z"), NotificationKind::kReminder).empty());
}

TEST_F(PlannerTest, TransientFailureRetriesAtRetryAtUntilTheDeadline) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1");
  auto confirmation = only(plan_at("2026-12-02T12:00:01Z"), NotificationKind::kConfirmation)[0];
  record("notification.failed", confirmation.id, "2026-12-02T12:00:02Z",
         R"("channel":"email","attempt":1,"error":"421 try later","permanent":false,)"
         R"("retry_at":"2026-12-02T12:00:30Z")");
  auto retry = only(plan_at("2026-12-02T12:00:03Z"), NotificationKind::kConfirmation);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].id, confirmation.id);  // same notification, next attempt
  EXPECT_EQ(retry[0].attempt, 2);
  EXPECT_EQ(format_utc_millis(retry[0].due), "2026-12-02T12:00:30.000Z");
  // A retry that would land after the session started is not made: it expires.
  record("notification.failed", confirmation.id, "2027-01-13T00:00:00Z",
         R"("channel":"email","attempt":2,"error":"421","permanent":false,)"
         R"("retry_at":"2027-01-13T00:30:00Z")");
  auto late = only(plan_at("2027-01-13T00:00:01Z"), NotificationKind::kConfirmation);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].action, Notification::Action::kExpire);
}

TEST_F(PlannerTest, LateRegistrationSkipsRemindersAlreadyPast) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1", "2027-01-12T12:00:00Z");  // 12 hours before
  auto reminders = only(plan_at("2027-01-12T12:00:01Z"), NotificationKind::kReminder);
  EXPECT_EQ(dues(reminders), (std::vector<std::string>{"2027-01-12T23:00:00.000Z"}));
}

TEST_F(PlannerTest, MissedWhileDownIsSentWithinGraceElseExpired) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1");
  // The 1h reminder was due at 23:00Z; the daemon comes back at 23:20 (grace 30m): send now.
  auto within = only(plan_at("2027-01-12T23:20:00Z"), NotificationKind::kReminder);
  auto one_hour = std::find_if(within.begin(), within.end(), [](auto& n) {
    return format_utc_millis(n.due) == "2027-01-12T23:00:00.000Z";
  });
  ASSERT_NE(one_hour, within.end());
  EXPECT_EQ(one_hour->action, Notification::Action::kSend);
  // Back at 23:45: too late for it, so it is to be recorded as expired; the 1d one too.
  auto late = only(plan_at("2027-01-12T23:45:00Z"), NotificationKind::kReminder);
  ASSERT_EQ(late.size(), 3u);
  for (const Notification& n : late)
    EXPECT_EQ(n.action, Notification::Action::kExpire);
}

// late_grace is about downtime only. A due time that passed while the daemon ran (waiting its
// turn behind a hung mail relay, say) is still sent, until its deadline; one missed while the
// daemon was down still expires by the grace it had when the daemon started.
TEST_F(PlannerTest, LateGraceDoesNotExpireWhatFellDueWhileRunning) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1");
  PlanOptions running;
  running.running_since = at("2027-01-12T22:00:00Z");
  // The 1h reminder was due at 23:00Z, while the daemon ran; at 23:45 it has not gone yet.
  auto waited =
      only(plan(state_, config_, at("2027-01-12T23:45:00Z"), running), NotificationKind::kReminder);
  auto one_hour = std::find_if(waited.begin(), waited.end(), [](auto& n) {
    return format_utc_millis(n.due) == "2027-01-12T23:00:00.000Z";
  });
  ASSERT_NE(one_hour, waited.end());
  EXPECT_EQ(one_hour->action, Notification::Action::kSend);
  // The 1d reminder (due 2027-01-12T00:00Z) was missed while down, long before the start.
  auto one_day = std::find_if(waited.begin(), waited.end(), [](auto& n) {
    return format_utc_millis(n.nominal_due) == "2027-01-12T00:00:00.000Z";
  });
  ASSERT_NE(one_day, waited.end());
  EXPECT_EQ(one_day->action, Notification::Action::kExpire);
  EXPECT_TRUE(one_day->missed_while_down);  // the daemon says so
  // At the start, the deadline expires it all the same: held up, not missed while down.
  auto started =
      only(plan(state_, config_, at("2027-01-13T00:00:00Z"), running), NotificationKind::kReminder);
  for (const Notification& n : started) {
    EXPECT_EQ(n.action, Notification::Action::kExpire) << n.id;
    if (format_utc_millis(n.nominal_due) == "2027-01-12T23:00:00.000Z") {
      EXPECT_FALSE(n.missed_while_down) << n.id;
    }
  }
}

TEST_F(PlannerTest, RescheduleDropsTheOldPlanAndNotifies) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1");
  auto old_reminders = only(plan_at("2026-12-03T00:00:00Z"), NotificationKind::kReminder);
  apply(
      R"({"type":"session.rescheduled","data":{"session_id":"s1","starts_at":"2027-01-19T19:00:00-05:00"}})",
      "2026-12-10T09:00:00Z");
  auto plan = plan_at("2026-12-10T09:00:01Z");
  auto reminders = only(plan, NotificationKind::kReminder);
  EXPECT_EQ(dues(reminders),
            (std::vector<std::string>{"2027-01-13T00:00:00.000Z", "2027-01-19T00:00:00.000Z",
                                      "2027-01-19T23:00:00.000Z"}));
  for (const Notification& n : reminders) {
    for (const Notification& o : old_reminders)
      EXPECT_NE(n.id, o.id);
    EXPECT_EQ(n.session_revision, 2);
  }
  auto changed = only(plan, NotificationKind::kChanged);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(format_utc_millis(changed[0].due), "2026-12-10T09:00:00.000Z");
}

TEST_F(PlannerTest, CancelDropsRemindersAndNotifiesOnce) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1");
  apply(R"({"type":"session.cancelled","data":{"session_id":"s1","reason":"facilitator ill"}})",
        "2026-12-10T09:00:00Z");
  auto plan = plan_at("2026-12-10T09:00:01Z");
  EXPECT_TRUE(only(plan, NotificationKind::kReminder).empty());
  EXPECT_TRUE(only(plan, NotificationKind::kRoster).empty());
  EXPECT_EQ(only(plan, NotificationKind::kChanged).size(), 1u);
  // Someone registering after the cancel gets no change notice (and no confirmation).
  registration("r2", "s1", "2026-12-11T09:00:00Z", R"("channels":["email"],"sms_consent":false)",
               "session_id", R"({"name":"Lee","email":"lee@example.org"})");
  auto after = plan_at("2026-12-11T09:00:01Z");
  for (const Notification& n : after)
    EXPECT_NE(n.registration_id, "r2");
}

TEST_F(PlannerTest, AnUpdateDoesNotResendRemindersAlreadySent) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1");
  auto week = only(plan_at("2027-01-06T00:00:01Z"), NotificationKind::kReminder)[0];
  record("notification.sent", week.id, "2027-01-06T00:00:01Z");
  apply(
      R"({"type":"session.updated","data":{"session_id":"s1","join_url":"https://zoom.example.org/j/2"}})",
      "2027-01-06T00:10:00Z");
  auto reminders = only(plan_at("2027-01-06T00:10:01Z"), NotificationKind::kReminder);
  EXPECT_EQ(dues(reminders),
            (std::vector<std::string>{"2027-01-12T00:00:00.000Z", "2027-01-12T23:00:00.000Z"}));
}

TEST_F(PlannerTest, AChangeDoesNotResendTheConfirmation) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z",
               R"("channels":["email"],"sms_consent":false,"accommodations":[{"kind":"asl"}])");
  auto before = plan_at("2026-12-02T12:00:01Z");
  for (const Notification& n : before) {
    if (n.kind == NotificationKind::kConfirmation ||
        n.kind == NotificationKind::kAccommodationRequest) {
      record("notification.sent", n.id, "2026-12-02T12:00:02Z");
    }
  }
  apply(
      R"({"type":"session.updated","data":{"session_id":"s1","join_url":"https://zoom.example.org/j/2"}})",
      "2026-12-02T12:10:00Z");
  apply(
      R"({"type":"session.rescheduled","data":{"session_id":"s1","starts_at":"2027-01-13T19:00:00-05:00"}})",
      "2026-12-02T12:11:00Z");
  auto after = plan_at("2026-12-02T12:11:01Z");
  EXPECT_TRUE(only(after, NotificationKind::kConfirmation).empty());
  EXPECT_TRUE(only(after, NotificationKind::kAccommodationRequest).empty());
  EXPECT_EQ(only(after, NotificationKind::kChanged).size(), 1u);
}

TEST_F(PlannerTest, ARegistrationForOneOccurrence) {
  monthly_series();
  registration("r1", "he@2027-01-12");
  auto plan = plan_at("2026-12-02T12:00:01Z");
  ASSERT_EQ(only(plan, NotificationKind::kConfirmation).size(), 1u);
  auto reminders = only(plan, NotificationKind::kReminder);
  ASSERT_EQ(reminders.size(), 3u);
  for (const Notification& n : reminders)
    EXPECT_EQ(n.session_id, "he@2027-01-12");
}

TEST_F(PlannerTest, SmsRetriesKeepOutOfQuietHours) {
  config_.defaults.quiet_hours = *parse_quiet_hours("21:00-08:00");
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z", R"("channels":["sms"],"sms_consent":true)");
  auto reminder = only(plan_at("2026-12-02T12:00:01Z"), NotificationKind::kReminder)[0];
  // A failure asks for a retry at 21:00:30 New York time: quiet, so 08:00 the next morning.
  record("notification.failed", reminder.id, "2027-01-12T01:59:00Z",
         R"("channel":"sms","attempt":1,"error":"429","permanent":false,)"
         R"("retry_at":"2027-01-12T02:00:30Z")");
  auto retry = only(plan_at("2027-01-12T01:59:01Z"), NotificationKind::kReminder);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].attempt, 2);
  EXPECT_EQ(format_utc_millis(retry[0].due), "2027-01-12T13:00:00.000Z");
}

TEST_F(PlannerTest, QuietHoursForAChangeNoticeCountFromTheNewStart) {
  config_.defaults.quiet_hours = *parse_quiet_hours("21:00-08:00");
  session("s1", "2027-01-12T10:00:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z", R"("channels":["sms"],"sms_consent":true)");
  // At 22:00 the night before, the 10:00 meeting moves to 08:10: 08:00 is too close to the
  // new start, so the notice goes at once rather than 10 minutes before.
  apply(
      R"({"type":"session.rescheduled","data":{"session_id":"s1","starts_at":"2027-01-12T08:10:00-05:00"}})",
      "2027-01-12T03:00:00Z");
  auto changed = only(plan_at("2027-01-12T03:00:01Z"), NotificationKind::kChanged);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(format_utc_millis(changed[0].due), "2027-01-12T03:00:00.000Z");
}

TEST_F(PlannerTest, SmsNeedsConsentAndNoOptOut) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z",
               R"("channels":["email","sms"],"sms_consent":true)");
  apply(R"({"type":"participant.opted_out","data":{"channel":"sms","address":"+14155550142"}})",
        "2026-12-03T00:00:00Z");
  auto plan = plan_at("2026-12-03T00:00:01Z");
  EXPECT_TRUE(only(plan, NotificationKind::kReminder, "sms").empty());
  EXPECT_EQ(only(plan, NotificationKind::kReminder, "email").size(), 3u);
  apply(
      R"({"type":"participant.opted_out","data":{"channel":"email","address":"pat@example.org"}})",
      "2026-12-03T00:00:00Z");
  EXPECT_TRUE(only(plan_at("2026-12-03T00:00:01Z"), NotificationKind::kReminder).empty());
  apply(R"({"type":"participant.opted_in","data":{"channel":"sms","address":"+14155550142"}})",
        "2026-12-04T00:00:00Z");
  EXPECT_EQ(only(plan_at("2026-12-04T00:00:01Z"), NotificationKind::kReminder, "sms").size(), 1u);
}

TEST_F(PlannerTest, ErasedAndCancelledRegistrationsGetNothing) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1");
  registration("r2", "s1", "2026-12-02T12:00:00Z", R"("channels":["email"],"sms_consent":false)",
               "session_id", R"({"name":"Lee","email":"lee@example.org"})");
  std::string pid = state_.registration("r1")->participant_id();
  apply(R"({"type":"participant.erased","data":{"participant_id":")" + pid + R"("}})",
        "2026-12-03T00:00:00Z");
  apply(R"({"type":"registration.cancelled","data":{"registration_id":"r2"}})",
        "2026-12-03T00:00:00Z");
  for (const Notification& n : plan_at("2026-12-03T00:00:01Z")) {
    EXPECT_TRUE(n.registration_id.empty()) << n.id;  // only rosters are left
  }
}

TEST_F(PlannerTest, QuietHoursMoveSmsToTheEndOfQuietHours) {
  config_.defaults.quiet_hours = *parse_quiet_hours("21:00-08:00");
  config_.defaults.sms_reminders = {Offset::seconds(12 * 3600)};
  // Starts 10:00 New York; 12h before is 22:00 the evening before: quiet. 08:00 is 2h before.
  session("s1", "2027-01-12T10:00:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z", R"("channels":["sms"],"sms_consent":true)");
  auto sms = only(plan_at("2026-12-02T12:00:01Z"), NotificationKind::kReminder, "sms");
  EXPECT_EQ(dues(sms), (std::vector<std::string>{"2027-01-12T13:00:00.000Z"}));  // 08:00 EST
}

TEST_F(PlannerTest, QuietHoursMoveEarlierWhenTheEndIsTooCloseToTheStart) {
  config_.defaults.quiet_hours = *parse_quiet_hours("21:00-08:00");
  config_.defaults.sms_reminders = {Offset::seconds(3 * 3600)};
  // Starts 08:10; 3h before is 05:10, quiet; 08:00 is only 10 minutes before the start, so it
  // goes at 20:59 the evening before.
  session("s1", "2027-01-12T08:10:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z", R"("channels":["sms"],"sms_consent":true)");
  auto sms = only(plan_at("2026-12-02T12:00:01Z"), NotificationKind::kReminder, "sms");
  EXPECT_EQ(dues(sms), (std::vector<std::string>{"2027-01-12T01:59:00.000Z"}));  // 20:59 EST
}

// Quiet hours move a reminder to 20:59 the evening before; someone registering later that
// evening (21:10, itself quiet) must not get it at once, beside their confirmation: it is
// due before they registered, which the confirmation covers. Registering at 20:30, they get it.
TEST_F(PlannerTest, AReminderQuietHoursMoveToBeforeTheRegistrationIsNotSent) {
  config_.defaults.quiet_hours = *parse_quiet_hours("21:00-08:00");
  config_.defaults.sms_reminders = {Offset::seconds(2 * 3600)};
  // Starts 08:10; 2h before is 06:10, quiet; 08:00 is too close, so 20:59 the evening before.
  session("s1", "2027-01-12T08:10:00-05:00");
  registration("late", "s1", "2027-01-12T02:10:00Z",  // 21:10 EST
               R"("channels":["sms"],"sms_consent":true)");
  registration("early", "s1", "2027-01-12T01:30:00Z",  // 20:30 EST
               R"("channels":["sms"],"sms_consent":true)", "session_id",
               R"({"name":"Lee","phone":"+14155550143"})");
  auto plan = plan_at("2027-01-12T02:10:01Z");
  std::vector<std::string> reminded;
  for (const Notification& n : only(plan, NotificationKind::kReminder, "sms")) {
    reminded.push_back(n.registration_id);
    EXPECT_EQ(format_utc_millis(n.due), "2027-01-12T01:59:00.000Z");
  }
  EXPECT_EQ(reminded, std::vector<std::string>{"early"});
  EXPECT_EQ(only(plan, NotificationKind::kConfirmation, "sms").size(), 2u);
}

TEST(QuietHoursRuleTest, WindowsWithinOneDayAndAcrossMidnight) {
  const date::time_zone* ny = find_zone("America/New_York");
  QuietHours night = *parse_quiet_hours("21:00-08:00");
  QuietHours early = *parse_quiet_hours("01:00-06:00");
  TimePoint start = at("2027-01-12T19:00:00-05:00");
  auto moved = [&](const char* due, const QuietHours& q) {
    return format_rfc3339(Instant{apply_quiet_hours(at(due), start, q, ny), -300, false});
  };
  EXPECT_EQ(moved("2027-01-12T07:30:00-05:00", night), "2027-01-12T08:00:00-05:00");
  EXPECT_EQ(moved("2027-01-11T23:00:00-05:00", night), "2027-01-12T08:00:00-05:00");
  EXPECT_EQ(moved("2027-01-12T12:00:00-05:00", night), "2027-01-12T12:00:00-05:00");
  EXPECT_EQ(moved("2027-01-12T03:00:00-05:00", early), "2027-01-12T06:00:00-05:00");
  EXPECT_EQ(moved("2027-01-12T00:30:00-05:00", early), "2027-01-12T00:30:00-05:00");
}

// Quiet hours begin (or end) when the local clock first reads their time. On a night the clocks
// skip it they begin when the clocks jump past it, and the last minute before them is the last
// one before the jump, not 30 minutes into them. On a night the clocks go back, a time in the
// repeated hour is quiet until the end time comes round again in that pass.
TEST(QuietHoursRuleTest, DaylightSavingNights) {
  // Cairo springs forward at midnight on Friday 30 April 2027, from 00:00 EET to 01:00 EEST.
  const date::time_zone* cairo = find_zone("Africa/Cairo");
  auto moved = [](const char* due, const char* start, const char* window,
                  const date::time_zone* zone) {
    return format_utc_millis(
        apply_quiet_hours(at(due), at(start), *parse_quiet_hours(window), zone));
  };
  // Due 01:30 EEST, within "00:30-07:00"; the meeting at 07:10 is too close to 07:00, so the
  // text goes in the last minute before quiet hours: 23:59 EET, just before the jump.
  EXPECT_EQ(moved("2027-04-29T22:30:00Z", "2027-04-30T04:10:00Z", "00:30-07:00", cairo),
            "2027-04-29T21:59:00.000Z");
  // "21:00-00:30": over when the clocks jump past 00:30, at 01:00 EEST.
  EXPECT_EQ(moved("2027-04-29T21:30:00Z", "2027-04-30T12:00:00Z", "21:00-00:30", cairo),
            "2027-04-29T22:00:00.000Z");
  // New York falls back at 02:00 EDT on 7 November 2027. 01:15 EST (the second 01:15) is
  // within "21:00-01:30" until 01:30 EST, not moved back to 01:30 EDT, before it was due.
  const date::time_zone* ny = find_zone("America/New_York");
  EXPECT_EQ(moved("2027-11-07T06:15:00Z", "2027-11-07T16:00:00Z", "21:00-01:30", ny),
            "2027-11-07T06:30:00.000Z");
  // ...and 00:45 EDT until the first 01:30.
  EXPECT_EQ(moved("2027-11-07T04:45:00Z", "2027-11-07T16:00:00Z", "21:00-01:30", ny),
            "2027-11-07T05:30:00.000Z");
}

// The rule at the moment an SMS would go (the daemon asks just before each send). New York,
// 21:00-08:00; the plan put every one of these outside quiet hours, and each then waited.
TEST(QuietHoursAtSendTest, HeldToTheirEndOrExpiredWhenTheEndIsTooCloseToTheStart) {
  QuietHoursRule rule;
  rule.quiet = *parse_quiet_hours("21:00-08:00");
  rule.zone = find_zone("America/New_York");
  using Action = QuietHoursVerdict::Action;
  auto utc = [](TimePoint t) { return format_utc_millis(t); };

  // A reminder planned for 20:50, for a meeting at 10:00 the next morning.
  rule.start = at("2027-01-12T10:00:00-05:00");
  EXPECT_EQ(quiet_hours_at_send(at("2027-01-11T20:59:59-05:00"), rule).action, Action::kSend);
  QuietHoursVerdict late = quiet_hours_at_send(at("2027-01-11T23:00:00-05:00"), rule);
  EXPECT_EQ(late.action, Action::kHold);  // not at 23:00: at 08:00
  EXPECT_EQ(utc(late.began), "2027-01-12T02:00:00.000Z");
  EXPECT_EQ(utc(late.ends), "2027-01-12T13:00:00.000Z");
  EXPECT_EQ(quiet_hours_at_send(at("2027-01-12T07:59:59-05:00"), rule).action, Action::kHold);
  EXPECT_EQ(quiet_hours_at_send(at("2027-01-12T08:00:00-05:00"), rule).action, Action::kSend);
  // Their end exactly 15 minutes before the start is still in time.
  rule.start = at("2027-01-12T08:15:00-05:00");
  EXPECT_EQ(quiet_hours_at_send(at("2027-01-11T21:00:00-05:00"), rule).action, Action::kHold);

  // At 08:10 the planner moved it to 20:59 the evening before; held up past 21:00, the end of
  // quiet hours is too close to the start and 20:59 is past: it is not sent.
  rule.start = at("2027-01-12T08:10:00-05:00");
  EXPECT_EQ(quiet_hours_at_send(at("2027-01-11T20:59:30-05:00"), rule).action, Action::kSend);
  EXPECT_EQ(quiet_hours_at_send(at("2027-01-11T21:00:00-05:00"), rule).action, Action::kExpire);
  EXPECT_EQ(quiet_hours_at_send(at("2027-01-12T03:00:00-05:00"), rule).action, Action::kExpire);

  // A confirmation of a registration made at 20:50, as late: the same. One made at 21:10 had
  // no time before quiet hours; the planner sends it at once, and so it goes, retries too.
  rule.fact = at("2027-01-11T20:50:00-05:00");
  EXPECT_EQ(quiet_hours_at_send(at("2027-01-11T21:05:00-05:00"), rule).action, Action::kExpire);
  rule.fact = at("2027-01-11T21:10:00-05:00");
  EXPECT_EQ(quiet_hours_at_send(at("2027-01-11T21:10:05-05:00"), rule).action, Action::kSend);
  EXPECT_EQ(quiet_hours_at_send(at("2027-01-11T21:11:00-05:00"), rule).action, Action::kSend);
  // ...but not in the next night's quiet hours.
  rule.start = at("2027-01-13T08:10:00-05:00");
  EXPECT_EQ(quiet_hours_at_send(at("2027-01-12T21:30:00-05:00"), rule).action, Action::kExpire);

  rule.quiet = QuietHours{};  // none configured
  EXPECT_EQ(quiet_hours_at_send(at("2027-01-11T23:00:00-05:00"), rule).action, Action::kSend);
}

// What the daemon checks just before a send is what the planner applied: the recipient's zone,
// the meeting's start, and for a reminder no fact. A reminder the planner moved to 20:59 goes
// then, and is expired if it is still waiting at 21:00.
TEST_F(PlannerTest, TheRuleAtSendTimeIsTheOneThePlanApplied) {
  config_.defaults.quiet_hours = *parse_quiet_hours("21:00-08:00");
  config_.defaults.sms_reminders = {Offset::seconds(3 * 3600)};
  session("s1", "2027-01-12T08:10:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z",
               R"("channels":["email","sms"],"sms_consent":true)");
  registration("r2", "s1", "2026-12-02T12:00:00Z", R"("channels":["sms"],"sms_consent":true)",
               "session_id",
               R"({"name":"Lee","phone":"+14155550143","time_zone":"Europe/London"})");
  auto plan = plan_at("2026-12-02T12:00:01Z");
  auto sms = only(plan, NotificationKind::kReminder, "sms");
  ASSERT_EQ(sms.size(), 2u);
  const Notification& ny = sms[0].registration_id == "r1" ? sms[0] : sms[1];
  const Notification& london = sms[0].registration_id == "r1" ? sms[1] : sms[0];
  EXPECT_EQ(format_utc_millis(ny.due), "2027-01-12T01:59:00.000Z");  // 20:59 EST

  std::optional<QuietHoursRule> rule = quiet_hours_rule(state_, config_, ny);
  ASSERT_TRUE(rule.has_value());
  EXPECT_EQ(rule->zone, find_zone("America/New_York"));
  EXPECT_EQ(rule->start, at("2027-01-12T08:10:00-05:00"));
  EXPECT_FALSE(rule->fact.has_value());
  EXPECT_EQ(quiet_hours_at_send(ny.due, *rule).action, QuietHoursVerdict::Action::kSend);
  EXPECT_EQ(quiet_hours_at_send(at("2027-01-12T02:00:00Z"), *rule).action,
            QuietHoursVerdict::Action::kExpire);

  EXPECT_EQ(quiet_hours_rule(state_, config_, london)->zone, find_zone("Europe/London"));
  auto confirmation = only(plan, NotificationKind::kConfirmation, "sms")[0];
  EXPECT_EQ(quiet_hours_rule(state_, config_, confirmation)->fact, at("2026-12-02T12:00:00Z"));
  EXPECT_FALSE(
      quiet_hours_rule(state_, config_, only(plan, NotificationKind::kReminder, "email")[0]));
  config_.defaults.quiet_hours = QuietHours{};
  EXPECT_FALSE(quiet_hours_rule(state_, config_, ny));
}

TEST_F(PlannerTest, GroupOverridesReplaceDefaults) {
  GroupPolicy ibd;
  ibd.name = "IBD peer support";
  ibd.policy = config_.defaults;
  ibd.policy.sms_reminders = {Offset::seconds(3 * 3600)};
  config_.groups["ibd"] = ibd;
  session("s1", "2027-01-12T19:00:00-05:00", "America/New_York", "ibd");
  registration("r1", "s1", "2026-12-02T12:00:00Z", R"("channels":["sms"],"sms_consent":true)");
  auto sms = only(plan_at("2026-12-02T12:00:01Z"), NotificationKind::kReminder, "sms");
  EXPECT_EQ(dues(sms), (std::vector<std::string>{"2027-01-12T21:00:00.000Z"}));
}

TEST_F(PlannerTest, AccommodationRequestEscalationAndConfirmation) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z",
               R"("channels":["email"],"sms_consent":false,"accommodations":[{"kind":"asl"}])");
  auto plan = plan_at("2026-12-02T12:00:01Z");
  auto request = only(plan, NotificationKind::kAccommodationRequest);
  ASSERT_EQ(request.size(), 1u);
  EXPECT_EQ(request[0].role, RecipientRole::kCoordinator);
  EXPECT_EQ(request[0].channel, "email");
  auto escalation = only(plan, NotificationKind::kAccommodationEscalation);
  ASSERT_EQ(escalation.size(), 1u);
  EXPECT_EQ(format_utc_millis(escalation[0].due), "2027-01-03T00:00:00.000Z");  // 10d before
  EXPECT_TRUE(only(plan, NotificationKind::kAccommodationConfirmed).empty());

  apply(R"({"type":"accommodation.arranged","data":{"registration_id":"r1","kind":"asl"}})",
        "2026-12-20T10:00:00Z");
  auto after = plan_at("2026-12-20T10:00:01Z");
  EXPECT_TRUE(only(after, NotificationKind::kAccommodationEscalation).empty());
  auto confirmed = only(after, NotificationKind::kAccommodationConfirmed);
  ASSERT_EQ(confirmed.size(), 1u);
  EXPECT_EQ(format_utc_millis(confirmed[0].due), "2026-12-20T10:00:00.000Z");
  EXPECT_EQ(confirmed[0].role, RecipientRole::kRegistrant);
}

// A coordinator's text keeps quiet hours where the meeting is, as an escalation's does: the
// registrant's zone says nothing of the coordinator's night. A registrant in London asking at
// 22:30 GMT (17:30 in New York, the meeting's zone) is not made to wait until 08:00 GMT, a text
// at 03:00 EST; one asking at 07:30 GMT (02:30 EST) waits until 08:00 EST, not 08:00 GMT.
TEST_F(PlannerTest, ACoordinatorsTextKeepsQuietHoursInTheMeetingsZone) {
  config_.defaults.quiet_hours = *parse_quiet_hours("21:00-08:00");
  config_.coordinators = {StaffAddress{"sms", "+14155550199"}};
  session("s1", "2027-01-12T19:00:00-05:00");
  const std::string london =
      R"({"name":"Pat","email":"pat@example.org","time_zone":"Europe/London"})";
  const std::string asks =
      R"("channels":["email"],"sms_consent":false,"accommodations":[{"kind":"asl"}])";
  registration("evening", "s1", "2027-01-05T22:30:00Z", asks, "session_id", london);
  registration("early", "s1", "2027-01-06T07:30:00Z", asks, "session_id", london);
  auto requests = only(plan_at("2027-01-06T07:30:01Z"), NotificationKind::kAccommodationRequest);
  std::map<std::string, std::string> due;
  for (const Notification& n : requests)
    due[n.registration_id] = format_utc_millis(n.due);
  EXPECT_EQ(due["evening"], "2027-01-05T22:30:00.000Z");
  EXPECT_EQ(due["early"], "2027-01-06T13:00:00.000Z");
  // At send time the daemon asks in the same zone: the meeting's, not the registrant's.
  for (const Notification& n : requests) {
    std::optional<QuietHoursRule> rule = quiet_hours_rule(state_, config_, n);
    ASSERT_TRUE(rule.has_value()) << n.id;
    EXPECT_EQ(rule->zone, find_zone("America/New_York")) << n.id;
  }
}

// A series registration has no start to count to: an arrangement made weeks after the
// registration still gets its confirmation (it was recorded as expired after 7 days, and not
// planned at all after 14).
TEST_F(PlannerTest, ASeriesRegistrantHearsOfAnArrangementMadeWeeksLater) {
  monthly_series();
  registration("r1", "he", "2026-12-02T12:00:00Z",
               R"("channels":["email"],"sms_consent":false,"accommodations":[{"kind":"asl"}])",
               "series_id");
  for (const char* arranged : {"2026-12-12T10:00:00Z", "2027-01-05T10:00:00Z"}) {
    SCOPED_TRACE(arranged);
    State before = state_;
    apply(R"({"type":"accommodation.arranged","data":{"registration_id":"r1","kind":"asl"}})",
          arranged);
    TimePoint when = at(arranged);
    auto confirmed = only(plan(state_, config_, when + std::chrono::seconds(1)),
                          NotificationKind::kAccommodationConfirmed);
    ASSERT_EQ(confirmed.size(), 1u);
    EXPECT_EQ(confirmed[0].action, Notification::Action::kSend);
    EXPECT_EQ(confirmed[0].due, when);
    state_ = before;
  }
}

TEST_F(PlannerTest, RosterGoesToFacilitatorsWithAnAddress) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1");
  auto roster = only(plan_at("2026-12-02T12:00:01Z"), NotificationKind::kRoster);
  ASSERT_EQ(roster.size(), 1u);  // Kit has no address
  EXPECT_EQ(roster[0].role, RecipientRole::kFacilitator);
  EXPECT_EQ(roster[0].recipient_index, 0);
  EXPECT_EQ(format_utc_millis(roster[0].due), "2027-01-12T00:00:00.000Z");
  EXPECT_TRUE(roster[0].registration_id.empty());
}

// A reschedule that brings the meeting closer than roster_before and accommodation_lead while
// both were still to come: the roster and the escalation go at once (they were never sent).
// A roster already sent under the old start is not sent again.
TEST_F(PlannerTest, ARescheduleInsideTheLeadSendsTheRosterAndEscalationAtOnce) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z",
               R"("channels":["email"],"sms_consent":false,"accommodations":[{"kind":"asl"}])");
  State before = state_;
  apply(
      R"({"type":"session.rescheduled","data":{"session_id":"s1","starts_at":"2026-12-20T19:00:00-05:00"}})",
      "2026-12-20T10:00:00Z");
  auto plan = plan_at("2026-12-20T10:00:01Z");
  auto roster = only(plan, NotificationKind::kRoster);
  ASSERT_EQ(roster.size(), 1u);
  EXPECT_EQ(format_utc_millis(roster[0].due), "2026-12-20T10:00:00.000Z");
  EXPECT_EQ(roster[0].action, Notification::Action::kSend);
  auto escalation = only(plan, NotificationKind::kAccommodationEscalation);
  ASSERT_EQ(escalation.size(), 1u);
  EXPECT_EQ(format_utc_millis(escalation[0].due), "2026-12-20T10:00:00.000Z");
  EXPECT_EQ(escalation[0].action, Notification::Action::kSend);

  // An update seconds later (a new join link), before they went out: the same two, still owed;
  // once sent, not again.
  apply(R"({"type":"session.updated","data":{"session_id":"s1","join_url":"https://x.org/j"}})",
        "2026-12-20T10:00:30Z");
  auto updated = plan_at("2026-12-20T10:00:31Z");
  auto roster_after = only(updated, NotificationKind::kRoster);
  auto escalation_after = only(updated, NotificationKind::kAccommodationEscalation);
  ASSERT_EQ(roster_after.size(), 1u);
  ASSERT_EQ(escalation_after.size(), 1u);
  EXPECT_EQ(roster_after[0].id, roster[0].id);
  EXPECT_EQ(escalation_after[0].id, escalation[0].id);
  record("notification.sent", roster[0].id, "2026-12-20T10:00:32Z");
  record("notification.sent", escalation[0].id, "2026-12-20T10:00:32Z");
  auto sent = plan_at("2026-12-20T10:00:33Z");
  EXPECT_TRUE(only(sent, NotificationKind::kRoster).empty());
  EXPECT_TRUE(only(sent, NotificationKind::kAccommodationEscalation).empty());

  // Moved sooner after its roster (00:00Z) and escalation (10 days before) had gone: no second.
  state_ = before;
  apply(
      R"({"type":"session.rescheduled","data":{"session_id":"s1","starts_at":"2027-01-12T10:00:00-05:00"}})",
      "2027-01-12T05:00:00Z");
  auto later = plan_at("2027-01-12T05:00:01Z");
  EXPECT_TRUE(only(later, NotificationKind::kRoster).empty());
  EXPECT_TRUE(only(later, NotificationKind::kAccommodationEscalation).empty());
}

// A change notice about one meeting of a series keeps its id when the series is scheduled
// again (a new join_url) or the meeting is updated later: sent once, it is not sent again.
TEST_F(PlannerTest, AnOccurrencesChangeNoticeKeepsItsIdWhenTheSeriesChangesLater) {
  monthly_series();
  registration("r1", "he", "2026-12-02T12:00:00Z", R"("channels":["email"],"sms_consent":false)",
               "series_id");
  apply(
      R"({"type":"session.rescheduled","data":{"session_id":"he@2027-02-09","starts_at":"2027-02-10T19:00:00-05:00"}})",
      "2026-12-20T10:00:00Z");
  auto changed = only(plan_at("2026-12-20T10:00:01Z"), NotificationKind::kChanged);
  ASSERT_EQ(changed.size(), 1u);
  record("notification.sent", changed[0].id, "2026-12-20T10:00:02Z");

  // Seconds later, within late_grace: a notice with a new id would go out again.
  apply(
      R"({"type":"series.scheduled","data":{"series_id":"he","group":"higher-ed","title":"HE","rrule":"FREQ=MONTHLY;BYDAY=2TU","first_starts_at":"2027-01-12T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"https://zoom.example.org/j/new","facilitators":[]}})",
      "2026-12-20T10:00:10Z");
  EXPECT_TRUE(only(plan_at("2026-12-20T10:00:11Z"), NotificationKind::kChanged).empty());
  apply(
      R"({"type":"session.updated","data":{"session_id":"he@2027-02-09","title":"HE, February"}})",
      "2026-12-20T10:00:20Z");
  EXPECT_TRUE(only(plan_at("2026-12-20T10:00:21Z"), NotificationKind::kChanged).empty());
}

// A meeting of a series months ahead, beyond the planning window, moved or cancelled: those
// registered hear of it at once (it was planned only when the window reached the meeting, by
// then long past the change, and recorded as expired).
TEST_F(PlannerTest, AChangeToAMeetingBeyondTheWindowIsToldAtOnce) {
  monthly_series();
  registration("r1", "he", "2026-12-02T12:00:00Z", R"("channels":["email"],"sms_consent":false)",
               "series_id");
  registration("r2", "he@2027-06-08", "2026-12-02T12:00:00Z",
               R"("channels":["email"],"sms_consent":false)", "session_id",
               R"({"name":"Lee","email":"lee@example.org"})");
  apply(
      R"({"type":"session.rescheduled","data":{"session_id":"he@2027-06-08","starts_at":"2027-06-09T19:00:00-04:00"}})",
      "2026-12-20T10:00:00Z");
  apply(R"({"type":"session.cancelled","data":{"session_id":"he@2027-07-13"}})",
        "2026-12-20T10:00:00Z");
  std::vector<std::string> told;
  for (const Notification& n : only(plan_at("2026-12-20T10:00:01Z"), NotificationKind::kChanged)) {
    EXPECT_EQ(n.action, Notification::Action::kSend) << n.id;
    EXPECT_EQ(format_utc_millis(n.due), "2026-12-20T10:00:00.000Z") << n.id;
    told.push_back(n.registration_id + " " + n.session_id);
  }
  std::sort(told.begin(), told.end());
  EXPECT_EQ(told,
            (std::vector<std::string>{"r1 he@2027-06-08", "r1 he@2027-07-13", "r2 he@2027-06-08"}));
}

// A series scheduled again at other times tells its registrants (once); again with only a new
// link, nothing; back after a cancel, told again.
TEST_F(PlannerTest, ASeriesScheduledAgainAtOtherTimesTellsItsRegistrants) {
  monthly_series();
  registration("r1", "he", "2026-12-02T12:00:00Z", R"("channels":["email"],"sms_consent":false)",
               "series_id");
  const std::string wednesdays =
      R"({"type":"series.scheduled","data":{"series_id":"he","group":"higher-ed","title":"HE","rrule":"FREQ=MONTHLY;BYDAY=2WE","first_starts_at":"2027-01-13T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"u","facilitators":[]}})";
  apply(wednesdays, "2026-12-20T10:00:00Z");
  auto changed = only(plan_at("2026-12-20T10:00:01Z"), NotificationKind::kChanged);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].session_id, "he");
  EXPECT_EQ(changed[0].registration_id, "r1");
  EXPECT_EQ(format_utc_millis(changed[0].due), "2026-12-20T10:00:00.000Z");
  EXPECT_EQ(changed[0].action, Notification::Action::kSend);
  record("notification.sent", changed[0].id, "2026-12-20T10:00:02Z");

  std::string new_link = wednesdays;
  new_link.replace(new_link.find(R"("join_url":"u")"), 14, R"("join_url":"v")");
  apply(new_link, "2026-12-21T10:00:00Z");
  EXPECT_TRUE(only(plan_at("2026-12-21T10:00:01Z"), NotificationKind::kChanged).empty());

  apply(R"({"type":"series.cancelled","data":{"series_id":"he"}})", "2026-12-22T10:00:00Z");
  auto cancelled = only(plan_at("2026-12-22T10:00:01Z"), NotificationKind::kChanged);
  ASSERT_EQ(cancelled.size(), 1u);
  record("notification.sent", cancelled[0].id, "2026-12-22T10:00:02Z");
  apply(new_link, "2026-12-23T10:00:00Z");
  auto back = only(plan_at("2026-12-23T10:00:01Z"), NotificationKind::kChanged);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(format_utc_millis(back[0].due), "2026-12-23T10:00:00.000Z");
}

// SPEC §4: no email to an opted-out address, no text to an opted-out number; staff too.
TEST_F(PlannerTest, StaffWhoOptedOutAreNotSentTo) {
  apply(
      R"({"type":"session.scheduled","data":{"session_id":"s1","group":"general","title":"Peer support","starts_at":"2027-01-12T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":90,"join_url":"u","facilitators":[{"name":"Sam","email":"sam@example.org","phone":"+14155550100"},{"name":"Kit","email":"kit@example.org"}]}})",
      "2026-12-01T12:00:00Z");
  registration("r1", "s1", "2026-12-02T12:00:00Z",
               R"("channels":["email"],"sms_consent":false,"accommodations":[{"kind":"asl"}])");
  config_.coordinator_opt_outs = {{"email", "access@example.org"}};  // PlainSealer's match key
  auto staff = [&] {
    std::vector<std::string> out;
    for (const Notification& n : plan_at("2026-12-02T12:00:01Z")) {
      if (n.role != RecipientRole::kRegistrant) {
        out.push_back(std::string(kind_name(n.kind)) + " " + n.channel + " " +
                      std::to_string(n.recipient_index));
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(staff(), (std::vector<std::string>{
                         "accommodation.escalation email 0", "accommodation.request email 0",
                         "facilitator.roster email 0", "facilitator.roster email 1"}));
  for (const char* address : {"access@example.org", "sam@example.org", "kit@example.org"}) {
    apply(std::string(R"({"type":"participant.opted_out","data":{"channel":"email","address":")") +
              address + R"("}})",
          "2026-12-02T12:00:00Z");
  }
  // Sam is texted instead; Kit has no other address; the coordinator gets nothing.
  EXPECT_EQ(staff(), (std::vector<std::string>{"facilitator.roster sms 0"}));
  apply(R"({"type":"participant.opted_out","data":{"channel":"sms","address":"+14155550100"}})",
        "2026-12-02T12:00:00Z");
  EXPECT_TRUE(staff().empty());
}

TEST_F(PlannerTest, SeriesRegistrationCoversEveryFutureOccurrence) {
  monthly_series();
  registration("r1", "he", "2027-01-20T00:00:00Z", R"("channels":["email"],"sms_consent":false)",
               "series_id");
  auto plan = plan_at("2027-01-20T00:00:01Z");
  std::vector<std::string> sessions;
  for (const Notification& n : only(plan, NotificationKind::kReminder)) {
    if (std::find(sessions.begin(), sessions.end(), n.session_id) == sessions.end()) {
      sessions.push_back(n.session_id);
    }
  }
  // Occurrences after the registration within the horizon; January's had already happened.
  ASSERT_GE(sessions.size(), 2u);
  EXPECT_EQ(sessions[0], "he@2027-02-09");
  EXPECT_EQ(sessions[1], "he@2027-03-09");
  EXPECT_EQ(only(plan, NotificationKind::kConfirmation).size(), 1u);
}

TEST_F(PlannerTest, OccurrencesAreRescheduledAndCancelledOneByOne) {
  monthly_series();
  registration("r1", "he", "2026-12-02T00:00:00Z", R"("channels":["email"],"sms_consent":false)",
               "series_id");
  apply(
      R"({"type":"session.rescheduled","data":{"session_id":"he@2027-02-09","starts_at":"2027-02-16T19:00:00-05:00"}})",
      "2026-12-05T00:00:00Z");
  apply(R"({"type":"session.cancelled","data":{"session_id":"he@2027-03-09"}})",
        "2026-12-05T00:00:00Z");
  // Late enough that the 60-day horizon reaches March.
  auto plan = plan_at("2027-01-01T00:00:00Z");
  auto reminders = only(plan, NotificationKind::kReminder);
  auto for_session = [&](const std::string& id) {
    std::vector<std::string> out;
    for (const Notification& n : reminders) {
      if (n.session_id == id) out.push_back(format_utc_millis(n.due));
    }
    return out;
  };
  EXPECT_EQ(for_session("he@2027-02-09"),
            (std::vector<std::string>{"2027-02-10T00:00:00.000Z", "2027-02-16T00:00:00.000Z",
                                      "2027-02-16T23:00:00.000Z"}));
  EXPECT_TRUE(for_session("he@2027-03-09").empty());
  EXPECT_EQ(for_session("he@2027-01-12").size(), 3u);
  auto changed = only(plan, NotificationKind::kChanged);
  ASSERT_EQ(changed.size(), 2u);
}

// A series cancelled: one notice to each series registrant, one to each registrant of a single
// occurrence it took away (however far ahead), none for an occurrence already over.
TEST_F(PlannerTest, ASeriesCancelReachesThoseRegisteredForOneOccurrence) {
  monthly_series();
  registration("r-series", "he", "2026-12-02T00:00:00Z",
               R"("channels":["email"],"sms_consent":false)", "series_id");
  registration("r-feb", "he@2027-02-09");
  registration("r-sep", "he@2027-09-14");  // beyond the 60-day planning horizon
  registration("r-jan", "he@2027-01-12");  // over before the cancel
  registration("r-late", "he@2027-03-09", "2027-01-25T00:00:00Z");  // after the cancel
  apply(R"({"type":"series.cancelled","data":{"series_id":"he"}})", "2027-01-20T00:00:00Z");

  auto changed = only(plan_at("2027-01-20T00:00:01Z"), NotificationKind::kChanged);
  std::map<std::string, std::string> about;  // registration -> session of its notice
  for (const Notification& n : changed) {
    EXPECT_TRUE(about.emplace(n.registration_id, n.session_id).second) << n.id;
    EXPECT_EQ(format_utc_millis(n.due), "2027-01-20T00:00:00.000Z") << n.id;
  }
  EXPECT_EQ(about,
            (std::map<std::string, std::string>{
                {"r-series", "he"}, {"r-feb", "he@2027-02-09"}, {"r-sep", "he@2027-09-14"}}));
  // Once sent, not again; and no reminders for what was cancelled.
  for (const Notification& n : changed)
    record("notification.sent", n.id, "2027-01-20T00:00:02Z");
  auto after = plan_at("2027-01-20T00:00:03Z");
  EXPECT_TRUE(only(after, NotificationKind::kChanged).empty());
  EXPECT_TRUE(only(after, NotificationKind::kReminder).empty());
}

// A series scheduled again at other times (second Wednesdays instead of second Tuesdays) no
// longer has the meetings some people registered for on their own: to them each is cancelled,
// and they hear so once, however far ahead it is, and at the time it had (moved or not). Not
// for a meeting over by then, nor one cancelled on its own before; the series' registrant
// hears of the series, not of each meeting. Re-posting it again later tells them nothing new.
TEST_F(PlannerTest, AMeetingTheSeriesNoLongerHasIsCancelledForThoseRegisteredForIt) {
  monthly_series();
  registration("r-series", "he", "2026-12-02T00:00:00Z",
               R"("channels":["email"],"sms_consent":false)", "series_id");
  registration("r-feb", "he@2027-02-09");
  registration("r-mar", "he@2027-03-09", "2026-12-02T12:00:00Z",
               R"("channels":["email","sms"],"sms_consent":true)");
  registration("r-apr", "he@2027-04-13");
  registration("r-sep", "he@2027-09-14");  // beyond the 60-day planning horizon
  registration("r-jan", "he@2027-01-12");  // over before the series changes
  apply(
      R"({"type":"session.rescheduled","data":{"session_id":"he@2027-03-09","starts_at":"2027-03-11T19:00:00-05:00"}})",
      "2026-12-05T00:00:00Z");
  apply(R"({"type":"session.cancelled","data":{"session_id":"he@2027-04-13"}})",
        "2026-12-05T00:00:00Z");
  const std::string wednesdays =
      R"({"type":"series.scheduled","data":{"series_id":"he","group":"higher-ed","title":"HE","rrule":"FREQ=MONTHLY;BYDAY=2WE","first_starts_at":"2027-01-13T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"u","facilitators":[]}})";
  apply(wednesdays, "2027-01-20T00:00:00Z");

  auto plan = plan_at("2027-01-20T00:00:01Z");
  auto changed = only(plan, NotificationKind::kChanged);
  std::map<std::string, std::string> about;  // registration/channel -> its notice's session
  for (const Notification& n : changed) {
    EXPECT_TRUE(about.emplace(n.registration_id + "/" + n.channel, n.session_id).second) << n.id;
    EXPECT_EQ(n.action, Notification::Action::kSend) << n.id;
    EXPECT_EQ(format_utc_millis(n.due), "2027-01-20T00:00:00.000Z") << n.id;
  }
  EXPECT_EQ(about, (std::map<std::string, std::string>{{"r-series/email", "he"},
                                                       {"r-feb/email", "he@2027-02-09"},
                                                       {"r-mar/email", "he@2027-03-09"},
                                                       {"r-mar/sms", "he@2027-03-09"},
                                                       {"r-sep/email", "he@2027-09-14"}}));
  for (const Notification& n : changed) {
    if (n.session_id == "he@2027-02-09") {
      // Deterministic: the retime's instant and revision (the series' second).
      EXPECT_EQ(n.id, "session.changed:r-feb/he@2027-02-09:email:20270120T000000Z:r20000");
      EXPECT_EQ(format_utc_millis(n.deadline), "2027-02-10T00:00:00.000Z");  // its start
    }
    if (n.session_id == "he@2027-03-09") {
      EXPECT_EQ(format_utc_millis(n.deadline), "2027-03-12T00:00:00.000Z");  // as moved
    }
  }
  std::optional<PlannedSession> feb = find_dropped_occurrence(state_, "he@2027-02-09");
  ASSERT_TRUE(feb.has_value());
  EXPECT_TRUE(feb->cancelled);
  EXPECT_FALSE(find_dropped_occurrence(state_, "he@2027-01-12").has_value());
  EXPECT_FALSE(find_dropped_occurrence(state_, "he@2027-02-10").has_value());  // a new meeting
  // Nothing else for the meetings that are gone.
  for (const Notification& n : only(plan, NotificationKind::kReminder))
    EXPECT_EQ(n.registration_id, "r-series") << n.id;

  // Once sent, not again: neither on the next plan nor when the series is re-posted with only
  // a new link, or moved again (which tells the series' registrant of the series alone).
  for (const Notification& n : changed)
    record("notification.sent", n.id, "2027-01-20T00:00:02Z");
  EXPECT_TRUE(only(plan_at("2027-01-20T00:00:03Z"), NotificationKind::kChanged).empty());
  std::string new_link = wednesdays;
  new_link.replace(new_link.find(R"("join_url":"u")"), 14, R"("join_url":"v")");
  apply(new_link, "2027-01-21T00:00:00Z");
  EXPECT_TRUE(only(plan_at("2027-01-21T00:00:01Z"), NotificationKind::kChanged).empty());
  std::string longer = new_link;
  longer.replace(longer.find(R"("duration_minutes":60)"), 21, R"("duration_minutes":90)");
  apply(longer, "2027-01-22T00:00:00Z");
  auto again = only(plan_at("2027-01-22T00:00:01Z"), NotificationKind::kChanged);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].registration_id, "r-series");
}

// One person, one set of reminders: Pat's form sent twice (no Idempotency-Key) is two
// registrations of one participant for one session. Each is answered with a confirmation
// (which puts an entry in their calendar, so each gets its change notice); reminders go once,
// from the first.
TEST_F(PlannerTest, ThePersonRegisteredTwiceIsRemindedOnce) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z");
  registration("r2", "s1", "2026-12-02T12:00:03Z");
  auto plan = plan_at("2026-12-02T12:00:04Z");
  auto reminders = only(plan, NotificationKind::kReminder);
  ASSERT_EQ(reminders.size(), 3u);
  for (const Notification& n : reminders)
    EXPECT_EQ(n.registration_id, "r1") << n.id;
  auto confirmations = only(plan, NotificationKind::kConfirmation);
  ASSERT_EQ(confirmations.size(), 2u);
  EXPECT_EQ(confirmations[0].registration_id, "r1");
  EXPECT_EQ(confirmations[1].registration_id, "r2");
  // After a reschedule: each calendar entry is updated, the new reminders still go once.
  apply(
      R"({"type":"session.rescheduled","data":{"session_id":"s1","starts_at":"2027-01-13T19:00:00-05:00"}})",
      "2026-12-05T00:00:00Z");
  auto after = plan_at("2026-12-05T00:00:01Z");
  EXPECT_EQ(only(after, NotificationKind::kChanged).size(), 2u);
  EXPECT_EQ(only(after, NotificationKind::kReminder).size(), 3u);
  // Someone else registered for the same session is not affected.
  registration("r3", "s1", "2026-12-06T00:00:00Z", R"("channels":["email"],"sms_consent":false)",
               "session_id", R"({"name":"Lee","email":"lee@example.org"})");
  std::vector<std::string> reminded;
  for (const Notification& n : only(plan_at("2026-12-06T00:00:01Z"), NotificationKind::kReminder))
    reminded.push_back(n.registration_id);
  std::sort(reminded.begin(), reminded.end());
  EXPECT_EQ(reminded, (std::vector<std::string>{"r1", "r1", "r1", "r3", "r3", "r3"}));
}

// A second registration that adds text messages: text reminders go from it, email ones still
// from the first.
TEST_F(PlannerTest, ASecondRegistrationAddingAChannelSpeaksOnThatChannelOnly) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z");
  registration("r2", "s1", "2026-12-03T12:00:00Z",
               R"("channels":["email","sms"],"sms_consent":true)");
  auto plan = plan_at("2026-12-03T12:00:01Z");
  for (const Notification& n : only(plan, NotificationKind::kReminder, "email"))
    EXPECT_EQ(n.registration_id, "r1") << n.id;
  auto sms = only(plan, NotificationKind::kReminder, "sms");
  ASSERT_EQ(sms.size(), 1u);
  EXPECT_EQ(sms[0].registration_id, "r2");
  auto sms_confirmation = only(plan, NotificationKind::kConfirmation, "sms");
  ASSERT_EQ(sms_confirmation.size(), 1u);
  EXPECT_EQ(sms_confirmation[0].registration_id, "r2");
}

// When the registration that spoke for the person is cancelled, the other takes over: what is
// still to come goes under its ids, and what already went out does not go again, even when it
// would still be on time (here the day-before reminder, sent minutes before the cancel).
TEST_F(PlannerTest, WhenTheFirstOfTwoIsCancelledTheOtherTakesOverWithoutRepeating) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z");
  registration("r2", "s1", "2026-12-02T12:00:03Z");
  // Only what is still to be sent (the week-before reminder, missed, would be recorded expired).
  auto to_send = [&](const char* now) {
    std::vector<Notification> out;
    for (const Notification& n : only(plan_at(now), NotificationKind::kReminder)) {
      if (n.action == Notification::Action::kSend) out.push_back(n);
    }
    return out;
  };
  auto due = to_send("2027-01-12T00:00:00Z");
  ASSERT_EQ(dues(due),
            (std::vector<std::string>{"2027-01-12T00:00:00.000Z", "2027-01-12T23:00:00.000Z"}));
  ASSERT_EQ(due[0].registration_id, "r1");
  record("notification.sent", due[0].id, "2027-01-12T00:00:01Z");
  apply(R"({"type":"registration.cancelled","data":{"registration_id":"r1"}})",
        "2027-01-12T00:05:00Z");
  auto reminders = to_send("2027-01-12T00:05:01Z");
  EXPECT_EQ(dues(reminders), (std::vector<std::string>{"2027-01-12T23:00:00.000Z"}));
  for (const Notification& n : reminders)
    EXPECT_EQ(n.registration_id, "r2");
}

// Someone who cancels and later registers again is told again: the first no longer speaks.
TEST_F(PlannerTest, RegisteringAgainAfterACancelIsConfirmed) {
  session("s1", "2027-01-12T19:00:00-05:00");
  registration("r1", "s1", "2026-12-02T12:00:00Z");
  record("notification.sent", "registration.confirmation:r1:email:20261202T120000Z:r0",
         "2026-12-02T12:00:01Z");
  apply(R"({"type":"registration.cancelled","data":{"registration_id":"r1"}})",
        "2026-12-03T00:00:00Z");
  registration("r2", "s1", "2026-12-04T00:00:00Z");
  auto plan = plan_at("2026-12-04T00:00:01Z");
  auto confirmations = only(plan, NotificationKind::kConfirmation);
  ASSERT_EQ(confirmations.size(), 1u);
  EXPECT_EQ(confirmations[0].registration_id, "r2");
  EXPECT_EQ(confirmations[0].action, Notification::Action::kSend);
  EXPECT_EQ(only(plan, NotificationKind::kReminder).size(), 3u);
}

// Registered for a series and, separately, for one of its meetings: that meeting's reminders
// go once (from the earlier registration); each registration's own confirmation still goes.
TEST_F(PlannerTest, ASeriesAndOneOfItsMeetingsRemindOnce) {
  monthly_series();
  registration("r-series", "he", "2026-12-02T00:00:00Z",
               R"("channels":["email"],"sms_consent":false)", "series_id");
  registration("r-jan", "he@2027-01-12", "2026-12-03T00:00:00Z");
  auto plan = plan_at("2026-12-03T00:00:01Z");
  std::map<std::string, std::vector<std::string>> by_session;
  for (const Notification& n : only(plan, NotificationKind::kReminder))
    by_session[n.session_id].push_back(n.registration_id);
  EXPECT_EQ(by_session["he@2027-01-12"],
            (std::vector<std::string>{"r-series", "r-series", "r-series"}));
  EXPECT_EQ(by_session["he@2027-02-09"],
            (std::vector<std::string>{"r-series", "r-series", "r-series"}));
  EXPECT_EQ(only(plan, NotificationKind::kConfirmation).size(), 2u);
  // Each confirmation put the meeting in their calendar: a cancel of it updates both entries.
  apply(R"({"type":"session.cancelled","data":{"session_id":"he@2027-01-12"}})",
        "2026-12-10T00:00:00Z");
  std::vector<std::string> told;
  for (const Notification& n : only(plan_at("2026-12-10T00:00:01Z"), NotificationKind::kChanged))
    told.push_back(n.registration_id);
  std::sort(told.begin(), told.end());
  EXPECT_EQ(told, (std::vector<std::string>{"r-jan", "r-series"}));
}

// Someone with many registrations (a shared address: a parent, a caseworker) costs a lookup
// per meeting, not a walk through all of their registrations for each.
TEST_F(PlannerTest, ManyRegistrationsOfOnePersonPlanInMilliseconds) {
  for (int i = 0; i < 1000; ++i) {
    std::string id = "s" + std::to_string(i);
    session(id, "2027-01-12T19:00:00-05:00");
    registration("r" + std::to_string(i), id);
    registration("r" + std::to_string(i) + "-again", id, "2026-12-02T12:00:05Z");
  }
  auto start = std::chrono::steady_clock::now();
  auto plan = plan_at("2026-12-02T12:00:06Z");
  auto elapsed = std::chrono::steady_clock::now() - start;
  // Per session: two confirmations, three reminders (from the first), two rosters.
  EXPECT_EQ(plan.size(), 1000u * (2 + 3 + 1));
  for (const Notification& n : only(plan, NotificationKind::kReminder))
    EXPECT_EQ(n.registration_id.find("-again"), std::string::npos) << n.id;
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));  // generous: sanitizer builds are slow
}

TEST_F(PlannerTest, PlanRunsInMilliseconds) {
  session("s1", "2027-01-12T19:00:00-05:00");
  for (int i = 0; i < 500; ++i) {
    registration("r" + std::to_string(i), "s1", "2026-12-02T12:00:00Z",
                 R"("channels":["email"],"sms_consent":false)", "session_id",
                 R"({"name":"P","email":"p)" + std::to_string(i) + R"(@example.org"})");
  }
  auto start = std::chrono::steady_clock::now();
  auto plan = plan_at("2026-12-02T12:00:01Z");
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(plan.size(), 500u * 4 + 1);  // confirmation + 3 reminders each, one roster
  EXPECT_LT(elapsed, std::chrono::milliseconds(500));  // generous: sanitizer builds are slow
}

}  // namespace
}  // namespace nudged
