// Tests of events/keystore.h's deferred writes (defer_writes): the daemon makes keys on its
// loop and the writer thread writes them, in one transaction, just before it commits events.
#include "events/keystore.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

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
// lost. (The table is renamed away by another connection to make the run fail at once.)
TEST_F(DeferredKeysTest, KeysOfAFailedRunAreWrittenByTheNext) {
  DataKey made = *keys_->key_for("participant/p1", true);
  ASSERT_TRUE(hook_().is_ok());  // opens the hook's connection
  DataKey second = *keys_->key_for("participant/p2", true);
  sqlite3* other = nullptr;
  sqlite3_open_v2(path().c_str(), &other, SQLITE_OPEN_READWRITE, nullptr);
  ASSERT_EQ(sqlite3_exec(other, "ALTER TABLE keys RENAME TO away", nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_FALSE(hook_().is_ok());
  ASSERT_EQ(sqlite3_exec(other, "ALTER TABLE away RENAME TO keys", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(other);
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

}  // namespace
}  // namespace nudged
