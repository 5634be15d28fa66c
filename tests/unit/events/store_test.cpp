#include "events/store.h"

#include <gtest/gtest.h>

#include <sqlite3.h>
#include <sys/stat.h>
#include <atomic>

#include "events/replay.h"
#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

using testing::at;
using testing::batch_of;
using testing::make_event;
using testing::registration_json;
using testing::session_json;

const TimePoint kNow = at("2026-11-26T10:00:00.123Z");

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = EventStore::open(dir_.file("events.db"));
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(*s);
  }
  int64_t rows() {
    int64_t n = 0;
    EXPECT_TRUE(store_->read(0, 1 << 20, [&](const StoredEvent&) { ++n; }).is_ok());
    return n;
  }
  std::string pragma(const char* name) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(store_->handle(), (std::string("PRAGMA ") + name).c_str(), -1, &st, nullptr);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
  }
  testing::TempDir dir_;
  std::unique_ptr<EventStore> store_;
};

TEST_F(StoreTest, UsesWalAndFullSync) {
  EXPECT_EQ(pragma("journal_mode"), "wal");
  EXPECT_EQ(pragma("synchronous"), "2");  // FULL
}

TEST_F(StoreTest, AssignsGapFreePositionsAndStreamVersions) {
  auto r = store_->append(
      batch_of({session_json("s1", "2027-01-12T19:00:00-05:00"), registration_json("r1", "s1"),
                registration_json("r2", "s1", "b@example.org")}),
      kNow);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].position, 1);
  EXPECT_EQ((*r)[1].position, 2);
  EXPECT_EQ((*r)[2].position, 3);
  auto more = store_->append(
      batch_of({R"({"type":"session.cancelled","data":{"session_id":"s1"}})"}), kNow);
  ASSERT_TRUE(more.is_ok());
  EXPECT_EQ((*more)[0].position, 4);
  EXPECT_EQ((*more)[0].version, 2);  // second event of stream session/s1

  std::vector<int64_t> positions;
  std::vector<std::string> recorded;
  store_->read(0, 100, [&](const StoredEvent& e) {
    positions.push_back(e.position);
    recorded.emplace_back(e.recorded_at);
  });
  EXPECT_EQ(positions, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(recorded[0], "2026-11-26T10:00:00.123Z");
  EXPECT_EQ(*store_->last_position(), 4);
}

TEST_F(StoreTest, SameIdSameContentIsANoOpReturningTheOriginalPosition) {
  ASSERT_TRUE(store_->append(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}), kNow));
  ASSERT_TRUE(store_->append(batch_of({registration_json("r1", "s1")}), kNow));
  auto again = store_->append(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}), kNow);
  ASSERT_TRUE(again.is_ok());
  EXPECT_TRUE((*again)[0].duplicate);
  EXPECT_EQ((*again)[0].position, 1);
  EXPECT_EQ(rows(), 2);
}

TEST_F(StoreTest, SameIdDifferentContentIsAConflictAndWritesNothing) {
  ASSERT_TRUE(store_->append(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}), kNow));
  auto clash = store_->append(
      batch_of({session_json("s1", "2027-01-12T19:00:00-05:00", "Another title")}), kNow);
  ASSERT_FALSE(clash.is_ok());
  EXPECT_EQ(clash.status().code(), Code::kConflict);
  EXPECT_EQ(rows(), 1);
}

TEST_F(StoreTest, ExpectedVersionIsCheckedPerStream) {
  ASSERT_TRUE(store_->append(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}), kNow));
  NewEvent update = make_event(
      R"({"type":"session.updated","expected_version":1,"data":{"session_id":"s1","title":"New"}})");
  auto ok = store_->append(Batch{update}, kNow);
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_EQ((*ok)[0].version, 2);

  NewEvent stale = make_event(
      R"({"type":"session.updated","expected_version":1,"data":{"session_id":"s1","title":"Old"}})");
  auto refused = store_->append(Batch{stale}, kNow);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), Code::kConflict);
  EXPECT_NE(refused.status().message().find("version 2"), std::string::npos);
  EXPECT_EQ(rows(), 2);

  NewEvent fresh = make_event(
      R"({"type":"session.scheduled","expected_version":0,"data":{"session_id":"s9","group":"g","title":"T","starts_at":"2027-01-12T19:00:00Z","time_zone":"UTC","duration_minutes":60,"join_url":"u","facilitators":[]}})");
  EXPECT_TRUE(store_->append(Batch{fresh}, kNow).is_ok());
}

