// Configuration: the TOML file of SPEC §2 as typed, validated values.
//
// load_config() reads the file, every `*_file` secret it names, and checks every key: an unknown
// table or key, a wrong type or a bad value is an error naming the file and the dotted key
// ("nudged.toml: policy.quiet_hours: ..."), never showing a secret. The result is a plain value
// the daemon builds its parts from; it is loaded at start and again on SIGHUP (on the main
// thread), and a failed reload leaves the old value in force. Safe to copy and share read-only.
//
// Relative paths (state_dir, admin_socket, templates.dir, a file channel's dir and `*_file`
// secrets without $CREDENTIALS_DIRECTORY) are resolved against the directory of the
// configuration file, not the working directory: systemd starts the daemon in "/", and the
// shipped example must behave the same from any directory. The values here are absolute.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "events/policy.h"
#include "events/status.h"

namespace nudged {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };
enum class LogFormat { kText, kJson, kJournal };
const char* log_level_name(LogLevel level);     // "trace", ... as written in the file
const char* log_format_name(LogFormat format);  // "text", "json", "journal"

// An IP address and port to listen on. Host names are refused: the listener binds before any
// resolver is worth trusting, and "localhost" may resolve to either family.
struct ListenAddress {
  std::string host = "127.0.0.1";  // an IPv4 or IPv6 literal, without brackets
  uint16_t port = 8787;            // 1-65535
  std::string to_string() const;   // "127.0.0.1:8787", "[::1]:8787"
};

// [daemon]
struct DaemonConfig {
  std::string state_dir = "/var/lib/nudged";
  std::string database = "nudged.db";  // relative to state_dir unless absolute
  ListenAddress listen;
  std::string admin_socket = "/run/nudged/admin.sock";
  std::string public_url;  // no trailing '/'; "http://<listen>" when the file has none
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kText;
  // The master key that wraps the per-participant keys: 32 bytes from `master_key_file` (32 raw
  // bytes, or 64 hex digits). Empty when the file names none: then the daemon makes and keeps
  // one in state_dir/master.key (development only: see docs/privacy.md). Never printed.
  std::string master_key;
  std::string master_key_file;  // as resolved, for messages
};

// [webhooks.zoom]: checks x-zm-signature. Empty when the table is absent.
struct ZoomWebhookConfig {
  std::string secret_token;
};

// [webhooks.twilio]: checks X-Twilio-Signature of inbound SMS. Empty when the table is absent.
struct TwilioWebhookConfig {
  std::string auth_token;
  // The URL Twilio signs; default <daemon.public_url>/v1/webhooks/twilio/sms.
  std::string public_url;
};

// [webhooks]. An empty secret means the endpoints it guards are not configured and refuse every
// request. No secret here may be logged.
struct WebhooksConfig {
  std::string secret;  // HMAC key of Nudged-Signature, at least 16 bytes when set
  std::chrono::seconds tolerance{300};
  size_t max_body = 65536;  // bytes, 1 to 16 MiB
  ZoomWebhookConfig zoom;
  TwilioWebhookConfig twilio;
};

// A [channels.<name>] table, the same shape as channels/ChannelConfig (config/ does not depend
// on channels/; the daemon copies one into the other). `settings` holds the kind's keys as
// strings, defaults filled in (smtp tls, twilio api_base), each secret read from its `_file`
// and stored under the plain name ("password", "auth_token", "secret"), the file channel's dir
// made absolute.
struct ChannelTable {
  std::string name;  // letters, digits, '-' and '_'
  std::string kind;  // smtp | file | twilio | webhook
  std::map<std::string, std::string> settings;
};

// [templates]
struct TemplatesConfig {
  std::string dir;  // empty: the built-in templates only
};

struct Config {
  DaemonConfig daemon;
  WebhooksConfig webhooks;
  std::vector<ChannelTable> channels;  // ordered by name
  PlanConfig plan;                     // [policy], [groups.<id>], [accessibility]
  TemplatesConfig templates;
  // Settings that work but are unwise (a short webhook secret): said at start, on reload and
  // by --check-config, without the values. A mistake is an error instead, never a warning.
  std::vector<std::string> warnings;

  // state_dir joined with database (database alone when it is absolute).
  std::string database_path() const;

  // The [channels.<name>] table, or nullptr when there is none.
  const ChannelTable* channel(std::string_view name) const;

  // The effective configuration as TOML, every secret shown as "[redacted]".
  std::string to_string() const;
};

// Whether a channel setting holds a secret ("password", "auth_token", "secret"): for anything
// that prints settings.
bool is_secret_setting(std::string_view key);

// Reads and checks `path`. On error, status().message() is "<path>: <dotted.key>: <what is
// wrong and what is accepted>" (or "<path>:<line>:<column>: ..." for TOML syntax) and field()
// is the dotted key; print message(), not to_string(), which would repeat the key.
Result<Config> load_config(const std::string& path);

// Whether `next` may replace `running` at a reload (SIGHUP). The daemon uses some keys only at
// start: the listeners it bound, the files it holds open under state_dir, the key store opened
// with the master key, the log sinks. Changing one would say "reloaded" and change nothing (or
// half of it: links built from a default public_url would point at a port nobody listens on),
// so such a reload is refused: invalid, field() the key, the message saying a restart applies it.
Status check_reloadable(const Config& running, const Config& next);

}  // namespace nudged
