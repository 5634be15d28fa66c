// Policy: the [policy] rules of SPEC §2 as values the planner reads, and their text forms.
//
// Offsets: "Ns", "Nm", "Nh" are exact elapsed time; "Nd" is N calendar days earlier at the same
// local wall-clock time in the recipient's zone (so "1d" before a 19:00 meeting is 19:00 the
// day before, across DST changes too). Plain values; parse functions are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/status.h"
#include "events/time.h"

namespace nudged {

struct Offset {
  enum class Unit : uint8_t { kExact, kCalendarDays };
  Unit unit = Unit::kExact;
  int64_t amount = 0;  // seconds for kExact, days for kCalendarDays

  static Offset seconds(int64_t s) { return Offset{Unit::kExact, s}; }
  static Offset days(int64_t d) { return Offset{Unit::kCalendarDays, d}; }
  friend bool operator==(const Offset&, const Offset&) = default;
};

// "7d", "1h", "90m", "30s" (a whole number, then one unit). Errors say what is accepted.
Result<Offset> parse_offset(std::string_view text);
std::string format_offset(const Offset& offset);  // back to "7d", "90m"...

// Exact durations only ("5m", "30s", "2h"): for tolerances and timeouts.
Result<std::chrono::seconds> parse_exact_duration(std::string_view text);

// The instant `offset` before `start`, read in `zone` for calendar days. A local time that
// does not exist that day (a DST gap) moves forward by the gap; one that occurs twice takes
// the earlier of the two.
TimePoint offset_before(TimePoint start, const Offset& offset, const date::time_zone* zone);

// SMS quiet hours, in the recipient's local time. A window may cross midnight ("21:00-08:00").
struct QuietHours {
  bool enabled = false;
  int start_minute = 0;  // minutes after local midnight
  int end_minute = 0;
  friend bool operator==(const QuietHours&, const QuietHours&) = default;
};

// "21:00-08:00", or "" for none.
Result<QuietHours> parse_quiet_hours(std::string_view text);

struct Policy {
  std::vector<Offset> email_reminders = {Offset::days(7), Offset::days(1), Offset::seconds(3600)};
  std::vector<Offset> sms_reminders = {Offset::seconds(2 * 3600)};
  QuietHours quiet_hours = {true, 21 * 60, 8 * 60};
  Offset late_grace = Offset::seconds(30 * 60);
  Offset accommodation_lead = Offset::days(10);
  Offset roster_before = Offset::days(1);
  bool discreet_default = false;
};

// A [groups.<id>] table: a display name and the policy with its overrides applied.
struct GroupPolicy {
  std::string name;
  Policy policy;
};

// An address to notify that is not a registrant: "email:access@example.org".
struct StaffAddress {
  std::string channel;
  std::string address;
  friend bool operator==(const StaffAddress&, const StaffAddress&) = default;
};
Result<StaffAddress> parse_staff_address(std::string_view text);

// Everything the planner needs from the configuration.
struct PlanConfig {
  Policy defaults;
  std::map<std::string, GroupPolicy> groups;
  std::vector<StaffAddress> coordinators;
  // For each coordinator, the opt-out that stops notices to it: the channel it counts for
  // ("email", "sms": the medium its messages are composed for) and the match key of its address
  // (Sealer::blind_index). Filled in by whoever holds the keys (the daemon). Missing (nudgectl
  // replay without keys): coordinators' opt-outs are not checked.
  struct StaffOptOut {
    std::string channel;
    std::string match;
  };
  std::vector<StaffOptOut> coordinator_opt_outs;

  const Policy& policy_for(const std::string& group) const {
    auto it = groups.find(group);
    return it == groups.end() ? defaults : it->second.policy;
  }
};

// The medium a channel name speaks: "sms" for the channel named sms, "email" otherwise (staff
// channels such as a chat webhook take the email rendering).
std::string medium_of(const std::string& channel_name);

class Sealer;
// Fills plan.coordinator_opt_outs: for each coordinator, the medium its channel is composed for
// and the address's match key as the sealer makes them for addresses in the log, so the opt-out
// its unsubscribe link (or a STOP) records is the one checked.
void index_coordinators(PlanConfig& plan, const Sealer& sealer);

}  // namespace nudged
