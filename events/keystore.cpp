#include "events/keystore.h"

#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_set>
#include <utility>

namespace nudged {
namespace {

constexpr char kWrapContext[crypto_kdf_CONTEXTBYTES + 1] = "nudgedwk";
constexpr char kIndexContext[crypto_kdf_CONTEXTBYTES + 1] = "nudgedbi";
constexpr std::string_view kCheckPlain = "nudged key store v1";
constexpr std::string_view kCheckAd = "nudged/check";
constexpr const char* kInsertKey = "INSERT INTO keys (subject, wrapped) VALUES (?1, ?2)";
// At most this many subjects per DELETE (one scan of the table each; see delete_subjects).
constexpr size_t kSubjectsPerScan = 100;
constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;

const unsigned char* u8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// nonce || ciphertext+tag, with a random nonce (wrapping is not deterministic: no need).
std::string wrap(const DataKey& kek, std::string_view plain, std::string_view ad) {
  std::string out(kNonce + plain.size() + kTag, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(o, kNonce);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(o + kNonce, &len, u8(plain), plain.size(), u8(ad),
                                             ad.size(), nullptr, o, kek.data());
  return out;
}

bool unwrap(const DataKey& kek, std::string_view blob, std::string_view ad, unsigned char* out,
            size_t out_size) {
  if (blob.size() != kNonce + out_size + kTag) return false;
  unsigned long long len = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(out, &len, nullptr, u8(blob) + kNonce,
                                                    blob.size() - kNonce, u8(ad), ad.size(),
                                                    u8(blob), kek.data()) == 0 &&
         len == out_size;
}

std::string row_ad(std::string_view subject) {
  return "nudged/key/" + std::string(subject);
}

// Folds the WAL into the file and truncates it, rebuilds the file (VACUUM) so that no free page
// keeps a deleted row's old bytes, and truncates the WAL that VACUUM wrote. A checkpoint that
// could not finish (a reader in the way) is SQLITE_BUSY from sqlite3_wal_checkpoint_v2, where
// the PRAGMA would have answered "ok" with a flag in its result row.
Status scrub(sqlite3* db) {
  auto checkpoint = [&]() -> Status {
    int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    if (rc == SQLITE_OK) return Status::ok();
    return Status::io(std::string("key store checkpoint: ") +
                      (rc == SQLITE_BUSY ? "a reader kept it from finishing" : sqlite3_errmsg(db)));
  };
  if (Status s = checkpoint(); !s) return s;
  if (sqlite3_exec(db, "VACUUM", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Status::io(std::string("key store VACUUM: ") + sqlite3_errmsg(db));
  }
  return checkpoint();
}

// The `keys` table, rows in arrival order. A subject is mostly a keyed hash of a person, so a
// table ordered by subject (as before 0.3) took each new key to a random page of the file: a
// group commit wrote one page of the key store per new person, most of the writer's page writes
// under load. In arrival order a group's new keys share the last page or two. Lookups by subject
// go through KeyStore::rows_ in memory; there is no index by subject, which would put the random
// pages back. AUTOINCREMENT, so that an id is never reused and "ids above the last one read" is
// every row added since (see read_rows). The table keeps its name and columns (plus `id`), so a
// binary from before 0.3 can still read and write it after a downgrade.
std::string create_keys_sql(std::string_view table) {
  return "CREATE TABLE IF NOT EXISTS " + std::string(table) +
         " (id INTEGER PRIMARY KEY AUTOINCREMENT, subject TEXT NOT NULL, wrapped BLOB NOT NULL)";
}

// Deletes every row of these subjects (duplicates included); returns how many, or -1 on an
// error (sqlite3_errmsg(db) tells it). Without an index by subject each DELETE scans the table:
// a few milliseconds for tens of thousands of people, and erasures are rare.
int delete_subjects(sqlite3* db, const std::vector<std::string>& subjects) {
  int deleted = 0;
  for (size_t first = 0; first < subjects.size(); first += kSubjectsPerScan) {
    size_t n = std::min(kSubjectsPerScan, subjects.size() - first);
    std::string sql = "DELETE FROM keys WHERE subject IN (?1";
    for (size_t i = 1; i < n; ++i)
      sql += ",?" + std::to_string(i + 1);
    sql += ")";
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return -1;
    for (size_t i = 0; i < n; ++i) {
      const std::string& subject = subjects[first + i];
      sqlite3_bind_text(st, static_cast<int>(i + 1), subject.data(),
                        static_cast<int>(subject.size()), SQLITE_STATIC);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return -1;
    deleted += sqlite3_changes(db);
  }
  return deleted;
}

}  // namespace

std::string key_store_path(const std::string& database_path) {
  return database_path + ".keys";
}

Result<std::unique_ptr<KeyStore>> KeyStore::open(const std::string& path,
                                                 std::string_view master_key, OpenMode mode) {
  if (sodium_init() < 0) return Status::io("libsodium failed to initialise");
  if (master_key.size() != kMasterKeyBytes) {
    return Status::invalid("master_key", "must be " + std::to_string(kMasterKeyBytes) + " bytes");
  }
  std::error_code ec;
  bool fresh = !std::filesystem::exists(path, ec);
  if (fresh && mode == OpenMode::kExisting) {
    return Status::not_found("the key store " + path + " does not exist");
  }
  if (fresh) {
    // Create it 0600 before SQLite does (SQLite gives its -wal and -shm the same mode).
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Status::io("cannot create " + path + ": " + std::strerror(errno));
    ::close(fd);
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<KeyStore> ks(new KeyStore(db, path));
  if (rc != SQLITE_OK) {
    return Status::io("cannot open the key store " + path + ": " + sqlite3_errstr(rc));
  }
  sqlite3_busy_timeout(db, 5000);
  auto mk = u8(master_key);
  crypto_kdf_derive_from_key(ks->wrap_key_.data(), ks->wrap_key_.size(), 1, kWrapContext, mk);
  crypto_kdf_derive_from_key(ks->index_key_.data(), ks->index_key_.size(), 2, kIndexContext, mk);
  Status s = ks->init(fresh);
  if (!s) return s;
  return ks;
}

KeyStore::~KeyStore() {
  for (auto& [subject, key] : cache_)
    sodium_memzero(key.data(), key.size());
  sodium_memzero(wrap_key_.data(), wrap_key_.size());
  sodium_memzero(index_key_.data(), index_key_.size());
  for (PendingRow& row : pending_)
    sodium_memzero(row.wrapped.data(), row.wrapped.size());
  sqlite3_finalize(select_);
  if (writer_db_ != nullptr) sqlite3_close_v2(writer_db_);
  if (db_ != nullptr) sqlite3_close_v2(db_);
  unlock_key_makers();
}

// A lock file of its own, not the database: closing any descriptor of a SQLite file drops the
// process's POSIX locks on it, and flock() on a separate file cannot touch SQLite's. Opened
// read-only and made readable by all (it is empty, in a 0700 directory), so that a lock file
// left by root's nudgectl does not keep the daemon's user from locking it. `exclusive`: the
// deferring store; the others share, which only excludes the deferring one.
Status KeyStore::lock_key_makers(bool exclusive) {
  if (lock_fd_ >= 0) return Status::ok();
  const std::string lock_path = path_ + ".lock";
  int fd = ::open(lock_path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::io("cannot open " + lock_path + ": " + std::strerror(errno));
  }
  if (::flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) {
      return Status::unavailable(
          "another process is making keys in " + path_ +
          " (a running daemon: go through its admin socket; or an import: wait for it)");
    }
    return Status::io("cannot lock " + lock_path + ": " + std::strerror(e));
  }
  lock_fd_ = fd;
  return Status::ok();
}

void KeyStore::unlock_key_makers() {
  if (lock_fd_ < 0) return;
  ::close(lock_fd_);  // releases the flock
  lock_fd_ = -1;
}

Status KeyStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return Status::io("key store " + path_ + ": " + msg);
  }
  return Status::ok();
}

Status KeyStore::init(bool fresh) {
  for (const char* sql :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA secure_delete=ON",
        "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB)"}) {
    Status s = exec(sql);
    if (!s) return s;
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE name = 'check'", -1, &st, nullptr);
  std::string check;
  bool found = st != nullptr && sqlite3_step(st) == SQLITE_ROW;
  if (found) {
    check.assign(static_cast<const char*>(sqlite3_column_blob(st, 0)),
                 static_cast<size_t>(sqlite3_column_bytes(st, 0)));
  }
  sqlite3_finalize(st);
  if (found) {
    std::string plain(kCheckPlain.size(), '\0');
    if (!unwrap(wrap_key_, check, kCheckAd, reinterpret_cast<unsigned char*>(plain.data()),
                plain.size()) ||
        plain != kCheckPlain) {
      return Status::corrupt("the master key does not open the key store " + path_ +
                             " (wrong master key file?)");
    }
  }
  // After the check: a wrong master key rewrites nothing.
  if (Status s = migrate_to_arrival_order(); !s) return s;
  if (found) return read_rows();
  if (!fresh) {
    // An existing file without a check row: only acceptable when it holds no keys yet.
    sqlite3_prepare_v2(db_, "SELECT count(*) FROM keys", -1, &st, nullptr);
    int64_t n = st != nullptr && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    if (n != 0) return Status::corrupt("the key store " + path_ + " has keys but no check value");
  }
  std::string blob = wrap(wrap_key_, kCheckPlain, kCheckAd);
  sqlite3_prepare_v2(db_, "INSERT INTO meta (name, value) VALUES ('check', ?1)", -1, &st, nullptr);
  sqlite3_bind_blob(st, 1, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return Status::io("key store " + path_ + ": " + sqlite3_errmsg(db_));
  return read_rows();
}

// Creates the `keys` table, or rewrites one from before 0.3 (ordered by subject, no `id`) in
// arrival order, in one transaction. Two processes opening the same old file at once: the
// second finds the work done once it has the write lock.
Status KeyStore::migrate_to_arrival_order() {
  auto layout = [&](bool& exists, bool& has_id) -> Status {
    exists = has_id = false;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "PRAGMA table_info(keys)", -1, &st, nullptr) != SQLITE_OK) {
      return Status::io("key store " + path_ + ": " + sqlite3_errmsg(db_));
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
      exists = true;
      const char* name = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
      if (name != nullptr && std::string_view(name) == "id") has_id = true;
    }
    sqlite3_finalize(st);
    return Status::ok();
  };
  bool exists = false;
  bool has_id = false;
  if (Status s = layout(exists, has_id); !s) return s;
  if (has_id) return Status::ok();  // the usual case: no write lock taken
  if (Status s = exec("BEGIN IMMEDIATE"); !s) return s;
  Status s = layout(exists, has_id);
  if (s && !exists) {
    s = exec(create_keys_sql("keys").c_str());
  } else if (s && !has_id) {
    for (const std::string& sql : {create_keys_sql("keys_by_arrival"),
                                   std::string("INSERT INTO keys_by_arrival (subject, wrapped) "
                                               "SELECT subject, wrapped FROM keys"),
                                   std::string("DROP TABLE keys"),
                                   std::string("ALTER TABLE keys_by_arrival RENAME TO keys")}) {
      s = exec(sql.c_str());
      if (!s) break;
    }
  }
  if (s) s = exec("COMMIT");
  if (!s) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  return s;
}

Status KeyStore::read_rows() {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT id, subject FROM keys WHERE id > ?1", -1, &st, nullptr) !=
      SQLITE_OK) {
    return Status::io("key store " + path_ + ": " + sqlite3_errmsg(db_));
  }
  sqlite3_bind_int64(st, 1, last_row_);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    // The first row of a subject wins, as it does for 0.2's `SELECT ... WHERE subject = ?`
    // (lowest id first), should a second ever be written (two 0.2 makers racing after a
    // downgrade): both versions then open data with the same key.
    rows_.try_emplace(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)),
                                  static_cast<size_t>(sqlite3_column_bytes(st, 1))),
                      id);
    last_row_ = std::max(last_row_, id);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return Status::io("key store " + path_ + ": " + sqlite3_errmsg(db_));
  return Status::ok();
}

