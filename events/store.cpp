#include "events/store.h"

#include <sodium.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "events/codec.h"
#include "events/upcast.h"

namespace nudged {
namespace {

constexpr size_t kHashBytes = 32;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events (
  position    INTEGER PRIMARY KEY,
  id          TEXT    NOT NULL UNIQUE,
  type        TEXT    NOT NULL,
  schema      INTEGER NOT NULL,
  stream      TEXT    NOT NULL,
  version     INTEGER NOT NULL,
  recorded_at TEXT    NOT NULL,
  data        TEXT    NOT NULL,
  meta        TEXT    NOT NULL,
  hash        BLOB    NOT NULL,
  UNIQUE (stream, version)
);
CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is refused'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is refused'); END;
)sql";

// INSERT OR REPLACE deletes the row it collides with without firing DELETE triggers (SQLite
// fires them for REPLACE only under PRAGMA recursive_triggers, a per-connection setting that
// whoever tampers would leave off): refused before the insert, whatever it collides on. Added
// to logs made before it when the daemon opens them.
constexpr const char* kReplaceTrigger = R"sql(
CREATE TRIGGER IF NOT EXISTS events_append_only_replace BEFORE INSERT ON events
WHEN EXISTS (SELECT 1 FROM events WHERE position = NEW.position)
  OR EXISTS (SELECT 1 FROM events WHERE id = NEW.id)
  OR EXISTS (SELECT 1 FROM events WHERE stream = NEW.stream AND version = NEW.version)
BEGIN SELECT RAISE(ABORT, 'events are append-only: INSERT OR REPLACE is refused'); END;
)sql";

std::string_view column_text(sqlite3_stmt* st, int i) {
  const unsigned char* p = sqlite3_column_text(st, i);
  int n = sqlite3_column_bytes(st, i);
  return p ? std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(n))
           : std::string_view();
}

std::string_view column_blob(sqlite3_stmt* st, int i) {
  const void* p = sqlite3_column_blob(st, i);
  int n = sqlite3_column_bytes(st, i);
  return p ? std::string_view(static_cast<const char*>(p), static_cast<size_t>(n))
           : std::string_view();
}

void bind_text(sqlite3_stmt* st, int i, std::string_view s) {
  sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

// Resets a statement when it goes out of scope, so no read lock outlives its use.
struct StmtReset {
  sqlite3_stmt* st;
  ~StmtReset() {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
  }
};

Status sqlite_error(sqlite3* db, const char* what) {
  int code = sqlite3_extended_errcode(db);
  std::string msg = std::string(what) + ": " + sqlite3_errmsg(db);
  if (code == SQLITE_BUSY || code == SQLITE_FULL || (code & 0xff) == SQLITE_IOERR ||
      code == SQLITE_READONLY) {
    return Status::unavailable(msg);
  }
  return Status::io(msg);
}

void hash_field(crypto_generichash_state* h, std::string_view bytes) {
  unsigned char len[8];
  uint64_t n = bytes.size();
  for (int i = 0; i < 8; ++i)
    len[i] = static_cast<unsigned char>(n >> (8 * i));
  crypto_generichash_update(h, len, sizeof len);
  crypto_generichash_update(h, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

}  // namespace

std::string chain_hash(std::string_view prev_hash, const StoredEvent& row) {
  crypto_generichash_state h;
  crypto_generichash_init(&h, nullptr, 0, kHashBytes);
  hash_field(&h, prev_hash);
  hash_field(&h, std::to_string(row.position));
  hash_field(&h, row.id);
  hash_field(&h, row.type);
  hash_field(&h, std::to_string(row.schema));
  hash_field(&h, row.stream);
  hash_field(&h, std::to_string(row.version));
  hash_field(&h, row.recorded_at);
  hash_field(&h, row.data);
  hash_field(&h, row.meta);
  std::string out(kHashBytes, '\0');
  crypto_generichash_final(&h, reinterpret_cast<unsigned char*>(out.data()), kHashBytes);
  return out;
}

Result<std::unique_ptr<EventStore>> EventStore::open(const std::string& path, OpenMode mode) {
  if (sodium_init() < 0) return Status::io("libsodium failed to initialise");
  if (mode == OpenMode::kCreate) {
    // Health data: the log and its WAL (which SQLite creates with the database's mode) are
    // readable by the service user alone. SQLite itself would create the file 0644.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Status::io("cannot create " + path + ": " + std::strerror(errno));
    ::close(fd);
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open " + path + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return Status::io(msg);
  }
  std::unique_ptr<EventStore> store(new EventStore(db));
  sqlite3_busy_timeout(db, 5000);
  Status s = store->init_schema(mode == OpenMode::kCreate);
  if (s && mode == OpenMode::kExisting && !store->has_events_table_) {
    s = Status::not_found(path + " is not a nudged event log (it has no events table)");
  }
  if (s) s = store->exec("PRAGMA journal_mode=WAL");
  if (s) s = store->exec("PRAGMA synchronous=FULL");
  if (s) s = store->prepare_statements();
  if (!s) return s;
  return store;
}

EventStore::~EventStore() {
  for (sqlite3_stmt* st :
       {find_id_, stream_version_, insert_, head_, read_, savepoint_, release_, rollback_to_}) {
    sqlite3_finalize(st);
  }
  sqlite3_close(db_);
}

Status EventStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    Status s = sqlite_error(db_, "SQLite");
    sqlite3_free(err);
    return s;
  }
  return Status::ok();
}

