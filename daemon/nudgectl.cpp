// nudgectl: the admin tool. Parses the command line and hands each command to ctl_*.cpp.
//
//   nudgectl [--config FILE | --db FILE | --socket PATH] COMMAND
//
// Offline commands work on the database file directly. status, schedule and sessions ask the
// running daemon over its admin socket; import and erase go through the daemon when one
// answers there (it is the log's single writer), else straight to the database.

#include <CLI/CLI.hpp>

#include <cctype>
#include <filesystem>
#include <iostream>

#include "config/config.h"
#include "daemon/ctl.h"

namespace {

using namespace nudged;

// An email address or phone number (someone's, typed where it does not belong) is not echoed
// to a terminal or a log that may be shared.
bool looks_personal(std::string_view text) {
  if (text.find('@') != std::string_view::npos) return true;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] == '+' && std::isdigit(static_cast<unsigned char>(text[i + 1]))) return true;
  }
  return false;
}

// CLI11 reads a word that names no command as a stray argument and then complains only that a
// command is missing. Name the word instead, with the commands `parent` has. Only when no
// command was given at that level: after one (`erase -- p-123`), a stray word is an extra
// argument, not a command.
bool said_unknown_command(const CLI::App& parent, const std::string& prefix) {
  if (!parent.get_subcommands().empty()) return false;
  std::vector<std::string> stray = parent.remaining();
  if (stray.empty() || stray.front().rfind("-", 0) == 0) return false;
  std::string names;
  for (const CLI::App* sub : parent.get_subcommands([](const CLI::App*) { return true; }))
    names += (names.empty() ? "" : ", ") + sub->get_name();
  std::cerr << prefix << "unknown command";
  if (!looks_personal(stray.front())) std::cerr << " \"" << stray.front() << "\"";
  std::cerr << "; commands: " << names << "\n";
  return true;
}

