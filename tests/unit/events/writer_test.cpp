#include "events/writer.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <atomic>
#include <thread>

#include "events/replay.h"
#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

using testing::batch_of;
using testing::registration_json;
using testing::session_json;

// A libuv loop driving a Writer the way the daemon does: wake = uv_async_send, completions
// run from the async callback on the loop thread.
class WriterOnLoop {
 public:
  explicit WriterOnLoop(std::unique_ptr<EventStore> store, bool decode_committed = false) {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &async_, [](uv_async_t* a) {
      static_cast<WriterOnLoop*>(a->data)->writer_->run_completions();
    });
    async_.data = this;
    writer_ = std::make_unique<Writer>(
        std::move(store), [] { return testing::at("2026-11-26T10:00:00Z"); },
        [this] { uv_async_send(&async_); }, decode_committed);
  }
  ~WriterOnLoop() {
    writer_->stop();
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  uv_loop_t* loop() { return &loop_; }
  Writer& writer() { return *writer_; }
  uv_async_t* async() { return &async_; }

 private:
  uv_loop_t loop_;
  uv_async_t async_;
  std::unique_ptr<Writer> writer_;
};

TEST(WriterTest, CallbacksRunOnTheLoopThreadAfterCommit) {
  testing::TempDir dir;
  auto store = EventStore::open(dir.file("w.db"));
  ASSERT_TRUE(store.is_ok());
  WriterOnLoop w(std::move(*store));
  std::thread::id loop_thread = std::this_thread::get_id();

  int done = 0;
  w.writer().submit(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}),
                    [&](Result<std::vector<Appended>> r) {
                      EXPECT_TRUE(r.is_ok());
                      EXPECT_EQ(std::this_thread::get_id(), loop_thread);
                      // Durable: a second connection already sees the event.
                      auto other = EventStore::open(dir.file("w.db"));
                      EXPECT_EQ(*(*other)->last_position(), 1);
                      if (++done == 1) uv_unref(reinterpret_cast<uv_handle_t*>(w.async()));
                    });
  uv_run(w.loop(), UV_RUN_DEFAULT);
  EXPECT_EQ(done, 1);
}

TEST(WriterTest, ManyConcurrentSubmissionsShareTransactions) {
  testing::TempDir dir;
  auto store = EventStore::open(dir.file("w.db"));
  ASSERT_TRUE(store.is_ok());
  // A slow commit lets submissions pile up behind it, as they do under load.
  (*store)->set_before_commit_hook([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return Status::ok();
  });
  WriterOnLoop w(std::move(*store));
  constexpr int kBatches = 200;
  int done = 0;
  std::vector<int64_t> positions;
  for (int i = 0; i < kBatches; ++i) {
    w.writer().submit(batch_of({registration_json("r" + std::to_string(i), "s1",
                                                  "p" + std::to_string(i) + "@example.org")}),
                      [&](Result<std::vector<Appended>> r) {
                        ASSERT_TRUE(r.is_ok());
                        positions.push_back((*r)[0].position);
                        if (++done == kBatches) uv_unref(reinterpret_cast<uv_handle_t*>(w.async()));
                      });
  }
  uv_run(w.loop(), UV_RUN_DEFAULT);
  EXPECT_EQ(done, kBatches);
  EXPECT_LT(w.writer().transactions(), static_cast<uint64_t>(kBatches) / 4)
      << "appends were not grouped into shared transactions";
  std::sort(positions.begin(), positions.end());
  for (int i = 0; i < kBatches; ++i)
    EXPECT_EQ(positions[i], i + 1);
}

