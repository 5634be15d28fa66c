// Tests of channels/render.h: local times, the built-in templates (every kind, both media),
// reading level, discreet, escaping, and template loading with overrides.
#include "channels/render.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/unit/channels/message_views.h"
#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

namespace fs = std::filesystem;
using testing::kUnsubscribe;
using testing::variants;
using testing::view_of;

// The built-in set in the source tree, found from this file so the test needs no CMake define.
std::string builtin_dir() {
  return (fs::path(__FILE__).parent_path() / "../../../config/templates").lexically_normal();
}

const Templates& builtin() {
  static const Result<Templates> templates = Templates::load(builtin_dir(), "");
  if (!templates) ADD_FAILURE() << templates.status().to_string();
  return *templates;
}

const std::vector<std::string> kKinds(kMessageKinds.begin(), kMessageKinds.end());

Rendered render_ok(const MessageView& v) {
  Result<Rendered> r = builtin().render(v);
  EXPECT_TRUE(r.is_ok()) << v.kind << "." << v.medium << ": " << r.status().to_string();
  return r.is_ok() ? *r : Rendered{};
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

std::string html_escaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// --- format_local_time, format_duration ----------------------------------------------------

std::string local(const char* rfc3339, const char* zone) {
  Result<std::string> r = format_local_time(testing::at(rfc3339), zone);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : "";
}

TEST(FormatLocalTime, WeekdayMonthDayTwelveHourClockAndAbbreviation) {
  EXPECT_EQ(local("2027-01-12T19:00:00-05:00", "America/New_York"),
            "Tuesday, January 12, 7:00 PM EST");
  EXPECT_EQ(local("2027-07-13T23:30:00Z", "America/New_York"), "Tuesday, July 13, 7:30 PM EDT");
  EXPECT_EQ(local("2027-01-12T00:05:00Z", "Europe/London"), "Tuesday, January 12, 12:05 AM GMT");
  EXPECT_EQ(local("2027-07-13T11:00:00Z", "Europe/London"), "Tuesday, July 13, 12:00 PM BST");
}

TEST(FormatLocalTime, ZonesWithoutAnAbbreviationShowTheirOffset) {
  EXPECT_EQ(local("2027-01-12T22:00:00Z", "America/Sao_Paulo"),
            "Tuesday, January 12, 7:00 PM UTC-3");
  EXPECT_EQ(local("2027-01-12T13:30:00Z", "Asia/Kolkata"), "Tuesday, January 12, 7:00 PM IST");
  EXPECT_EQ(local("2027-01-12T19:00:00Z", "UTC"), "Tuesday, January 12, 7:00 PM UTC");
}

TEST(FormatLocalTime, UnknownZoneIsAnError) {
  Result<std::string> r = format_local_time(testing::at("2027-01-12T19:00:00Z"), "Mars/Olympus");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().field(), "time_zone");
}

TEST(FormatDuration, MinutesHoursAndBoth) {
  EXPECT_EQ(format_duration(0), "");
  EXPECT_EQ(format_duration(45), "45 minutes");
  EXPECT_EQ(format_duration(60), "1 hour");
  EXPECT_EQ(format_duration(90), "90 minutes");
  EXPECT_EQ(format_duration(120), "2 hours");
  EXPECT_EQ(format_duration(150), "2 hours 30 minutes");
}

// --- The built-in set ----------------------------------------------------------------------

TEST(Templates, BuiltInSetLoadsEveryKindAndPart) {
  EXPECT_EQ(builtin().origins().size(), kKinds.size() * 4);
  for (const auto& [key, path] : builtin().origins()) {
    EXPECT_EQ(fs::path(path).filename(), key + ".mustache");
  }
}

