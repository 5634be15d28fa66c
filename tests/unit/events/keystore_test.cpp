// Tests of events/keystore.h's deferred writes (defer_writes): the daemon makes keys on its
// loop and the writer thread writes them, in one transaction, just before it commits events.
#include "events/keystore.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

const std::string kMaster(32, 'm');

class DeferredKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ks = KeyStore::open(path(), kMaster);
    ASSERT_TRUE(ks.is_ok()) << ks.status().to_string();
    keys_ = std::move(*ks);
    auto hook = keys_->defer_writes();
    ASSERT_TRUE(hook.is_ok()) << hook.status().to_string();
    hook_ = std::move(*hook);
  }
  std::string path() { return dir_.file("nudged.db.keys"); }
  // What another process opening the file now would find.
  Result<DataKey> on_disk(const std::string& subject) {
    auto other = KeyStore::open(path(), kMaster, KeyStore::OpenMode::kExisting);
    if (!other) return other.status();
    return (*other)->key_for(subject, false);
  }
  int64_t rows() {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM keys", -1, &st, nullptr);
    sqlite3_step(st);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }
  std::string wrapped_of(const std::string& subject) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT wrapped FROM keys WHERE subject = ?1", -1, &st, nullptr);
    sqlite3_bind_text(st, 1, subject.c_str(), -1, SQLITE_TRANSIENT);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW) {
      out.assign(static_cast<const char*>(sqlite3_column_blob(st, 0)),
                 static_cast<size_t>(sqlite3_column_bytes(st, 0)));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }
  // Whether these bytes are anywhere in the key store's file or its WAL.
  bool file_holds(const std::string& bytes) {
    for (const std::string& file : {path(), path() + "-wal"}) {
      std::ifstream in(file, std::ios::binary);
      std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (content.find(bytes) != std::string::npos) return true;
    }
    return false;
  }
  // Runs the hook while another connection has renamed the table away, so that it fails at
  // once, and puts the table back.
  void run_hook_that_fails() {
    sqlite3* other = nullptr;
    sqlite3_open_v2(path().c_str(), &other, SQLITE_OPEN_READWRITE, nullptr);
    ASSERT_EQ(sqlite3_exec(other, "ALTER TABLE keys RENAME TO away", nullptr, nullptr, nullptr),
              SQLITE_OK);
    EXPECT_FALSE(hook_().is_ok());
    ASSERT_EQ(sqlite3_exec(other, "ALTER TABLE away RENAME TO keys", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(other);
  }
  testing::TempDir dir_;
  std::unique_ptr<KeyStore> keys_;
  std::function<Status()> hook_;
};

TEST_F(DeferredKeysTest, AKeyIsUsableAtOnceAndWrittenByTheHook) {
  Result<DataKey> made = keys_->key_for("participant/p1", true);
  ASSERT_TRUE(made.is_ok()) << made.status().to_string();
  EXPECT_EQ(*keys_->key_for("participant/p1", false), *made);  // the same key, from memory
  EXPECT_EQ(rows(), 0) << "written on the caller's thread instead of by the hook";
  EXPECT_EQ(on_disk("participant/p1").status().code(), Code::kNotFound);

  ASSERT_TRUE(hook_().is_ok());
  EXPECT_EQ(rows(), 1);
  Result<DataKey> read = on_disk("participant/p1");
  ASSERT_TRUE(read.is_ok()) << read.status().to_string();
  EXPECT_EQ(*read, *made);
  ASSERT_TRUE(hook_().is_ok());  // nothing new: nothing written
  EXPECT_EQ(rows(), 1);
}

TEST_F(DeferredKeysTest, ManyKeysAreWrittenByOneRunOnAnotherThread) {
  std::vector<DataKey> made;
  for (int i = 0; i < 50; ++i) {
    made.push_back(*keys_->key_for("participant/p" + std::to_string(i), true));
  }
  Status s;
  std::thread writer([&] { s = hook_(); });
  writer.join();
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(rows(), 50);
  EXPECT_EQ(*on_disk("participant/p49"), made[49]);
}

// A failed run fails the commit it precedes, and the next run still writes the keys: none is
// lost.
TEST_F(DeferredKeysTest, KeysOfAFailedRunAreWrittenByTheNext) {
  DataKey made = *keys_->key_for("participant/p1", true);
  ASSERT_TRUE(hook_().is_ok());  // opens the hook's connection
  DataKey second = *keys_->key_for("participant/p2", true);
  run_hook_that_fails();
  EXPECT_EQ(on_disk("participant/p2").status().code(), Code::kNotFound);
  ASSERT_TRUE(hook_().is_ok());
  EXPECT_EQ(*on_disk("participant/p2"), second);
  EXPECT_EQ(*on_disk("participant/p1"), made);
}

// A key made and erased before the hook ran must never reach the file.
TEST_F(DeferredKeysTest, AKeyErasedBeforeItWasWrittenIsNeverWritten) {
  keys_->key_for("participant/p1", true);
  keys_->key_for("participant/p2", true);
  Result<int> erased = keys_->erase({"participant/p1"});
  ASSERT_TRUE(erased.is_ok());
  ASSERT_TRUE(hook_().is_ok());
  EXPECT_EQ(rows(), 1);
  EXPECT_EQ(on_disk("participant/p1").status().code(), Code::kNotFound);
  EXPECT_EQ(keys_->key_for("participant/p1", false).status().code(), Code::kNotFound);
  EXPECT_TRUE(on_disk("participant/p2").is_ok());
}

// The daemon's erasure (erase_later): the key is gone for the caller at once, with no write on
// its thread; the hook deletes the row and scrubs the file, so no copy of the wrapped key is
// left in the file or its WAL.
TEST_F(DeferredKeysTest, AKeyErasedLaterIsGoneAtOnceAndDeletedByTheHook) {
  ASSERT_TRUE(keys_->key_for("participant/p1", true).is_ok());
  ASSERT_TRUE(keys_->key_for("participant/p2", true).is_ok());
  ASSERT_TRUE(hook_().is_ok());
  std::string wrapped = wrapped_of("participant/p1");
  ASSERT_EQ(wrapped.size(), 72u);
  ASSERT_TRUE(file_holds(wrapped));

  EXPECT_EQ(keys_->erase_later({"participant/p1"}), 0);  // its row was already written
  EXPECT_EQ(keys_->key_for("participant/p1", false).status().code(), Code::kNotFound);
  EXPECT_EQ(rows(), 2) << "deleted on the caller's thread instead of by the hook";

  Status s;
  std::thread writer([&] {
    s = hook_();
    keys_->scrub_after_commit();  // as the writer does once the events are committed
  });
  writer.join();
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(rows(), 1);
  EXPECT_EQ(on_disk("participant/p1").status().code(), Code::kNotFound);
  EXPECT_TRUE(on_disk("participant/p2").is_ok());
  EXPECT_FALSE(file_holds(wrapped)) << "a copy of the erased key is left in the file or WAL";
  KeyStore::EraseReport report = keys_->take_erase_report();
  EXPECT_EQ(report.destroyed, 1);
  EXPECT_EQ(report.scrub_error, "");
  EXPECT_EQ(keys_->take_erase_report().destroyed, 0);  // reported once
}

// An address erased with its owner may be opted out again at once (by whoever has it now):
// the new key is not the old one, and the hook deletes the old row before writing the new.
TEST_F(DeferredKeysTest, AKeyMadeAgainAfterAnErasureOutlivesIt) {
  DataKey old = *keys_->key_for("address/k1", true);
  ASSERT_TRUE(hook_().is_ok());
  keys_->erase_later({"address/k1"});
  Result<DataKey> again = keys_->key_for("address/k1", true);
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_NE(*again, old);
  ASSERT_TRUE(hook_().is_ok());
  Result<DataKey> stored = on_disk("address/k1");
  ASSERT_TRUE(stored.is_ok()) << stored.status().to_string();
  EXPECT_EQ(*stored, *again);
  EXPECT_EQ(keys_->take_erase_report().destroyed, 1);
}

// A hook that fails keeps its erasures: the next one deletes the rows.
TEST_F(DeferredKeysTest, ErasuresOfAFailedRunAreDoneByTheNext) {
  ASSERT_TRUE(keys_->key_for("participant/p1", true).is_ok());
  ASSERT_TRUE(hook_().is_ok());
  keys_->erase_later({"participant/p1"});
  run_hook_that_fails();
  EXPECT_EQ(rows(), 1);
  EXPECT_EQ(keys_->key_for("participant/p1", false).status().code(), Code::kNotFound);
  ASSERT_TRUE(hook_().is_ok());
  EXPECT_EQ(rows(), 0);
}

// A key erased while the hook that was to write it waits (here for a lock another connection
// holds) and then fails: the next run must not write it back.
TEST_F(DeferredKeysTest, AKeyErasedWhileAFailingRunHeldItIsNotWrittenBack) {
  ASSERT_TRUE(hook_().is_ok());  // opens the hook's connection
  ASSERT_TRUE(keys_->key_for("address/k1", true).is_ok());
  sqlite3* other = nullptr;
  sqlite3_open_v2(path().c_str(), &other, SQLITE_OPEN_READWRITE, nullptr);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  Status s;
  std::thread writer([&] { s = hook_(); });  // takes address/k1, then waits for the lock
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  keys_->erase_later({"address/k1"});
  writer.join();  // the lock is not given up: the run fails after its busy timeout
  EXPECT_FALSE(s.is_ok());
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  ASSERT_TRUE(hook_().is_ok());
  EXPECT_EQ(rows(), 0) << "the erased key was written back";
  EXPECT_EQ(keys_->key_for("address/k1", false).status().code(), Code::kNotFound);
  EXPECT_EQ(on_disk("address/k1").status().code(), Code::kNotFound);
}

// A reader keeps the scrub's checkpoint from finishing: that is reported, not taken for done,
// and the next scrub leaves no copy of the erased key in the file or its WAL.
TEST_F(DeferredKeysTest, AScrubAReaderHeldUpIsReportedAndDoneLater) {
  ASSERT_TRUE(keys_->key_for("participant/p1", true).is_ok());
  ASSERT_TRUE(keys_->key_for("participant/p2", true).is_ok());
  ASSERT_TRUE(hook_().is_ok());
  std::string wrapped = wrapped_of("participant/p1");
  sqlite3* reader = nullptr;
  sqlite3_open_v2(path().c_str(), &reader, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_exec(reader, "BEGIN", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_prepare_v2(reader, "SELECT count(*) FROM keys", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);  // a read transaction on the WAL as it is now
  keys_->erase_later({"participant/p1"});
  ASSERT_TRUE(hook_().is_ok());
  keys_->scrub_after_commit();
  KeyStore::EraseReport report = keys_->take_erase_report();
  EXPECT_EQ(report.destroyed, 1);
  EXPECT_NE(report.scrub_error, "") << "a checkpoint that did not finish was taken for done";
  sqlite3_finalize(st);
  sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(reader);
  keys_->scrub_after_commit();
  EXPECT_EQ(keys_->take_erase_report().scrub_error, "");
  EXPECT_FALSE(file_holds(wrapped));
}

// A deferring store reads the subjects in the file once, when it starts deferring, and knows
// from then on which subjects have a row without reading the file: a key written before (by an
// earlier run, or by nudgectl) is found and not made again (a second key would leave the
// person's data sealed under one that is never stored) ...
TEST_F(DeferredKeysTest, AKeyWrittenBeforeDeferringIsFoundNotMadeAgain) {
  keys_.reset();  // the daemon stops; nudgectl makes a key
  DataKey earlier;
  {
    auto ctl = KeyStore::open(path(), kMaster, KeyStore::OpenMode::kExisting);
    ASSERT_TRUE(ctl.is_ok()) << ctl.status().to_string();
    earlier = *(*ctl)->key_for("participant/p1", true);
  }
  auto ks = KeyStore::open(path(), kMaster, KeyStore::OpenMode::kExisting);
  ASSERT_TRUE(ks.is_ok()) << ks.status().to_string();
  keys_ = std::move(*ks);
  ASSERT_TRUE(keys_->defer_writes().is_ok());
  Result<DataKey> again = keys_->key_for("participant/p1", true);
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_EQ(*again, earlier);
}

// ... and a subject it does not know is new: no row is read for it (a row that appeared
// behind the store's back, which the maker's lock rules out, is not even looked at).
TEST_F(DeferredKeysTest, ASubjectNotInTheFileIsNotLookedFor) {
  sqlite3* other = nullptr;
  sqlite3_open_v2(path().c_str(), &other, SQLITE_OPEN_READWRITE, nullptr);
  ASSERT_EQ(sqlite3_exec(other,
                         "INSERT INTO keys (subject, wrapped) VALUES ('participant/behind', "
                         "x'00112233')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(other);
  // Read, the row would not unwrap (Code::kCorrupt); not read, the subject is simply absent.
  EXPECT_EQ(keys_->key_for("participant/behind", false).status().code(), Code::kNotFound);
}

// While one store defers its writes it is the only maker of keys: a second store (another
// process, here another open file description of the lock) can neither defer nor make a key,
// only read the ones that exist. Its refusal names no subject. Once the first is gone, it can.
TEST_F(DeferredKeysTest, OnlyTheDeferringStoreMakesKeys) {
  ASSERT_TRUE(keys_->key_for("participant/p1", true).is_ok());
  ASSERT_TRUE(hook_().is_ok());
  auto other = KeyStore::open(path(), kMaster, KeyStore::OpenMode::kExisting);
  ASSERT_TRUE(other.is_ok()) << other.status().to_string();
  auto second_hook = (*other)->defer_writes();
  ASSERT_FALSE(second_hook.is_ok());
  EXPECT_EQ(second_hook.status().code(), Code::kUnavailable);
  Result<DataKey> made = (*other)->key_for("participant/p2", true);
  ASSERT_FALSE(made.is_ok());
  EXPECT_EQ(made.status().code(), Code::kUnavailable);
  EXPECT_EQ(made.status().message().find("p2"), std::string::npos);
  EXPECT_TRUE((*other)->key_for("participant/p1", false).is_ok());  // reading is fine

  keys_.reset();  // the daemon stops
  EXPECT_TRUE((*other)->key_for("participant/p2", true).is_ok());
  EXPECT_TRUE((*other)->defer_writes().is_ok());
}

// Rows are kept in arrival order, not by subject: a new person's subject is a keyed hash, so
// ordering by subject took every new key to a random page of the file (most of the writer's
// page writes under load). Here subjects arrive in the reverse of their sort order.
TEST_F(DeferredKeysTest, RowsAreKeptInArrivalOrder) {
  for (const char* subject : {"participant/c", "participant/b", "participant/a"}) {
    ASSERT_TRUE(keys_->key_for(subject, true).is_ok());
  }
  ASSERT_TRUE(hook_().is_ok());
  sqlite3* db = nullptr;
  sqlite3_open_v2(path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  // In the order of the table's b-tree (its key), whatever that is.
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT subject FROM keys", -1, &st, nullptr), SQLITE_OK);
  std::vector<std::string> order;
  while (sqlite3_step(st) == SQLITE_ROW) {
    order.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_EQ(order, (std::vector<std::string>{"participant/c", "participant/b", "participant/a"}));
}

// Stores that do not defer (nudgectl), side by side.
class KeyStoreFileTest : public ::testing::Test {
 protected:
  std::string path() { return dir_.file("nudged.db.keys"); }
  std::unique_ptr<KeyStore> open() {
    auto ks = KeyStore::open(path(), kMaster);
    EXPECT_TRUE(ks.is_ok()) << ks.status().to_string();
    return ks.is_ok() ? std::move(*ks) : nullptr;
  }
  int64_t rows_of(const std::string& subject) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM keys WHERE subject = ?1", -1, &st, nullptr);
    sqlite3_bind_text(st, 1, subject.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_step(st);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }
  void exec(const char* sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  testing::TempDir dir_;
};

// A key another store made after this one opened is found and used, not made a second time (a
// second row would seal this process's data under a key that the other reads back as its own).
TEST_F(KeyStoreFileTest, AKeyMadeByAnotherStoreSinceOpeningIsFoundNotMadeAgain) {
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  DataKey made = *first->key_for("participant/p1", true);
  Result<DataKey> again = second->key_for("participant/p1", true);
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_EQ(*again, made);
  EXPECT_EQ(rows_of("participant/p1"), 1);
}

// A row another store erased after this one read the rows is gone for it too (absent, not a
// corrupt key), and erasing deletes every row of the subject.
TEST_F(KeyStoreFileTest, ARowErasedByAnotherStoreIsGone) {
  {
    auto maker = open();
    ASSERT_TRUE(maker && maker->key_for("participant/p1", true).is_ok());
    ASSERT_TRUE(maker->key_for("participant/p2", true).is_ok());
  }
  auto reader = open();  // reads the rows of p1 and p2
  auto eraser = open();
  ASSERT_TRUE(reader && eraser);
  Result<int> erased = eraser->erase({"participant/p1"});
  ASSERT_TRUE(erased.is_ok()) << erased.status().to_string();
  EXPECT_EQ(*erased, 1);
  EXPECT_EQ(reader->key_for("participant/p1", false).status().code(), Code::kNotFound);
  EXPECT_TRUE(reader->key_for("participant/p2", false).is_ok());
  EXPECT_EQ(rows_of("participant/p1"), 0);
}

// A key store from before 0.3 (rows ordered by subject, no id) is rewritten in arrival order
// when opened, and every key is still found and erasable; the table keeps its name and columns,
// so an older binary could still read it.
TEST_F(KeyStoreFileTest, AStoreOrderedBySubjectIsRewrittenAndKeepsItsKeys) {
  DataKey p1;
  DataKey p2;
  {
    auto old = open();
    ASSERT_TRUE(old);
    p1 = *old->key_for("participant/p1", true);
    p2 = *old->key_for("participant/p2", true);
  }
  // Back to the layout of 0.2.
  exec(
      "BEGIN; CREATE TABLE old_keys (subject TEXT PRIMARY KEY, wrapped BLOB NOT NULL) "
      "WITHOUT ROWID; INSERT INTO old_keys SELECT subject, wrapped FROM keys; DROP TABLE keys; "
      "ALTER TABLE old_keys RENAME TO keys; COMMIT");
  auto now = open();
  ASSERT_TRUE(now);
  EXPECT_EQ(*now->key_for("participant/p1", false), p1);
  EXPECT_EQ(*now->key_for("participant/p2", false), p2);
  DataKey p3 = *now->key_for("participant/p3", true);
  exec("SELECT id FROM keys");  // the new layout
  now.reset();
  auto reopened = open();
  ASSERT_TRUE(reopened);
  EXPECT_EQ(*reopened->key_for("participant/p3", false), p3);
  EXPECT_EQ(*reopened->erase({"participant/p2"}), 1);
  EXPECT_EQ(reopened->key_for("participant/p2", false).status().code(), Code::kNotFound);
  EXPECT_EQ(*reopened->key_for("participant/p1", false), p1);
}

// No key is made inside a transaction the caller opened on handle(): a rollback would leave the
// key in memory with no row, and the makers' lock would be let go before the row committed.
TEST_F(KeyStoreFileTest, NoKeyIsMadeInTheCallersTransaction) {
  auto ks = open();
  ASSERT_TRUE(ks);
  ASSERT_EQ(sqlite3_exec(ks->handle(), "BEGIN", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_FALSE(ks->key_for("participant/p1", true).is_ok());
  ASSERT_EQ(sqlite3_exec(ks->handle(), "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_EQ(ks->key_for("participant/p1", false).status().code(), Code::kNotFound);
  EXPECT_TRUE(ks->key_for("participant/p1", true).is_ok());  // outside one, as usual
  EXPECT_EQ(rows_of("participant/p1"), 1);
}

// Should a subject ever have two rows (two 0.2 makers racing after a downgrade), the first
// wins, as it does for 0.2's lookup: both versions open data with the same key.
TEST_F(KeyStoreFileTest, TheFirstRowOfASubjectWins) {
  DataKey first;
  {
    auto ks = open();
    ASSERT_TRUE(ks);
    first = *ks->key_for("participant/p1", true);
  }
  exec("INSERT INTO keys (subject, wrapped) SELECT subject, wrapped FROM keys");  // a copy
  exec("UPDATE keys SET wrapped = x'00' WHERE id = (SELECT max(id) FROM keys)");  // not a key
  auto ks = open();
  ASSERT_TRUE(ks);
  Result<DataKey> read = ks->key_for("participant/p1", false);
  ASSERT_TRUE(read.is_ok()) << read.status().to_string();
  EXPECT_EQ(*read, first);
}

// A key erased by another store and made again there since this one read the rows is found
// (the new row), not reported missing.
TEST_F(KeyStoreFileTest, AKeyErasedAndMadeAgainElsewhereIsFound) {
  auto reader = open();
  auto other = open();
  ASSERT_TRUE(reader && other);
  ASSERT_TRUE(other->key_for("participant/p1", true).is_ok());
  ASSERT_TRUE(reader->key_for("participant/p1", false).is_ok());  // reads its row
  auto again = open();
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->erase({"participant/p1"}).is_ok());
  DataKey made = *again->key_for("participant/p1", true);
  auto fresh_reader = open();
  ASSERT_TRUE(fresh_reader);
  EXPECT_EQ(*fresh_reader->key_for("participant/p1", false), made);
  // The first reader has the old key in memory (erasure elsewhere cannot reach it); a reader
  // that read the old row's id but not the key finds the new row.
  auto stale = open();
  ASSERT_TRUE(stale);
  ASSERT_TRUE(again->erase({"participant/p1"}).is_ok());
  DataKey third = *again->key_for("participant/p1", true);
  Result<DataKey> found = stale->key_for("participant/p1", false);
  ASSERT_TRUE(found.is_ok()) << found.status().to_string();
  EXPECT_EQ(*found, third);
}

// A wrong master key rewrites nothing: a 0.2 store opened with it keeps its layout.
TEST_F(KeyStoreFileTest, AWrongMasterKeyDoesNotRewriteAnOldStore) {
  {
    auto ks = open();
    ASSERT_TRUE(ks && ks->key_for("participant/p1", true).is_ok());
  }
  exec(
      "BEGIN; CREATE TABLE old_keys (subject TEXT PRIMARY KEY, wrapped BLOB NOT NULL) "
      "WITHOUT ROWID; INSERT INTO old_keys SELECT subject, wrapped FROM keys; DROP TABLE keys; "
      "ALTER TABLE old_keys RENAME TO keys; COMMIT");
  auto wrong = KeyStore::open(path(), std::string(32, 'w'));
  EXPECT_FALSE(wrong.is_ok());
  sqlite3* db = nullptr;
  sqlite3_open_v2(path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  EXPECT_NE(sqlite3_exec(db, "SELECT id FROM keys", nullptr, nullptr, nullptr), SQLITE_OK)
      << "rewritten although the master key was wrong";
  sqlite3_close(db);
}

}  // namespace
}  // namespace nudged
