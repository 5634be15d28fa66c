// Rendering: turns what a message should say (MessageView) into subject, plain text and HTML
// through the Mustache templates of SPEC §4 (built-in set in config/templates/, overridable
// file by file from [templates] dir).
//
// Templates are read, parsed and test-rendered by Templates::load(), so a broken template is an
// error at start-up or reload, never at send time. load() reads files and blocks; call it at
// start and on SIGHUP. A loaded Templates is an immutable value: render() is const and may be
// called from any thread.
//
// `discreet` is enforced here, not left to template authors: for a discreet view the values
// that could reveal a group or a condition never reach a template (see Templates::render).
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "events/status.h"
#include "events/time.h"

namespace nudged {

// The message kinds of SPEC §4, in the order of its table.
inline constexpr std::array<std::string_view, 7> kMessageKinds = {
    "registration.confirmation", "session.reminder",         "session.changed",
    "accommodation.request",     "accommodation.escalation", "accommodation.confirmed",
    "facilitator.roster",
};

// One accessibility need on a facilitator roster: "live captions", 2 people.
struct AccommodationNeed {
  std::string need;
  int count = 0;
};

// Everything a template may show, already formatted for a reader. Free-text values are
// personal data: rendered, never logged. An empty string means "not known / not shown".
struct MessageView {
  std::string kind;    // one of kMessageKinds
  std::string medium;  // "email" or "sms"
  bool discreet = false;

  std::string participant_name;
  std::string session_title;
  std::string group_name;
  std::string starts_at_local;      // format_local_time(): "Tuesday, January 12, 7:00 PM EST"
  std::string old_starts_at_local;  // session.changed by a reschedule: the time it had
  std::string time_zone;            // IANA name the times above are shown in
  int duration_minutes = 0;         // 0: not shown
  std::string join_url;             // shown only when it is an http(s) URL
  std::string unsubscribe_url;      // required for email
  bool calendar_attached = false;   // the email carries an .ics (the text mentions it)
  // About a whole series (a series registration's confirmation, a series cancelled): the time
  // above is the reader's next meeting of it, and more follow.
  bool series = false;
  std::string repeats;  // describe_rrule(): "every week"; empty when not simple to say
  bool cancelled = false;
  std::string cancel_reason;
  std::vector<std::string> accommodations;  // plain words: "live captions", "ASL interpreting"

  // Staff notices (accommodation.request/escalation, facilitator.roster).
  std::string registration_id;
  int registered_count = 0;
  std::vector<AccommodationNeed> accommodation_needs;
  std::string lead_time;  // "10 days": how long before start an escalation is sent
};

struct Rendered {
  std::string subject;  // email only; one line
  std::string text;     // plain-text body, or the SMS body
  std::string html;     // email only: a full HTML document
};

// "Tuesday, January 12, 7:00 PM EST": the instant in the IANA zone, in English. Zones without
// a letter abbreviation show their offset ("UTC-3", "UTC+5:30"). Fails on an unknown zone.
Result<std::string> format_local_time(TimePoint utc, std::string_view time_zone);

// "45 minutes", "90 minutes", "1 hour", "2 hours 30 minutes"; empty for 0 or less.
std::string format_duration(int minutes);

class Templates {
 public:
  // Reads `<kind>.<medium>.<part>.mustache` for every kind (parts subject, text, html for
  // email; text for sms) from builtin_dir, each replaced by the file of the same name in
  // override_dir when there is one ("" = no overrides). Fails, naming the file, when a template
  // is missing, does not parse, uses an unknown variable or a partial, or fails the checks on
  // sample views (email text and HTML must carry the unsubscribe link; HTML must declare
  // `<html lang=` and a `<title>`). A *.mustache file in override_dir that matches no template
  // is an error too: a misspelt override would otherwise be silently ignored.
  static Result<Templates> load(const std::string& builtin_dir, const std::string& override_dir);

  // Renders the view's kind and medium. Fails on an unknown kind or medium, or an email view
  // without an unsubscribe_url. sms: only `text` is set. The templates are parsed once, at
  // load; the engine renders through non-const objects, so render from one thread at a time
  // (copies of a Templates share the parsed templates).
  Result<Rendered> render(const MessageView& view) const;

  // Where each template was read from, by "<kind>.<medium>.<part>"; for status output.
  const std::map<std::string, std::string>& origins() const { return origins_; }

 private:
  struct Compiled;
  Templates() = default;
  // "<kind>.<medium>.<part>" -> the parsed template
  std::map<std::string, std::shared_ptr<Compiled>> compiled_;
  std::map<std::string, std::string> origins_;  // same key -> file path
};

}  // namespace nudged
