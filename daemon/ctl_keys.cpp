// nudgectl: opening the key store beside the database (for import, export of personal data
// and erase), and `backup`. Main thread.

#include <sys/stat.h>

#include <filesystem>
#include <iostream>

#include "daemon/ctl.h"
#include "daemon/key_file.h"
#include "events/backup.h"

namespace nudged::ctl {

std::unique_ptr<KeyStore> open_keys(const Context& ctx, bool create) {
  std::string master = ctx.master_key;
  if (master.empty()) {
    std::error_code ec;
    if (!create && !std::filesystem::exists(ctx.master_key_path, ec)) {
      std::cerr << "nudgectl: no master key: " << ctx.master_key_path
                << " does not exist (give --config with [daemon] master_key_file)\n";
      return nullptr;
    }
    Result<std::string> made = load_or_create_key(ctx.master_key_path);
    if (!made) {
      std::cerr << "nudgectl: " << made.status().message() << "\n";
      return nullptr;
    }
    master = std::move(*made);
  }
  Result<std::unique_ptr<KeyStore>> keys =
      KeyStore::open(key_store_path(ctx.db_path), master,
                     create ? KeyStore::OpenMode::kCreate : KeyStore::OpenMode::kExisting);
  sodium_memzero(master.data(), master.size());
  if (!keys) {
    std::cerr << "nudgectl: " << keys.status().message() << "\n";
    return nullptr;
  }
  return std::move(*keys);
}

bool keys_of_log_present(const Context& ctx) {
  Status s = check_keys_of_existing_log(ctx.db_path, key_store_path(ctx.db_path), ctx.key_path);
  if (!s) std::cerr << "nudgectl: " << s.message() << "\n";
  return static_cast<bool>(s);
}

// The events first, then the keys. Every key is committed before the first event sealed with it
// is appended, so the later key copy holds a key for every event of the earlier events copy.
// The one exception is safe: a participant erased between the two copies has no key in the
// key copy (their data is unreadable, as intended) while the events copy lacks the erase event;
// the next erase, or a re-run of `nudgectl erase`, records it.
int backup(const Context& ctx, const std::string& file) {
  std::string keys_file = key_store_path(file);
  std::error_code ec;
  if (std::filesystem::exists(file, ec) || std::filesystem::exists(keys_file, ec)) {
    std::cerr << "nudgectl: " << file << " or " << keys_file << " exists; not overwriting\n";
    return kExitBadInput;
  }
  Status s = backup_database(ctx.db_path, file);
  if (!s) {
    std::cerr << "nudgectl: " << s.message() << "\n";
    return kExitBadInput;
  }
  if (std::filesystem::exists(key_store_path(ctx.db_path), ec)) {
    s = backup_database(key_store_path(ctx.db_path), keys_file);
    if (!s) {
      std::cerr << "nudgectl: " << s.message() << "\n";
      std::filesystem::remove(file, ec);
      return kExitBadInput;
    }
  }
  std::cout << "backed up " << ctx.db_path << " to " << file << " and its keys to " << keys_file
            << " (the master key is not in the copy: keep it separately)\n";
  return kExitOk;
}

}  // namespace nudged::ctl