TEST(Templates, EveryKindRendersAnAccessibleEmail) {
  for (const std::string& kind : kKinds) {
    for (const MessageView& v : variants(kind, "email")) {
      SCOPED_TRACE(kind + (v.series ? " series" : "") + (v.cancelled ? " cancelled" : "") +
                   (v.old_starts_at_local.empty() ? "" : " moved"));
      Rendered r = render_ok(v);
      EXPECT_FALSE(r.subject.empty());
      EXPECT_EQ(r.subject.find('\n'), std::string::npos);
      EXPECT_EQ(r.subject.find("  "), std::string::npos);

      // The plain-text part ends with how to stop getting these.
      ASSERT_FALSE(r.text.empty());
      EXPECT_EQ(r.text.back(), '\n');
      std::string last = r.text.substr(r.text.rfind('\n', r.text.size() - 2) + 1);
      EXPECT_EQ(last, "To stop getting these emails, go to " + kUnsubscribe + "\n");
      EXPECT_EQ(r.text.find("\n\n\n"), std::string::npos) << r.text;

      // A full, semantic HTML document; nothing carried by images or colour.
      EXPECT_EQ(r.html.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0), 0u);
      EXPECT_NE(r.html.find("<title>" + html_escaped(r.subject) + "</title>"), std::string::npos);
      EXPECT_NE(r.html.find("<h1>"), std::string::npos);
      EXPECT_NE(r.html.find("<main>"), std::string::npos);
      EXPECT_NE(r.html.find("</html>"), std::string::npos);
      EXPECT_NE(r.html.find("<a href=\"" + kUnsubscribe + "\">Stop getting these emails</a>"),
                std::string::npos);
      for (const char* banned : {"<img", "style=", "<font", "color", "click here"}) {
        EXPECT_EQ(r.html.find(banned), std::string::npos) << banned;
      }
    }
  }
}

TEST(Templates, EveryKindRendersAnSms) {
  for (const std::string& kind : kKinds) {
    for (const MessageView& v : variants(kind, "sms")) {
      SCOPED_TRACE(kind + (v.series ? " series" : ""));
      Rendered r = render_ok(v);
      EXPECT_FALSE(r.text.empty());
      EXPECT_TRUE(r.subject.empty());
      EXPECT_TRUE(r.html.empty());
      EXPECT_EQ(r.text.find('\n'), std::string::npos) << r.text;
      // A whole series cancelled has no one date to name.
      if (v.series && v.cancelled) continue;
      EXPECT_NE(r.text.find("January 12"), std::string::npos) << r.text;
    }
  }
}

TEST(Templates, AccommodationsAreAListInHtml) {
  MessageView v = view_of("registration.confirmation", "email");
  v.accommodations = {"live captions", "ASL interpreting"};
  Rendered r = render_ok(v);
  EXPECT_NE(r.html.find("<ul>\n<li>live captions</li>\n<li>ASL interpreting</li>\n</ul>"),
            std::string::npos)
      << r.html;
  EXPECT_NE(r.text.find("You asked for: live captions and ASL interpreting."), std::string::npos);

  MessageView roster = view_of("facilitator.roster", "email");
  r = render_ok(roster);
  EXPECT_NE(r.html.find("<li>live captions: 2 people</li>"), std::string::npos) << r.html;
  EXPECT_NE(r.text.find("- ASL interpreting: 1 person\n"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("Signed up: 12 people"), std::string::npos);
}

TEST(Templates, RescheduleShowsBothTimesAndCancelShowsTheReason) {
  std::vector<MessageView> v = variants("session.changed", "email");
  Rendered moved = render_ok(v[1]);
  EXPECT_EQ(moved.subject, "New time: Winter check-in is now Tuesday, January 12, 7:00 PM EST");
  EXPECT_NE(moved.text.find("Old time: Monday, January 11, 7:00 PM EST"), std::string::npos);
  Rendered cancelled = render_ok(v[2]);
  EXPECT_EQ(cancelled.subject, "Cancelled: Winter check-in on Tuesday, January 12, 7:00 PM EST");
  EXPECT_NE(cancelled.text.find("Reason: The host is ill."), std::string::npos);
  EXPECT_EQ(cancelled.text.find("Join here"), std::string::npos);
}

// Mustache's standalone-line rule holds: a skipped optional line leaves no blank line behind,
// and the blank lines the template means stay.
TEST(Templates, OptionalLinesLeaveNoHoles) {
  MessageView v;
  v.kind = "session.reminder";
  v.medium = "email";
  v.session_title = "Game night";
  v.starts_at_local = "Friday, January 15, 8:00 PM EST";
  v.unsubscribe_url = kUnsubscribe;
  EXPECT_EQ(render_ok(v).text,
            "Hi,\n"
            "\n"
            "This is a reminder about Game night.\n"
            "\n"
            "When: Friday, January 15, 8:00 PM EST\n"
            "\n"
            "We hope to see you there. If you can't make it, that's okay. Take care of yourself.\n"
            "\n"
            "To stop getting these emails, go to " +
                kUnsubscribe + "\n");
}

// --- Reading level -------------------------------------------------------------------------

// Words of a message as a reader meets them: URLs dropped (nobody reads those aloud).
std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string token;
  while (in >> token) {
    if (token.rfind("http", 0) == 0) continue;
    std::string w;
    for (char c : token)
      if (std::isalpha(static_cast<unsigned char>(c))) w.push_back(c);
    if (!w.empty()) out.push_back(w);
  }
  return out;
}

