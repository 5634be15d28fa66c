#include "events/codec.h"

#include "events/series.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <utility>

namespace nudged {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};

// Fields of one JSON object, walked by a type's fields() list.
class DecodeVisitor {
 public:
  DecodeVisitor(object obj, DecodeMode mode)
      : obj_(obj), mode_(mode), next_(obj.begin()), end_(obj.end()) {}

  template <typename T>
  void operator()(const char* name, T& out) {
    if (!status_.is_ok()) return;
    if (count_ < names_.size()) names_[count_++] = name;
    // Our own log writes fields in fields() order, so the next key is almost always the one
    // asked for: try it before searching the object (replay speed).
    element el;
    bool present;
    if (next_ != end_ && next_.key() == name) {
      el = next_.value();
      ++next_;
      present = true;
    } else {
      present = obj_[name].get(el) == simdjson::SUCCESS;
    }
    if constexpr (IsOptional<T>::value) {
      if (!present || el.is_null()) return;
      if constexpr (std::is_same_v<T, std::optional<std::string>>) {
        // Zoom's own payloads and API give a meeting id as a number: taken as written there,
        // kept as its digits (the canonical form, and what the Zoom route compares).
        uint64_t number = 0;
        if (el.get_uint64().get(number) == simdjson::SUCCESS &&
            std::string_view(name) == "zoom_meeting_id") {
          out = std::to_string(number);
          return;
        }
      }
      out.emplace();
      Status s = read(el, *out);
      if (!s.is_ok()) status_ = s.within(name);
    } else {
      if (!present) {
        status_ = Status::invalid(name, "is missing");
        return;
      }
      Status s = read(el, out);
      if (!s.is_ok()) status_ = s.within(name);
    }
  }

  // In strict mode, a field we do not know (a typo such as "sms_concent") or a field given
  // twice is an error rather than silently ignored.
  Status finish() {
    if (!status_.is_ok() || mode_ != DecodeMode::kStrict) return status_;
    std::array<bool, 16> seen{};
    for (auto field : obj_) {
      auto it = std::find(names_.begin(), names_.begin() + count_, field.key);
      if (it == names_.begin() + count_) {
        return Status::invalid(std::string(field.key), "is not a known field");
      }
      size_t i = static_cast<size_t>(it - names_.begin());
      if (seen[i]) return Status::invalid(std::string(field.key), "is given twice");
      seen[i] = true;
    }
    return status_;
  }

 private:
  Status read(element el, std::string& out) {
    std::string_view s;
    if (el.get_string().get(s) != simdjson::SUCCESS) return Status::invalid("", "must be a string");
    out.assign(s);
    return Status::ok();
  }
  Status read(element el, Personal& out) { return read(el, out.sealed); }
  Status read(element el, Zone& out) {
    Status s = read(el, out.name);
    if (s.is_ok() && mode_ == DecodeMode::kStrict && find_zone(out.name) == nullptr) {
      // The value is not repeated: an error goes back to the sender and may be logged, and a
      // field of free text in the wrong place could be anything (SPEC: errors name the field).
      return Status::invalid("", "is not a known IANA time zone name such as America/New_York");
    }
    return s;
  }
  Status read(element el, Instant& out) {
    std::string_view s;
    if (el.get_string().get(s) != simdjson::SUCCESS) {
      return Status::invalid("", "must be an RFC 3339 time string");
    }
    Result<Instant> r = parse_rfc3339(s);
    if (!r) return r.status();
    out = *r;
    return Status::ok();
  }
  Status read(element el, int64_t& out) {
    if (el.get_int64().get(out) != simdjson::SUCCESS) {
      return Status::invalid("", "must be a whole number");
    }
    return Status::ok();
  }
  Status read(element el, bool& out) {
    if (el.get_bool().get(out) != simdjson::SUCCESS) {
      return Status::invalid("", "must be true or false");
    }
    return Status::ok();
  }
  template <typename T>
  Status read(element el, std::vector<T>& out) {
    simdjson::dom::array arr;
    if (el.get_array().get(arr) != simdjson::SUCCESS) return Status::invalid("", "must be a list");
    size_t i = 0;
    for (element item : arr) {
      Status s = read(item, out.emplace_back());
      if (!s) return s.within("[" + std::to_string(i) + "]");
      ++i;
    }
    return Status::ok();
  }
  template <typename T>
  Status read(element el, T& out) {  // a nested struct with its own fields() list
    object inner;
    if (el.get_object().get(inner) != simdjson::SUCCESS) {
      return Status::invalid("", "must be an object");
    }
    DecodeVisitor v(inner, mode_);
    fields(v, out);
    return v.finish();
  }