TEST_F(StoreTest, MultiEventAppendIsAtomic) {
  ASSERT_TRUE(store_->append(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}), kNow));
  // The second event conflicts: neither may be written, and positions stay gap-free after.
  Batch batch = batch_of(
      {registration_json("r1", "s1"), session_json("s1", "2027-01-12T19:00:00-05:00", "Clash")});
  auto r = store_->append(batch, kNow);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(rows(), 1);
  auto next = store_->append(batch_of({registration_json("r1", "s1")}), kNow);
  ASSERT_TRUE(next.is_ok());
  EXPECT_EQ((*next)[0].position, 2);
  EXPECT_TRUE(store_->verify().faults.empty());
}

TEST_F(StoreTest, GroupCommitKeepsEachBatchAtomicOnItsOwn) {
  ASSERT_TRUE(store_->append(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}), kNow));
  Batch good1 = batch_of({registration_json("r1", "s1")});
  Batch bad = batch_of({registration_json("r2", "s1", "x@example.org"),
                        session_json("s1", "2027-01-12T19:00:00-05:00", "Clash")});
  Batch good2 = batch_of({registration_json("r3", "s1", "y@example.org")});
  const Batch* group[] = {&good1, &bad, &good2};
  auto results = store_->append_group(group, kNow);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].is_ok());
  EXPECT_FALSE(results[1].is_ok());
  ASSERT_TRUE(results[2].is_ok());
  EXPECT_EQ((*results[0])[0].position, 2);
  EXPECT_EQ((*results[2])[0].position, 3);
  EXPECT_EQ(rows(), 3);
  EXPECT_TRUE(store_->verify().faults.empty());
}

TEST_F(StoreTest, TheDatabaseRefusesUpdateAndDelete) {
  ASSERT_TRUE(store_->append(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}), kNow));
  char* err = nullptr;
  EXPECT_NE(sqlite3_exec(store_->handle(), "UPDATE events SET data = '{}'", nullptr, nullptr, &err),
            SQLITE_OK);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("append-only"), std::string::npos);
  sqlite3_free(err);
  err = nullptr;
  EXPECT_NE(sqlite3_exec(store_->handle(), "DELETE FROM events", nullptr, nullptr, &err),
            SQLITE_OK);
  sqlite3_free(err);
  EXPECT_EQ(rows(), 1);
}

