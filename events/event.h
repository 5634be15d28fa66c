// The event model: one struct per event type of SPEC §3, the envelope around it, and the field
// lists that the codec, the sealer and the redactor all walk.
//
// Each struct has a `fields(v, e)` function listing its JSON fields in canonical order. That one
// list drives decoding (strict checks), encoding (canonical bytes for the integrity chain),
// sealing and redaction of personal values, so a new field is one line. Plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "events/personal.h"
#include "events/time.h"

namespace nudged {

// An IANA time-zone name, checked against the tz database when decoded strictly.
struct Zone {
  std::string name;
  friend bool operator==(const Zone&, const Zone&) = default;
};

struct Facilitator {
  Personal name;
  std::optional<Personal> email;
  std::optional<Personal> phone;
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, Facilitator>
void fields(V& v, T& e) {
  v("name", e.name);
  v("email", e.email);
  v("phone", e.phone);
}

struct SessionScheduled {
  std::string session_id;
  std::string group;
  std::string title;
  Instant starts_at;
  Zone time_zone;
  int64_t duration_minutes = 0;
  std::string join_url;
  std::vector<Facilitator> facilitators;
  std::optional<std::string> zoom_meeting_id;
  std::optional<int64_t> capacity;
  std::optional<Personal> description;  // free text: may name people or their health
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, SessionScheduled>
void fields(V& v, T& e) {
  v("session_id", e.session_id);
  v("group", e.group);
  v("title", e.title);
  v("starts_at", e.starts_at);
  v("time_zone", e.time_zone);
  v("duration_minutes", e.duration_minutes);
  v("join_url", e.join_url);
  v("facilitators", e.facilitators);
  v("zoom_meeting_id", e.zoom_meeting_id);
  v("capacity", e.capacity);
  v("description", e.description);
}

struct SeriesScheduled {
  std::string series_id;
  std::string group;
  std::string title;
  std::string rrule;
  Instant first_starts_at;
  Zone time_zone;
  int64_t duration_minutes = 0;
  std::string join_url;
  std::vector<Facilitator> facilitators;
  std::optional<std::string> zoom_meeting_id;
  std::optional<Instant> until;
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, SeriesScheduled>
void fields(V& v, T& e) {
  v("series_id", e.series_id);
  v("group", e.group);
  v("title", e.title);
  v("rrule", e.rrule);
  v("first_starts_at", e.first_starts_at);
  v("time_zone", e.time_zone);
  v("duration_minutes", e.duration_minutes);
  v("join_url", e.join_url);
  v("facilitators", e.facilitators);
  v("zoom_meeting_id", e.zoom_meeting_id);
  v("until", e.until);
}

struct SeriesCancelled {
  std::string series_id;
  std::optional<Personal> reason;  // free text: may say why (a facilitator's illness)
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, SeriesCancelled>
void fields(V& v, T& e) {
  v("series_id", e.series_id);
  v("reason", e.reason);
}

struct SessionUpdated {
  std::string session_id;
  std::optional<std::string> title;
  std::optional<std::string> join_url;
  std::optional<int64_t> duration_minutes;
  std::optional<std::vector<Facilitator>> facilitators;
  std::optional<Personal> description;  // free text: may name people or their health
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, SessionUpdated>
void fields(V& v, T& e) {
  v("session_id", e.session_id);
  v("title", e.title);
  v("join_url", e.join_url);
  v("duration_minutes", e.duration_minutes);
  v("facilitators", e.facilitators);
  v("description", e.description);
}

struct SessionRescheduled {
  std::string session_id;
  Instant starts_at;
  std::optional<Zone> time_zone;
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, SessionRescheduled>
void fields(V& v, T& e) {
  v("session_id", e.session_id);
  v("starts_at", e.starts_at);
  v("time_zone", e.time_zone);
}

struct SessionCancelled {
  std::string session_id;
  std::optional<Personal> reason;  // free text: may say why (a facilitator's illness)
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, SessionCancelled>
void fields(V& v, T& e) {
  v("session_id", e.session_id);
  v("reason", e.reason);
}

struct Participant {
  std::optional<std::string> participant_id;  // derived at intake when absent
  Personal name;
  std::optional<Personal> email;
  std::optional<Personal> phone;
  std::optional<Zone> time_zone;
  std::optional<std::string> locale;
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, Participant>
void fields(V& v, T& e) {
  v("participant_id", e.participant_id);
  v("name", e.name);
  v("email", e.email);
  v("phone", e.phone);
  v("time_zone", e.time_zone);
  v("locale", e.locale);
}

// The kinds of SPEC §3, in the order they are listed there.
inline constexpr std::string_view kAccommodationKinds[] = {
    "captions", "asl", "cart", "screen_reader_materials", "plain_language", "other"};

struct Accommodation {
  std::string kind;
  std::optional<Personal> details;  // free text about a person's needs: health data
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, Accommodation>
void fields(V& v, T& e) {
  v("kind", e.kind);
  v("details", e.details);
}

struct RegistrationReceived {
  std::string registration_id;
  std::optional<std::string> session_id;
  std::optional<std::string> series_id;
  Participant participant;
  std::vector<std::string> channels;
  bool sms_consent = false;
  std::optional<bool> discreet;
  std::optional<std::vector<Accommodation>> accommodations;
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, RegistrationReceived>
void fields(V& v, T& e) {
  v("registration_id", e.registration_id);
  v("session_id", e.session_id);
  v("series_id", e.series_id);
  v("participant", e.participant);
  v("channels", e.channels);
  v("sms_consent", e.sms_consent);
  v("discreet", e.discreet);
  v("accommodations", e.accommodations);
}

struct RegistrationCancelled {
  std::string registration_id;
  std::optional<Personal> reason;  // written by the participant: may say why (health)
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, RegistrationCancelled>
void fields(V& v, T& e) {
  v("registration_id", e.registration_id);
  v("reason", e.reason);
}

struct AccommodationArranged {
  std::string registration_id;
  std::string kind;
  std::optional<Personal> note;
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, AccommodationArranged>
void fields(V& v, T& e) {
  v("registration_id", e.registration_id);
  v("kind", e.kind);
  v("note", e.note);
}

struct ParticipantOptedOut {
  std::string channel;
  Personal address;
};
struct ParticipantOptedIn {
  std::string channel;
  Personal address;
};
template <typename V, typename T>
requires(std::is_same_v<std::remove_const_t<T>, ParticipantOptedOut> ||
         std::is_same_v<std::remove_const_t<T>, ParticipantOptedIn>) void fields(V& v, T& e) {
  v("channel", e.channel);
  v("address", e.address);
}

struct ParticipantErased {
  std::string participant_id;
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, ParticipantErased>
void fields(V& v, T& e) {
  v("participant_id", e.participant_id);
}

struct NotificationSent {
  std::string notification_id;
  std::string channel;
  int64_t attempt = 0;
  std::optional<std::string> provider_id;
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, NotificationSent>
void fields(V& v, T& e) {
  v("notification_id", e.notification_id);
  v("channel", e.channel);
  v("attempt", e.attempt);
  v("provider_id", e.provider_id);
}

struct NotificationFailed {
  std::string notification_id;
  std::string channel;
  int64_t attempt = 0;
  std::string error;  // provider's text, already stripped of addresses by the channel
  bool permanent = false;
  std::optional<Instant> retry_at;
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, NotificationFailed>
void fields(V& v, T& e) {
  v("notification_id", e.notification_id);
  v("channel", e.channel);
  v("attempt", e.attempt);
  v("error", e.error);
  v("permanent", e.permanent);
  v("retry_at", e.retry_at);
}

struct NotificationExpired {
  std::string notification_id;
  std::string reason;
};
template <typename V, typename T>
requires std::is_same_v<std::remove_const_t<T>, NotificationExpired>
void fields(V& v, T& e) {
  v("notification_id", e.notification_id);
  v("reason", e.reason);
}

// The variant's alternatives are in the order of EventType below.
using EventData =
    std::variant<SessionScheduled, SeriesScheduled, SeriesCancelled, SessionUpdated,
                 SessionRescheduled, SessionCancelled, RegistrationReceived, RegistrationCancelled,
                 AccommodationArranged, ParticipantOptedOut, ParticipantOptedIn, ParticipantErased,
                 NotificationSent, NotificationFailed, NotificationExpired>;

enum class EventType : uint8_t {
  kSessionScheduled,
  kSeriesScheduled,
  kSeriesCancelled,
  kSessionUpdated,
  kSessionRescheduled,
  kSessionCancelled,
  kRegistrationReceived,
  kRegistrationCancelled,
  kAccommodationArranged,
  kParticipantOptedOut,
  kParticipantOptedIn,
  kParticipantErased,
  kNotificationSent,
  kNotificationFailed,
  kNotificationExpired,
};
inline constexpr size_t kEventTypeCount = std::variant_size_v<EventData>;

// "session.scheduled" and back. parse_event_type returns nullopt for an unknown name.
std::string_view event_type_name(EventType type);
std::optional<EventType> parse_event_type(std::string_view name);
inline EventType type_of(const EventData& data) {
  return static_cast<EventType>(data.index());
}

// The schema version this build writes for each type. Older ones are upcast on read.
int current_schema(EventType type);

// Everything about an event except its data. `position`, `version` and `recorded_at` are
// assigned by the store; `meta` is a JSON object kept as compact text.
struct Envelope {
  int64_t position = 0;
  std::string id;
  EventType type = EventType::kSessionScheduled;
  int schema = 1;
  std::string stream;
  int64_t version = 0;
  TimePoint recorded_at{};
  std::string meta = "{}";
};

struct Event {
  Envelope envelope;
  EventData data;
};

// The stream an event belongs to: "session/<id>", "series/<id>", "registration/<id>",
// "participant/<id>", "notification/<id>", "opt-outs/<channel>". Streams never name a person.
std::string stream_of(const EventData& data);

// A deterministic event id for events that have a natural key (a registration's id, a
// notification attempt), so that a retried submission is recognised as the same event; empty
// when the type has none and the caller must make one up.
std::string natural_event_id(const EventData& data);
std::string natural_event_id_unbounded(const EventData& data);  // may exceed 200 characters

}  // namespace nudged