  object obj_;
  DecodeMode mode_;
  object::iterator next_, end_;
  Status status_;
  std::array<std::string_view, 16> names_{};
  size_t count_ = 0;
};

// "session.scheduled/..." style brackets: field names inside lists read "facilitators[0].email"
// rather than "facilitators.[0].email".
std::string tidy_field(std::string f) {
  for (size_t p; (p = f.find(".[")) != std::string::npos;)
    f.erase(p, 1);
  return f;
}

template <size_t I = 0>
Result<EventData> decode_as(EventType type, object obj, DecodeMode mode) {
  if constexpr (I < kEventTypeCount) {
    if (static_cast<size_t>(type) == I) {
      std::variant_alternative_t<I, EventData> value;
      DecodeVisitor v(obj, mode);
      fields(v, value);
      Status s = v.finish();
      if (!s) return s;
      return EventData(std::in_place_index<I>, std::move(value));
    }
    return decode_as<I + 1>(type, obj, mode);
  } else {
    return Status::invalid("type", "unknown event type");
  }
}

// ---- validation -------------------------------------------------------------------------

Status check_id(const char* field, const std::string& id) {
  if (id.empty()) return Status::invalid(field, "must not be empty");
  if (id.size() > 128) return Status::invalid(field, "is longer than 128 characters");
  for (unsigned char c : id) {
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '@')) {
      return Status::invalid(field, "may hold only letters, digits and - _ . : @");
    }
  }
  return Status::ok();
}

// Ids are not personal data: they go into logs, links, notification ids and staff texts, and
// they outlive erasure. So a new id (where a registration, participant, session, series or group
// is named the first time) may not be an email address: '@' is kept for the one place it
// belongs, a series meeting's id "<series_id>@YYYY-MM-DD". Ids that refer to what exists keep
// the older rule (check_id), so that what a log already holds can still be cancelled or erased.
Status check_new_id(const char* field, const std::string& id, bool meeting_date_allowed = false) {
  size_t at = id.find('@');
  if (at == std::string::npos) return check_id(field, id);
  if (!meeting_date_allowed || !parse_local_date(std::string_view(id).substr(at + 1))) {
    return Status::invalid(field,
                           meeting_date_allowed
                               ? "may hold @ only before a meeting's date (<series_id>@YYYY-MM-DD)"
                                 "; an id is kept after erasure and shown in logs and links, so "
                                 "it must not be an email address"
                               : "may not hold @: an id is kept after erasure and shown in logs "
                                 "and links, so it must not be an email address");
  }
  return check_id(field, id.substr(0, at));
}

// A language tag such as "en", "es-US" or "zh-Hant-TW" (BCP 47's shape, not its registry; a
// POSIX "en_US.UTF-8" too): letters first, then letters, digits, hyphens, underscores and dots. It
// is stored in clear and kept after erasure like the rest of a registration's settings, so it may
// not be free text.
Status check_locale(const char* field, const std::string& tag) {
  bool ok = tag.size() >= 2 && tag.size() <= 35 && std::isalpha(static_cast<unsigned char>(tag[0]));
  for (unsigned char c : tag)
    ok = ok && (std::isalnum(c) || c == '-' || c == '_' || c == '.');
  if (!ok) return Status::invalid(field, "must be a language tag such as en or es-US");
  return Status::ok();
}

Status check_text(const char* field, const std::string& s) {
  if (s.empty()) return Status::invalid(field, "must not be empty");
  return Status::ok();
}

Status check_duration(const char* field, int64_t minutes) {
  if (minutes <= 0 || minutes > 24 * 60) {
    return Status::invalid(field, "must be between 1 and 1440 minutes");
  }
  return Status::ok();
}

Status check_channel(const char* field, const std::string& c) {
  if (c != "email" && c != "sms") return Status::invalid(field, "must be \"email\" or \"sms\"");
  return Status::ok();
}