// Values CLI11 accepts by type but that mean nothing here; a usage error, as a bad flag is.
bool usage_ok(const ctl::ExportOptions& export_opt, const CLI::App& replay,
              const ctl::ReplayOptions& replay_opt) {
  if (export_opt.since < 0) {
    std::cerr << "nudgectl: events export --since: " << export_opt.since
              << " is not a log position (0 or more)\n";
    return false;
  }
  if (replay.count("--at") > 0 && replay_opt.at.empty()) {
    std::cerr << "nudgectl: replay --at: give a time such as 2026-12-08T19:00:00-05:00, or "
                 "leave --at out for now\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nudgectl: inspect, replay, import and export the nudged event log"};
  app.require_subcommand(1);
  std::string config_path, db_path, socket_path;
  auto* config_opt = app.add_option("--config", config_path, "nudged configuration file");
  auto* db_opt = app.add_option("--db", db_path, "event database file")->excludes(config_opt);
  app.add_option("--socket", socket_path, "the running daemon's admin socket")
      ->excludes(config_opt)
      ->excludes(db_opt);

  ctl::ImportOptions import_opt;
  ctl::ExportOptions export_opt;
  ctl::TailOptions tail_opt;
  ctl::ReplayOptions replay_opt;

  CLI::App* events = app.add_subcommand("events", "import, export or follow events");
  events->require_subcommand(1);
  CLI::App* imp = events->add_subcommand("import", "append events from a JSON Lines file");
  imp->add_option("file", import_opt.file, "file to read, or - for standard input")->required();
  CLI::App* exp = events->add_subcommand("export", "write events as JSON Lines");
  exp->add_option("--since", export_opt.since, "only events after this position");
  exp->add_flag("--include-personal-data", export_opt.include_personal_data,
                "write names, addresses and free text instead of [redacted]");
  CLI::App* tail = events->add_subcommand("tail", "print the newest events and follow the log");
  tail->add_option("-n,--lines", tail_opt.lines, "how many of the newest events to print first");
  bool no_follow = false;
  tail->add_flag("--no-follow", no_follow, "print and exit instead of following");

  CLI::App* verify = app.add_subcommand("verify", "check order, schema and the integrity chain");
  CLI::App* replay = app.add_subcommand("replay", "rebuild state from the log and print it");
  replay->add_flag("--json", replay_opt.json, "print JSON");
  replay->add_option("--at", replay_opt.at, "plan as of this RFC 3339 time (default: now)");
  CLI::App* status = app.add_subcommand("status", "the running daemon's state");
  CLI::App* schedule = app.add_subcommand("schedule", "the running daemon's pending notifications");
  CLI::App* sessions = app.add_subcommand("sessions", "sessions, series and registrations");
  CLI::App* backup = app.add_subcommand(
      "backup", "copy the log to FILE and its keys to FILE.keys while the daemon runs");
  std::string backup_file;
  backup->add_option("file", backup_file, "the copy of the event database to write")->required();
  CLI::App* erase = app.add_subcommand("erase", "forget a participant (participant.erased)");
  std::string erase_id;
  erase->add_option("--participant", erase_id, "participant id")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (said_unknown_command(*events, "nudgectl events: ") ||
        said_unknown_command(app, "nudgectl: ")) {
      return ctl::kExitUsage;
    }
    if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr && looks_personal(e.what())) {
      std::cerr << "nudgectl: unexpected argument; see --help\n";
    } else {
      app.exit(e);
    }
    return ctl::kExitUsage;
  }
  if (!usage_ok(export_opt, *replay, replay_opt)) return ctl::kExitUsage;
  tail_opt.follow = !no_follow;

  ctl::Context ctx;
  std::string state_dir;
  if (!config_path.empty()) {
    Result<Config> cfg = load_config(config_path);
    if (!cfg) {
      std::cerr << "nudgectl: " << cfg.status().message() << "\n";
      return ctl::kExitBadInput;
    }
    ctx.db_path = cfg->database_path();
    ctx.plan = cfg->plan;
    ctx.socket_path = cfg->daemon.admin_socket;
    ctx.master_key = cfg->daemon.master_key;
    state_dir = cfg->daemon.state_dir;
  } else if (!db_path.empty()) {
    ctx.db_path = db_path;
  } else if (!socket_path.empty()) {
    ctx.socket_path = socket_path;
  } else {
    std::cerr << "nudgectl: give --config FILE, --db FILE or --socket PATH\n";
    return ctl::kExitUsage;
  }
  // The daemon keeps these in state_dir, which is the database's directory unless [daemon]
  // database is an absolute path elsewhere; with --db alone, beside the database.
  std::filesystem::path key_dir = std::filesystem::path(ctx.db_path).parent_path();
  if (!config_path.empty()) key_dir = state_dir;
  ctx.key_path = (key_dir / "participant-id.key").string();
  ctx.master_key_path = (key_dir / "master.key").string();

  if (*status) return ctl::daemon_get(ctx, "status");
  if (*schedule) return ctl::daemon_get(ctx, "schedule");
  if (*sessions) return ctl::daemon_get(ctx, "sessions");
  bool live = ctl::daemon_listening(ctx.socket_path);
  if (ctx.db_path.empty() && !live && (*imp || *erase)) {
    std::cerr << "nudgectl: no daemon answers on " << ctx.socket_path << "\n";
    return ctl::kExitBadInput;
  }
  if (*imp && live) return ctl::import_via_daemon(ctx, import_opt);
  if (*erase) {
    return live ? ctl::erase_via_daemon(ctx, erase_id) : ctl::erase_offline(ctx, erase_id);
  }
  if (ctx.db_path.empty()) {
    std::cerr << "nudgectl: this command reads the database: give --config FILE or --db FILE\n";
    return ctl::kExitUsage;
  }

  if (*imp) return ctl::events_import(ctx, import_opt);
  if (*exp) return ctl::events_export(ctx, export_opt);
  if (*tail) return ctl::events_tail(ctx, tail_opt);
  if (*verify) return ctl::verify(ctx);
  if (*backup) return ctl::backup(ctx, backup_file);
  if (*replay) return ctl::replay(ctx, replay_opt);
  return ctl::kExitUsage;
}
