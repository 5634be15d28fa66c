#include "events/intake.h"

#include <simdjson.h>
#include <sodium.h>

#include <algorithm>

#include "events/contact.h"
#include "events/upcast.h"

namespace nudged {
namespace {

std::string to_hex(const unsigned char* p, size_t n) {
  std::string out(n * 2, '\0');
  sodium_bin2hex(out.data(), out.size() + 1, p, n);
  return out;
}

// An envelope's `meta` says where an event came from ({"source":"webhook:native"}). It is
// stored in clear, exported unredacted and kept after erasure, so it may not carry what a form
// might put there (a name, an address, an answer about someone's health): at most 8 keys, each
// value a short token or a number or true/false. Sealed fields are for personal data.
Status check_meta(simdjson::dom::object meta) {
  auto token = [](std::string_view s, size_t max, bool slash) {
    if (s.empty() || s.size() > max) return false;
    for (unsigned char c : s) {
      if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || (slash && c == '/')))
        return false;
    }
    return true;
  };
  size_t keys = 0;
  for (auto field : meta) {
    if (++keys > 8) return Status::invalid("meta", "has more than 8 keys");
    std::string_view key = field.key;
    if (!token(key, 32, false)) {
      return Status::invalid("meta", "keys may hold only letters, digits and - _ . : (32 at most)");
    }
    std::string name = "meta." + std::string(key);
    std::string_view value;
    if (field.value.is_number() || field.value.is_bool()) continue;
    if (field.value.get_string().get(value) || !token(value, 64, true)) {
      return Status::invalid(name,
                             "must be a short token (letters, digits and - _ . : /, no spaces; "
                             "64 at most), a number or true/false: meta is stored in clear and "
                             "kept after erasure, so it must not hold personal data");
    }
  }
  return Status::ok();
}

template <typename T>
struct IsOptionalT : std::false_type {};
template <typename T>
struct IsOptionalT<std::optional<T>> : std::true_type {};

class PersonalVisitor {
 public:
  explicit PersonalVisitor(const std::function<void(Personal&)>& fn) : fn_(fn) {}
  template <typename T>
  void operator()(const char*, T& value) {
    if constexpr (IsOptionalT<T>::value) {
      if (value) visit(*value);
    } else {
      visit(value);
    }
  }

 private:
  void visit(Personal& p) { fn_(p); }
  void visit(std::string&) {}
  void visit(Zone&) {}
  void visit(Instant&) {}
  void visit(int64_t&) {}
  void visit(bool&) {}
  template <typename T>
  void visit(std::vector<T>& list) {
    for (T& item : list)
      visit(item);
  }
  template <typename T>
  void visit(T& nested) {
    fields(*this, nested);
  }
  const std::function<void(Personal&)>& fn_;
};

// The facilitators an event lists (session.scheduled, series.scheduled, session.updated), or
// nullptr.
std::vector<Facilitator>* facilitators_of(EventData& data) {
  if (auto* s = std::get_if<SessionScheduled>(&data)) return &s->facilitators;
  if (auto* s = std::get_if<SeriesScheduled>(&data)) return &s->facilitators;
  if (auto* u = std::get_if<SessionUpdated>(&data); u && u->facilitators) return &*u->facilitators;
  return nullptr;
}

Status normalize_facilitators(std::vector<Facilitator>& list, const char* field) {
  for (size_t i = 0; i < list.size(); ++i) {
    std::string at = std::string(field) + "[" + std::to_string(i) + "]";
    if (list[i].email) {
      Result<std::string> e = normalize_email(list[i].email->sealed);
      if (!e) return Status::invalid(at + ".email", e.status().message());
      list[i].email->sealed = *e;
    }
    if (list[i].phone) {
      Result<std::string> p = normalize_phone(list[i].phone->sealed, "");
      if (!p) return Status::invalid(at + ".phone", p.status().message());
      list[i].phone->sealed = *p;
    }
  }
  return Status::ok();
}

