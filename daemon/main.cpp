// nudged: the daemon. `nudged --config FILE` runs in the foreground; `--check-config` only
// validates the configuration (and its templates) and exits 0 or 1.

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <filesystem>
#include <iostream>

#include "channels/render.h"
#include "config/config.h"
#include "daemon/app.h"
#include "daemon/log.h"

#if !defined(NUDGED_BUILTIN_TEMPLATES) || !defined(NUDGED_INSTALLED_TEMPLATES)
#error "NUDGED_BUILTIN_TEMPLATES and NUDGED_INSTALLED_TEMPLATES must be defined (CMakeLists.txt)"
#endif

namespace {

// The built-in templates: installed beside the binary (<prefix>/bin/nudged and
// <prefix>/share/nudged/templates) when that directory exists, else the source tree's, for a
// nudged run from its build directory.
std::string builtin_templates() {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    std::filesystem::path installed =
        (exe.parent_path() / NUDGED_INSTALLED_TEMPLATES).lexically_normal();
    if (std::filesystem::is_directory(installed, ec)) return installed.string();
  }
  return NUDGED_BUILTIN_TEMPLATES;
}

}  // namespace

int main(int argc, char** argv) {
  // A SIGHUP (a reload) that arrives while nudged is still starting would kill it by default:
  // ignore it until the loop's own handler takes over. The configuration is being read now
  // anyway.
  std::signal(SIGHUP, SIG_IGN);
  // A peer that resets its connection while an answer is being written must cost that
  // connection (the write fails with EPIPE), not the daemon. systemd ignores SIGPIPE for its
  // services by default; a shell, a container or a test harness does not. libuv writes to
  // sockets with write(2), which raises it.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App cli{"nudged: reminders for the support meetings people signed up for"};
  std::string config_path;
  bool check_only = false;
  std::string templates = builtin_templates();
  cli.add_option("--config", config_path, "configuration file (TOML)")->required();
  cli.add_flag("--check-config", check_only, "validate the configuration and exit");
  cli.add_option("--builtin-templates", templates, "directory of the built-in templates");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return 2;
  }

  nudged::Result<nudged::Config> config = nudged::load_config(config_path);
  if (!config) {
    std::cerr << "nudged: " << config.status().message() << "\n";
    return 1;
  }
  if (check_only) {
    nudged::Result<nudged::Templates> t = nudged::Templates::load(templates, config->templates.dir);
    if (!t) {
      std::cerr << "nudged: " << t.status().message() << "\n";
      return 1;
    }
    for (const std::string& w : config->warnings)
      std::cerr << "nudged: warning: " << config_path << ": " << w << "\n";
    std::cout << "nudged: " << config_path << " is valid\n";
    return 0;
  }
  nudged::setup_logging(config->daemon.log_format, config->daemon.log_level);

  nudged::Result<std::unique_ptr<nudged::App>> app =
      nudged::App::create(nudged::AppOptions{config_path, templates});
  if (!app) {
    spdlog::error("cannot start: {}", app.status().message());
    return 1;
  }
  return (*app)->run();
}
