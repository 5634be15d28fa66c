// The baseline for the scheduling benchmark: how late an idle libuv loop wakes for a timer,
// on this machine, now. nudged cannot fire a notification more punctually than this.
//
//   loop_lateness [--seconds N] [--per-second R]
//
// Arms one timer at a time for R evenly spaced instants a second (as the daemon does for
// notifications falling due at that rate) and prints p50 and p99 of (woke - due), in ms.

#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Run {
  uv_timer_t timer;
  Clock::time_point start;
  Clock::time_point next;
  Clock::duration step;
  Clock::time_point end;
  std::vector<double> lateness_ms;
};

void arm(Run* run) {
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(run->next - Clock::now());
  uv_timer_start(
      &run->timer,
      [](uv_timer_t* t) {
        Run* r = static_cast<Run*>(t->data);
        auto now = Clock::now();
        // Everything due by now fires in this wake-up, as the daemon's on_due does.
        while (r->next <= now) {
          r->lateness_ms.push_back(
              std::chrono::duration<double, std::milli>(now - r->next).count());
          r->next += r->step;
        }
        if (now < r->end) arm(r);
      },
      static_cast<uint64_t>(std::max<int64_t>(wait.count(), 0)), 0);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 10, per_second = 1000;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--per-second") && i + 1 < argc)
      per_second = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: loop_lateness [--seconds N] [--per-second R]\n");
      return 2;
    }
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  Run run;
  uv_timer_init(&loop, &run.timer);
  run.timer.data = &run;
  run.start = Clock::now();
  run.step = std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(1)) / per_second;
  run.next = run.start + std::chrono::milliseconds(100);
  run.end = run.next + std::chrono::seconds(seconds);
  arm(&run);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&run.timer), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  std::printf("idle loop: %zu wake-ups due, lateness p50 %.3f ms, p99 %.3f ms\n",
              run.lateness_ms.size(), percentile(run.lateness_ms, 0.5),
              percentile(run.lateness_ms, 0.99));
  return 0;
}
