// Driving a test's own libuv loop: run until a condition holds (bounded), and close the loop
// checking that nothing was left open.
#pragma once

#include <gtest/gtest.h>
#include <uv.h>

#include <functional>

namespace nudged::testing {

// Runs the loop until `done()` or `timeout_ms` passes; returns done(). A 1 ms ticker checks
// the condition, so the loop never sits in poll() after it came true.
inline bool run_until(uv_loop_t* loop, const std::function<bool()>& done,
                      uint64_t timeout_ms = 5000) {
  struct Wait {
    const std::function<bool()>* done;
    uint64_t deadline;
  } wait{&done, uv_now(loop) + timeout_ms};
  uv_timer_t ticker{};
  uv_timer_init(loop, &ticker);
  ticker.data = &wait;
  uv_timer_start(
      &ticker,
      [](uv_timer_t* t) {
        auto* w = static_cast<Wait*>(t->data);
        if ((*w->done)() || uv_now(t->loop) >= w->deadline) uv_stop(t->loop);
      },
      0, 1);
  if (!done()) uv_run(loop, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&ticker), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  return done();
}

// Runs the loop for `ms` whatever happens.
inline void run_for(uv_loop_t* loop, uint64_t ms) {
  run_until(
      loop, [] { return false; }, ms);
}

// A loop per test; at the end every handle must have been closed by its owner.
class LoopTest : public ::testing::Test {
 protected:
  LoopTest() { uv_loop_init(&loop_); }
  ~LoopTest() override {
    uv_run(&loop_, UV_RUN_DEFAULT);  // close callbacks
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a uv handle was left open";
  }
  uv_loop_t loop_{};
};

}  // namespace nudged::testing
