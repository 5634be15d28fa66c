// App: the daemon, end to end. One libuv loop owns all state; this class is that loop's owner.
//
//   start:   load config, templates, channels -> open the log -> replay -> plan -> run the loop
//   events:  every event enters State the same way, by reading the log after State's position
//            (after our own appends become durable, and on a short poll for other writers such
//            as `nudgectl events import`), then the plan is rebuilt
//   timer:   one uv_timer armed for the earliest due notification not already in flight
//   sends:   compose -> channel (per-channel concurrency) -> outcome appended through the
//            group-commit Writer -> read back into State -> plan rebuilt
//   signals: SIGHUP reloads config and templates (a bad one is refused; the old stays);
//            SIGTERM/SIGINT stop new work, wait a bounded time for sends in flight and their
//            outcomes, and exit 0.
//
// Everything here runs on the loop thread, except the Writer's own thread.
#pragma once

#include <uv.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "channels/channel.h"
#include "channels/render.h"
#include "config/config.h"
#include "daemon/http_server.h"
#include "daemon/metrics.h"
#include "daemon/schedule.h"
#include "daemon/signature.h"
#include "daemon/systemd_notify.h"
#include "events/intake.h"
#include "events/keystore.h"
#include "events/planner.h"
#include "events/sodium_sealer.h"
#include "events/state.h"
#include "events/writer.h"

namespace nudged {

struct AppOptions {
  std::string config_path;
  std::string builtin_templates;  // the shipped config/templates directory
};

class App {
 public:
  // Loads everything and replays; errors name what is wrong (a key, a file, the log).
  static Result<std::unique_ptr<App>> create(const AppOptions& options);
  ~App();

  // Runs until SIGTERM or SIGINT; returns the process exit code.
  int run();

 private:
  App() = default;
  Status init(const AppOptions& options);
  Status load_config_and_templates(const std::string& path, Config& config,
                                   Templates*& templates_out);
  Result<std::map<std::string, std::unique_ptr<Channel>>> make_channels(const Config& config);

  Status start_listeners();
  void start_replay();  // the start-up replay, on a worker thread; the loop serves meanwhile
  void on_replayed();
  void handle_request(HttpRequest&& request, HttpServer::Respond respond, bool admin);
  void handle_admin(HttpRequest&& request, HttpServer::Respond respond);
  struct Import;
  void admin_import(HttpRequest&& request, HttpServer::Respond respond);
  void continue_imports();
  void finish_import(Import& job);
  std::deque<std::shared_ptr<Import>> imports_;  // admin imports, oldest first
  uv_idle_t import_idle_{};                      // the next slice of the oldest import
  static constexpr uint64_t kImportSliceNs = 5'000'000;
  void submit_request(Batch batch, std::function<HttpResponse(const std::vector<Appended>&)> ok,
                      HttpServer::Respond respond);
  Status reload_now();  // for the admin API: reload() that says how it went
  // Folds new events into State (those the writer decoded, then any others from the log) and
  // replans if any. `known_last`: a position a completion says is committed; when the
  // writer's events reach it, the log is not read.
  void catch_up(int64_t known_last = 0);
  void warn_about_coordinators();
  void replan();
  void plan_added();  // merges unplanned_ into the schedule
  void arm_timer();
  void on_due();
  void dispatch(const Notification& n);
  void start_send(const Notification& n);
  void on_send_done(const Notification& n, SendResult result);
  void alert_account_refused(const Notification& n, const SendResult& result);
  void record(EventData data, const std::string& notification_id);
  void submit_outcome(NewEvent ev, const std::string& notification_id);
  void retry_unrecorded();
  bool still_planned(const Notification& n) const;
  bool kept_from_quiet_hours(const Notification& n);
  void release_held(bool all);
  void arm_quiet_timer();
  bool settled(const Notification& n) const;
  void apply_reload();
  void pump(const std::string& channel);
  void reload();
  void begin_shutdown();
  void maybe_finish_shutdown();
  TimePoint now() const;
  std::string status_line() const;  // for systemd's STATUS=: counts and the next due time
  void refresh_status();

  AppOptions options_;
  Config config_;
  std::unique_ptr<Templates> templates_;
  std::map<std::string, std::unique_ptr<Channel>> channels_;
  std::map<std::string, int> in_flight_per_channel_;
  std::map<std::string, std::deque<Notification>> waiting_;
  // SMS that reached the recipient's quiet hours waiting their turn (kept_from_quiet_hours), by
  // when those end. Busy meanwhile, like those in waiting_: back to the queue then, checked
  // again there. In memory only: after a restart the plan has them again (or late_grace).
  std::multimap<TimePoint, Notification> held_;
  uv_timer_t quiet_timer_{};