Result<DataKey> KeyStore::key_for(std::string_view subject, bool create) {
  std::string subj(subject);
  if (auto it = cache_.find(subj); it != cache_.end()) return it->second;
  // The file's row for it, if any. A store that does not defer reads the rows added since its
  // last look (another process may have made the key); the deferring one is the only maker, and
  // holds every key it made in cache_. An erased subject left rows_ at once (erase_later()),
  // so its row is not read in the moments before the writer's hook deletes it.
  auto row = rows_.find(subj);
  if (row == rows_.end() && !deferred_) {
    if (Status s = read_rows(); !s) return s;
    row = rows_.find(subj);
  }
  DataKey key{};
  if (row != rows_.end()) {
    if (select_ == nullptr &&
        sqlite3_prepare_v2(db_, "SELECT wrapped FROM keys WHERE id = ?1 AND subject = ?2", -1,
                           &select_, nullptr) != SQLITE_OK) {
      return Status::io("key store " + path_ + ": " + sqlite3_errmsg(db_));
    }
    sqlite3_bind_int64(select_, 1, row->second);
    sqlite3_bind_text(select_, 2, subj.data(), static_cast<int>(subj.size()), SQLITE_STATIC);
    int rc = sqlite3_step(select_);
    if (rc == SQLITE_ROW) {
      std::string_view blob(static_cast<const char*>(sqlite3_column_blob(select_, 0)),
                            static_cast<size_t>(sqlite3_column_bytes(select_, 0)));
      bool ok = unwrap(wrap_key_, blob, row_ad(subj), key.data(), key.size());
      sqlite3_reset(select_);
      if (!ok) return Status::corrupt("a key in " + path_ + " does not unwrap");
      cache_.emplace(subj, key);
      DataKey copy = key;
      sodium_memzero(key.data(), key.size());
      return copy;
    }
    sqlite3_reset(select_);
    if (rc != SQLITE_DONE) return Status::io("key store " + path_ + ": " + sqlite3_errmsg(db_));
    // Erased by another process (nudgectl erase) since it was read; a store that does not
    // defer reads on, for a key made again since.
    rows_.erase(row);
    if (!deferred_) {
      if (Status s = read_rows(); !s) return s;
      if (rows_.count(subj) > 0) return key_for(subject, create);
    }
  }
  if (!create) return Status::not_found("no key for this subject (erased or never sealed)");

  randombytes_buf(key.data(), key.size());
  std::string blob =
      wrap(wrap_key_, std::string_view(reinterpret_cast<const char*>(key.data()), key.size()),
           row_ad(subj));
  if (deferred_) {
    // Written by the writer's hook before any event sealed with it commits.
    cache_.emplace(subj, key);
    {
      std::lock_guard lock(pending_mu_);
      pending_.push_back(PendingRow{subj, std::move(blob)});
    }
    DataKey copy = key;
    sodium_memzero(key.data(), key.size());
    return copy;
  }
  // Not while a deferring process makes keys (defer_writes()). Other stores that do not defer
  // may: the write lock (BEGIN IMMEDIATE) makes "not there yet, so insert" one step among them,
  // and the key is read back from the file, whoever made it. Not inside a transaction the
  // caller opened on handle(): a rollback would leave the key in cache_ with no row, and the
  // makers' lock would be released before the row is committed (defer_writes() is the way to
  // make many keys at one commit).
  sodium_memzero(key.data(), key.size());
  if (sqlite3_get_autocommit(db_) == 0) {
    return Status::io("key store " + path_ +
                      ": a key is made in a transaction of its own, not the caller's");
  }
  if (Status locked = lock_key_makers(/*exclusive=*/false); !locked) return locked;
  Status s = exec("BEGIN IMMEDIATE");
  if (s) {
    s = read_rows();
    if (s && rows_.count(subj) == 0) {
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(db_, kInsertKey, -1, &st, nullptr);
      sqlite3_bind_text(st, 1, subj.data(), static_cast<int>(subj.size()), SQLITE_STATIC);
      sqlite3_bind_blob(st, 2, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
      int rc = sqlite3_step(st);
      sqlite3_finalize(st);
      if (rc != SQLITE_DONE) s = Status::io("key store " + path_ + ": " + sqlite3_errmsg(db_));
    }
    if (s) s = exec("COMMIT");
    if (!s) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    if (s) s = read_rows();  // the new row's id
  }
  unlock_key_makers();
  if (!s) return s;
  return key_for(subject, false);
}

Result<std::function<Status()>> KeyStore::defer_writes() {
  if (Status locked = lock_key_makers(/*exclusive=*/true); !locked) return locked;
  // From here on no other process adds rows: those there now, plus the keys made here, are all
  // the file can hold.
  if (Status s = read_rows(); !s) {
    unlock_key_makers();
    return s;
  }
  deferred_ = true;
  return std::function<Status()>([this] { return write_pending(); });
}

Status KeyStore::write_pending() {
  std::vector<PendingRow> rows;
  std::vector<std::string> erasing;
  {
    std::lock_guard lock(pending_mu_);
    rows.swap(pending_);
    erasing.swap(erasing_);
  }
  if (rows.empty() && erasing.empty()) return Status::ok();
  auto fail = [&](const char* what) {
    Status s = Status::io("key store " + path_ + ": " + what + ": " + sqlite3_errmsg(writer_db_));
    sqlite3_exec(writer_db_, "ROLLBACK", nullptr, nullptr, nullptr);
    // Put them back, ahead of any made or asked for meanwhile: the next commit does them (the
    // erasures still before the rows, as below). A row of this run whose subject was erased
    // meanwhile (erase_later() found it neither pending nor written) predates that erasure:
    // it goes, or the next run would write an erased key back.
    std::lock_guard lock(pending_mu_);
    if (!erasing_.empty()) {
      std::unordered_set<std::string_view> erased_meanwhile(erasing_.begin(), erasing_.end());
      std::erase_if(rows, [&](PendingRow& row) {
        if (erased_meanwhile.count(row.subject) == 0) return false;
        sodium_memzero(row.wrapped.data(), row.wrapped.size());
        return true;
      });
    }
    rows.insert(rows.end(), std::make_move_iterator(pending_.begin()),
                std::make_move_iterator(pending_.end()));
    pending_.swap(rows);
    erasing.insert(erasing.end(), std::make_move_iterator(erasing_.begin()),
                   std::make_move_iterator(erasing_.end()));
    erasing_.swap(erasing);
    return s;
  };
  if (writer_db_ == nullptr) {
    int rc = sqlite3_open_v2(path_.c_str(), &writer_db_,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc == SQLITE_OK) {
      sqlite3_busy_timeout(writer_db_, 5000);
      rc = sqlite3_exec(writer_db_, "PRAGMA synchronous=FULL; PRAGMA secure_delete=ON", nullptr,
                        nullptr, nullptr);
    }
    if (rc != SQLITE_OK) {
      // A connection that failed to open or set up is not reused: the next run opens afresh.
      Status s = fail("open");
      sqlite3_close_v2(writer_db_);
      writer_db_ = nullptr;
      return s;
    }
  }
  if (sqlite3_exec(writer_db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("begin");
  }
  // Erasures first: every row still pending for an erased subject was dropped by erase_later(),
  // so a pending row for one is a key made after the erasure (the same address opted out
  // again) and must survive it.
  int destroyed = erasing.empty() ? 0 : delete_subjects(writer_db_, erasing);
  if (destroyed < 0) return fail("delete");
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(writer_db_, kInsertKey, -1, &st, nullptr) != SQLITE_OK) {
    return fail("prepare");
  }
  for (const PendingRow& row : rows) {
    sqlite3_bind_text(st, 1, row.subject.data(), static_cast<int>(row.subject.size()),
                      SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, row.wrapped.data(), static_cast<int>(row.wrapped.size()),
                      SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
      sqlite3_finalize(st);
      return fail("insert");
    }
  }
  sqlite3_finalize(st);
  if (sqlite3_exec(writer_db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("commit");
  }
  if (!erasing.empty()) {
    std::lock_guard lock(pending_mu_);
    erase_report_.destroyed += destroyed;
  }
  // The keys are gone; the file is scrubbed by scrub_after_commit(), once the events' own
  // commit is done (a checkpoint may wait on a reader, and the events' write lock is held here).
  if (destroyed > 0) scrub_owed_ = true;
  return Status::ok();
}

void KeyStore::scrub_after_commit() {
  if (!scrub_owed_ || writer_db_ == nullptr) return;
  // No old copy of the deleted rows' pages may stay in the file or its WAL (as erase() does).
  // A checkpoint that a reader keeps from finishing is not an error to SQLite: it is told by
  // SQLITE_BUSY here, and the scrub is owed to the next commit.
  Status s = scrub(writer_db_);
  scrub_owed_ = !s.is_ok();
  if (!s.is_ok()) {
    std::lock_guard lock(pending_mu_);
    erase_report_.scrub_error = s.message();
  }
}

int KeyStore::erase_later(std::vector<std::string> subjects) {
  int dropped = 0;
  for (const std::string& subj : subjects) {
    if (auto it = cache_.find(subj); it != cache_.end()) {
      sodium_memzero(it->second.data(), it->second.size());
      cache_.erase(it);
    }
    rows_.erase(subj);  // gone now for key_for(), whenever the hook deletes the row
  }
  std::unordered_set<std::string_view> erased(subjects.begin(), subjects.end());
  std::lock_guard lock(pending_mu_);
  dropped = static_cast<int>(std::erase_if(pending_, [&](PendingRow& row) {
    if (erased.count(row.subject) == 0) return false;
    sodium_memzero(row.wrapped.data(), row.wrapped.size());
    return true;
  }));
  erasing_.insert(erasing_.end(), std::make_move_iterator(subjects.begin()),
                  std::make_move_iterator(subjects.end()));
  return dropped;
}

KeyStore::EraseReport KeyStore::take_erase_report() {
  std::lock_guard lock(pending_mu_);
  return std::exchange(erase_report_, EraseReport{});
}

Result<int> KeyStore::erase(const std::vector<std::string>& subjects) {
  int removed = 0;
  if (deferred_) {
    // A key made and erased before its row was written: its row must never be written.
    std::lock_guard lock(pending_mu_);
    std::erase_if(pending_, [&](const PendingRow& row) {
      return std::find(subjects.begin(), subjects.end(), row.subject) != subjects.end();
    });
  }
  for (const std::string& subj : subjects) {
    if (auto it = cache_.find(subj); it != cache_.end()) {
      sodium_memzero(it->second.data(), it->second.size());
      cache_.erase(it);
    }
    rows_.erase(subj);
  }
  removed = delete_subjects(db_, subjects);
  if (removed < 0) return Status::io("key store " + path_ + ": " + sqlite3_errmsg(db_));
  if (removed == 0) return 0;
  // The deleted rows' bytes are zeroed in their pages (secure_delete), but older copies of those
  // pages may sit in the WAL: fold it into the file and truncate it, rebuild the file so no free
  // page keeps a copy, and truncate the WAL VACUUM wrote.
  Status s = scrub(db_);
  if (!s) return s;
  return removed;
}

}  // namespace nudged