Status EventStore::step_once(sqlite3_stmt* st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? Status::ok() : sqlite_error(db_, "SQLite");
}

Status EventStore::init_schema(bool create) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='events'",
                         -1, &st, nullptr) != SQLITE_OK) {
    return sqlite_error(db_, "read schema");
  }
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_ROW) {
    has_events_table_ = true;
    return create ? exec(kReplaceTrigger) : Status::ok();
  }
  if (rc != SQLITE_DONE) return sqlite_error(db_, "read schema");
  if (!create) return Status::ok();
  has_events_table_ = true;
  Status s = exec("BEGIN IMMEDIATE");
  if (s) s = exec(kSchema);
  if (s) s = exec(kReplaceTrigger);
  if (s) return exec("COMMIT");
  exec("ROLLBACK");
  return s;
}

Status EventStore::prepare_statements() {
  struct {
    sqlite3_stmt** st;
    const char* sql;
  } list[] = {
      {&find_id_, "SELECT position, version, type, stream, data FROM events WHERE id = ?1"},
      {&stream_version_, "SELECT max(version) FROM events WHERE stream = ?1"},
      {&insert_,
       "INSERT INTO events (position, id, type, schema, stream, version, recorded_at, data, "
       "meta, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"},
      {&head_, "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"},
      {&savepoint_, "SAVEPOINT batch"},
      {&release_, "RELEASE batch"},
      {&rollback_to_, "ROLLBACK TO batch"},
      {&read_,
       "SELECT position, id, type, schema, stream, version, recorded_at, data, meta "
       "FROM events WHERE position > ?1 ORDER BY position LIMIT ?2"},
  };
  for (auto& item : list) {
    if (sqlite3_prepare_v3(db_, item.sql, -1, SQLITE_PREPARE_PERSISTENT, item.st, nullptr) !=
        SQLITE_OK) {
      return sqlite_error(db_, "prepare");
    }
  }
  return Status::ok();
}

Result<Appended> EventStore::append_one(const NewEvent& ev, TimePoint now) {
  std::string type(event_type_name(type_of(ev.data)));
  std::string stream = stream_of(ev.data);
  std::string encoded_here = ev.encoded.empty() ? encode_data(ev.data) : std::string();
  const std::string& data = ev.encoded.empty() ? encoded_here : ev.encoded;

  {  // Idempotency: an id seen before is a duplicate when its content is equal.
    StmtReset reset{find_id_};
    bind_text(find_id_, 1, ev.id);
    int rc = sqlite3_step(find_id_);
    if (rc == SQLITE_ROW) {
      if (column_text(find_id_, 2) != type || column_text(find_id_, 3) != stream ||
          column_text(find_id_, 4) != data) {
        return Status::conflict("event id \"" + ev.id + "\" exists with different content");
      }
      return Appended{sqlite3_column_int64(find_id_, 0), sqlite3_column_int64(find_id_, 1), true};
    }
    if (rc != SQLITE_DONE) return sqlite_error(db_, "look up event id");
  }

  int64_t version = 0;
  {
    StmtReset reset{stream_version_};
    bind_text(stream_version_, 1, stream);
    if (sqlite3_step(stream_version_) != SQLITE_ROW) return sqlite_error(db_, "stream version");
    version = sqlite3_column_int64(stream_version_, 0);
  }
  if (ev.expected_version && *ev.expected_version != version) {
    return Status::conflict("stream " + stream + " is at version " + std::to_string(version) +
                            ", not the expected " + std::to_string(*ev.expected_version));
  }

  std::string recorded_at = format_utc_millis(ev.recorded_at.value_or(now));
  StoredEvent row{
      head_position_ + 1, ev.id, type,   current_schema(type_of(ev.data)), stream, version + 1,
      recorded_at,        data,  ev.meta};
  std::string hash = chain_hash(head_hash_, row);

  StmtReset reset{insert_};
  sqlite3_bind_int64(insert_, 1, row.position);
  bind_text(insert_, 2, row.id);
  bind_text(insert_, 3, row.type);
  sqlite3_bind_int(insert_, 4, row.schema);
  bind_text(insert_, 5, row.stream);
  sqlite3_bind_int64(insert_, 6, row.version);
  bind_text(insert_, 7, row.recorded_at);
  bind_text(insert_, 8, row.data);
  bind_text(insert_, 9, row.meta);
  sqlite3_bind_blob(insert_, 10, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(insert_) != SQLITE_DONE) return sqlite_error(db_, "append event");
  head_position_ = row.position;
  head_hash_ = std::move(hash);
  return Appended{row.position, row.version, false};
}