// Vowel groups, minus a silent final "e": the usual rough syllable count.
int syllables(std::string w) {
  for (char& c : w)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto vowel = [](char c) { return std::string_view("aeiouy").find(c) != std::string::npos; };
  int n = 0;
  for (size_t i = 0; i < w.size(); ++i)
    if (vowel(w[i]) && (i == 0 || !vowel(w[i - 1]))) ++n;
  if (w.size() > 2 && w.back() == 'e' && !vowel(w[w.size() - 2]) && n > 1) --n;
  return n < 1 ? 1 : n;
}

struct Readability {
  int sentences = 0;
  int words = 0;
  int syllables = 0;
  size_t longest_sentence = 0;       // in words
  std::set<std::string> long_words;  // more than 12 letters
  double words_per_sentence() const { return double(words) / sentences; }
  // Flesch-Kincaid grade level.
  double grade() const {
    return 0.39 * words_per_sentence() + 11.8 * double(syllables) / words - 15.59;
  }
};

// A sentence ends at . ! ? and at a line end (a "When: ..." line is a sentence to a reader).
void measure(const std::string& text, Readability& r) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::string sentence;
    auto flush = [&] {
      std::vector<std::string> ws = words_of(sentence);
      if (ws.empty()) return;
      ++r.sentences;
      r.longest_sentence = std::max(r.longest_sentence, ws.size());
      for (const std::string& w : ws) {
        ++r.words;
        r.syllables += syllables(w);
        if (w.size() > 12) r.long_words.insert(w);
      }
      sentence.clear();
    };
    for (size_t i = 0; i < line.size(); ++i) {
      sentence.push_back(line[i]);
      bool end = (line[i] == '.' || line[i] == '!' || line[i] == '?') &&
                 (i + 1 == line.size() || line[i + 1] == ' ');
      if (end) flush();
    }
    flush();
  }
}

// An honest, simple check of "grade 8 or below": Flesch-Kincaid over every subject, email text
// and SMS of a kind, no sentence over 20 words, and no word over 12 letters outside a small set
// the subject needs. Label lines ("When: ...") count as sentences, which flatters the average;
// the longest-sentence bound is the check that prose cannot hide behind them. (Today: 5 to 7
// words a sentence, grades 3.4 to 4.8.)
TEST(Templates, PlainLanguage) {
  const std::set<std::string> allowed_long = {"accommodations"};
  for (const std::string& kind : kKinds) {
    Readability r;
    for (const char* medium : {"email", "sms"}) {
      for (MessageView v : variants(kind, medium)) {
        Rendered out = render_ok(v);
        measure(out.subject + "\n" + out.text, r);
      }
    }
    SCOPED_TRACE(kind);
    EXPECT_LT(r.words_per_sentence(), 12.0);
    EXPECT_LE(r.longest_sentence, 20u);
    EXPECT_LE(r.grade(), 8.0) << "words/sentence " << r.words_per_sentence();
    for (const std::string& w : r.long_words)
      EXPECT_TRUE(allowed_long.count(w)) << w;
  }
}