// The loop keeps turning while the writer thread sits in a slow commit.
TEST(WriterTest, TheLoopKeepsTurningDuringASlowCommit) {
  testing::TempDir dir;
  auto store = EventStore::open(dir.file("w.db"));
  ASSERT_TRUE(store.is_ok());
  std::atomic<bool> in_commit{false};
  (*store)->set_before_commit_hook([&] {
    in_commit = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    in_commit = false;
    return Status::ok();
  });
  WriterOnLoop w(std::move(*store));

  struct Ticker {
    uv_timer_t timer;
    int ticks_during_commit = 0;
    std::atomic<bool>* in_commit;
  } ticker;
  ticker.in_commit = &in_commit;
  uv_timer_init(w.loop(), &ticker.timer);
  ticker.timer.data = &ticker;
  uv_timer_start(
      &ticker.timer,
      [](uv_timer_t* t) {
        auto* self = static_cast<Ticker*>(t->data);
        if (*self->in_commit) ++self->ticks_during_commit;
      },
      10, 10);

  bool done = false;
  int ticks_at_callback = -1;
  w.writer().submit(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}),
                    [&](Result<std::vector<Appended>> r) {
                      EXPECT_TRUE(r.is_ok());
                      done = true;
                      ticks_at_callback = ticker.ticks_during_commit;
                      uv_timer_stop(&ticker.timer);
                      uv_close(reinterpret_cast<uv_handle_t*>(&ticker.timer), nullptr);
                      uv_unref(reinterpret_cast<uv_handle_t*>(w.async()));
                    });
  uv_run(w.loop(), UV_RUN_DEFAULT);
  ASSERT_TRUE(done);
  // 400 ms of commit at a 10 ms tick: well over 10 ticks unless the loop was blocked.
  EXPECT_GE(ticks_at_callback, 10);
}

TEST(WriterTest, AFailedBatchReportsItsErrorAndOthersSucceed) {
  testing::TempDir dir;
  auto store = EventStore::open(dir.file("w.db"));
  ASSERT_TRUE(store.is_ok());
  WriterOnLoop w(std::move(*store));
  int done = 0;
  std::vector<bool> ok(3);
  auto cb = [&](int i) {
    return [&, i](Result<std::vector<Appended>> r) {
      ok[i] = r.is_ok();
      if (++done == 3) uv_unref(reinterpret_cast<uv_handle_t*>(w.async()));
    };
  };
  w.writer().submit(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}), cb(0));
  w.writer().submit(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00", "Clash")}), cb(1));
  w.writer().submit(batch_of({registration_json("r1", "s1")}), cb(2));
  uv_run(w.loop(), UV_RUN_DEFAULT);
  EXPECT_TRUE(ok[0]);
  EXPECT_FALSE(ok[1]);
  EXPECT_TRUE(ok[2]);
}

// Submits each batch, runs the loop until every callback ran, and returns which succeeded.
std::vector<bool> submit_all(WriterOnLoop& w, std::vector<Batch> batches) {
  std::vector<bool> ok(batches.size());
  size_t done = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    w.writer().submit(std::move(batches[i]), [&, i](Result<std::vector<Appended>> r) {
      ok[i] = r.is_ok();
      if (++done == ok.size()) uv_unref(reinterpret_cast<uv_handle_t*>(w.async()));
    });
  }
  uv_ref(reinterpret_cast<uv_handle_t*>(w.async()));
  uv_run(w.loop(), UV_RUN_DEFAULT);
  return ok;
}