Status check_kind(const std::string& field, const std::string& kind) {
  for (auto k : kAccommodationKinds) {
    if (k == kind) return Status::ok();
  }
  return Status::invalid(field,
                         "is not an accommodation kind (captions, asl, cart, "
                         "screen_reader_materials, plain_language, other; say more in details)");
}

// Bounds that keep a list small enough for the daemon's compact schedule entries, which index
// a facilitator, a coordinator or an accommodation in one byte (daemon/schedule.h). Real sessions
// have a few facilitators and a registration a few accommodations.
constexpr size_t kMaxFacilitators = 100;
constexpr size_t kMaxAccommodations = 32;

Status check_facilitators(const char* field, const std::vector<Facilitator>& list) {
  if (list.size() > kMaxFacilitators) {
    return Status::invalid(field,
                           "lists more than " + std::to_string(kMaxFacilitators) + " facilitators");
  }
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].name.sealed.empty()) {
      return Status::invalid(std::string(field) + "[" + std::to_string(i) + "].name",
                             "must not be empty");
    }
  }
  return Status::ok();
}

#define NUDGED_CHECK(expr)      \
  do {                          \
    Status _s = (expr);         \
    if (!_s.is_ok()) return _s; \
  } while (0)

Status validate_one(const SessionScheduled& e) {
  NUDGED_CHECK(check_new_id("session_id", e.session_id, /*meeting_date_allowed=*/true));
  NUDGED_CHECK(check_new_id("group", e.group));
  NUDGED_CHECK(check_text("title", e.title));
  NUDGED_CHECK(check_duration("duration_minutes", e.duration_minutes));
  NUDGED_CHECK(check_text("join_url", e.join_url));
  NUDGED_CHECK(check_facilitators("facilitators", e.facilitators));
  if (e.capacity && *e.capacity <= 0) return Status::invalid("capacity", "must be above zero");
  return Status::ok();
}
Status validate_one(const SeriesScheduled& e) {
  NUDGED_CHECK(check_new_id("series_id", e.series_id));
  NUDGED_CHECK(check_new_id("group", e.group));
  NUDGED_CHECK(check_text("title", e.title));
  NUDGED_CHECK(check_rrule(e.rrule));
  NUDGED_CHECK(check_duration("duration_minutes", e.duration_minutes));
  NUDGED_CHECK(check_text("join_url", e.join_url));
  NUDGED_CHECK(check_facilitators("facilitators", e.facilitators));
  if (e.until && *e.until < e.first_starts_at) {
    return Status::invalid("until", "is before first_starts_at");
  }
  return Status::ok();
}
Status validate_one(const SeriesCancelled& e) {
  return check_id("series_id", e.series_id);
}
Status validate_one(const SessionUpdated& e) {
  NUDGED_CHECK(check_id("session_id", e.session_id));
  if (e.title) NUDGED_CHECK(check_text("title", *e.title));
  if (e.join_url) NUDGED_CHECK(check_text("join_url", *e.join_url));
  if (e.duration_minutes) NUDGED_CHECK(check_duration("duration_minutes", *e.duration_minutes));
  if (e.facilitators) NUDGED_CHECK(check_facilitators("facilitators", *e.facilitators));
  if (!e.title && !e.join_url && !e.duration_minutes && !e.facilitators && !e.description) {
    return Status::invalid("",
                           "changes nothing: give at least one of title, join_url, "
                           "duration_minutes, facilitators, description");
  }
  return Status::ok();
}
Status validate_one(const SessionRescheduled& e) {
  return check_id("session_id", e.session_id);
}
Status validate_one(const SessionCancelled& e) {
  return check_id("session_id", e.session_id);
}
Status validate_one(const RegistrationReceived& e) {
  NUDGED_CHECK(check_new_id("registration_id", e.registration_id));
  if (e.session_id.has_value() == e.series_id.has_value()) {
    return Status::invalid(e.session_id ? "series_id" : "session_id",
                           "give exactly one of session_id and series_id");
  }
  if (e.session_id) NUDGED_CHECK(check_id("session_id", *e.session_id));
  if (e.series_id) NUDGED_CHECK(check_id("series_id", *e.series_id));
  if (e.participant.participant_id) {
    NUDGED_CHECK(check_new_id("participant.participant_id", *e.participant.participant_id));
  }
  if (e.participant.locale) NUDGED_CHECK(check_locale("participant.locale", *e.participant.locale));
  if (e.participant.name.sealed.empty()) {
    return Status::invalid("participant.name", "must not be empty");
  }
  if (e.channels.empty()) {
    return Status::invalid("channels", "must name at least one channel (\"email\", \"sms\")");
  }
  for (size_t i = 0; i < e.channels.size(); ++i) {
    std::string field = "channels[" + std::to_string(i) + "]";
    NUDGED_CHECK(check_channel(field.c_str(), e.channels[i]));
    for (size_t j = 0; j < i; ++j) {
      if (e.channels[j] == e.channels[i]) return Status::invalid(field, "is listed twice");
    }
    if (e.channels[i] == "email" && !e.participant.email) {
      return Status::invalid("participant.email", "is needed for the email channel");
    }
    if (e.channels[i] == "sms") {
      if (!e.participant.phone) {
        return Status::invalid("participant.phone", "is needed for the sms channel");
      }
      if (!e.sms_consent) {
        return Status::invalid("sms_consent", "must be true to send text messages");
      }
    }
  }
  if (e.accommodations) {
    if (e.accommodations->size() > kMaxAccommodations) {
      return Status::invalid(
          "accommodations",
          "lists more than " + std::to_string(kMaxAccommodations) + " accommodations");
    }
    for (size_t i = 0; i < e.accommodations->size(); ++i) {
      NUDGED_CHECK(check_kind("accommodations[" + std::to_string(i) + "].kind",
                              (*e.accommodations)[i].kind));
    }
  }
  return Status::ok();
}
Status validate_one(const RegistrationCancelled& e) {
  return check_id("registration_id", e.registration_id);
}
Status validate_one(const AccommodationArranged& e) {
  NUDGED_CHECK(check_id("registration_id", e.registration_id));
  return check_kind("kind", e.kind);
}
Status validate_one(const ParticipantOptedOut& e) {
  NUDGED_CHECK(check_channel("channel", e.channel));
  return check_text("address", e.address.sealed);
}
Status validate_one(const ParticipantOptedIn& e) {
  NUDGED_CHECK(check_channel("channel", e.channel));
  return check_text("address", e.address.sealed);
}
Status validate_one(const ParticipantErased& e) {
  return check_id("participant_id", e.participant_id);
}
Status check_attempt(int64_t attempt) {
  if (attempt < 1) return Status::invalid("attempt", "must be 1 or more");
  return Status::ok();
}
Status validate_one(const NotificationSent& e) {
  NUDGED_CHECK(check_text("notification_id", e.notification_id));
  NUDGED_CHECK(check_text("channel", e.channel));
  return check_attempt(e.attempt);
}
Status validate_one(const NotificationFailed& e) {
  NUDGED_CHECK(check_text("notification_id", e.notification_id));
  NUDGED_CHECK(check_text("channel", e.channel));
  return check_attempt(e.attempt);
}
Status validate_one(const NotificationExpired& e) {
  NUDGED_CHECK(check_text("notification_id", e.notification_id));
  return check_text("reason", e.reason);
}