// REPLACE deletes the row it collides with without firing DELETE triggers: refused too, on
// each of the three things a row can collide on.
TEST_F(StoreTest, TheDatabaseRefusesInsertOrReplace) {
  ASSERT_TRUE(store_->append(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}), kNow));
  ASSERT_TRUE(store_->append(batch_of({registration_json("r1", "s1")}), kNow));
  // A copy of row 1 with changed data, colliding with it on one thing each.
  for (const char* columns : {"1, 'tamper', type, schema, 'tamper/1', 1",  // position
                              "3, id, type, schema, 'tamper/1', 1",        // id
                              "3, 'tamper', type, schema, stream, version"}) {
    std::string sql = std::string("INSERT OR REPLACE INTO events SELECT ") + columns +
                      ", recorded_at, replace(data, 's1', 's2'), meta, hash FROM events "
                      "WHERE position = 1";
    char* err = nullptr;
    EXPECT_NE(sqlite3_exec(store_->handle(), sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << columns;
    ASSERT_NE(err, nullptr) << columns;
    EXPECT_NE(std::string(err).find("append-only"), std::string::npos) << err;
    sqlite3_free(err);
    EXPECT_EQ(rows(), 2) << columns;
  }
  EXPECT_TRUE(store_->verify().faults.empty());
}

// A log made before the REPLACE trigger existed gets it when the daemon opens it.
TEST_F(StoreTest, AnOlderLogGetsTheReplaceTriggerWhenOpenedForWriting) {
  ASSERT_EQ(sqlite3_exec(store_->handle(), "DROP TRIGGER events_append_only_replace", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  store_.reset();
  {
    auto reader = EventStore::open(dir_.file("events.db"), EventStore::OpenMode::kExisting);
    ASSERT_TRUE(reader.is_ok());
    // A log from before the trigger is sound: verify names the trigger in a note, not a fault.
    VerifyReport report = (*reader)->verify();
    EXPECT_TRUE(report.faults.empty()) << report.faults.front();
    ASSERT_EQ(report.notes.size(), 1u);
    EXPECT_NE(report.notes.front().find("events_append_only_replace is missing"), std::string::npos)
        << report.notes.front();
  }
  auto writer = EventStore::open(dir_.file("events.db"), EventStore::OpenMode::kCreate);
  ASSERT_TRUE(writer.is_ok());
  VerifyReport report = (*writer)->verify();
  EXPECT_TRUE(report.faults.empty());
  EXPECT_TRUE(report.notes.empty());
}

// Tampering through the SQLite C API, after dropping the trigger, is caught by verify.
TEST_F(StoreTest, VerifyDetectsTampering) {
  ASSERT_TRUE(store_->append(
      batch_of({session_json("s1", "2027-01-12T19:00:00-05:00"), registration_json("r1", "s1"),
                registration_json("r2", "s1", "b@example.org")}),
      kNow));
  VerifyReport clean = store_->verify();
  EXPECT_TRUE(clean.faults.empty());
  EXPECT_EQ(clean.events, 3);

  sqlite3* db = store_->handle();
  ASSERT_EQ(sqlite3_exec(db, "DROP TRIGGER events_append_only_update", nullptr, nullptr, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE events SET data = replace(data, '\"r1\"', '\"r9\"') "
                         "WHERE position = 2",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  VerifyReport tampered = store_->verify();
  ASSERT_FALSE(tampered.faults.empty());
  bool names_row = false, names_trigger = false;
  for (const std::string& f : tampered.faults) {
    names_row = names_row || f.find("position 2: hash chain broken") != std::string::npos;
    names_trigger = names_trigger || f.find("events_append_only_update") != std::string::npos;
  }
  EXPECT_TRUE(names_row);
  EXPECT_TRUE(names_trigger);
}

TEST_F(StoreTest, VerifyDetectsARemovedRow) {
  ASSERT_TRUE(store_->append(
      batch_of({session_json("s1", "2027-01-12T19:00:00-05:00"), registration_json("r1", "s1"),
                registration_json("r2", "s1", "b@example.org")}),
      kNow));
  sqlite3* db = store_->handle();
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TRIGGER events_append_only_delete;"
                         "DELETE FROM events WHERE position = 2",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  VerifyReport report = store_->verify();
  bool gap = false;
  for (const std::string& f : report.faults) {
    gap = gap || f.find("position 3: expected position 2") != std::string::npos;
  }
  EXPECT_TRUE(gap);
}

TEST_F(StoreTest, ReadPagesThroughTheLog) {
  Batch big;
  for (int i = 0; i < 25; ++i) {
    big.push_back(make_event(registration_json("r" + std::to_string(i), "s1",
                                               "p" + std::to_string(i) + "@example.org")));
  }
  ASSERT_TRUE(store_->append(big, kNow));
  std::vector<int64_t> seen;
  int64_t after = 0;
  for (;;) {
    auto n = store_->read(after, 10, [&](const StoredEvent& e) {
      seen.push_back(e.position);
      after = e.position;
    });
    ASSERT_TRUE(n.is_ok());
    if (*n == 0) break;
  }
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_EQ(seen.front(), 1);
  EXPECT_EQ(seen.back(), 25);
}

TEST_F(StoreTest, OpeningAMissingDatabaseWithoutCreateFails) {
  auto s = EventStore::open(dir_.file("absent.db"), EventStore::OpenMode::kExisting);
  EXPECT_FALSE(s.is_ok());
}

TEST_F(StoreTest, PipelinedReplayBuildsTheSameState) {
  Batch batch;
  batch.push_back(make_event(session_json("s1", "2027-01-12T19:00:00-05:00")));
  for (int i = 0; i < 300; ++i) {
    batch.push_back(make_event(registration_json("r" + std::to_string(i), "s1",
                                                 "p" + std::to_string(i) + "@example.org")));
  }
  ASSERT_TRUE(store_->append(batch, kNow));
  State one_thread, two_threads;
  auto a = replay(*store_, one_thread, 16, /*pipeline_from=*/1 << 30);
  auto b = replay(*store_, two_threads, 16, /*pipeline_from=*/0);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(a->events, 301);
  EXPECT_EQ(b->events, 301);
  EXPECT_EQ(b->last_position, 301);
  EXPECT_EQ(two_threads.position(), 301);
  ASSERT_EQ(two_threads.registrations().size(), 300u);
  for (const auto& [id, r] : one_thread.registrations()) {
    ASSERT_NE(two_threads.registration(id), nullptr) << id;
    EXPECT_EQ(two_threads.registration(id)->participant_id(), r.participant_id());
  }
  // Nothing new: a second replay is a no-op on either path.
  EXPECT_EQ(replay(*store_, two_threads, 16, 0)->events, 0);
}

TEST_F(StoreTest, PipelinedReplayStopsAtACorruptRow) {
  Batch batch;
  for (int i = 0; i < 100; ++i) {
    batch.push_back(make_event(registration_json("r" + std::to_string(i), "s1",
                                                 "p" + std::to_string(i) + "@example.org")));
  }
  ASSERT_TRUE(store_->append(batch, kNow));
  ASSERT_EQ(sqlite3_exec(store_->handle(),
                         "DROP TRIGGER events_append_only_update;"
                         "UPDATE events SET data = 'not json' WHERE position = 50",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  for (int64_t threshold : {int64_t{0}, int64_t{1} << 30}) {
    State state;
    auto r = replay(*store_, state, 16, threshold);
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("position 50"), std::string::npos) << r.status().message();
    EXPECT_EQ(state.position(), 49);  // everything before the bad row, nothing after
  }
}

// A stop asked for (SIGTERM during the start-up replay) ends a replay after the page in hand,
// on either path, with what it applied so far.
TEST_F(StoreTest, ReplayStopsBetweenPagesWhenAsked) {
  Batch batch;
  for (int i = 0; i < 100; ++i) {
    batch.push_back(make_event(registration_json("r" + std::to_string(i), "s1",
                                                 "p" + std::to_string(i) + "@example.org")));
  }
  ASSERT_TRUE(store_->append(batch, kNow));
  std::atomic<bool> stop{true};
  for (int64_t threshold : {int64_t{0}, int64_t{1} << 30}) {
    State state;
    auto r = replay(*store_, state, 16, threshold, &stop);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_TRUE(r->stopped);
    EXPECT_EQ(state.position(), r->last_position);
    EXPECT_GE(r->last_position, 16);  // at least the page in hand
    EXPECT_LT(r->last_position, 100);
  }
  std::atomic<bool> go_on{false};
  State state;
  auto r = replay(*store_, state, 16, 0, &go_on);
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(r->stopped);
  EXPECT_EQ(state.position(), 100);
}

TEST_F(StoreTest, ANewLogIsReadableByItsOwnerOnly) {
  struct stat st {};
  ASSERT_EQ(::stat(dir_.file("events.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(StoreTest, OpeningAnotherSqliteFileAsExistingChangesNothing) {
  std::string other = dir_.file("other.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = EventStore::open(other, EventStore::OpenMode::kExisting);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("not a nudged event log"), std::string::npos);
  ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name = 'events'", -1, &st,
                     nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(StoreTest, ReplayRebuildsTheSameStateAfterReopening) {
  ASSERT_TRUE(store_->append(
      batch_of({session_json("s1", "2027-01-12T19:00:00-05:00"), registration_json("r1", "s1")}),
      kNow));
  store_.reset();
  auto reopened = EventStore::open(dir_.file("events.db"), EventStore::OpenMode::kExisting);
  ASSERT_TRUE(reopened.is_ok());
  State state;
  auto stats = replay(**reopened, state, 1);  // one event per page: exercises paging
  ASSERT_TRUE(stats.is_ok()) << stats.status().to_string();
  EXPECT_EQ(stats->events, 2);
  EXPECT_EQ(state.position(), 2);
  ASSERT_NE(state.session("s1"), nullptr);
  ASSERT_NE(state.registration("r1"), nullptr);
  ASSERT_NE(state.registration("r1")->session_id(), nullptr);
  EXPECT_EQ(*state.registration("r1")->session_id(), "s1");
}

}  // namespace
}  // namespace nudged
