#include "events/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nudged {

Status backup_database(const std::string& source, const std::string& destination) {
  int fd = ::open(destination.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::io("cannot create " + destination + ": " + std::strerror(errno));
  ::close(fd);
  sqlite3* src = nullptr;
  sqlite3* dst = nullptr;
  auto fail = [&](const std::string& what) {
    if (src != nullptr) sqlite3_close_v2(src);
    if (dst != nullptr) sqlite3_close_v2(dst);
    ::unlink(destination.c_str());
    return Status::io(what);
  };
  if (sqlite3_open_v2(source.c_str(), &src, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    return fail("cannot open " + source + ": " + sqlite3_errmsg(src));
  }
  sqlite3_busy_timeout(src, 5000);
  if (sqlite3_open_v2(destination.c_str(), &dst, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    return fail("cannot open " + destination + ": " + sqlite3_errmsg(dst));
  }
  sqlite3_backup* b = sqlite3_backup_init(dst, "main", src, "main");
  if (b == nullptr) return fail("cannot back up " + source + ": " + sqlite3_errmsg(dst));
  // All pages in one step: one read transaction, so the copy is one consistent snapshot.
  int rc = sqlite3_backup_step(b, -1);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) return fail("backing up " + source + " failed: " + sqlite3_errstr(rc));
  // The copy is a plain rollback-journal database until opened; make it durable now.
  sqlite3_close_v2(src);
  src = nullptr;
  sqlite3_close_v2(dst);
  dst = nullptr;
  fd = ::open(destination.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  return Status::ok();
}

}  // namespace nudged
