#include "config/config.h"

#include <toml++/toml.h>
#include <filesystem>

namespace nudged {

std::string Config::database_path() const {
  std::filesystem::path db(daemon.database);
  if (db.is_absolute()) return db.string();
  return (std::filesystem::path(daemon.state_dir) / db).string();
}

Result<Config> load_config(const std::string& path) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return Status::invalid("", path + ":" + std::to_string(at.line) + ":" +
                                   std::to_string(at.column) + ": " + std::string(e.description()));
  }
  Config cfg;
  if (const toml::table* d = root["daemon"].as_table()) {
    for (const char* key : {"state_dir", "database"}) {
      const toml::node* n = d->get(key);
      if (n == nullptr) continue;
      const auto* s = n->as_string();
      if (s == nullptr || s->get().empty()) {
        return Status::invalid(std::string("daemon.") + key,
                               path + ": daemon." + key + " must be a non-empty string");
      }
      (std::string(key) == "state_dir" ? cfg.daemon.state_dir : cfg.daemon.database) = s->get();
    }
  }
  return cfg;
}

}  // namespace nudged