// GSM-7 basic set: what fits 160 characters to a segment.
bool is_gsm7_basic(char c) {
  static const std::string extra = "@$_!\"#%&'()*+,-./:;<=>?\n\r ";
  return std::isalnum(static_cast<unsigned char>(c)) || extra.find(c) != std::string::npos;
}

TEST(Templates, SmsReminderFitsOneSegment) {
  for (bool discreet : {false, true}) {
    MessageView v = view_of("session.reminder", "sms");
    v.discreet = discreet;
    Rendered r = render_ok(v);
    EXPECT_LE(r.text.size(), 160u) << r.text;
    for (char c : r.text)
      EXPECT_TRUE(is_gsm7_basic(c)) << "'" << c << "' in " << r.text;
  }
  // The whole built-in SMS set stays in GSM-7 for ASCII values.
  for (const std::string& kind : kKinds) {
    for (const MessageView& v : variants(kind, "sms")) {
      for (char c : render_ok(v).text)
        EXPECT_TRUE(is_gsm7_basic(c)) << kind << ": '" << c << "'";
    }
  }
}

// --- discreet ------------------------------------------------------------------------------

MessageView revealing(const std::string& kind, const std::string& medium) {
  MessageView v = view_of(kind, medium);
  v.session_title = "Crohn's and colitis circle";
  v.group_name = "IBD peer support";
  v.cancel_reason = "The IBD nurse is away";
  v.accommodations = {"ASL interpreting"};
  v.accommodation_needs = {{"ASL interpreting", 1}};
  v.discreet = true;
  return v;
}

void expect_hidden(const std::string& shown, const std::vector<std::string>& secrets) {
  for (const std::string& s : secrets)
    EXPECT_EQ(shown.find(s), std::string::npos) << "\"" << s << "\" in: " << shown;
}

TEST(Discreet, HidesGroupTitleAndConditionInSmsAndSubjectsForEveryKind) {
  const std::vector<std::string> secrets = {"IBD", "Crohn", "colitis", "circle", "nurse", "ASL"};
  for (const std::string& kind : kKinds) {
    for (MessageView v : variants(kind, "sms")) {
      MessageView d = revealing(kind, "sms");
      d.cancelled = v.cancelled;
      d.old_starts_at_local = v.old_starts_at_local;
      d.series = v.series;
      d.repeats = v.repeats;
      SCOPED_TRACE(kind + (v.series ? " series" : ""));
      Rendered sms = render_ok(d);
      expect_hidden(sms.text, secrets);
      EXPECT_NE(sms.text.find("support meeting"), std::string::npos) << sms.text;

      d.medium = "email";
      Rendered email = render_ok(d);
      expect_hidden(email.subject, secrets);
      // The body hides group, title and reason too; the person's own requests stay visible.
      expect_hidden(email.text, {"IBD", "Crohn", "colitis", "circle", "nurse"});
      expect_hidden(email.html, {"IBD", "Crohn", "colitis", "circle", "nurse"});
    }
  }
}

TEST(Discreet, SubjectAndSmsReadNaturally) {
  MessageView v = revealing("session.reminder", "sms");
  EXPECT_EQ(render_ok(v).text,
            "Reminder: your support meeting starts Tuesday, January 12, 7:00 PM EST. "
            "Join: https://zoom.us/j/81234567890");
  v.medium = "email";
  EXPECT_EQ(render_ok(v).subject,
            "Reminder: your support meeting on Tuesday, January 12, 7:00 PM EST");
}

