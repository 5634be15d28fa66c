#include "daemon/metrics.h"

#include <cstdio>

namespace nudged {
namespace {

// Label values here are ours (route patterns, configured names), but escape anyway: the
// format breaks on a stray quote or backslash.
std::string escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

void Metrics::count_request(std::string_view route, int status) {
  ++requests_[{std::string(route), status}];
}

void Metrics::count_notification(std::string_view outcome, std::string_view channel,
                                 std::string_view kind) {
  ++notifications_[{std::string(outcome), std::string(channel), std::string(kind)}];
}

void Metrics::observe_lateness(double seconds) {
  for (size_t i = 0; i < kLatenessBuckets.size(); ++i) {
    if (seconds <= kLatenessBuckets[i]) ++lateness_buckets_[i];
  }
  ++lateness_count_;
  lateness_sum_ += seconds;
}

std::string Metrics::render(int64_t pending, bool ready) const {
  std::string out;
  out += "# HELP nudged_ready Whether replay has finished and the daemon serves requests.\n";
  out += "# TYPE nudged_ready gauge\n";
  out += "nudged_ready " + std::string(ready ? "1" : "0") + "\n";
  out += "# HELP nudged_events_appended_total Events this process appended to the log.\n";
  out += "# TYPE nudged_events_appended_total counter\n";
  out += "nudged_events_appended_total " + std::to_string(appended_) + "\n";
  out += "# HELP nudged_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE nudged_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += "nudged_http_requests_total{route=\"" + escape(std::get<0>(key)) + "\",status=\"" +
           std::to_string(std::get<1>(key)) + "\"} " + std::to_string(n) + "\n";
  }
  static const char* kOutcomes[] = {"sent", "failed", "expired"};
  for (const char* outcome : kOutcomes) {
    std::string name = std::string("nudged_notifications_") + outcome + "_total";
    out += "# HELP " + name + " Notifications " + outcome + ", by channel and kind.\n";
    out += "# TYPE " + name + " counter\n";
    for (const auto& [key, n] : notifications_) {
      if (std::get<0>(key) != outcome) continue;
      out += name + "{channel=\"" + escape(std::get<1>(key)) + "\",kind=\"" +
             escape(std::get<2>(key)) + "\"} " + std::to_string(n) + "\n";
    }
  }
  out += "# HELP nudged_notifications_pending Notifications planned and not yet settled.\n";
  out += "# TYPE nudged_notifications_pending gauge\n";
  out += "nudged_notifications_pending " + std::to_string(pending) + "\n";
  out += "# HELP nudged_replay_duration_seconds How long the start-up replay took.\n";
  out += "# TYPE nudged_replay_duration_seconds gauge\n";
  out += "nudged_replay_duration_seconds " + number(replay_seconds_) + "\n";
  out +=
      "# HELP nudged_send_lateness_seconds Time from a notification's due instant to its send.\n";
  out += "# TYPE nudged_send_lateness_seconds histogram\n";
  for (size_t i = 0; i < kLatenessBuckets.size(); ++i) {
    out += "nudged_send_lateness_seconds_bucket{le=\"" + number(kLatenessBuckets[i]) + "\"} " +
           std::to_string(lateness_buckets_[i]) + "\n";
  }
  out +=
      "nudged_send_lateness_seconds_bucket{le=\"+Inf\"} " + std::to_string(lateness_count_) + "\n";
  out += "nudged_send_lateness_seconds_sum " + number(lateness_sum_) + "\n";
  out += "nudged_send_lateness_seconds_count " + std::to_string(lateness_count_) + "\n";
  return out;
}

}  // namespace nudged
