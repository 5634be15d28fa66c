#include "channels/calendar.h"

#include <date/tz.h>
#include <libical/ical.h>

#include <map>
#include <memory>
#include <mutex>

namespace nudged {
namespace {

using Component = std::unique_ptr<icalcomponent, decltype(&icalcomponent_free)>;

time_t unix_seconds(TimePoint t) {
  return static_cast<time_t>(
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}

bool is_utc(const std::string& zone) {
  return zone == "UTC" || zone == "Etc/UTC" || zone == "GMT" || zone == "Etc/GMT" || zone.empty();
}

// Whether `t` is the second of two instants with the same local time in the zone (the hour
// repeated when clocks go back). RFC 5545 §3.3.5 reads such a local time with a TZID as the
// first of the two, so written that way it would put the meeting an hour early.
bool second_of_two(TimePoint t, const std::string& tzid) {
  const date::time_zone* z = find_zone(tzid);
  if (z == nullptr) return false;
  auto sys = date::floor<std::chrono::seconds>(t);
  auto local = z->to_local(sys);
  return z->get_info(local).result == date::local_info::ambiguous &&
         z->to_sys(local, date::choose::earliest) != sys;
}

// A DTSTART/DTEND in the zone: local time with TZID=<IANA name>, or UTC with Z. A time in the
// second pass of a repeated hour is written in UTC (it names one instant, which is all a DTEND
// or a single meeting needs), unless `keep_local`: a series' DTSTART, from which its RRULE
// counts in local time.
icalproperty* timed(icalproperty* (*make)(struct icaltimetype), TimePoint t, icaltimezone* zone,
                    const std::string& tzid, bool keep_local = false) {
  if (zone == nullptr || (!keep_local && second_of_two(t, tzid))) {
    return make(icaltime_from_timet_with_zone(unix_seconds(t), 0, icaltimezone_get_utc_timezone()));
  }
  icaltimetype local = icaltime_from_timet_with_zone(unix_seconds(t), 0, zone);
  // Written as a floating local time plus the TZID parameter: the VTIMEZONE below defines it.
  local.zone = nullptr;
  icalproperty* p = make(local);
  icalproperty_add_parameter(p, icalparameter_new_tzid(tzid.c_str()));
  return p;
}

// The zone's VTIMEZONE as text, TZID set to the IANA name: serialised once per zone and kept.
// libical's zones carry every historical rule, so cloning and writing one costs far more than
// the rest of an invitation; the text never changes while the process runs.
Result<std::string> vtimezone_text(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::string, std::less<>> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  icaltimezone* zone = icaltimezone_get_builtin_timezone(name.c_str());
  if (zone == nullptr) return Status::invalid("time_zone", "unknown time zone " + name);
  icalcomponent* source = icaltimezone_get_component(zone);
  if (source == nullptr) return Status::invalid("time_zone", "no rules for " + name);
  Component vtimezone(icalcomponent_new_clone(source), icalcomponent_free);
  // libical names its built-in zones with a private prefix; calendars expect the IANA name.
  icalproperty* tzid = icalcomponent_get_first_property(vtimezone.get(), ICAL_TZID_PROPERTY);
  if (tzid != nullptr) icalproperty_set_tzid(tzid, name.c_str());
  char* text = icalcomponent_as_ical_string_r(vtimezone.get());
  if (text == nullptr) return Status::io("libical could not write the zone " + name);
  std::string out = text;
  icalmemory_free_buffer(text);
  return cache.emplace(name, std::move(out)).first->second;
}

}  // namespace

std::string calendar_uid(const std::string& local, const std::string& domain) {
  std::string uid = local + "@" + domain;
  for (char& c : uid) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '@' || c == '.' || c == '_' || c == '-';
    if (!ok) c = '-';
  }
  return uid;
}

namespace {

// The properties every VEVENT of an invitation carries, the series' and its exceptions' alike.
struct EventFields {
  const std::string& uid;
  int64_t sequence;
  TimePoint stamp;
  TimePoint starts_at;
  int64_t duration_minutes;
  const std::string& summary;
  const std::string& description;
  const std::string& url;
  bool cancelled;
  const std::string& organizer;
  const std::string& attendee;
};

// A VEVENT with its identity and times; the caller adds what is its own (RECURRENCE-ID, RRULE,
// EXDATE) and then add_details(), keeping the order of properties invitations always had.
// `recurs`: the series' own VEVENT, whose DTSTART stays local (see timed()).
icalcomponent* new_event(const EventFields& f, icaltimezone* zone, const std::string& tzid,
                         bool recurs = false) {
  icalcomponent* ev = icalcomponent_new(ICAL_VEVENT_COMPONENT);
  icalcomponent_add_property(ev, icalproperty_new_uid(f.uid.c_str()));
  icalcomponent_add_property(ev, icalproperty_new_sequence(static_cast<int>(f.sequence)));
  icalcomponent_add_property(ev, icalproperty_new_dtstamp(icaltime_from_timet_with_zone(
                                     unix_seconds(f.stamp), 0, icaltimezone_get_utc_timezone())));
  icalcomponent_add_property(ev, timed(icalproperty_new_dtstart, f.starts_at, zone, tzid, recurs));
  TimePoint end = f.starts_at + std::chrono::minutes(std::max<int64_t>(f.duration_minutes, 0));
  icalcomponent_add_property(ev, timed(icalproperty_new_dtend, end, zone, tzid));
  return ev;
}

void add_details(icalcomponent* ev, const EventFields& f) {
  icalcomponent_add_property(ev, icalproperty_new_summary(f.summary.c_str()));
  if (!f.description.empty()) {
    icalcomponent_add_property(ev, icalproperty_new_description(f.description.c_str()));
  }
  if (!f.url.empty()) {
    icalcomponent_add_property(ev, icalproperty_new_location(f.url.c_str()));
    icalcomponent_add_property(ev, icalproperty_new_url(f.url.c_str()));
  }
  icalcomponent_add_property(
      ev, icalproperty_new_status(f.cancelled ? ICAL_STATUS_CANCELLED : ICAL_STATUS_CONFIRMED));
  if (!f.organizer.empty()) {
    icalcomponent_add_property(ev, icalproperty_new_organizer(("mailto:" + f.organizer).c_str()));
  }
  if (!f.attendee.empty()) {
    icalproperty* a = icalproperty_new_attendee(("mailto:" + f.attendee).c_str());
    icalproperty_add_parameter(a, icalparameter_new_role(ICAL_ROLE_REQPARTICIPANT));
    icalproperty_add_parameter(a, icalparameter_new_partstat(ICAL_PARTSTAT_NEEDSACTION));
    icalproperty_add_parameter(a, icalparameter_new_rsvp(ICAL_RSVP_FALSE));
    icalcomponent_add_property(ev, a);
  }
}

}  // namespace

Result<CalendarPart> build_calendar(const Meeting& m) {
  icaltimezone* zone = nullptr;
  std::string vtimezone;
  if (!is_utc(m.time_zone)) {
    Result<std::string> text = vtimezone_text(m.time_zone);
    if (!text) return text.status();
    vtimezone = std::move(*text);
    zone = icaltimezone_get_builtin_timezone(m.time_zone.c_str());
  }

  const icalproperty_method method = m.cancelled ? ICAL_METHOD_CANCEL : ICAL_METHOD_REQUEST;
  Component cal(icalcomponent_new(ICAL_VCALENDAR_COMPONENT), icalcomponent_free);
  icalcomponent_add_property(cal.get(), icalproperty_new_prodid("-//nudged//reminders//EN"));
  icalcomponent_add_property(cal.get(), icalproperty_new_version("2.0"));
  icalcomponent_add_property(cal.get(), icalproperty_new_calscale("GREGORIAN"));
  icalcomponent_add_property(cal.get(), icalproperty_new_method(method));

  const EventFields master{m.uid,     m.sequence,    m.stamp, m.starts_at, m.duration_minutes,
                           m.summary, m.description, m.url,   m.cancelled, m.organizer,
                           m.attendee};
  icalcomponent* ev = new_event(master, zone, m.time_zone, !m.rrule.empty());
  if (m.recurrence_id) {
    icalcomponent_add_property(
        ev, timed(icalproperty_new_recurrenceid, *m.recurrence_id, zone, m.time_zone));
  }
  bool recurs = false;
  if (!m.rrule.empty()) {
    struct icalrecurrencetype rule = icalrecurrencetype_from_string(m.rrule.c_str());
    if (rule.freq != ICAL_NO_RECURRENCE) {
      // RFC 5545: with a zoned DTSTART, UNTIL is in UTC; like nudged's own bound, inclusive.
      if (m.until && icaltime_is_null_time(rule.until) && rule.count == 0) {
        rule.until = icaltime_from_timet_with_zone(unix_seconds(*m.until), 0,
                                                   icaltimezone_get_utc_timezone());
      }
      icalcomponent_add_property(ev, icalproperty_new_rrule(rule));
      recurs = true;
    }
  }
  // A series cancelled as a whole is cancelled by its UID alone: its exceptions go with it.
  const bool exceptions = recurs && !m.cancelled;
  if (exceptions) {
    // In the zone of DTSTART, as RFC 5545 asks of EXDATE, so that each names the meeting the
    // rule puts there.
    for (TimePoint t : m.exdates)
      icalcomponent_add_property(ev, timed(icalproperty_new_exdate, t, zone, m.time_zone));
  }
  add_details(ev, master);
  icalcomponent_add_component(cal.get(), ev);
  if (exceptions) {
    // Written in the series' zone too (the same instants): one VTIMEZONE serves them all.
    for (const MeetingException& x : m.exceptions) {
      const EventFields f{m.uid,     x.sequence,    m.stamp, x.starts_at, x.duration_minutes,
                          x.summary, x.description, x.url,   false,       m.organizer,
                          m.attendee};
      icalcomponent* moved = new_event(f, zone, m.time_zone);
      icalcomponent_add_property(
          moved, timed(icalproperty_new_recurrenceid, x.recurrence_id, zone, m.time_zone));
      add_details(moved, f);
      icalcomponent_add_component(cal.get(), moved);
    }
  }

  char* text = icalcomponent_as_ical_string_r(cal.get());
  if (text == nullptr) return Status::io("libical could not write the invitation");
  CalendarPart part{m.cancelled ? "CANCEL" : "REQUEST", text};
  icalmemory_free_buffer(text);
  // The VTIMEZONE goes where libical writes sub-components, after the calendar's properties
  // and before the VEVENT that refers to it.
  if (!vtimezone.empty()) {
    size_t at = part.ics.find("BEGIN:VEVENT\r\n");
    if (at == std::string::npos) return Status::io("libical wrote an invitation without a VEVENT");
    part.ics.insert(at, vtimezone);
  }
  return part;
}

}  // namespace nudged
