#include "daemon/key_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "events/store.h"

namespace nudged {

namespace {
constexpr size_t kKeyBytes = 32;
}

Result<std::string> load_or_create_key(const std::string& path) {
  if (sodium_init() < 0) return Status::io("libsodium failed to initialise");
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (key.size() != kKeyBytes) {
      return Status::corrupt(path + " should hold " + std::to_string(kKeyBytes) +
                             " bytes; it holds " + std::to_string(key.size()));
    }
    return key;
  }
  std::string key(kKeyBytes, '\0');
  randombytes_buf(key.data(), key.size());
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::io("cannot create " + tmp + ": " + std::strerror(errno));
  bool ok =
      ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
  ::close(fd);
  // link() rather than rename(): when another process created the key meanwhile, keep theirs.
  int linked = ok ? ::link(tmp.c_str(), path.c_str()) : -1;
  int err = errno;
  ::unlink(tmp.c_str());
  if (linked != 0 && ok && err == EEXIST) return load_or_create_key(path);
  if (linked != 0) return Status::io("cannot write " + path + ": " + std::strerror(err));
  return key;
}

Status check_keys_of_existing_log(const std::string& db_path, const std::string& key_store_path,
                                  const std::string& participant_key_path) {
  std::error_code ec;
  bool keys = std::filesystem::exists(key_store_path, ec);
  bool participant_key = std::filesystem::exists(participant_key_path, ec);
  if ((keys && participant_key) || !std::filesystem::exists(db_path, ec)) return Status::ok();
  Result<std::unique_ptr<EventStore>> log =
      EventStore::open(db_path, EventStore::OpenMode::kExisting);
  // No events table (a first import cut short before it made one): no events, nothing to lose.
  if (!log && log.status().code() == Code::kNotFound) return Status::ok();
  if (!log) return log.status();
  Result<int64_t> last = (*log)->last_position();
  if (!last) return last.status();
  if (*last == 0) return Status::ok();
  if (!keys) {
    return Status::not_found(db_path + " holds " + std::to_string(*last) +
                             " events but its key store " + key_store_path +
                             " does not exist: restore it from the same backup as the log "
                             "(docs/operations.md, \"Backup and restore\"); made anew, every "
                             "personal value in the log would stay unreadable");
  }
  return Status::not_found(db_path + " holds " + std::to_string(*last) + " events but " +
                           participant_key_path +
                           " does not exist: put back the copy you keep apart from backups "
                           "(docs/operations.md, \"Backup and restore\"); made anew, everyone "
                           "who registers again would become a new participant");
}

}  // namespace nudged
