// Logging set-up: where nudged's log lines go and in which shape (SPEC §2 `log_format`).
//
//   text     one human-readable line per message on stderr (running by hand, scripts/run)
//   json     one JSON object per line on stderr: ts, level, msg and the context fields below
//   journal  native journald entries (MESSAGE, PRIORITY, SYSLOG_IDENTIFIER=nudged and the
//            context fields as upper-case journal fields: NOTIFICATION_ID, CHANNEL, ...).
//            When journald cannot be reached the entry goes to stderr as text instead: a
//            daemon must not stop or lose its log because the journal is away.
//   "text" becomes "journal" when stderr is the journal's stream ($JOURNAL_STREAM names
//   stderr's device and inode, as systemd sets it for StandardError=journal): the journal then
//   keeps the level and the fields rather than one flat line.
//
// Context fields: a LogContext on the stack adds fields (a notification id, a channel, an
// event position) to every line logged on that thread while it lives, so call sites keep
// spdlog's plain `spdlog::info(...)` and the structure rides along. Ids only: personal data
// (names, addresses, phone numbers, free text) is never a field nor in a message.
//
// setup_logging() runs once in main before the loop starts; set_log_level() on the loop thread
// (reload). LogContext is per thread and lives on one thread's stack.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"

namespace nudged {

// One context field. `key` is lower snake case ("notification_id"); the journal spells it in
// upper case. A number is written as a JSON number.
struct LogField {
  const char* key;
  std::string value;
  bool number = false;

  LogField(const char* k, std::string v) : key(k), value(std::move(v)) {}
  LogField(const char* k, int64_t v) : key(k), value(std::to_string(v)), number(true) {}
};

class LogContext {
 public:
  LogContext(std::initializer_list<LogField> fields);
  ~LogContext();
  LogContext(const LogContext&) = delete;
  LogContext& operator=(const LogContext&) = delete;

 private:
  size_t pushed_;
};

// The fields in force on this thread, innermost last (a sink's view).
const std::vector<LogField>& log_context();

// The format actually used for `configured`: journal for text when stderr is the journal.
LogFormat effective_log_format(LogFormat configured);

// Installs the default spdlog logger for `format` at `level`.
void setup_logging(LogFormat format, LogLevel level);
void set_log_level(LogLevel level);

}  // namespace nudged