TEST(Discreet, OffShowsGroupAndTitle) {
  MessageView v = revealing("session.reminder", "email");
  v.discreet = false;
  Rendered r = render_ok(v);
  EXPECT_NE(r.subject.find("Crohn's and colitis circle"), std::string::npos);
  EXPECT_NE(r.text.find("Group: IBD peer support"), std::string::npos);
  v.medium = "sms";
  EXPECT_NE(render_ok(v).text.find("Crohn's and colitis circle"), std::string::npos);
}

// --- Escaping and hygiene ------------------------------------------------------------------

TEST(Escaping, HtmlEscapesUserValuesPlainTextDoesNot) {
  MessageView v = view_of("session.reminder", "email");
  v.session_title = "<script>alert(1)</script> Arts & Crafts";
  v.participant_name = "Ana \"Bo\" O'Neil";
  Rendered r = render_ok(v);
  EXPECT_EQ(r.html.find("<script>"), std::string::npos);
  EXPECT_NE(r.html.find("<h1>Reminder: &lt;script&gt;alert(1)&lt;/script&gt; Arts &amp; Crafts"),
            std::string::npos)
      << r.html;
  EXPECT_NE(r.html.find("<title>Reminder: &lt;script&gt;"), std::string::npos);
  EXPECT_NE(r.html.find("Hi Ana &quot;Bo&quot; O&apos;Neil,"), std::string::npos);
  EXPECT_NE(r.text.find("about <script>alert(1)</script> Arts & Crafts."), std::string::npos);
  EXPECT_NE(r.subject.find("Arts & Crafts"), std::string::npos);
  EXPECT_EQ(r.text.find("&amp;"), std::string::npos);
  EXPECT_EQ(r.subject.find("&amp;"), std::string::npos);
}

TEST(Escaping, SmsKeepsAmpersand) {
  MessageView v = view_of("session.reminder", "sms");
  v.session_title = "Arts & Crafts";
  Rendered r = render_ok(v);
  EXPECT_NE(r.text.find("Reminder: Arts & Crafts starts"), std::string::npos) << r.text;
  EXPECT_EQ(r.text.find("&amp;"), std::string::npos);
}

TEST(Escaping, NewlinesInValuesCannotAddHeadersOrLines) {
  MessageView v = view_of("session.reminder", "email");
  v.session_title = "Check-in\r\nBcc: someone@example.org";
  v.participant_name = "Sam\u2028Other";
  Rendered r = render_ok(v);
  EXPECT_EQ(r.subject.find_first_of("\r\n"), std::string::npos);
  EXPECT_EQ(r.subject,
            "Reminder: Check-in Bcc: someone@example.org on Tuesday, January 12, "
            "7:00 PM EST");
  EXPECT_EQ(r.text.rfind("Hi Sam Other,\n", 0), 0u);
}

TEST(Escaping, OnlyWebLinksAreLinked) {
  MessageView v = view_of("session.reminder", "email");
  v.join_url = "javascript:alert(1)";
  Rendered r = render_ok(v);
  EXPECT_EQ(r.html.find("javascript"), std::string::npos);
  EXPECT_EQ(r.text.find("javascript"), std::string::npos);
  EXPECT_EQ(r.text.find("Join here"), std::string::npos);
}

TEST(Render, RefusesBadViews) {
  MessageView v = view_of("session.reminder", "email");
  v.unsubscribe_url = "";
  EXPECT_EQ(builtin().render(v).status().field(), "unsubscribe_url");
  v = view_of("session.reminder", "fax");
  EXPECT_EQ(builtin().render(v).status().field(), "medium");
  v = view_of("session.nonsense", "sms");
  EXPECT_EQ(builtin().render(v).status().field(), "kind");
  v = view_of("session.reminder", "sms");
  v.unsubscribe_url = "";  // SMS opt-out is by reply (STOP)
  EXPECT_TRUE(builtin().render(v).is_ok());
}

// --- Loading and overrides -----------------------------------------------------------------