// Normalises every address in place (they are still plaintext here).
Status normalize_addresses(EventData& data, const IntakeOptions& options) {
  std::string_view pid_key = options.participant_id_key;
  if (auto* r = std::get_if<RegistrationReceived>(&data)) {
    Participant& p = r->participant;
    if (p.email) {
      Result<std::string> e = normalize_email(p.email->sealed);
      if (!e) return Status::invalid("participant.email", e.status().message());
      p.email->sealed = *e;
    }
    if (p.phone) {
      Result<std::string> ph =
          normalize_phone(p.phone->sealed, p.locale ? region_of_locale(*p.locale) : "");
      if (!ph) return Status::invalid("participant.phone", ph.status().message());
      p.phone->sealed = *ph;
    }
    if (!p.participant_id) {
      if (!p.email && !p.phone) {
        return Status::invalid("participant", "needs an email or a phone number");
      }
      std::string basis = fold_case(p.email ? p.email->sealed : "tel:" + p.phone->sealed);
      p.participant_id = derive_participant_id(pid_key, basis);
      // Someone erased who comes back: the next generation of the id (see IntakeOptions).
      // Deterministic, so a retried request still names the same participant.
      for (int generation = 2; options.erased && options.erased(*p.participant_id); ++generation) {
        if (generation > 1000) {
          return Status::unavailable("no participant id left for this address after 1000 erasures");
        }
        p.participant_id = derive_participant_id(pid_key, basis + "#" + std::to_string(generation));
      }
    }
    return Status::ok();
  }
  if (std::vector<Facilitator>* list = facilitators_of(data)) {
    return normalize_facilitators(*list, "facilitators");
  }
  auto address = [](const std::string& channel, Personal& a) -> Status {
    Result<std::string> n =
        channel == "email" ? normalize_email(a.sealed) : normalize_phone(a.sealed, "");
    if (!n) return Status::invalid("address", n.status().message());
    a.sealed = *n;
    return Status::ok();
  };
  if (auto* o = std::get_if<ParticipantOptedOut>(&data)) return address(o->channel, o->address);
  if (auto* o = std::get_if<ParticipantOptedIn>(&data)) return address(o->channel, o->address);
  return Status::ok();
}

Status with_data_prefix(const Status& s) {
  if (s.is_ok() || s.code() == Code::kMalformed) return s;
  return s.within("data");
}

}  // namespace

std::string derive_participant_id(std::string_view key, std::string_view basis) {
  unsigned char out[16];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(basis.data()),
                     basis.size(), reinterpret_cast<const unsigned char*>(key.data()), key.size());
  return "p-" + to_hex(out, sizeof out);
}

std::string time_ordered_id(std::string_view prefix, TimePoint now, size_t random_bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  // 48 bits of milliseconds last until the year 10889; a time before 1970 (never from a
  // real clock) is written as 0 rather than wrapping to the far end of the order.
  uint64_t ms = static_cast<uint64_t>(std::max<int64_t>(0, now.time_since_epoch().count()));
  std::string id(prefix);
  id.resize(prefix.size() + 12);
  for (size_t i = id.size(); i > prefix.size(); ms >>= 4)
    id[--i] = kDigits[ms & 15];
  unsigned char bytes[32];
  random_bytes = std::min(random_bytes, sizeof bytes);
  randombytes_buf(bytes, random_bytes);
  return id + to_hex(bytes, random_bytes);
}

std::string random_event_id() {
  return time_ordered_id("evt-", std::chrono::floor<Millis>(std::chrono::system_clock::now()), 10);
}

void for_each_personal(EventData& data, const std::function<void(Personal&)>& fn) {
  std::visit(
      [&](auto& e) {
        PersonalVisitor v(fn);
        fields(v, e);
      },
      data);
}

Intake::Intake(IntakeOptions options) : options_(std::move(options)) {
  if (!options_.new_id) options_.new_id = random_event_id;
}

