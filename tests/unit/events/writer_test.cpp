#include "events/writer.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <atomic>
#include <thread>

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
  explicit WriterOnLoop(std::unique_ptr<EventStore> store) {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &async_, [](uv_async_t* a) {
      static_cast<WriterOnLoop*>(a->data)->writer_->run_completions();
    });
    async_.data = this;
    writer_ = std::make_unique<Writer>(
        std::move(store), [] { return testing::at("2026-11-26T10:00:00Z"); },
        [this] { uv_async_send(&async_); });
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

}  // namespace
}  // namespace nudged