  std::unique_ptr<EventStore> reader_;
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<Intake> intake_;
  std::string participant_key_;
  std::unique_ptr<KeyStore> keys_;  // per-participant keys, wrapped by the master key
  std::unique_ptr<SodiumSealer> sealer_;
  int64_t shredded_erasures_ = -1;            // State::erasures() when keys were last shredded
  std::unordered_set<std::string> shredded_;  // participants whose keys were asked destroyed
  void shred_erased_keys();
  void flush_erasures(int dropped, int participants);
  void after_erasures(std::function<void()> then);
  uv_timer_t erase_retry_timer_{};
  int erase_retry_participants_ = 0;
  static constexpr uint64_t kEraseRetryMs = 5000;
  Decoder decoder_;
  State state_;

  Schedule schedule_;  // the plan, compact, by due time
  size_t cursor_ = 0;
  int64_t planned_input_ =
      0;  // State's plan_input_position() when the schedule was built  // entries before this are
          // dispatched and settled: never looked at again
  // Outcomes whose append failed (store busy, disk full): appended again shortly. Their
  // notifications stay busy meanwhile, so a message already sent is not sent again.
  std::vector<std::pair<NewEvent, std::string>> unrecorded_;
  // The last append of an outcome failed and has not succeeded since. No new send starts
  // meanwhile (they wait in waiting_): a message sent while its outcome cannot be written is
  // sent again after a crash or a restart, so the duplicates SPEC §4 allows would grow with
  // every send made while the disk is full.
  bool outcomes_stalled_ = false;
  void log_unrecorded_at_exit();
  // A reload waiting for the sends in flight on the old channels to finish.
  struct PendingReload {
    Config config;
    std::unique_ptr<Templates> templates;
    std::map<std::string, std::unique_ptr<Channel>> channels;
  };
  std::unique_ptr<PendingReload> pending_reload_;
  // Dispatched, queued for a channel, or waiting for its outcome to be read back, with the
  // attempt that was started: never dispatched twice.
  std::unordered_map<std::string, int64_t> busy_;
  // Participants whose erasure is on its way to the log (submitted, not read back yet): a
  // registration arriving meanwhile must not get their id either (IntakeOptions::erased).
  std::unordered_multiset<std::string> erasing_;
  std::vector<std::string> track_erasures(const Batch& batch);
  void untrack_erasures(const std::vector<std::string>& participant_ids);
  int sends_in_flight_ = 0;
  int appends_in_flight_ = 0;

  uv_loop_t loop_{};
  uv_timer_t due_timer_{};
  uv_timer_t poll_timer_{};
  uv_timer_t replan_timer_{};
  uv_timer_t shutdown_timer_{};
  uv_timer_t rerecord_timer_{};
  uv_timer_t watchdog_timer_{};
  uv_timer_t status_timer_{};  // refreshes systemd's STATUS= when the line changes
  std::string last_status_;
  uv_timer_t deferred_replan_timer_{};
  uv_timer_t add_timer_{};
  // New registrations read into State but not yet merged into the schedule (see catch_up).
  std::vector<const RegistrationState*> unplanned_;
  // What warn_about_coordinators() last saw (SIZE_MAX: nothing yet).
  size_t coordinators_reachable_ = SIZE_MAX;
  size_t coordinators_configured_ = SIZE_MAX;
  SystemdNotifier systemd_;
  int64_t replayed_at_start_ = 0;

  // Ingress: the public listener and the admin socket.
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<HttpServer> admin_;
  int servers_open_ = 0;  // closed servers call back; shutdown waits for all of them
  Metrics metrics_;
  SignatureLedger ledger_;
  bool ready_ = false;  // the start-up replay is done: requests that need State are served
  // When ready_ became true: due times before it were missed while nudged was down (late_grace
  // applies to them), later ones were not (PlanOptions::running_since).
  std::optional<TimePoint> running_since_;
  bool replaying_ = false;
  bool reload_after_replay_ = false;  // a SIGHUP came during the start-up replay
  uv_work_t replay_work_{};
  std::atomic<bool> replay_stop_{false};  // set on the loop, read by the replay's thread
  Status replay_status_;
  std::chrono::steady_clock::time_point replay_started_{};
  uv_async_t writer_async_{};
  uv_signal_t sighup_{}, sigterm_{}, sigint_{};
  bool loop_ready_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  bool shutdown_bound_passed_ = false;  // kShutdownGraceMs is over: stop waiting, exit
  int exit_code_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
  // Per channel, when the operator was last told (at error level) that the provider refuses
  // the account: every failed message says so at warn; the error stands out, at most once
  // every kAccountAlertEvery (an outage can fail thousands of messages).
  std::map<std::string, TimePoint> account_alerted_at_;
};

}  // namespace nudged
