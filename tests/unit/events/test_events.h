// Helpers for tests: events built from JSON through the real intake, and temporary databases.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "events/intake.h"
#include "events/state.h"
#include "events/store.h"

namespace nudged::testing {

inline TimePoint at(const char* rfc3339) {
  return parse_rfc3339(rfc3339)->utc;
}

// A fresh directory under /tmp, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nudged-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Turns envelope JSON into a NewEvent through the real intake (plain sealer, fixed key).
inline NewEvent make_event(const std::string& envelope_json) {
  static PlainSealer sealer;
  Intake intake(IntakeOptions{&sealer, std::string(32, 'k'), nullptr});
  Result<NewEvent> ev = intake.from_envelope_json(envelope_json);
  EXPECT_TRUE(ev.is_ok()) << ev.status().to_string() << "\n" << envelope_json;
  return ev.is_ok() ? std::move(*ev) : NewEvent{};
}

// Folds one envelope into `state` as the next event (its position is state.position() + 1),
// recorded at `recorded`: State tests need no store.
inline void apply_json(State& state, const std::string& envelope_json, const char* recorded) {
  NewEvent ev = make_event(envelope_json);
  Envelope env;
  env.position = state.position() + 1;
  env.id = ev.id;
  env.type = type_of(ev.data);
  env.recorded_at = at(recorded);
  state.apply(env, std::move(ev.data));
}

inline std::string session_json(const std::string& id, const std::string& starts_at,
                                const std::string& title = "Peer support") {
  return R"({"type":"session.scheduled","data":{"session_id":")" + id +
         R"(","group":"general","title":")" + title + R"(","starts_at":")" + starts_at +
         R"(","time_zone":"America/New_York","duration_minutes":90,)"
         R"("join_url":"https://zoom.example.org/j/1","facilitators":[{"name":"Sam"}]}})";
}

inline std::string registration_json(const std::string& id, const std::string& session,
                                     const std::string& email = "person@example.org") {
  return R"({"type":"registration.received","data":{"registration_id":")" + id +
         R"(","session_id":")" + session + R"(","participant":{"name":"Pat","email":")" + email +
         R"("},"channels":["email"],"sms_consent":false}})";
}

inline Batch batch_of(std::initializer_list<std::string> envelopes) {
  Batch b;
  for (const std::string& e : envelopes)
    b.push_back(make_event(e));
  return b;
}

}  // namespace nudged::testing