Result<std::vector<Appended>> EventStore::append_batch(const Batch& batch, TimePoint now) {
  int64_t saved_position = head_position_;
  std::string saved_hash = head_hash_;
  Status s = step_once(savepoint_);
  if (!s) return s;
  std::vector<Appended> out;
  out.reserve(batch.size());
  for (const NewEvent& ev : batch) {
    Result<Appended> r = append_one(ev, now);
    if (!r) {
      step_once(rollback_to_);
      step_once(release_);
      head_position_ = saved_position;
      head_hash_ = std::move(saved_hash);
      return r.status();
    }
    out.push_back(*r);
  }
  s = step_once(release_);
  if (!s) return s;
  return out;
}

std::vector<Result<std::vector<Appended>>> EventStore::append_group(
    std::span<const Batch* const> batches, TimePoint now) {
  std::vector<Result<std::vector<Appended>>> results;
  auto fail_all = [&](const Status& s) {
    results.assign(batches.size(), Result<std::vector<Appended>>(s));
    return results;
  };
  Status s = exec("BEGIN IMMEDIATE");
  if (!s) return fail_all(s);
  {  // Re-read the head inside the write lock: another process may have appended.
    StmtReset reset{head_};
    int rc = sqlite3_step(head_);
    if (rc == SQLITE_ROW) {
      head_position_ = sqlite3_column_int64(head_, 0);
      head_hash_.assign(column_blob(head_, 1));
    } else if (rc == SQLITE_DONE) {
      head_position_ = 0;
      head_hash_.assign(kHashBytes, '\0');
    } else {
      Status err = sqlite_error(db_, "read head");
      exec("ROLLBACK");
      return fail_all(err);
    }
  }
  results.reserve(batches.size());
  for (const Batch* b : batches)
    results.push_back(append_batch(*b, now));
  if (before_commit_) {
    s = before_commit_();
    if (!s) {
      exec("ROLLBACK");
      return fail_all(s);
    }
  }
  s = exec("COMMIT");
  if (!s) {
    exec("ROLLBACK");
    return fail_all(s);
  }
  if (after_commit_) after_commit_();
  return results;
}

Result<std::vector<Appended>> EventStore::append(const Batch& batch, TimePoint now) {
  const Batch* one[] = {&batch};
  return std::move(append_group(one, now).front());
}

Result<int64_t> EventStore::read(int64_t after, int64_t limit,
                                 const std::function<void(const StoredEvent&)>& fn) {
  StmtReset reset{read_};
  sqlite3_bind_int64(read_, 1, after);
  sqlite3_bind_int64(read_, 2, limit);
  int64_t n = 0;
  int rc;
  while ((rc = sqlite3_step(read_)) == SQLITE_ROW) {
    StoredEvent row{
        sqlite3_column_int64(read_, 0), column_text(read_, 1), column_text(read_, 2),
        sqlite3_column_int(read_, 3),   column_text(read_, 4), sqlite3_column_int64(read_, 5),
        column_text(read_, 6),          column_text(read_, 7), column_text(read_, 8)};
    fn(row);
    ++n;
  }
  if (rc != SQLITE_DONE) return sqlite_error(db_, "read events");
  return n;
}

