// KeyStore: the per-subject data keys behind personal values (crypto-shredding).
//
// A separate SQLite file beside the event log (`<database>.keys`, mode 0600; never inside the
// events database or its WAL), one row per subject ("participant/<id>", "registration/<id>",
// "session/<id>", ...), kept in arrival order and found through an in-memory map of subjects
// (rows_; see keystore.cpp for why there is no index by subject): a random 32-byte key wrapped with
// XChaCha20-Poly1305 under a key derived from the master key (associated data: the subject, so a
// wrapped key cannot be moved to another row). A `check` row holds a known value sealed under the
// master key: opening a store with a different master key fails before anything is written.
//
// Durability order, which the rest relies on: a new key is on disk before the event sealed with
// it is (synchronous=FULL: before key_for() returns; with defer_writes(): by the writer's hook,
// just before it commits the events); erase() runs only after the participant.erased event is
// durable. Hence a copy of the events taken before a copy of
// the keys never refers to a key the key copy lacks (unless it was erased in between).
//
// erase() deletes rows with secure_delete on, then checkpoints (TRUNCATE) and VACUUMs, so no
// free page of the file or its WAL keeps the old wrapped key; erase_later() has the writer's
// hook do the same off the caller's thread.
//
// Owned by whoever seals and opens (the daemon's loop, or nudgectl's main thread); one thread
// at a time. Unwrapped keys are cached in memory and zeroed (sodium_memzero) when erased or
// when the store is destroyed.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "events/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace nudged {

inline constexpr size_t kMasterKeyBytes = 32;
using DataKey = std::array<unsigned char, 32>;

class KeyStore {
 public:
  enum class OpenMode { kCreate, kExisting };
  // `master_key` must be kMasterKeyBytes long. With kExisting, a missing file is an error.
  static Result<std::unique_ptr<KeyStore>> open(const std::string& path,
                                                std::string_view master_key,
                                                OpenMode mode = OpenMode::kCreate);
  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // The subject's key; with `create`, made and durably stored when absent. Code::kNotFound
  // when absent and not created: erased, or never sealed.
  Result<DataKey> key_for(std::string_view subject, bool create);

  // For a daemon that appends through a group-commit writer: new keys are made and cached in
  // memory at once, but their rows are written by the returned hook, which the writer runs just
  // before it commits events (EventStore::set_before_commit_hook), on its own thread and its own
  // connection: every key made since the last call in one transaction (synchronous=FULL), so a
  // key is on disk before any event sealed with it is, at one transaction and fsync per group
  // commit rather than one per new participant, and never on the caller's (the loop's) thread.
  // A failing hook fails the commit; its keys are written by the next one. Call once, before
  // the first key_for(); the KeyStore must outlive the hook's last run.
  //
  // A key made here is used at once but written later, without looking again: if another
  // process wrote a different key for the same subject meanwhile, events would be sealed with a
  // key that is never read. So the deferring process is the only one that makes keys: it
  // holds an exclusive lock on `<path>.lock` (flock) until the store is destroyed, and a store
  // that makes a key without deferring takes a shared one for its insert (such stores read
  // their key back, so they may run side by side). Fails (kUnavailable) when another process
  // holds a conflicting one. Being the only maker, it reads the subjects of the file's rows
  // once more, here, and key_for() looks in the file only for those (a new person costs no read).
  Result<std::function<Status()>> defer_writes();

  // Destroys the keys of these subjects; returns how many existed. Then scrubs the file. On
  // the caller's thread: for nudgectl, or a store that does not defer its writes.
  Result<int> erase(const std::vector<std::string>& subjects);

  // The same for a store that defers its writes (defer_writes()), without a write on the
  // caller's thread (the daemon's loop must not wait for a DELETE's fsync and a VACUUM): the
  // keys leave the cache and the rows not yet written at once, so nothing more is sealed or
  // opened with them; the writer's hook deletes their rows in its next transaction, before
  // the rows made since, and scrub_after_commit() scrubs the file after it (the caller submits
  // a commit to run them).
  // Returns how many unwritten rows it dropped; take_erase_report() tells what the hook did.
  // A hook that fails keeps them for the next commit.
  int erase_later(std::vector<std::string> subjects);
  // The scrub after erase_later(): for the writer to run after each commit of its events
  // (EventStore::set_after_commit_hook), on its thread. Does nothing unless rows were deleted
  // since the last scrub that finished.
  void scrub_after_commit();
  struct EraseReport {
    int destroyed = 0;        // rows deleted by the hook since the last report
    std::string scrub_error;  // the last scrub that failed (done again after the next commit)
  };
  EraseReport take_erase_report();

  // The key for blind indexes of addresses (derived from the master key; survives erasure).
  const DataKey& index_key() const { return index_key_; }

  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

 private:
  KeyStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status exec(const char* sql);
  Status init(bool fresh);
  Status migrate_to_arrival_order();

  sqlite3* db_;
  std::string path_;
  DataKey wrap_key_{};
  DataKey index_key_{};
  std::unordered_map<std::string, DataKey> cache_;
  sqlite3_stmt* select_ = nullptr;  // SELECT wrapped FROM keys WHERE id = ?1 AND subject = ?2

  // Deferred writes (defer_writes()): rows made by key_for() and not yet written by the hook.
  struct PendingRow {
    std::string subject;
    std::string wrapped;
  };
  bool deferred_ = false;
  // The rows of the file this store knows, subject -> id (the caller's thread only): read at
  // open; then, for a store that does not defer, again from the last id known whenever a subject
  // is not found here (another process may have added it). The deferring store, the only maker,
  // reads them once more when it takes the makers' lock, and never after: the keys it makes are
  // in cache_. A subject erased here leaves at once, so nothing looks for its row again.
  std::unordered_map<std::string, int64_t> rows_;
  int64_t last_row_ = 0;  // the highest id read into rows_ (ids are never reused: AUTOINCREMENT)
  Status read_rows();     // rows_ += rows with an id above last_row_
  std::mutex pending_mu_;
  std::vector<PendingRow> pending_;   // guarded by pending_mu_
  std::vector<std::string> erasing_;  // guarded by pending_mu_: subjects the hook deletes
  EraseReport erase_report_;          // guarded by pending_mu_
  bool scrub_owed_ = false;           // writer thread: deleted rows not yet scrubbed from the file
  sqlite3* writer_db_ = nullptr;      // the hook's own connection (the writer thread's)
  Status write_pending();             // the hook's body; writer thread

  // The key makers' lock (`<path>.lock`): held from defer_writes() to the destructor, or for
  // one insert. -1 when not held.
  int lock_fd_ = -1;
  Status lock_key_makers(bool exclusive);
  void unlock_key_makers();
};

// The key store's path for an event database: "<database>.keys".
std::string key_store_path(const std::string& database_path);

}  // namespace nudged
