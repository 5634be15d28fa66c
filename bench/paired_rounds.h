// Rounds of a side against its baseline, for the channel benchmarks. On a shared machine the
// rate of a stretch of seconds moves by tens of percent, so one pair of numbers says little:
// the sides run alternately (baseline first in odd rounds, the side first in even ones) so that
// a noisy stretch falls on both, and the ratio is reported two ways, the best rate of each side
// over all rounds, and the median of the rounds' own ratios (each taken from two runs seconds
// apart). `--check` judges the median, the one a single lucky round cannot move.
#pragma once

#include <algorithm>
#include <cstdio>
#include <vector>

namespace nudged::bench {

class PairedRounds {
 public:
  void add(double side_rate, double baseline_rate) {
    rounds_.push_back({side_rate, baseline_rate});
    std::printf("  round %zu: %.0f / %.0f messages/s (ratio %.2f)\n", rounds_.size(), side_rate,
                baseline_rate, side_rate / baseline_rate);
  }
  // Runs `rounds` rounds of `side()` and `baseline()` (each returns a run with `seconds` and
  // `ok`, the messages accepted), the baseline first in rounds 1, 3, 5... False, after saying so,
  // when a run did not get all `messages` accepted.
  template <typename Side, typename Baseline>
  bool run(long rounds, long messages, Side side, Baseline baseline) {
    for (long r = 0; r < rounds; ++r) {
      auto first = r % 2 == 1 ? side() : baseline();
      auto second = r % 2 == 1 ? baseline() : side();
      auto& s = r % 2 == 1 ? first : second;
      auto& b = r % 2 == 1 ? second : first;
      if (s.ok != messages || b.ok != messages) {
        std::fprintf(stderr, "not every message was accepted: side %ld, baseline %ld of %ld\n",
                     s.ok, b.ok, messages);
        return false;
      }
      add(messages / s.seconds, messages / b.seconds);
    }
    return true;
  }

  double best_side() const {
    double best = 0;
    for (const Round& r : rounds_)
      best = std::max(best, r.side);
    return best;
  }
  double best_baseline() const {
    double best = 0;
    for (const Round& r : rounds_)
      best = std::max(best, r.baseline);
    return best;
  }
  double median_ratio() const {
    std::vector<double> ratios;
    for (const Round& r : rounds_)
      ratios.push_back(r.side / r.baseline);
    if (ratios.empty()) return 0;
    std::sort(ratios.begin(), ratios.end());
    size_t n = ratios.size();
    return n % 2 == 1 ? ratios[n / 2] : (ratios[n / 2 - 1] + ratios[n / 2]) / 2;
  }

 private:
  struct Round {
    double side, baseline;
  };
  std::vector<Round> rounds_;
};

}  // namespace nudged::bench