Result<int64_t> EventStore::last_position() {
  StmtReset reset{head_};
  int rc = sqlite3_step(head_);
  if (rc == SQLITE_ROW) return sqlite3_column_int64(head_, 0);
  if (rc == SQLITE_DONE) return int64_t{0};
  return sqlite_error(db_, "read head");
}

VerifyReport EventStore::verify() {
  VerifyReport report;
  auto fault = [&](std::string msg) {
    if (report.faults.size() < 100) report.faults.push_back(std::move(msg));
  };

  // The replace trigger came later and is added when the daemon opens the log for writing, so
  // a log (or backup) from before it lacks it without being damaged: a note, not a fault.
  for (const char* trigger :
       {"events_append_only_update", "events_append_only_delete", "events_append_only_replace"}) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, "SELECT 1 FROM sqlite_master WHERE type='trigger' AND name=?1", -1, &st,
                       nullptr);
    bind_text(st, 1, trigger);
    if (sqlite3_step(st) != SQLITE_ROW) {
      std::string msg = std::string("the append-only trigger ") + trigger + " is missing";
      if (std::string_view(trigger) == "events_append_only_replace")
        report.notes.push_back(msg + " (nudged adds it when it next opens the log)");
      else
        fault(std::move(msg));
    }
    sqlite3_finalize(st);
  }

  // A separate statement that also returns the stored hash.
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "SELECT position, id, type, schema, stream, version, recorded_at, "
                         "data, meta, hash FROM events WHERE position > ?1 ORDER BY position "
                         "LIMIT 10000",
                         -1, &st, nullptr) != SQLITE_OK) {
    fault(sqlite_error(db_, "verify").to_string());
    return report;
  }
  Decoder decoder;
  std::string prev(kHashBytes, '\0');
  int64_t expect = 1;
  std::unordered_map<std::string, int64_t> versions;
  for (;;) {
    sqlite3_bind_int64(st, 1, expect - 1);
    int64_t page = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      ++page;
      StoredEvent row{sqlite3_column_int64(st, 0), column_text(st, 1), column_text(st, 2),
                      sqlite3_column_int(st, 3),   column_text(st, 4), sqlite3_column_int64(st, 5),
                      column_text(st, 6),          column_text(st, 7), column_text(st, 8)};
      std::string at = "position " + std::to_string(row.position) + ": ";
      if (row.position != expect) {
        fault(at + "expected position " + std::to_string(expect) + " (a gap or reordering)");
      }
      std::string hash = chain_hash(prev, row);
      std::string_view stored = column_blob(st, 9);
      if (stored.size() != kHashBytes || sodium_memcmp(stored.data(), hash.data(), kHashBytes)) {
        fault(at + "hash chain broken (the row or one before it was changed)");
      }
      prev.assign(stored.size() == kHashBytes ? stored : std::string_view(hash));
      int64_t& v = versions[std::string(row.stream)];
      if (row.version != v + 1) {
        fault(at + "stream " + std::string(row.stream) + " version " + std::to_string(row.version) +
              " follows " + std::to_string(v));
      }
      v = row.version;
      std::optional<EventType> type = parse_event_type(row.type);
      if (!type) {
        fault(at + "unknown event type \"" + std::string(row.type) + "\"");
      } else if (row.schema < oldest_schema(*type) || row.schema > current_schema(*type)) {
        fault(at + "schema " + std::to_string(row.schema) + " of " + std::string(row.type) +
              " is not one this build reads");
      } else {
        Result<std::string> json = upcast_data(*type, row.schema, row.data);
        Result<EventData> data =
            json ? decoder.decode(*type, *json, DecodeMode::kStored) : json.status();
        if (!data)
          fault(at + "data does not decode: " + data.status().to_string());
        else if (stream_of(*data) != row.stream)
          fault(at + "stream does not match the data");
      }
      if (!parse_rfc3339(row.recorded_at)) fault(at + "recorded_at is not an RFC 3339 time");
      report.last_position = row.position;
      ++report.events;
      expect = row.position + 1;
    }
    if (rc != SQLITE_DONE) {
      fault(sqlite_error(db_, "verify").to_string());
      break;
    }
    sqlite3_reset(st);
    if (page == 0) break;
  }
  sqlite3_finalize(st);
  return report;
}

}  // namespace nudged
