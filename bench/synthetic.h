// Synthetic event logs for the benchmarks: a realistic mix of what nudged's log holds.
//
// Per 100 events: 1 session, 49 registrations (with personal data, a quarter with an
// accommodation), 40 notification.sent, 5 notification.failed, 5 registration.cancelled.
// Built as values directly (not through intake) so that making a million is quick.
#pragma once

#include <string>

#include "events/codec.h"
#include "events/intake.h"

namespace nudged::bench {

inline NewEvent synthetic_event(int64_t i) {
  NewEvent ev;
  int64_t slot = i % 100;
  int64_t block = i / 100;
  std::string session = "s-" + std::to_string(block);
  std::string reg = "r-" + std::to_string(block) + "-" + std::to_string(slot);
  if (slot == 0) {
    SessionScheduled s;
    s.session_id = session;
    s.group = "general";
    s.title = "Monthly peer support";
    s.starts_at = *parse_rfc3339("2027-01-12T19:00:00-05:00");
    s.time_zone = Zone{"America/New_York"};
    s.duration_minutes = 90;
    s.join_url = "https://zoom.example.org/j/123456789";
    s.facilitators.push_back(Facilitator{Personal{"Sam Rivera"}, Personal{"sam@example.org"}, {}});
    ev.data = std::move(s);
  } else if (slot < 50) {
    RegistrationReceived r;
    r.registration_id = reg;
    r.session_id = session;
    r.participant.participant_id = "p-" + std::to_string(i);
    r.participant.name = Personal{"Participant Number " + std::to_string(i)};
    r.participant.email = Personal{"person" + std::to_string(i) + "@example.org"};
    r.participant.time_zone = Zone{"America/Chicago"};
    r.channels = {"email"};
    if (slot % 4 == 0) {
      r.accommodations.emplace();
      r.accommodations->push_back(Accommodation{"captions", Personal{"needs live captions"}});
    }
    ev.data = std::move(r);
  } else if (slot < 90) {
    NotificationSent n;
    n.notification_id = "n-" + std::to_string(block) + "-" + std::to_string(slot - 50);
    n.channel = "email";
    n.attempt = 1;
    n.provider_id = "msg-" + std::to_string(i);
    ev.data = std::move(n);
  } else if (slot < 95) {
    NotificationFailed f;
    f.notification_id = "n-" + std::to_string(block) + "-f" + std::to_string(slot);
    f.channel = "sms";
    f.attempt = 1;
    f.error = "provider timeout";
    f.retry_at = *parse_rfc3339("2027-01-12T18:00:30Z");
    ev.data = std::move(f);
  } else {
    RegistrationCancelled c;
    c.registration_id = "r-" + std::to_string(block) + "-" + std::to_string(slot - 90);
    ev.data = std::move(c);
  }
  ev.id = natural_event_id(ev.data);
  if (ev.id.empty()) ev.id = "evt-" + std::to_string(i);
  ev.meta = R"({"source":"bench"})";
  ev.encoded = encode_data(ev.data);  // as intake does, on the submitting thread
  return ev;
}

}  // namespace nudged::bench