TEST(Load, OverrideReplacesOneTemplate) {
  testing::TempDir dir;
  const fs::path over = dir.file("over");
  fs::create_directory(over);
  write_file(over / "session.reminder.sms.text.mustache", "Soon: {{{meeting}}} & more\n");
  write_file(over / "README.txt", "not a template, ignored");
  Result<Templates> t = Templates::load(builtin_dir(), over.string());
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  Result<Rendered> sms = t->render(view_of("session.reminder", "sms"));
  ASSERT_TRUE(sms.is_ok());
  EXPECT_EQ(sms->text, "Soon: Winter check-in & more");
  EXPECT_EQ(t->origins().at("session.reminder.sms.text"),
            (over / "session.reminder.sms.text.mustache").string());
  // Everything else is still the built-in set.
  Result<Rendered> email = t->render(view_of("session.reminder", "email"));
  ASSERT_TRUE(email.is_ok());
  EXPECT_EQ(email->subject, render_ok(view_of("session.reminder", "email")).subject);
  EXPECT_EQ(t->origins().at("session.reminder.email.text").rfind(builtin_dir(), 0), 0u);
}

// Loads with one override file and returns the error text ("" when it loads).
std::string load_error_with(const std::string& name, const std::string& text,
                            std::string* path = nullptr) {
  testing::TempDir dir;
  const fs::path over = dir.file("over");
  fs::create_directory(over);
  write_file(over / name, text);
  if (path) *path = (over / name).string();
  Result<Templates> t = Templates::load(builtin_dir(), over.string());
  return t.is_ok() ? "" : t.status().to_string();
}

TEST(Load, UnclosedSectionFailsNamingTheFile) {
  std::string path;
  std::string err =
      load_error_with("session.changed.sms.text.mustache", "{{#cancelled}}Sorry.\n", &path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("Unclosed section"), std::string::npos) << err;
}

TEST(Load, MissingTemplateFailsNamingTheFile) {
  testing::TempDir dir;
  const fs::path copy = dir.file("builtin");
  fs::copy(builtin_dir(), copy);
  fs::remove(copy / "accommodation.escalation.email.html.mustache");
  Result<Templates> t = Templates::load(copy.string(), "");
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().to_string().find("accommodation.escalation.email.html.mustache"),
            std::string::npos)
      << t.status().to_string();
}

TEST(Load, MisspeltVariableFailsNamingFileAndVariable) {
  std::string err = load_error_with("session.reminder.sms.text.mustache",
                                    "Reminder: {{{meeting}}} at {{{start_at_local}}}\n");
  EXPECT_NE(err.find("session.reminder.sms.text.mustache"), std::string::npos) << err;
  EXPECT_NE(err.find("{{start_at_local}}"), std::string::npos) << err;
}

TEST(Load, PartialsAreRefused) {
  std::string err = load_error_with("session.reminder.sms.text.mustache", "{{> footer}}\n");
  EXPECT_NE(err.find("partials are not supported"), std::string::npos) << err;
}

TEST(Load, MisspeltOverrideFileNameFails) {
  std::string err = load_error_with("session.remider.sms.text.mustache", "Hi\n");
  EXPECT_NE(err.find("session.remider.sms.text.mustache"), std::string::npos) << err;
}

TEST(Load, EmailWithoutUnsubscribeLinkFails) {
  std::string err = load_error_with("session.reminder.email.text.mustache", "See you.\n");
  EXPECT_NE(err.find("unsubscribe_url"), std::string::npos) << err;
}

TEST(Load, HtmlWithoutLanguageFails) {
  std::string err = load_error_with(
      "session.reminder.email.html.mustache",
      "<html><head><title>x</title></head><body><a href=\"{{unsubscribe_url}}\">Stop</a></body>"
      "</html>\n");
  EXPECT_NE(err.find("lang"), std::string::npos) << err;
}

TEST(Load, OverrideDirMustExist) {
  Result<Templates> t = Templates::load(builtin_dir(), "/nonexistent/nudged-templates");
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().to_string().find("/nonexistent/nudged-templates"), std::string::npos);
}

}  // namespace
}  // namespace nudged
