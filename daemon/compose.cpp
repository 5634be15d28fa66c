#include "daemon/compose.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "channels/calendar.h"
#include "channels/mail_headers.h"
#include "events/series.h"

namespace nudged {
namespace {

// "https://reminders.example.org:8443/x" -> "reminders.example.org": the domain of calendar
// UIDs and of the sender we name when no smtp channel gives one.
std::string host_of(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t end = url.find_first_of(":/?#", start);
  std::string host = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  return host.empty() ? "localhost" : host;
}

// The address our email comes from: the email channel's `from` when it is smtp.
std::string sender_address(const Config& config) {
  const ChannelTable* email = config.channel("email");
  if (email != nullptr && email->kind == "smtp") {
    auto it = email->settings.find("from");
    if (it != email->settings.end()) return address_of(it->second);
  }
  return "noreply@" + host_of(config.daemon.public_url);
}

// Confirmations carry an invitation, change notices its update or its cancellation.
bool carries_calendar(const Notification& n, const std::string& medium) {
  return medium == "email" && n.role == RecipientRole::kRegistrant &&
         (n.kind == NotificationKind::kConfirmation || n.kind == NotificationKind::kChanged);
}

std::string need_words(const std::string& kind) {
  static const std::map<std::string, std::string> words = {
      {"captions", "live captions"},
      {"asl", "ASL interpreting"},
      {"cart", "CART (real-time captioning)"},
      {"screen_reader_materials", "screen-reader-friendly materials"},
      {"plain_language", "plain-language materials"},
      {"other", "another accommodation"},
  };
  auto it = words.find(kind);
  return it == words.end() ? kind : it->second;
}

std::string lead_words(const Offset& o) {
  if (o.unit == Offset::Unit::kCalendarDays) {
    return std::to_string(o.amount) + (o.amount == 1 ? " day" : " days");
  }
  return format_duration(static_cast<int>(o.amount / 60));
}

// Opens a personal value; "" when it cannot be opened (erased key): the message then says
// less rather than failing.
std::string open_or_empty(const Sealer& sealer, const Personal& p, const std::string& subject) {
  if (p.empty()) return {};
  Result<std::string> r = sealer.open(p.sealed, SealContext{subject, {}});
  return r ? *r : std::string();
}
std::string open_or_empty(const Sealer& sealer, const std::optional<Personal>& p,
                          const std::string& subject) {
  return p ? open_or_empty(sealer, *p, subject) : std::string();
}

// The UID of one registrant's calendar entry for a session or a whole series: every notice
// about it carries the same one, so that calendars update the entry. A keyed hash, not the
// ids themselves: a UID travels with an invitation forwarded or a calendar shared, and ids
// often name the group ("ibd-2027-01-20"), which a discreet registrant keeps to themselves.
std::string meeting_uid(const ComposeContext& ctx, const std::string& target,
                        const std::string& registration_id) {
  return calendar_uid(
      "nudged-" + keyed_hex(ctx.link_key, "calendar-uid\n" + target + "\n" + registration_id),
      host_of(ctx.config.daemon.public_url));
}

// Staff (coordinators, facilitators) leave by address: their token names a hash of it.
std::string staff_unsubscribe_url(const ComposeContext& ctx, const std::string& email) {
  return ctx.config.daemon.public_url + "/v1/unsubscribe?token=" +
         unsubscribe_token(ctx.link_key,
                           staff_token_subject(ctx.link_key, ctx.sealer.blind_index(email)));
}

bool registration_covers(const RegistrationState& r, const PlannedSession& s) {
  if (r.cancelled) return false;
  if (!r.for_series) return r.target() == s.session_id;  // a session, or one occurrence
  return s.series && r.target() == s.series->definition.series_id &&
         r.registered_at < s.generated_start;
}

// A series' first meeting still on after `after`: what a series-wide notice shows as the
// reader's next meeting (the series' first start may be months in the past). Covers what
// registration_covers() does (strictly after), with each meeting's own reschedule or cancel.
std::optional<TimePoint> next_meeting(const State& state, const SeriesState& series,
                                      TimePoint after) {
  const SeriesScheduled& d = series.definition;
  constexpr size_t kLookAhead = 64;  // meetings cancelled one by one in a row, at most
  Result<std::vector<Occurrence>> occurrences = expand_series(
      d.rrule, d.first_starts_at, d.time_zone.name, after + Millis(1),
      after + std::chrono::hours(24 * 400), d.until ? &*d.until : nullptr, kLookAhead);
  if (!occurrences) return std::nullopt;
  for (const Occurrence& o : *occurrences) {
    std::optional<PlannedSession> meeting =
        find_session(state, occurrence_id(d.series_id, o.local_date));
    if (meeting && !meeting->cancelled) return meeting->starts_at;
  }
  return std::nullopt;
}

// Who is coming to a session, for its roster: each person once however many of their
// registrations cover it (one participant may register twice, or for the series and one of its
// meetings), and each of their needs once. Cancelled registrations and erased people are out.
struct Headcount {
  int people = 0;
  std::map<std::string, int> needs;  // plain words -> how many people asked
};
Headcount count_attendees(const State& state, const PlannedSession& session) {
  std::map<std::string, std::set<std::string>> needs_of;  // participant id -> need words
  for (const auto& [id, r] : state.registrations()) {
    if (!registration_covers(r, session) || r.participant().erased) continue;
    std::set<std::string>& needs = needs_of[r.participant_id()];
    for (const AccommodationState& a : r.accommodations)
      needs.insert(need_words(a.kind));
  }
  Headcount count;
  count.people = static_cast<int>(needs_of.size());
  for (const auto& [person, needs] : needs_of) {
    for (const std::string& need : needs)
      ++count.needs[need];
  }
  return count;
}

}  // namespace

Result<Message> compose(const Notification& n, const ComposeContext& ctx) {
  const State& state = ctx.state;
  MessageView view;
  view.kind = std::string(kind_name(n.kind));
  view.medium = medium_of(n.channel);

  const RegistrationState* reg =
      n.registration_id.empty() ? nullptr : state.registration(n.registration_id);
  const ParticipantState* person = reg ? &reg->participant() : nullptr;
  std::optional<PlannedSession> session = find_session(state, n.session_id);
  // A meeting its series, scheduled again at other times, no longer has: its change notice
  // tells of it as it stood, cancelled (the planner's dropped_occurrence_notices).
  bool dropped = false;
  if (!session && n.kind == NotificationKind::kChanged) {
    session = find_dropped_occurrence(state, n.session_id);
    dropped = session.has_value();
  }
  const SeriesState* series = nullptr;
  if (!session) {
    auto it = state.series().find(n.session_id);
    if (it != state.series().end()) series = &it->second;
  }
  if (!session && series == nullptr) {
    return Status::not_found("session " + n.session_id + " is not known");
  }

  // Describe the meeting: the session, or the series as a whole for series-wide notices.
  std::string group = session ? session->group : series->definition.group;
  std::string zone_name = session ? session->time_zone : series->definition.time_zone.name;
  TimePoint starts = session ? session->starts_at : series->definition.first_starts_at.utc;
  std::optional<TimePoint> next;  // a series' next meeting, when one is still to come
  view.session_title = session ? session->title : series->definition.title;
  if (auto g = ctx.config.plan.groups.find(group); g != ctx.config.plan.groups.end()) {
    view.group_name = g->second.name;
  }
  view.duration_minutes =
      static_cast<int>(session ? session->duration_minutes : series->definition.duration_minutes);
  if (!session) {
    // The series as a whole: its next meeting for this reader (from the registration, or the
    // fact behind a later notice, and not one already past when the message goes out late: a
    // retry, or after downtime), and how often it meets. With no meeting still to come the
    // notice gives no date rather than one long over.
    view.series = true;
    view.repeats = describe_rrule(series->definition.rrule);
    view.join_url = series->definition.join_url;
    TimePoint after = reg ? std::max(reg->registered_at, n.nominal_due) : n.nominal_due;
    next = next_meeting(state, *series, std::max(after, ctx.now));
  }
  if (session && session->single) view.join_url = session->single->join_url;
  if (session && session->series) view.join_url = session->series->definition.join_url;
  if (session && session->change && session->change->update.join_url) {
    view.join_url = *session->change->update.join_url;
  }
  view.cancelled = session ? session->cancelled : series->cancelled;
  if (session && session->single && session->single->cancel_reason) {
    view.cancel_reason =
        open_or_empty(ctx.sealer, session->single->cancel_reason, "session/" + n.session_id);
  }
  // One meeting of a series cancelled on its own: its reason was sealed with that
  // session.cancelled, under the meeting's id, as a single session's is.
  if (session && session->change && session->change->cancelled && session->change->cancel_reason) {
    view.cancel_reason =
        open_or_empty(ctx.sealer, session->change->cancel_reason, "session/" + session->session_id);
  }
  // A series cancelled: its reason, opened under the series' subject (it was sealed with the
  // series.cancelled event), on the series-wide notice and on the notice of each meeting the
  // cancel took (not one called off on its own before, nor one a retime dropped).
  const SeriesState* cancelled_series = nullptr;
  if (!session && series->cancelled) {
    cancelled_series = series;
  } else if (session && session->series && session->cancelled && !dropped &&
             session->series->cancelled &&
             session->generated_start > session->series->cancelled_at &&
             !(session->change && session->change->cancelled)) {
    cancelled_series = session->series;
  }
  if (cancelled_series && cancelled_series->cancel_reason) {
    view.cancel_reason = open_or_empty(ctx.sealer, cancelled_series->cancel_reason,
                                       "series/" + cancelled_series->definition.series_id);
  }

  // Times are shown in the reader's zone when we know it. Staff are not the registrant: they
  // see the meeting's own time, the one their schedule has.
  if (n.role == RecipientRole::kRegistrant && person && person->time_zone &&
      find_zone(*person->time_zone)) {
    zone_name = *person->time_zone;
  }
  view.time_zone = zone_name;
  if (session || next) {
    Result<std::string> when = format_local_time(session ? starts : *next, zone_name);
    if (!when) return when.status();
    view.starts_at_local = *when;
  }
  if (session && session->last_change && session->last_change->old_starts_at &&
      n.kind == NotificationKind::kChanged) {
    Result<std::string> old =
        format_local_time(session->last_change->old_starts_at->utc, zone_name);
    if (old) view.old_starts_at_local = *old;
  }

  const Policy& policy = ctx.config.plan.policy_for(group);
  Message m;
  m.notification_id = n.id;
  m.kind = view.kind;
  m.channel = n.channel;

  switch (n.role) {
    case RecipientRole::kRegistrant: {
      if (reg == nullptr || person == nullptr || person->erased) {
        return Status::not_found("registration " + n.registration_id + " has no one to notify");
      }
      std::string subject = "participant/" + reg->participant_id();
      view.discreet = reg->discreet.value_or(policy.discreet_default);
      view.participant_name = open_or_empty(ctx.sealer, person->name, subject);
      m.to = open_or_empty(ctx.sealer, n.channel == "sms" ? person->phone : person->email, subject);
      for (const AccommodationState& a : reg->accommodations) {
        if (n.kind != NotificationKind::kAccommodationConfirmed || a.kind == n.accommodation_kind) {
          view.accommodations.push_back(need_words(a.kind));
        }
      }
      view.unsubscribe_url = ctx.config.daemon.public_url + "/v1/unsubscribe?token=" +
                             unsubscribe_token(ctx.link_key, reg->participant_id());
      break;
    }
    case RecipientRole::kCoordinator: {
      if (n.recipient_index >= static_cast<int>(ctx.config.plan.coordinators.size())) {
        return Status::not_found("no coordinator " + std::to_string(n.recipient_index));
      }
      m.to = ctx.config.plan.coordinators[n.recipient_index].address;
      // A request or escalation is about one registrant, and their discreet holds on staff
      // phones too: a lock-screen preview or a chat notification is seen by whoever is near.
      // The coordinator finds the meeting by its time and the registration id. Without the
      // registration (not expected) nothing says the group may be named, so it is not.
      view.discreet = reg == nullptr || reg->discreet.value_or(policy.discreet_default);
      view.registration_id = n.registration_id;
      if (reg) {
        for (const AccommodationState& a : reg->accommodations) {
          if (n.kind == NotificationKind::kAccommodationEscalation && a.arranged) continue;
          view.accommodation_needs.push_back(AccommodationNeed{need_words(a.kind), 1});
        }
      }
      view.lead_time = lead_words(policy.accommodation_lead);
      view.unsubscribe_url = staff_unsubscribe_url(ctx, m.to);
      break;
    }
    case RecipientRole::kFacilitator: {
      if (!session || session->facilitators == nullptr ||
          n.recipient_index >= static_cast<int>(session->facilitators->size())) {
        return Status::not_found("no facilitator " + std::to_string(n.recipient_index));
      }
      const Facilitator& f = (*session->facilitators)[n.recipient_index];
      std::string subject = "session/" + n.session_id;
      m.to = open_or_empty(ctx.sealer, n.channel == "sms" ? f.phone : f.email, subject);
      view.participant_name = open_or_empty(ctx.sealer, f.name, subject);
      Headcount coming = count_attendees(state, *session);
      view.registered_count = coming.people;
      for (const auto& [need, count] : coming.needs)
        view.accommodation_needs.push_back({need, count});
      view.unsubscribe_url = staff_unsubscribe_url(ctx, m.to);
      break;
    }
  }
  if (m.to.empty()) return Status::not_found("no address for " + n.id);

  if (carries_calendar(n, view.medium)) {
    Meeting meeting;
    meeting.uid = meeting_uid(ctx, n.session_id, n.registration_id);
    if (reg != nullptr && reg->for_series && session && session->series != nullptr) {
      // A series registrant has the whole series in their calendar (the confirmation's uid is
      // the series'): a notice about one occurrence is that occurrence of it.
      meeting.uid = meeting_uid(ctx, session->series->definition.series_id, n.registration_id);
      meeting.recurrence_id = session->generated_start;
    }
    meeting.sequence = session ? session->revision : series->revision;
    meeting.cancelled = view.cancelled;
    // Calendars are shown to others (a shared screen, a family calendar): a discreet reader's
    // entry does not name the group.
    auto summary = [&](const std::string& title) {
      return view.discreet ? std::string("Peer support meeting") : title;
    };
    auto web_url = [](const std::string& url) {
      return url.rfind("http", 0) == 0 ? url : std::string();
    };
    meeting.summary = summary(view.session_title);
    meeting.url = web_url(view.join_url);
    if (!meeting.url.empty()) meeting.description = "Join: " + meeting.url;
    // A series' invitation starts where its rule does: DTSTART is the first occurrence the
    // RRULE counts from (COUNT, and RECURRENCE-IDs of later changes, depend on it).
    meeting.starts_at = session ? starts : series->definition.first_starts_at.utc;
    meeting.duration_minutes = view.duration_minutes;
    meeting.time_zone = session ? session->time_zone : series->definition.time_zone.name;
    if (!session) {
      meeting.rrule = series->definition.rrule;
      if (series->definition.until) meeting.until = series->definition.until->utc;
    }
    if (!session && !series->cancelled) {
      // The whole series goes into the calendar (a confirmation, the series moved): with the
      // meetings already cancelled or moved one by one, or a reader who registers after such
      // a change gets those meetings where the rule has them, and no notice ever fixes that
      // (their change notices went before they registered).
      for (const auto& [date, change] : series->overrides) {
        std::optional<PlannedSession> o =
            find_session(state, occurrence_id(series->definition.series_id, date));
        if (!o) continue;  // not a meeting of the series as it is now
        if (o->cancelled) {
          meeting.exdates.push_back(o->generated_start);
          continue;
        }
        const SessionUpdated& u = change.update;
        if (o->starts_at == o->generated_start && !u.title && !u.duration_minutes && !u.join_url) {
          continue;  // nothing the calendar shows has changed
        }
        MeetingException x;
        x.recurrence_id = o->generated_start;
        x.starts_at = o->starts_at;
        x.duration_minutes = o->duration_minutes;
        x.sequence = o->revision;
        x.summary = summary(o->title);
        x.url = web_url(u.join_url ? *u.join_url : series->definition.join_url);
        if (!x.url.empty()) x.description = "Join: " + x.url;
        meeting.exceptions.push_back(std::move(x));
      }
    }
    meeting.stamp = n.nominal_due;  // deterministic: the same notification, the same bytes
    meeting.organizer = sender_address(ctx.config);
    meeting.attendee = m.to;
    Result<CalendarPart> part = build_calendar(meeting);
    if (!part) return part.status();
    m.calendar = std::move(*part);
    view.calendar_attached = true;
  }

  Result<Rendered> r = ctx.templates.render(view);
  if (!r) return r.status();
  m.subject = std::move(r->subject);
  m.text = std::move(r->text);
  m.html = std::move(r->html);
  if (view.medium == "email") {
    // RFC 8058 one-click unsubscribe: only the https URL a mail client POSTs to. No mailto
    // form: nudged reads no incoming mail, so a message sent to it would opt nobody out.
    m.headers.emplace_back("List-Unsubscribe", "<" + view.unsubscribe_url + ">");
    m.headers.emplace_back("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
    m.message_id_token = message_id_token(ctx.link_key, n.id);
  }
  return m;
}

}  // namespace nudged
