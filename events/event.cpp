#include "events/event.h"

#include <sodium.h>

#include <array>

namespace nudged {
namespace {

constexpr std::array<std::string_view, kEventTypeCount> kTypeNames = {
    "session.scheduled",     "series.scheduled",       "series.cancelled",
    "session.updated",       "session.rescheduled",    "session.cancelled",
    "registration.received", "registration.cancelled", "accommodation.arranged",
    "participant.opted_out", "participant.opted_in",   "participant.erased",
    "notification.sent",     "notification.failed",    "notification.expired",
};

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
// C++20 deduces this by itself; clang 14 (the fuzzing build) still needs the guide.
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

std::string_view event_type_name(EventType type) {
  return kTypeNames[static_cast<size_t>(type)];
}

std::optional<EventType> parse_event_type(std::string_view name) {
  for (size_t i = 0; i < kTypeNames.size(); ++i) {
    if (kTypeNames[i] == name) return static_cast<EventType>(i);
  }
  return std::nullopt;
}

int current_schema(EventType) {
  // Every type is at schema 1 (SPEC §3). registration.received also reads schema 0, the first
  // web form's shape; see upcast.cpp.
  return 1;
}

std::string stream_of(const EventData& data) {
  return std::visit(
      Overloaded{
          [](const SessionScheduled& e) { return "session/" + e.session_id; },
          [](const SeriesScheduled& e) { return "series/" + e.series_id; },
          [](const SeriesCancelled& e) { return "series/" + e.series_id; },
          [](const SessionUpdated& e) { return "session/" + e.session_id; },
          [](const SessionRescheduled& e) { return "session/" + e.session_id; },
          [](const SessionCancelled& e) { return "session/" + e.session_id; },
          [](const RegistrationReceived& e) { return "registration/" + e.registration_id; },
          [](const RegistrationCancelled& e) { return "registration/" + e.registration_id; },
          [](const AccommodationArranged& e) { return "registration/" + e.registration_id; },
          [](const ParticipantOptedOut& e) { return "opt-outs/" + e.channel; },
          [](const ParticipantOptedIn& e) { return "opt-outs/" + e.channel; },
          [](const ParticipantErased& e) { return "participant/" + e.participant_id; },
          [](const NotificationSent& e) { return "notification/" + e.notification_id; },
          [](const NotificationFailed& e) { return "notification/" + e.notification_id; },
          [](const NotificationExpired& e) { return "notification/" + e.notification_id; },
      },
      data);
}

namespace {

// Event ids are at most 200 characters (intake refuses longer). A natural id built from long
// session and registration ids could pass that, so such an id becomes its type and a digest of
// itself: still deterministic, still the same for a retried submission.
std::string bounded(std::string id, const EventData& data) {
  if (id.size() <= 200) return id;
  unsigned char digest[16];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(id.data()),
                     id.size(), nullptr, 0);
  char hex[sizeof digest * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(event_type_name(type_of(data))) + "/h-" + hex;
}

}  // namespace

std::string natural_event_id(const EventData& data) {
  return bounded(natural_event_id_unbounded(data), data);
}

std::string natural_event_id_unbounded(const EventData& data) {
  return std::visit(
      Overloaded{
          [](const SessionScheduled& e) { return "session.scheduled/" + e.session_id; },
          [](const SeriesScheduled& e) { return "series.scheduled/" + e.series_id; },
          [](const SeriesCancelled& e) { return "series.cancelled/" + e.series_id; },
          [](const RegistrationReceived& e) {
            return "registration.received/" + e.registration_id;
          },
          [](const RegistrationCancelled& e) {
            return "registration.cancelled/" + e.registration_id;
          },
          [](const AccommodationArranged& e) {
            return "accommodation.arranged/" + e.registration_id + "/" + e.kind;
          },
          [](const ParticipantErased& e) { return "participant.erased/" + e.participant_id; },
          [](const NotificationSent& e) {
            return "notification.sent/" + e.notification_id + "/" + std::to_string(e.attempt);
          },
          [](const NotificationFailed& e) {
            return "notification.failed/" + e.notification_id + "/" + std::to_string(e.attempt);
          },
          [](const NotificationExpired& e) { return "notification.expired/" + e.notification_id; },
          // Updates, reschedules, session cancels and opt-in/out may legitimately repeat.
          [](const auto&) { return std::string(); },
      },
      data);
}

}  // namespace nudged