TEST(WriterTest, HandsOverWhatItCommittedDecodedAsReplayReadsIt) {
  testing::TempDir dir;
  auto store = EventStore::open(dir.file("w.db"));
  ASSERT_TRUE(store.is_ok());
  WriterOnLoop w(std::move(*store), /*decode_committed=*/true);
  std::vector<Batch> batches;
  batches.push_back(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}));
  batches.push_back(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00", "Clash")}));
  batches.push_back(batch_of({registration_json("r1", "s1"), registration_json("r2", "s1")}));
  Batch again{batches.back().front()};
  std::vector<bool> ok = submit_all(w, std::move(batches));
  EXPECT_EQ(ok, (std::vector<bool>{true, false, true}));
  std::vector<Event> committed = w.writer().take_committed();
  ASSERT_EQ(committed.size(), 3u);  // the conflicting batch's event is not among them
  // A repeat of an event already in the log is a duplicate: nothing committed to hand over.
  std::vector<Batch> repeat;
  repeat.push_back(std::move(again));
  ASSERT_EQ(submit_all(w, std::move(repeat)), std::vector<bool>{true});
  EXPECT_TRUE(w.writer().take_committed().empty());

  auto reader = EventStore::open(dir.file("w.db"), EventStore::OpenMode::kExisting);
  ASSERT_TRUE(reader.is_ok());
  Decoder decoder;
  size_t i = 0;
  ASSERT_TRUE((*reader)->read(0, 100, [&](const StoredEvent& row) {
    ASSERT_LT(i, committed.size());
    Result<Event> expected = decode_for_replay(row, decoder);
    ASSERT_TRUE(expected.is_ok());
    const Envelope& got = committed[i].envelope;
    EXPECT_EQ(got.position, row.position);
    EXPECT_EQ(got.type, expected->envelope.type);
    EXPECT_EQ(got.schema, expected->envelope.schema);
    EXPECT_EQ(got.version, expected->envelope.version);
    EXPECT_EQ(got.recorded_at, expected->envelope.recorded_at);
    EXPECT_EQ(encode_data(committed[i].data), encode_data(expected->data));
    ++i;
  }));
  EXPECT_EQ(i, committed.size());
  // Taken once: the next call has nothing until something else commits.
  EXPECT_TRUE(w.writer().take_committed().empty());

  // Folded into State, they make the State a replay of the log makes.
  State folded, replayed;
  EXPECT_EQ(apply_continuing(folded, committed), 3);
  ASSERT_TRUE(replay(**reader, replayed).is_ok());
  EXPECT_EQ(folded.position(), replayed.position());
  ASSERT_NE(folded.registration("r2"), nullptr);
  EXPECT_EQ(folded.registration("r2")->participant_id(),
            replayed.registration("r2")->participant_id());
  EXPECT_EQ(folded.session("s1")->title, replayed.session("s1")->title);
}

TEST(WriterTest, AnotherProcesssAppendLeavesAGapTheLoopReadsFromTheLog) {
  testing::TempDir dir;
  auto store = EventStore::open(dir.file("w.db"));
  ASSERT_TRUE(store.is_ok());
  WriterOnLoop w(std::move(*store), /*decode_committed=*/true);
  std::vector<Batch> first;
  first.push_back(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}));
  ASSERT_EQ(submit_all(w, std::move(first)), std::vector<bool>{true});
  State state;
  std::vector<Event> committed = w.writer().take_committed();
  EXPECT_EQ(apply_continuing(state, committed), 1);

  auto other = EventStore::open(dir.file("w.db"), EventStore::OpenMode::kExisting);
  ASSERT_TRUE(other.is_ok());
  ASSERT_TRUE((*other)->append(batch_of({registration_json("r1", "s1")}),
                               testing::at("2026-11-26T10:00:00Z")));
  std::vector<Batch> second;
  second.push_back(batch_of({registration_json("r2", "s1", "other@example.org")}));
  ASSERT_EQ(submit_all(w, std::move(second)), std::vector<bool>{true});
  committed = w.writer().take_committed();
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed.front().envelope.position, 3);
  // Position 2 is missing: nothing handed over continues State, and the catch-up reads 2 and
  // 3 from the log, though the writer's events alone would have reached the known last (3).
  EXPECT_EQ(apply_continuing(state, committed), 0);
  EXPECT_EQ(state.position(), 1);
  ASSERT_TRUE(catch_up_with(**other, state, committed, /*known_last=*/3).is_ok());
  EXPECT_EQ(state.position(), 3);
  EXPECT_NE(state.registration("r1"), nullptr);
  EXPECT_NE(state.registration("r2"), nullptr);
}

