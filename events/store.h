// EventStore: the append-only SQLite log of SPEC §3.
//
// One table, `events`, in WAL mode with synchronous=FULL: when append() returns, the events are
// on disk. Triggers make the database itself refuse UPDATE and DELETE. Positions are assigned
// here, gap-free; each row carries a BLAKE2b hash over the previous row's hash and its own
// canonical bytes, so `verify` notices any edit, removal or reordering.
//
// An EventStore wraps one SQLite connection and must be used by one thread at a time. Open one
// per thread: the writer thread appends through its own, the loop reads through another (WAL
// lets readers run beside the writer). Appends from two processes are safe (each write
// transaction re-reads the head under BEGIN IMMEDIATE), but the daemon is meant to be the
// only writer while it runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "events/intake.h"
#include "events/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace nudged {

// What happened to one appended event.
struct Appended {
  int64_t position = 0;
  int64_t version = 0;
  bool duplicate = false;  // the id existed with equal content; nothing was written
};

// One row as read, valid only during the callback that receives it.
struct StoredEvent {
  int64_t position;
  std::string_view id;
  std::string_view type;
  int schema;
  std::string_view stream;
  int64_t version;
  std::string_view recorded_at;
  std::string_view data;
  std::string_view meta;
};

// A batch appended atomically: all of it or none of it.
using Batch = std::vector<NewEvent>;

struct VerifyReport {
  int64_t events = 0;
  int64_t last_position = 0;
  std::vector<std::string> faults;  // empty when the log is sound
  // Not faults: what a sound log made by an older nudged lacks, and nudged adds when it next
  // opens the log for writing (the events_append_only_replace trigger).
  std::vector<std::string> notes;
};

class EventStore {
 public:
  enum class OpenMode { kCreate, kExisting };
  // Opens the log at `path` (creating it, mode 0600, with kCreate when absent). Sets WAL and
  // synchronous=FULL. The schema is created only in a new database: a log whose triggers were
  // dropped is left as found, for `verify` to report. kExisting refuses a file that is not a
  // nudged log, and changes nothing in it.
  static Result<std::unique_ptr<EventStore>> open(const std::string& path,
                                                  OpenMode mode = OpenMode::kCreate);
  ~EventStore();
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // Appends one batch atomically in its own transaction.
  Result<std::vector<Appended>> append(const Batch& batch, TimePoint now);

  // Group commit: appends many independent batches in ONE transaction (one fsync). Each batch
  // is still atomic on its own (a savepoint): a conflict in one leaves the others in. The
  // result holds one entry per batch, in order. When the transaction itself fails (disk full,
  // I/O error) every entry carries that error and nothing was written.
  std::vector<Result<std::vector<Appended>>> append_group(std::span<const Batch* const> batches,
                                                          TimePoint now);

  // Calls fn for up to `limit` events after `after`, in order, in one short read transaction.
  // Returns the number of events read.
  Result<int64_t> read(int64_t after, int64_t limit,
                       const std::function<void(const StoredEvent&)>& fn);

  // The position of the newest event (0 for an empty log).
  Result<int64_t> last_position();

  // Walks the whole log: positions gap-free from 1, hash chain, known types and schemas, data
  // that decodes, per-stream versions 1, 2, 3..., and the append-only triggers in place.
  VerifyReport verify();

  // Runs on the appending thread just before each COMMIT of append_group(): the daemon writes
  // its new keys there (KeyStore::defer_writes); tests use it to make a commit slow. When it
  // fails, the transaction is rolled back and every batch in it fails with its status.
  void set_before_commit_hook(std::function<Status()> hook) { before_commit_ = std::move(hook); }
  // Runs on the appending thread after each successful COMMIT of append_group(), before its
  // results are returned: the daemon scrubs its key store there after an erasure
  // (KeyStore::scrub_after_commit), outside the events' write lock.
  void set_after_commit_hook(std::function<void()> hook) { after_commit_ = std::move(hook); }

  sqlite3* handle() const { return db_; }

 private:
  explicit EventStore(sqlite3* db) : db_(db) {}
  Status init_schema(bool create);
  Status prepare_statements();
  Result<std::vector<Appended>> append_batch(const Batch& batch, TimePoint now);
  Result<Appended> append_one(const NewEvent& ev, TimePoint now);
  Status exec(const char* sql);
  Status step_once(sqlite3_stmt* st);  // runs a prepared statement with no result rows

  sqlite3* db_;
  bool has_events_table_ = false;
  std::function<Status()> before_commit_;
  std::function<void()> after_commit_;
  // Prepared once, reused for every append.
  sqlite3_stmt* find_id_ = nullptr;
  sqlite3_stmt* stream_version_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* head_ = nullptr;
  sqlite3_stmt* read_ = nullptr;
  sqlite3_stmt* savepoint_ = nullptr;  // batches are savepoints inside the group's transaction
  sqlite3_stmt* release_ = nullptr;
  sqlite3_stmt* rollback_to_ = nullptr;
  // The head of the log inside the current write transaction.
  int64_t head_position_ = 0;
  std::string head_hash_;
};

// The chain hash of one row: BLAKE2b-256(prev_hash || canonical bytes of the row's fields).
std::string chain_hash(std::string_view prev_hash, const StoredEvent& row);

}  // namespace nudged