Result<NewEvent> Intake::prepare(EventData data, std::string id, std::string meta) {
  // Without a proper key, participant ids would be a plain hash anyone could compute from an
  // email address: refuse rather than derive them.
  if (options_.participant_id_key.size() != crypto_generichash_KEYBYTES) {
    return Status::unavailable("the participant-id key must be " +
                               std::to_string(crypto_generichash_KEYBYTES) + " bytes");
  }
  Status s = validate(data);
  if (!s) return s;
  s = normalize_addresses(data, options_);
  if (!s) return s;
  if (id.empty()) id = natural_event_id(data);
  if (id.empty()) id = options_.new_id();
  if (id.size() > 200) return Status::invalid("id", "is longer than 200 characters");

  std::string subject = seal_subject(data);
  // Addresses get a blind index so that State can match opt-outs without opening them. An
  // opted-out address is sealed under a key of its own (subject "address", which the sealer
  // turns into "address/<blind index>"), so erasing a participant can destroy it too.
  std::vector<const Personal*> indexed;
  if (auto* r = std::get_if<RegistrationReceived>(&data)) {
    if (r->participant.email) indexed.push_back(&*r->participant.email);
    if (r->participant.phone) indexed.push_back(&*r->participant.phone);
  }
  if (auto* o = std::get_if<ParticipantOptedOut>(&data)) {
    indexed.push_back(&o->address);
  }
  if (auto* o = std::get_if<ParticipantOptedIn>(&data)) {
    indexed.push_back(&o->address);
  }
  // Facilitators' addresses too: a facilitator who opted out gets no roster there.
  if (std::vector<Facilitator>* list = facilitators_of(data)) {
    for (Facilitator& f : *list) {
      if (f.email) indexed.push_back(&*f.email);
      if (f.phone) indexed.push_back(&*f.phone);
    }
  }
  Status sealed = Status::ok();
  for_each_personal(data, [&](Personal& p) {
    if (!sealed) return;
    bool index = std::find(indexed.begin(), indexed.end(), &p) != indexed.end();
    Result<std::string> r = options_.sealer->seal(p.sealed, SealContext{subject, id, index});
    if (!r) {
      sealed = r.status();
      return;
    }
    p.sealed = std::move(*r);
  });
  if (!sealed) return sealed;

  NewEvent ev;
  ev.id = std::move(id);
  ev.data = std::move(data);
  ev.meta = std::move(meta);
  ev.encoded = encode_data(ev.data);
  return ev;
}

Result<NewEvent> Intake::from_parts(EventType type, int schema, std::string_view data_json,
                                    std::string id, std::string meta) {
  Result<std::string> current = upcast_data(type, schema, data_json);
  if (!current) {
    // An unknown schema is the envelope's "schema" field; anything else an upcaster finds is
    // in the data.
    const Status& s = current.status();
    return s.code() == Code::kMalformed || s.field() == "schema" ? s : with_data_prefix(s);
  }
  Result<EventData> data = decoder_.decode(type, *current, DecodeMode::kStrict);
  if (!data) return with_data_prefix(data.status());
  Result<NewEvent> ev = prepare(std::move(*data), std::move(id), std::move(meta));
  if (!ev) return ev.status().field() == "id" ? ev.status() : with_data_prefix(ev.status());
  return ev;
}

Result<NewEvent> Intake::from_data_json(EventType type, std::string_view data_json,
                                        std::string_view meta_json, std::string id) {
  Result<std::string> meta = decoder_.minify_object(meta_json);
  if (!meta) return meta.status();
  return from_parts(type, current_schema(type), data_json, std::move(id), std::move(*meta));
}