#undef NUDGED_CHECK

// ---- encoding ---------------------------------------------------------------------------

// Appends `s` as a JSON string exactly as nlohmann's dump(-1, ' ', false, replace) writes it:
// printable ASCII directly (nearly every id, time and sealed value), anything else through
// nlohmann itself, so that the canonical form (which duplicate detection compares byte for
// byte) cannot drift.
void append_json_string(std::string& out, std::string_view s) {
  bool plain = std::all_of(s.begin(), s.end(),
                           [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
  if (!plain) {
    out += nlohmann::json(std::string(s))
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

// Writes a type's fields() as one compact JSON object, straight into a string: the canonical
// form, without building a tree first (it was the largest part of intake on the loop).
class EncodeVisitor {
 public:
  EncodeVisitor(std::string& out, PersonalOut mode, const Sealer* sealer, const SealContext& ctx)
      : out_(out), mode_(mode), sealer_(sealer), ctx_(ctx) {}

  template <typename T>
  void operator()(const char* name, const T& value) {
    if constexpr (IsOptional<T>::value) {
      if (!value) return;
      key(name);
      write(*value);
    } else {
      key(name);
      write(value);
    }
  }

  template <typename T>
  void object(const T& value) {
    out_ += '{';
    fields(*this, value);
    out_ += '}';
  }

 private:
  void key(const char* name) {
    if (!first_) out_ += ',';
    first_ = false;
    append_json_string(out_, name);
    out_ += ':';
  }
  void write(const std::string& s) { append_json_string(out_, s); }
  void write(int64_t v) { out_ += std::to_string(v); }
  void write(bool v) { out_ += v ? "true" : "false"; }
  void write(const Zone& z) { append_json_string(out_, z.name); }
  void write(const Instant& t) { append_json_string(out_, format_rfc3339(t)); }
  void write(const Personal& p) {
    switch (mode_) {
      case PersonalOut::kSealed:
        return append_json_string(out_, p.sealed);
      case PersonalOut::kRedacted:
        return append_json_string(out_, kRedacted);
      case PersonalOut::kOpened: {
        if (sealer_ == nullptr) return append_json_string(out_, kRedacted);
        Result<std::string> r = sealer_->open(p.sealed, ctx_);
        return append_json_string(out_, r ? std::string_view(*r) : std::string_view(kRedacted));
      }
    }
    append_json_string(out_, kRedacted);
  }
  template <typename T>
  void write(const std::vector<T>& list) {
    out_ += '[';
    for (size_t i = 0; i < list.size(); ++i) {
      if (i > 0) out_ += ',';
      write(list[i]);
    }
    out_ += ']';
  }
  template <typename T>
  void write(const T& nested) {
    EncodeVisitor v(out_, mode_, sealer_, ctx_);
    v.object(nested);
  }

  std::string& out_;
  PersonalOut mode_;
  const Sealer* sealer_;
  const SealContext& ctx_;
  bool first_ = true;
};

}  // namespace

struct Decoder::Impl {
  simdjson::dom::parser parser;
  std::string padded;  // input copied here with simdjson's padding, reused call after call

  simdjson::simdjson_result<simdjson::dom::element> parse(std::string_view json) {
    padded.reserve(json.size() + simdjson::SIMDJSON_PADDING);
    padded.assign(json);
    return parser.parse(padded.data(), padded.size(), /*realloc_if_needed=*/false);
  }
};

Decoder::Decoder() : impl_(std::make_unique<Impl>()) {}
Decoder::~Decoder() = default;

Result<EventData> Decoder::decode(EventType type, std::string_view json, DecodeMode mode) {
  object obj;
  auto err = impl_->parse(json).get_object().get(obj);
  if (err == simdjson::INCORRECT_TYPE) return Status::malformed("data must be a JSON object");
  if (err)
    return Status::malformed(std::string("data is not valid JSON: ") +
                             simdjson::error_message(err));
  Result<EventData> r = decode_as(type, obj, mode);
  if (!r) {
    Status s = r.status();
    return Status::invalid(tidy_field(s.field()), s.message());
  }
  if (mode == DecodeMode::kStrict) {
    Status s = validate(*r);
    if (!s) return s;
  }
  return r;
}

Result<std::string> Decoder::minify_object(std::string_view json) {
  object obj;
  auto err = impl_->parse(json).get_object().get(obj);
  if (err) return Status::invalid("meta", "must be a JSON object");
  return simdjson::minify(obj);
}

Status validate(const EventData& data) {
  Status s = std::visit([](const auto& e) { return validate_one(e); }, data);
  if (!s.is_ok()) return Status::invalid(tidy_field(s.field()), s.message());
  return s;
}

std::string seal_subject(const EventData& data) {
  if (const auto* r = std::get_if<RegistrationReceived>(&data)) {
    if (r->participant.participant_id) return "participant/" + *r->participant.participant_id;
  }
  // An opted-out address belongs to whoever has it: a sealer with blind indexes seals it under
  // a key of that address alone (see kAddressSubject), which erasing its owner destroys.
  if (std::holds_alternative<ParticipantOptedOut>(data) ||
      std::holds_alternative<ParticipantOptedIn>(data)) {
    return std::string(kAddressSubject);
  }
  return stream_of(data);
}

std::string encode_data(const EventData& data, PersonalOut out, const Sealer* sealer,
                        std::string_view event_id) {
  std::string subject = out == PersonalOut::kOpened ? seal_subject(data) : std::string();
  SealContext ctx{subject, event_id};
  std::string json;
  json.reserve(512);
  std::visit(
      [&](const auto& e) {
        EncodeVisitor v(json, out, sealer, ctx);
        v.object(e);
      },
      data);
  return json;
}

}  // namespace nudged
