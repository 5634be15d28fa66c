#include "daemon/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

namespace nudged {
namespace {

thread_local std::vector<LogField> tl_fields;

spdlog::level::level_enum spd_level(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

// The names the configuration uses for log_level (spdlog says "warning", "critical").
const char* level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    default:
      return "critical";
  }
}

// syslog(3) priorities, as journald and `journalctl -p` read them.
int syslog_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical:
      return 2;
    case spdlog::level::err:
      return 3;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::info:
      return 6;
    default:
      return 7;
  }
}

// The fields in force, innermost first wins when a key is set twice (nested contexts).
std::vector<const LogField*> distinct_fields() {
  std::vector<const LogField*> out;
  std::set<std::string_view> seen;
  const auto& all = log_context();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (seen.insert(it->key).second) out.push_back(&*it);
  }
  return out;
}

std::string utc_millis(spdlog::log_clock::time_point t) {
  auto since = t.time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs).count();
  time_t tt = static_cast<time_t>(secs.count());
  tm parts{};
  gmtime_r(&tt, &parts);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &parts);
  snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}

// One JSON object per line on stderr. Keys of context fields never shadow ts/level/msg.
class JsonSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    nlohmann::ordered_json line = nlohmann::ordered_json::object();
    line["ts"] = utc_millis(msg.time);
    line["level"] = level_name(msg.level);
    line["msg"] = std::string(msg.payload.data(), msg.payload.size());
    for (const LogField* f : distinct_fields()) {
      if (line.contains(f->key)) continue;
      if (f->number) {
        line[f->key] = std::strtoll(f->value.c_str(), nullptr, 10);
      } else {
        line[f->key] = f->value;
      }
    }
    // A provider's error text may not be UTF-8: replace, never throw from a log call.
    std::string out = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

// Native journald entries with the context fields. spdlog's own systemd_sink (1.10 in Debian
// 12) sends only MESSAGE, PRIORITY and SYSLOG_IDENTIFIER, hence this one.
class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  JournalSink()
      : fallback_(std::make_shared<spdlog::sinks::stderr_color_sink_st>()),
        // libsystemd drops an entry silently (returns 0) when journald's socket is missing, so
        // ask once: without journald (a container, a test) the lines go to stderr as text.
        journald_(journald_listening()) {}

  bool journald() const { return journald_; }

  static bool journald_listening() {
    struct stat st {};
    return ::stat(kJournalSocket, &st) == 0 && S_ISSOCK(st.st_mode);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::vector<std::string> parts;
    parts.push_back("MESSAGE=" + std::string(msg.payload.data(), msg.payload.size()));
    parts.push_back("PRIORITY=" + std::to_string(syslog_priority(msg.level)));
    parts.emplace_back("SYSLOG_IDENTIFIER=nudged");
    for (const LogField* f : distinct_fields()) {
      std::string name = f->key;
      for (char& c : name)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      parts.push_back(name + "=" + f->value);
    }
    std::vector<iovec> iov;
    iov.reserve(parts.size());
    for (std::string& p : parts)
      iov.push_back(iovec{p.data(), p.size()});
    // The parentheses keep sd-journal.h's macro from adding CODE_FILE/CODE_LINE of this sink.
    if (!journald_ || (sd_journal_sendv)(iov.data(), static_cast<int>(iov.size())) < 0) {
      fallback_->log(msg);
    }
  }
  void flush_() override { fallback_->flush(); }

 private:
  static constexpr const char* kJournalSocket = "/run/systemd/journal/socket";
  std::shared_ptr<spdlog::sinks::stderr_color_sink_st> fallback_;
  bool journald_;
};

// systemd sets JOURNAL_STREAM=<device>:<inode> of the stream it connected to the journal; it
// applies to stderr only when stderr is still that stream (not redirected since).
bool stderr_is_journal() {
  const char* v = std::getenv("JOURNAL_STREAM");
  if (v == nullptr || *v == '\0') return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(v, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

}  // namespace

LogContext::LogContext(std::initializer_list<LogField> fields) : pushed_(fields.size()) {
  tl_fields.insert(tl_fields.end(), fields.begin(), fields.end());
}

LogContext::~LogContext() {
  tl_fields.erase(tl_fields.end() - static_cast<std::ptrdiff_t>(pushed_), tl_fields.end());
}

const std::vector<LogField>& log_context() {
  return tl_fields;
}

LogFormat effective_log_format(LogFormat configured) {
  if (configured == LogFormat::kText && stderr_is_journal()) return LogFormat::kJournal;
  return configured;
}

void setup_logging(LogFormat format, LogLevel level) {
  spdlog::sink_ptr sink;
  bool no_journald = false;
  switch (effective_log_format(format)) {
    case LogFormat::kText:
      sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
      break;
    case LogFormat::kJson:
      sink = std::make_shared<JsonSink>();
      break;
    case LogFormat::kJournal: {
      auto journal = std::make_shared<JournalSink>();
      no_journald = !journal->journald();
      sink = std::move(journal);
      break;
    }
  }
  auto logger = std::make_shared<spdlog::logger>("", std::move(sink));
  spdlog::set_default_logger(std::move(logger));
  set_log_level(level);
  if (no_journald)
    spdlog::warn("log_format is journal but journald is not running: logging to stderr");
}

void set_log_level(LogLevel level) {
  spdlog::set_level(spd_level(level));
  // A warning or an error is on stderr (or in the journal) at once, not when a buffer fills.
  spdlog::flush_on(spdlog::level::warn);
}

}  // namespace nudged
