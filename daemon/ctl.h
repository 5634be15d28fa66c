// nudgectl's commands, one function each, sharing the opened database.
//
// nudgectl runs on one thread. Exit codes: 0 ok, 1 bad input or a fault found, 2 usage.
#pragma once

#include <sodium.h>
#include <fstream>

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "events/keystore.h"
#include "events/policy.h"
#include "events/store.h"

namespace nudged::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitBadInput = 1;
inline constexpr int kExitUsage = 2;

struct Context {
  std::string db_path;
  PlanConfig plan;       // from --config; the defaults of SPEC §2 with --db
  std::string key_path;  // participant-id key: in state_dir of --config, else beside the database
  // The master key of the key store: from [daemon] master_key_file of --config, else read from
  // (import: created in) master_key_path, beside key_path.
  std::string master_key;
  std::string master_key_path;
  // The running daemon's admin socket (from --socket, or [daemon] admin_socket of --config).
  std::string socket_path;
};

struct ImportOptions {
  std::string file;  // "-" for standard input
};
struct ExportOptions {
  int64_t since = 0;
  bool include_personal_data = false;
};
struct TailOptions {
  int64_t lines = 10;
  bool follow = true;
};
struct ReplayOptions {
  bool json = false;
  std::string at;  // RFC 3339; empty = now
};

int events_import(const Context& ctx, const ImportOptions& opt);
int events_export(const Context& ctx, const ExportOptions& opt);
int events_tail(const Context& ctx, const TailOptions& opt);
int verify(const Context& ctx);
int replay(const Context& ctx, const ReplayOptions& opt);

// The stream an import reads: standard input for "-", else the file (opened into `file`).
// Null, after saying why, when the file cannot be read.
std::istream* open_input(const std::string& name, std::ifstream& file);

// Removes a UTF-8 byte order mark from the start of an import's first line: editors on Windows
// (and Excel's "CSV UTF-8" habits) put one there, and it is not part of the JSON.
void drop_bom(std::string& first_line);

// Whether a daemon accepts connections on the admin socket at `socket`.
bool daemon_listening(const std::string& socket);
// GET /v1/admin/<what> (status, schedule, sessions), printed as JSON.
int daemon_get(const Context& ctx, const std::string& what);
int import_via_daemon(const Context& ctx, const ImportOptions& opt);
int erase_via_daemon(const Context& ctx, const std::string& participant_id);
int erase_offline(const Context& ctx, const std::string& participant_id);
// Online copy of the log to FILE and of its key store to FILE.keys (SQLite backup API).
int backup(const Context& ctx, const std::string& file);

// Opens the key store beside the database, or prints why not and returns nullptr.
std::unique_ptr<KeyStore> open_keys(const Context& ctx, bool create);
// False, after saying why, when the log holds events but its key store or participant-id key is
// missing (daemon/key_file.h): an offline command would otherwise make new ones beside it.
bool keys_of_log_present(const Context& ctx);

// Opens the store, or prints why not and returns nullptr. Only import creates a database.
std::unique_ptr<EventStore> open_store(const Context& ctx, bool create = false);

// One exported line: the row's envelope with data written per `out`.
std::string export_line(const StoredEvent& row, const Event& event, PersonalOut out,
                        const Sealer* sealer);

}  // namespace nudged::ctl
