// Metrics: the counters and the histogram behind GET /metrics, in Prometheus text format.
//
// Labels carry route patterns, status codes, channel names and notification kinds: never a
// path with an id in it, an address or a name. Owned by the App; loop thread only.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>

namespace nudged {

class Metrics {
 public:
  void count_request(std::string_view route, int status);
  void count_appended(int64_t events) { appended_ += events; }
  // outcome: "sent", "failed" or "expired".
  void count_notification(std::string_view outcome, std::string_view channel,
                          std::string_view kind);
  // How late a send started after its due time.
  void observe_lateness(double seconds);
  void set_replay_seconds(double seconds) { replay_seconds_ = seconds; }

  // The exposition text; `pending` is the schedule's current size.
  std::string render(int64_t pending, bool ready) const;

  static constexpr std::array<double, 12> kLatenessBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                              0.5,   1,    2.5,   10,   60,  300};

 private:
  int64_t appended_ = 0;
  std::map<std::tuple<std::string, int>, int64_t> requests_;
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> notifications_;
  std::array<int64_t, kLatenessBuckets.size()> lateness_buckets_{};
  int64_t lateness_count_ = 0;
  double lateness_sum_ = 0;
  double replay_seconds_ = 0;
};

}  // namespace nudged