Result<NewEvent> Intake::from_envelope_json(std::string_view json, std::string default_id) {
  // Pull the envelope apart with a parser of its own: the data decoder reuses decoder_'s.
  simdjson::dom::parser parser;
  simdjson::dom::object env;
  auto err = parser.parse(json.data(), json.size()).get_object().get(env);
  if (err == simdjson::INCORRECT_TYPE) return Status::malformed("an event must be a JSON object");
  if (err) return Status::malformed(std::string("not valid JSON: ") + simdjson::error_message(err));

  static constexpr std::string_view kKnown[] = {
      "position", "id",          "type", "schema", "stream",
      "version",  "recorded_at", "data", "meta",   "expected_version"};
  for (auto field : env) {
    bool known = false;
    for (auto k : kKnown)
      known = known || k == field.key;
    if (!known) return Status::invalid(std::string(field.key), "is not a known envelope field");
  }

  std::string_view type_name;
  if (env["type"].get_string().get(type_name)) {
    return Status::invalid("type", "is missing or not a string");
  }
  std::optional<EventType> type = parse_event_type(type_name);
  if (!type) {
    return Status::invalid("type",
                           "\"" + std::string(type_name.substr(0, 40)) + "\" is not an event type");
  }
  int64_t schema = current_schema(*type);
  if (simdjson::dom::element e; env["schema"].get(e) == simdjson::SUCCESS) {
    if (e.get_int64().get(schema) || schema < 0 || schema > 1000) {
      return Status::invalid("schema", "must be a small whole number");
    }
  }
  std::string id;
  if (simdjson::dom::element e; env["id"].get(e) == simdjson::SUCCESS) {
    std::string_view v;
    if (e.get_string().get(v) || v.empty()) {
      return Status::invalid("id", "must be a non-empty string");
    }
    id.assign(v);
  }
  simdjson::dom::element data_el;
  if (env["data"].get(data_el)) return Status::invalid("data", "is missing");
  if (!data_el.is_object()) return Status::invalid("data", "must be an object");
  std::string data_json = simdjson::minify(data_el);

  std::string meta = "{}";
  if (simdjson::dom::element e; env["meta"].get(e) == simdjson::SUCCESS) {
    simdjson::dom::object obj;
    if (e.get_object().get(obj)) return Status::invalid("meta", "must be an object");
    if (Status s = check_meta(obj); !s) return s;
    meta = simdjson::minify(e);
  }
  std::optional<int64_t> expected;
  if (simdjson::dom::element e; env["expected_version"].get(e) == simdjson::SUCCESS) {
    int64_t v;
    if (e.get_int64().get(v) || v < 0) {
      return Status::invalid("expected_version", "must be a whole number, 0 or more");
    }
    expected = v;
  }
  std::optional<TimePoint> recorded_at;
  if (simdjson::dom::element e; env["recorded_at"].get(e) == simdjson::SUCCESS) {
    std::string_view v;
    Result<Instant> t =
        e.get_string().get(v) ? Result<Instant>(Status::invalid("", "")) : parse_rfc3339(v);
    if (!t) return Status::invalid("recorded_at", "must be an RFC 3339 time");
    TimePoint now = options_.now ? options_.now()
                                 : std::chrono::floor<Millis>(std::chrono::system_clock::now());
    if (t->utc > now + kRecordedAtSkew) {
      return Status::invalid("recorded_at",
                             "is in the future (an event is recorded when it is "
                             "appended; leave it out for now)");
    }
    recorded_at = t->utc;
  }
  std::string stream_given;
  if (simdjson::dom::element e; env["stream"].get(e) == simdjson::SUCCESS) {
    std::string_view v;
    if (e.get_string().get(v)) return Status::invalid("stream", "must be a string");
    stream_given.assign(v);
  }

  if (id.empty()) id = std::move(default_id);
  Result<NewEvent> ev =
      from_parts(*type, static_cast<int>(schema), data_json, std::move(id), std::move(meta));
  if (!ev) return ev;
  if (!stream_given.empty() && stream_given != stream_of(ev->data)) {
    return Status::invalid(
        "stream", "does not match the event's data (expected \"" + stream_of(ev->data) + "\")");
  }
  ev->expected_version = expected;
  ev->recorded_at = recorded_at;
  return ev;
}

}  // namespace nudged