// A row that does not decode (here, data a build of another schema might have written) ends
// what is handed over: the rows before it are, and the catch-up reads the log from there and
// stops at it, naming it, as any replay does.
TEST(WriterTest, ARowThatDoesNotDecodeEndsWhatIsHandedOver) {
  testing::TempDir dir;
  auto store = EventStore::open(dir.file("w.db"));
  ASSERT_TRUE(store.is_ok());
  WriterOnLoop w(std::move(*store), /*decode_committed=*/true);
  Batch batch = batch_of({session_json("s1", "2027-01-12T19:00:00-05:00"),
                          registration_json("r1", "s1"), registration_json("r2", "s1")});
  batch[1].encoded = R"({"registration_id":5})";
  std::vector<Batch> batches;
  batches.push_back(std::move(batch));
  ASSERT_EQ(submit_all(w, std::move(batches)), std::vector<bool>{true});
  std::vector<Event> committed = w.writer().take_committed();
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed.front().envelope.position, 1);

  auto reader = EventStore::open(dir.file("w.db"), EventStore::OpenMode::kExisting);
  ASSERT_TRUE(reader.is_ok());
  State state;
  Result<ReplayStats> r = catch_up_with(**reader, state, committed, /*known_last=*/3);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("position 2"), std::string::npos) << r.status().message();
  EXPECT_EQ(state.position(), 1);
}

// With the writer's events reaching the known last position, the log is not read: a store
// whose rows after it would fail shows it.
TEST(WriterTest, CatchingUpToTheKnownLastReadsNothingMore) {
  testing::TempDir dir;
  auto store = EventStore::open(dir.file("w.db"));
  ASSERT_TRUE(store.is_ok());
  WriterOnLoop w(std::move(*store), /*decode_committed=*/true);
  std::vector<Batch> batches;
  batches.push_back(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}));
  ASSERT_EQ(submit_all(w, std::move(batches)), std::vector<bool>{true});
  std::vector<Event> committed = w.writer().take_committed();
  auto other = EventStore::open(dir.file("w.db"), EventStore::OpenMode::kExisting);
  ASSERT_TRUE(other.is_ok());
  Batch bad = batch_of({registration_json("r1", "s1")});
  bad.front().encoded = R"({"registration_id":5})";
  ASSERT_TRUE((*other)->append(bad, testing::at("2026-11-26T10:00:00Z")));
  State state;
  std::vector<Event> copy = committed;
  ASSERT_TRUE(catch_up_with(**other, state, copy, /*known_last=*/1).is_ok());
  EXPECT_EQ(state.position(), 1);
  State unknown;  // without a known last, the log is read, and its bad row found
  copy = committed;
  EXPECT_FALSE(catch_up_with(**other, unknown, copy, /*known_last=*/0).is_ok());
  EXPECT_EQ(unknown.position(), 1);
}

TEST(WriterTest, ApplyContinuingSkipsWhatStateHasAndStopsAtAGap) {
  std::vector<Event> events;
  for (int64_t p : {1, 2, 3, 5}) {
    NewEvent ev = testing::make_event(registration_json("r" + std::to_string(p), "s1"));
    Event e{Envelope{}, std::move(ev.data)};
    e.envelope.position = p;
    e.envelope.type = EventType::kRegistrationReceived;
    e.envelope.version = 1;
    events.push_back(std::move(e));
  }
  State state;
  std::vector<Event> copy = events;
  EXPECT_EQ(apply_continuing(state, copy), 3);  // 1, 2, 3; not 5 after the gap
  EXPECT_EQ(state.position(), 3);
  copy = events;
  EXPECT_EQ(apply_continuing(state, copy), 0);  // 1-3 are in; 5 does not continue 3
  EXPECT_EQ(state.position(), 3);
}

TEST(WriterTest, WithoutDecodingNothingIsHandedOver) {
  testing::TempDir dir;
  auto store = EventStore::open(dir.file("w.db"));
  ASSERT_TRUE(store.is_ok());
  WriterOnLoop w(std::move(*store));
  std::vector<Batch> batches;
  batches.push_back(batch_of({session_json("s1", "2027-01-12T19:00:00-05:00")}));
  ASSERT_EQ(submit_all(w, std::move(batches)), std::vector<bool>{true});
  EXPECT_TRUE(w.writer().take_committed().empty());
}

}  // namespace
}  // namespace nudged
