// Configuration: the TOML file of SPEC §2 as typed values.
//
// This first cut reads the [daemon] table that nudgectl needs to find the database; the
// daemon's issue extends it to every section. Loaded once at start (and on reload) on the
// main thread; the result is a plain value.
#pragma once

#include <string>

#include "events/status.h"

namespace nudged {

struct DaemonConfig {
  std::string state_dir = "/var/lib/nudged";
  std::string database = "nudged.db";  // relative to state_dir unless absolute
};

struct Config {
  DaemonConfig daemon;

  // state_dir joined with database (database alone when it is absolute).
  std::string database_path() const;
};

// Reads and checks `path`. Errors name the file, the key and what is wrong.
Result<Config> load_config(const std::string& path);

}  // namespace nudged
