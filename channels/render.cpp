#include "channels/render.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <locale>
#include <set>
#include <sstream>

#include <kainjow/mustache.hpp>

namespace nudged {
namespace {

namespace mst = kainjow::mustache;
namespace fs = std::filesystem;

struct PartSpec {
  const char* medium;
  const char* part;
};
constexpr PartSpec kParts[] = {
    {"email", "subject"}, {"email", "text"}, {"email", "html"}, {"sms", "text"}};

// Templates are small; a larger file is a mistake (or not a template), not something to read.
constexpr std::uintmax_t kMaxTemplateBytes = 64 * 1024;

std::string template_key(std::string_view kind, std::string_view medium, std::string_view part) {
  std::string k(kind);
  k.append(".").append(medium).append(".").append(part);
  return k;
}

bool is_staff_kind(std::string_view kind) {
  return kind == "accommodation.request" || kind == "accommodation.escalation" ||
         kind == "facilitator.roster";
}

bool is_known_kind(std::string_view kind) {
  return std::find(kMessageKinds.begin(), kMessageKinds.end(), kind) != kMessageKinds.end();
}

// --- Text hygiene --------------------------------------------------------------------------

// Values go into headers (Subject) and one-line slots: a newline in a name or title must not
// start a new header or a fake paragraph. Control characters and Unicode line separators
// (U+0085, U+2028, U+2029) become spaces; runs of spaces collapse; ends are trimmed.
std::string one_line(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  auto space = [&out] {
    if (!out.empty() && out.back() != ' ') out.push_back(' ');
  };
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c < 0x20 || c == 0x7f || c == ' ') {
      space();
    } else if (c == 0xc2 && i + 1 < in.size() && static_cast<unsigned char>(in[i + 1]) == 0x85) {
      space();
      i += 1;
    } else if (c == 0xe2 && i + 2 < in.size() && static_cast<unsigned char>(in[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(in[i + 2]) == 0xa8 ||
                static_cast<unsigned char>(in[i + 2]) == 0xa9)) {
      space();
      i += 2;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// Only http(s) links are shown: anything else in an href (javascript:, data:) is an attack or
// a mistake, and a link with spaces or quotes in it is broken in every medium.
bool is_web_url(std::string_view url) {
  auto starts = [&url](std::string_view prefix) {
    if (url.size() <= prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(url[i])) != prefix[i]) return false;
    }
    return true;
  };
  if (!starts("https://") && !starts("http://")) return false;
  return std::none_of(url.begin(), url.end(), [](char ch) {
    unsigned char c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`';
  });
}

// Template sections leave stray blank lines and trailing spaces; readers should not see them.
// LF line ends, no trailing spaces, at most one blank line in a row, no blank lines at the ends.
std::string tidy_text(std::string_view in) {
  std::vector<std::string> lines;
  std::string line;
  for (size_t i = 0; i <= in.size(); ++i) {
    if (i == in.size() || in[i] == '\n') {
      while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
        line.pop_back();
      lines.push_back(std::move(line));
      line.clear();
    } else {
      line.push_back(in[i]);
    }
  }
  std::string out;
  bool pending_blank = false;
  for (const std::string& l : lines) {
    if (l.empty()) {
      pending_blank = !out.empty();
      continue;
    }
    if (pending_blank) out.push_back('\n');
    pending_blank = false;
    out.append(l).push_back('\n');
  }
  return out;
}

// An SMS has no use for a final newline, and every character counts.
std::string tidy_sms(std::string_view in) {
  std::string out = tidy_text(in);
  while (!out.empty() && out.back() == '\n')
    out.pop_back();
  return out;
}

std::string people(int n) {
  return std::to_string(n) + (n == 1 ? " person" : " people");
}

// "a", "a and b", "a, b and c".
std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += (i + 1 == words.size()) ? " and " : ", ";
    out += words[i];
  }
  return out;
}

// Mustache's "standalone" rule: a line holding only a section, inverted-section, closing or
// comment tag produces no output line. kainjow gets this wrong both ways: a skipped section
// leaves a blank line, and a blank line after a closing tag can vanish. So the rule is applied
// around it: such a tag line gets a marker character (kainjow then leaves its lines alone), and
// after rendering every line made only of markers is removed. Values cannot carry the marker
// (one_line() turns control characters into spaces). Templates that change delimiters
// ({{=...=}}) are left as they are.
constexpr char kStandalone = '\x01';

std::string mark_standalone_tags(const std::string& source) {
  if (source.find("{{=") != std::string::npos) return source;
  std::string out;
  out.reserve(source.size() + 64);
  size_t start = 0;
  while (start < source.size()) {
    size_t end = source.find('\n', start);
    const bool has_newline = end != std::string::npos;
    if (!has_newline) end = source.size();
    std::string_view line(source.data() + start, end - start);
    std::string_view t = line;
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t'))
      t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\r'))
      t.remove_suffix(1);
    const bool standalone =
        t.size() >= 5 && t.substr(0, 2) == "{{" && t.substr(t.size() - 2) == "}}" &&
        std::string_view("#^/!").find(t[2]) != std::string_view::npos &&
        t.find("{{", 2) == std::string_view::npos && t.find("}}") == t.size() - 2;
    out.append(standalone ? t : line);
    if (standalone) out.push_back(kStandalone);
    if (has_newline) out.push_back('\n');
    start = end + 1;
  }
  return out;
}

// Drops the lines that only standalone tags produced, and any stray marker.
std::string drop_marked_lines(const std::string& rendered) {
  if (rendered.find(kStandalone) == std::string::npos) return rendered;
  std::string out;
  out.reserve(rendered.size());
  size_t start = 0;
  while (start < rendered.size()) {
    size_t end = rendered.find('\n', start);
    const bool has_newline = end != std::string::npos;
    if (!has_newline) end = rendered.size();
    std::string_view line(rendered.data() + start, end - start);
    bool marked = false, other = false;
    for (char c : line) {
      if (c == kStandalone) {
        marked = true;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        other = true;
      }
    }
    if (!marked || other) {
      for (char c : line)
        if (c != kStandalone) out.push_back(c);
      if (has_newline) out.push_back('\n');
    }
    start = end + 1;
  }
  return out;
}

// --- Template data -------------------------------------------------------------------------

// An empty value is false, so `{{#join_url}}...{{/join_url}}` means "when there is one".
mst::data value(const std::string& s) {
  return s.empty() ? mst::data(false) : mst::data(s);
}

// `outside`: the subject and the SMS body, which show on lock screens and in inbox lists.
// `subject`: the rendered subject, given to text and HTML (the HTML <title>).
//
// discreet is enforced here: a discreet view's title, group and cancel reason (free text that
// often names the group) never reach any template, and on the outside neither do its
// accommodations (they hint at a condition). The meeting is then called "your support
// meeting". Templates cannot leak what they are not given.
mst::data make_data(const MessageView& v, bool outside, const std::string& subject) {
  const bool hide = v.discreet;
  const std::string title = one_line(v.session_title);
  const std::string group = one_line(v.group_name);
  const std::string name = one_line(v.participant_name);

  mst::data d;
  d.set("kind", v.kind);
  d.set("medium", v.medium);
  d.set("discreet", v.discreet);
  d.set("subject", value(subject));
  d.set("participant_name", value(name));
  d.set("greeting", name.empty() ? "Hi," : "Hi " + name + ",");

  std::string meeting;
  if (hide) {
    meeting = is_staff_kind(v.kind) ? "a support meeting" : "your support meeting";
  } else {
    meeting = !title.empty() ? title : !group.empty() ? group : "your meeting";
  }
  d.set("meeting", meeting);
  d.set("session_title", value(hide ? "" : title));
  d.set("group_name", value(hide ? "" : group));
  d.set("cancel_reason", value(hide ? "" : one_line(v.cancel_reason)));

  d.set("starts_at_local", value(one_line(v.starts_at_local)));
  d.set("old_starts_at_local", value(one_line(v.old_starts_at_local)));
  d.set("time_zone", value(one_line(v.time_zone)));
  d.set("duration", value(format_duration(v.duration_minutes)));
  d.set("duration_minutes",
        value(v.duration_minutes > 0 ? std::to_string(v.duration_minutes) : ""));
  d.set("join_url", value(is_web_url(v.join_url) ? v.join_url : ""));
  d.set("unsubscribe_url", value(is_web_url(v.unsubscribe_url) ? v.unsubscribe_url : ""));
  d.set("calendar_attached", v.calendar_attached);
  d.set("series", v.series);
  d.set("repeats", value(v.series ? one_line(v.repeats) : ""));

  const bool rescheduled = !v.cancelled && !v.old_starts_at_local.empty();
  d.set("cancelled", v.cancelled);
  d.set("rescheduled", rescheduled);
  d.set("details_changed", !v.cancelled && !rescheduled);

  std::vector<std::string> accommodations;
  if (!(hide && outside)) {
    for (const std::string& a : v.accommodations) {
      std::string word = one_line(a);
      if (!word.empty()) accommodations.push_back(std::move(word));
    }
  }
  mst::data list{mst::data::type::list};
  for (const std::string& a : accommodations) {
    mst::data item;
    item.set("name", a);
    list.push_back(item);
  }
  d.set("accommodations", list);
  d.set("has_accommodations", !accommodations.empty());
  d.set("accommodations_joined", value(join_words(accommodations)));

  d.set("registration_id", value(one_line(v.registration_id)));
  d.set("registered_count", std::to_string(v.registered_count));
  d.set("registered_people", people(v.registered_count));
  mst::data needs{mst::data::type::list};
  std::vector<std::string> needs_words;  // "live captions (2)"
  std::vector<std::string> need_names;   // "live captions"
  if (!(hide && outside)) {
    for (const AccommodationNeed& n : v.accommodation_needs) {
      std::string need = one_line(n.need);
      if (need.empty() || n.count <= 0) continue;
      mst::data item;
      item.set("need", need);
      item.set("count", std::to_string(n.count));
      item.set("people", people(n.count));
      needs.push_back(item);
      needs_words.push_back(need + " (" + std::to_string(n.count) + ")");
      need_names.push_back(need);
    }
  }
  d.set("accommodation_needs", needs);
  d.set("has_accommodation_needs", !needs_words.empty());
  d.set("accommodation_needs_joined", value(join_words(needs_words)));
  d.set("accommodation_need_names", value(join_words(need_names)));
  d.set("lead_time", value(one_line(v.lead_time)));
  return d;
}

// --- Rendering -----------------------------------------------------------------------------

// A context that remembers every name it could not resolve. Data always carries every known
// key (empty ones as false), so a miss is a misspelt variable or a partial in the template.
class RecordingContext : public mst::basic_context<std::string> {
 public:
  explicit RecordingContext(const mst::data* data) : inner_(data) {}
  void push(const mst::data* data) override { inner_.push(data); }
  void pop() override { inner_.pop(); }
  const mst::data* get(const std::string& name) const override {
    const mst::data* found = inner_.get(name);
    if (found == nullptr) missing_.insert("{{" + name + "}}");
    return found;
  }
  const mst::data* get_partial(const std::string& name) const override {
    missing_.insert("{{> " + name + "}} (partials are not supported)");
    return nullptr;
  }
  const std::set<std::string>& missing() const { return missing_; }

 private:
  mst::context<std::string> inner_;
  mutable std::set<std::string> missing_;
};

std::string no_escape(const std::string& s) {
  return s;
}

struct PartOutput {
  std::string text;
  std::string error;              // from the Mustache engine
  std::set<std::string> missing;  // unresolved names
};

// Renders a parsed template (Templates::Compiled).
PartOutput render_part(mst::mustache& tmpl, const mst::data& data) {
  PartOutput out;
  if (!tmpl.is_valid()) {
    out.error = tmpl.error_message();
    return out;
  }
  RecordingContext ctx(&data);
  out.text = drop_marked_lines(tmpl.render(ctx));
  if (!tmpl.is_valid()) out.error = tmpl.error_message();
  out.missing = ctx.missing();
  return out;
}

// --- Loading -------------------------------------------------------------------------------

Result<std::string> read_template(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return Status::not_found("missing template " + path.string());
  std::uintmax_t size = fs::file_size(path, ec);
  if (ec) return Status::io("cannot read template " + path.string() + ": " + ec.message());
  if (size > kMaxTemplateBytes) {
    return Status::invalid("templates", path.string() + ": larger than 64 KiB");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (!in.good() && !in.eof()) return Status::io("cannot read template " + path.string());
  return buf.str();
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char a, char b) {
                          return std::tolower(static_cast<unsigned char>(a)) ==
                                 std::tolower(static_cast<unsigned char>(b));
                        });
  return it != haystack.end();
}

// <html ... lang="..."> : the first <html tag carries a lang attribute.
bool declares_language(std::string_view html) {
  std::string lower(html);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  size_t open = lower.find("<html");
  if (open == std::string::npos) return false;
  size_t close = lower.find('>', open);
  std::string_view tag = std::string_view(lower).substr(open, close - open);
  return tag.find(" lang=") != std::string_view::npos;
}

constexpr const char* kSampleUnsubscribe = "https://reminders.example.org/v1/unsubscribe?token=t";

// Views that between them take every branch a built-in template has: a full one (reschedule,
// accommodations, calendar), a cancelled one, a discreet one, an almost empty one, and a whole
// series (registered, cancelled, with no meeting still to come).
std::vector<MessageView> sample_views(std::string_view kind, std::string_view medium) {
  MessageView full;
  full.kind = kind;
  full.medium = medium;
  full.participant_name = "Sam";
  full.session_title = "Winter check-in";
  full.group_name = "Peer support";
  full.starts_at_local = "Tuesday, January 12, 7:00 PM EST";
  full.old_starts_at_local = "Monday, January 11, 7:00 PM EST";
  full.time_zone = "America/New_York";
  full.duration_minutes = 90;
  full.join_url = "https://zoom.example.org/j/1";
  full.unsubscribe_url = kSampleUnsubscribe;
  full.calendar_attached = true;
  full.accommodations = {"live captions"};
  full.registration_id = "r-1";
  full.registered_count = 3;
  full.accommodation_needs = {{"live captions", 1}};
  full.lead_time = "10 days";

  MessageView cancelled = full;
  cancelled.cancelled = true;
  cancelled.cancel_reason = "The host is ill.";
  MessageView discreet = full;
  discreet.discreet = true;
  MessageView bare;
  bare.kind = kind;
  bare.medium = medium;
  bare.starts_at_local = full.starts_at_local;
  bare.unsubscribe_url = kSampleUnsubscribe;
  MessageView series = full;
  series.series = true;
  series.repeats = "every week";
  MessageView series_cancelled = cancelled;
  series_cancelled.series = true;
  MessageView series_ended = series;  // no meeting still to come: no date
  series_ended.starts_at_local.clear();
  return {full, cancelled, discreet, bare, series, series_cancelled, series_ended};
}

// Renders one template against the samples; the first problem found, naming the file.
Status check_template(mst::mustache& tmpl, const std::string& path, std::string_view kind,
                      const PartSpec& spec) {
  const bool html = std::string_view(spec.part) == "html";
  const bool is_subject = std::string_view(spec.part) == "subject";
  const bool sms = std::string_view(spec.medium) == "sms";
  const std::vector<MessageView> samples = sample_views(kind, spec.medium);
  for (size_t i = 0; i < samples.size(); ++i) {
    const MessageView& view = samples[i];
    mst::data data = make_data(view, is_subject || sms, "Sample subject");
    PartOutput out = render_part(tmpl, data);
    if (!out.error.empty()) return Status::malformed(path + ": " + out.error, "templates");
    if (!out.missing.empty()) {
      std::string names;
      for (const std::string& m : out.missing)
        names += (names.empty() ? "" : ", ") + m;
      return Status::invalid("templates", path + ": unknown variable " + names);
    }
    if (i == 0) {  // the full view: every check applies
      std::string shown = sms ? tidy_sms(out.text) : tidy_text(out.text);
      if (shown.empty()) return Status::invalid("templates", path + ": renders to nothing");
      if (!sms && !is_subject && out.text.find(kSampleUnsubscribe) == std::string::npos) {
        return Status::invalid("templates", path + ": must include {{unsubscribe_url}}");
      }
      if (html && (!declares_language(out.text) || !contains_ci(out.text, "<title>"))) {
        return Status::invalid("templates",
                               path + ": must declare <html lang=\"...\"> and a <title>");
      }
    }
  }
  return Status::ok();
}

}  // namespace

Result<std::string> format_local_time(TimePoint utc, std::string_view time_zone) {
  const date::time_zone* zone = find_zone(time_zone);
  if (zone == nullptr) {
    return Status::invalid("time_zone", "unknown time zone \"" + std::string(time_zone) + "\"");
  }
  const auto zt = date::make_zoned(zone, date::floor<std::chrono::minutes>(utc));
  const auto local = date::floor<std::chrono::minutes>(zt.get_local_time());
  const date::local_days day = date::floor<date::days>(local);
  const date::year_month_day ymd{day};
  const long minutes_of_day = static_cast<long>((local - day).count());
  const long hour = minutes_of_day / 60;
  const long minute = minutes_of_day % 60;

  // Names through date::format with the classic locale: English whatever the process locale.
  std::string names = date::format(std::locale::classic(), "%A, %B", zt);
  std::string abbrev = zt.get_info().abbrev;
  if (abbrev.empty() || abbrev[0] == '+' || abbrev[0] == '-') {
    // tzdata writes "-03" for zones with no common abbreviation; "UTC-3" reads better.
    const int offset = static_cast<int>(
        std::chrono::duration_cast<std::chrono::minutes>(zt.get_info().offset).count());
    const int a = offset < 0 ? -offset : offset;
    std::string buf = std::string("UTC") + (offset < 0 ? "-" : "+") + std::to_string(a / 60);
    if (a % 60 != 0) buf += (a % 60 < 10 ? ":0" : ":") + std::to_string(a % 60);
    abbrev = offset == 0 ? "UTC" : buf;
  }
  char time_buf[64];
  std::snprintf(time_buf, sizeof time_buf, " %u, %ld:%02ld %s ", static_cast<unsigned>(ymd.day()),
                hour % 12 == 0 ? 12 : hour % 12, minute, hour < 12 ? "AM" : "PM");
  return names + time_buf + abbrev;
}

std::string format_duration(int minutes) {
  if (minutes <= 0) return "";
  const int hours = minutes / 60;
  const int rest = minutes % 60;
  // "90 minutes" is how people say it; past two hours, hours read better.
  if (hours == 0 || (rest != 0 && minutes < 120)) return std::to_string(minutes) + " minutes";
  std::string out = std::to_string(hours) + (hours == 1 ? " hour" : " hours");
  if (rest != 0) out += " " + std::to_string(rest) + " minutes";
  return out;
}

// A template parsed once, at load. Only HTML escapes values; in plain text and SMS "&" must
// stay "&" whether the template says {{x}} or {{{x}}}. Rendering does not change the parse tree
// (nudged's templates have no partials or lambdas, the only things the engine parses while
// rendering), but the engine's render() is not const: see Templates::render.
struct Templates::Compiled {
  Compiled(const std::string& source, bool html) : tmpl(source) {
    if (!html) tmpl.set_custom_escape(no_escape);
  }
  mst::mustache tmpl;
};

Result<Templates> Templates::load(const std::string& builtin_dir, const std::string& override_dir) {
  std::set<std::string> known;
  for (std::string_view kind : kMessageKinds) {
    for (const PartSpec& spec : kParts)
      known.insert(template_key(kind, spec.medium, spec.part) + ".mustache");
  }

  std::set<std::string> overridden;
  if (!override_dir.empty()) {
    std::error_code ec;
    if (!fs::is_directory(override_dir, ec)) {
      return Status::not_found("templates dir " + override_dir + " is not a directory");
    }
    for (const fs::directory_entry& entry : fs::directory_iterator(override_dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (entry.path().extension() != ".mustache") continue;
      if (known.count(name) == 0) {
        return Status::invalid(
            "templates", entry.path().string() + ": not a template nudged uses (misspelt name?)");
      }
      overridden.insert(name);
    }
    if (ec) return Status::io("cannot list templates dir " + override_dir + ": " + ec.message());
  }

  Templates t;
  for (std::string_view kind : kMessageKinds) {
    for (const PartSpec& spec : kParts) {
      const std::string key = template_key(kind, spec.medium, spec.part);
      const std::string file = key + ".mustache";
      const fs::path path =
          overridden.count(file) ? fs::path(override_dir) / file : fs::path(builtin_dir) / file;
      Result<std::string> read = read_template(path);
      if (!read) return read.status();
      Result<std::string> source = mark_standalone_tags(*read);
      auto compiled = std::make_shared<Compiled>(*source, std::string_view(spec.part) == "html");
      Status checked = check_template(compiled->tmpl, path.string(), kind, spec);
      if (!checked) return checked;
      t.compiled_[key] = std::move(compiled);
      t.origins_[key] = path.string();
    }
  }
  return t;
}

Result<Rendered> Templates::render(const MessageView& view) const {
  if (!is_known_kind(view.kind)) return Status::invalid("kind", "unknown message kind");
  const bool email = view.medium == "email";
  if (!email && view.medium != "sms") return Status::invalid("medium", "not email or sms");
  if (email && !is_web_url(view.unsubscribe_url)) {
    return Status::invalid("unsubscribe_url", "an email needs an http(s) unsubscribe link");
  }

  auto part = [&](const char* name, const mst::data& data) -> Result<std::string> {
    const std::string key = template_key(view.kind, view.medium, name);
    auto it = compiled_.find(key);
    if (it == compiled_.end()) return Status::not_found("no template " + key);
    PartOutput out = render_part(it->second->tmpl, data);
    if (!out.error.empty()) return Status::malformed(key + ": " + out.error, "templates");
    return std::move(out.text);
  };

  Rendered r;
  if (!email) {
    Result<std::string> text = part("text", make_data(view, true, ""));
    if (!text) return text.status();
    r.text = tidy_sms(*text);
    return r;
  }
  Result<std::string> subject = part("subject", make_data(view, true, ""));
  if (!subject) return subject.status();
  r.subject = one_line(*subject);
  const mst::data body = make_data(view, false, r.subject);
  Result<std::string> text = part("text", body);
  if (!text) return text.status();
  r.text = tidy_text(*text);
  Result<std::string> html = part("html", body);
  if (!html) return html.status();
  r.html = std::move(*html);
  return r;
}

}  // namespace nudged
