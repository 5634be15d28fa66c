#include "daemon/app.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "daemon/backoff.h"
#include "daemon/compose.h"
#include "daemon/key_file.h"
#include "daemon/log.h"
#include "events/erasure.h"
#include "events/replay.h"

namespace nudged {
namespace {

constexpr uint64_t kPollMs = 250;                 // how soon another writer's events are seen
constexpr uint64_t kReplanMs = 60 * 60 * 1000;    // the series horizon rolls forward hourly
constexpr uint64_t kShutdownGraceMs = 10 * 1000;  // the bound on finishing sends at SIGTERM
constexpr uint64_t kAddBatchMs = 20;  // new registrations wait this long to be merged in
constexpr uint64_t kStatusMs = 2000;  // how stale `systemctl status` may be

template <typename T>
App* app_of(T* handle) {
  return static_cast<App*>(handle->data);
}

// Whether a recorded outcome settles the given attempt of a notification: sent, expired,
// failed for good, or that attempt (or a later one) already recorded. One rule for both the
// in-flight bookkeeping and the schedule.
bool settles(const NotificationOutcome* o, int64_t attempt) {
  return o != nullptr && (o->sent || o->expired || o->failed_permanently || o->attempts >= attempt);
}

ChannelConfig to_channel_config(const ChannelTable& t) {
  return ChannelConfig{t.name, t.kind, t.settings};
}

}  // namespace

TimePoint App::now() const {
  return std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
}

Result<std::unique_ptr<App>> App::create(const AppOptions& options) {
  std::unique_ptr<App> app(new App());
  Status s = app->init(options);
  if (!s) return s;
  return app;
}

App::~App() {
  if (writer_) writer_->stop();
  // A start that failed after listening: close the servers through their own callbacks so
  // that what they own is freed.
  for (HttpServer* server : {http_.get(), admin_.get()}) {
    if (server != nullptr) server->abort();
  }
  for (auto& [name, ch] : channels_)
    ch->close();
  if (loop_ready_) {
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
}

Result<std::map<std::string, std::unique_ptr<Channel>>> App::make_channels(const Config& config) {
  std::map<std::string, std::unique_ptr<Channel>> out;
  for (const ChannelTable& t : config.channels) {
    Result<std::unique_ptr<Channel>> ch =
        ChannelRegistry::instance().create(to_channel_config(t), ChannelEnv{&loop_});
    if (!ch) return Status::invalid("channels." + t.name, ch.status().message());
    out.emplace(t.name, std::move(*ch));
  }
  return out;
}

Status App::init(const AppOptions& options) {
  options_ = options;
  Result<Config> config = load_config(options.config_path);
  if (!config) return config.status();
  config_ = std::move(*config);
  for (const std::string& w : config_.warnings)
    spdlog::warn("{}: {}", options.config_path, w);
  Result<Templates> templates = Templates::load(options.builtin_templates, config_.templates.dir);
  if (!templates) return templates.status();
  templates_ = std::make_unique<Templates>(std::move(*templates));

  if (uv_loop_init(&loop_) != 0) return Status::io("cannot create the event loop");
  loop_ready_ = true;
  Result<std::map<std::string, std::unique_ptr<Channel>>> channels = make_channels(config_);
  if (!channels) return channels.status();
  channels_ = std::move(*channels);

  std::error_code ec;
  std::filesystem::create_directories(config_.daemon.state_dir, ec);
  if (ec) return Status::io("cannot create " + config_.daemon.state_dir + ": " + ec.message());
  std::filesystem::permissions(config_.daemon.state_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  std::string participant_key_path =
      (std::filesystem::path(config_.daemon.state_dir) / "participant-id.key").string();
  Status kept = check_keys_of_existing_log(
      config_.database_path(), key_store_path(config_.database_path()), participant_key_path);
  if (!kept) return kept;
  Result<std::string> key = load_or_create_key(participant_key_path);
  if (!key) return key.status();
  participant_key_ = *key;

  // The key store opens before the log: a wrong master key stops the start before anything is
  // written anywhere.
  std::string master = config_.daemon.master_key;
  if (master.empty()) {
    // Development only (the example config): a master key kept beside the data it protects
    // guards nothing against a copy of state_dir. Production names a credential.
    std::string dev = (std::filesystem::path(config_.daemon.state_dir) / "master.key").string();
    Result<std::string> made = load_or_create_key(dev);
    if (!made) return made.status();
    master = std::move(*made);
    spdlog::warn("no [daemon] master_key_file: using {} (for development only)", dev);
  }
  Result<std::unique_ptr<KeyStore>> keys =
      KeyStore::open(key_store_path(config_.database_path()), master, KeyStore::OpenMode::kCreate);
  sodium_memzero(master.data(), master.size());
  if (!keys) return keys.status();
  keys_ = std::move(*keys);
  sealer_ = std::make_unique<SodiumSealer>(*keys_);
  index_coordinators(config_.plan, *sealer_);
  IntakeOptions intake_options{sealer_.get(), participant_key_, nullptr};
  intake_options.erased = [this](const std::string& participant_id) {
    if (erasing_.count(participant_id) > 0) return true;
    const ParticipantState* p = state_.participant(participant_id);
    return p != nullptr && p->erased;
  };
  intake_ = std::make_unique<Intake>(std::move(intake_options));

  std::string db = config_.database_path();
  Result<std::unique_ptr<EventStore>> reader = EventStore::open(db);
  if (!reader) return reader.status();
  reader_ = std::move(*reader);
  Result<std::unique_ptr<EventStore>> writer_store =
      EventStore::open(db, EventStore::OpenMode::kExisting);
  if (!writer_store) return writer_store.status();
  // New participants' keys are made on the loop; the writer writes them, once per group
  // commit, before the events sealed with them (events/keystore.h).
  // The daemon is then the only process making keys (nudgectl goes through it).
  Result<std::function<Status()>> key_hook = keys_->defer_writes();
  if (!key_hook) return key_hook.status();
  (*writer_store)->set_before_commit_hook(std::move(*key_hook));
  (*writer_store)->set_after_commit_hook([keys = keys_.get()] { keys->scrub_after_commit(); });

  uv_async_init(&loop_, &writer_async_, [](uv_async_t* a) {
    App* app = app_of(a);
    app->writer_->run_completions();
  });
  writer_async_.data = this;
  writer_ = std::make_unique<Writer>(
      std::move(*writer_store), [this] { return now(); }, [this] { uv_async_send(&writer_async_); },
      /*decode_committed=*/true);

  for (uv_timer_t* t : {&due_timer_, &poll_timer_, &replan_timer_, &shutdown_timer_,
                        &rerecord_timer_, &watchdog_timer_, &deferred_replan_timer_, &status_timer_,
                        &add_timer_, &erase_retry_timer_, &quiet_timer_}) {
    uv_timer_init(&loop_, t);
    t->data = this;
  }
  uv_idle_init(&loop_, &import_idle_);
  import_idle_.data = this;
  for (uv_signal_t* s : {&sighup_, &sigterm_, &sigint_}) {
    uv_signal_init(&loop_, s);
    s->data = this;
  }
  replay_work_.data = this;
  return start_listeners();
}

int App::run() {
  uv_signal_start(
      &sighup_, [](uv_signal_t* s, int) { app_of(s)->reload(); }, SIGHUP);
  uv_signal_start(
      &sigterm_, [](uv_signal_t* s, int) { app_of(s)->begin_shutdown(); }, SIGTERM);
  uv_signal_start(
      &sigint_, [](uv_signal_t* s, int) { app_of(s)->begin_shutdown(); }, SIGINT);
  // The watchdog is fed by the loop itself: if the loop stops turning, the pings stop and
  // systemd restarts the service.
  if (auto interval = SystemdNotifier::watchdog_interval()) {
    uint64_t ms = static_cast<uint64_t>(interval->count());
    uv_timer_start(
        &watchdog_timer_, [](uv_timer_t* t) { app_of(t)->systemd_.watchdog(); }, 0, ms);
  }
  start_replay();
  uv_run(&loop_, UV_RUN_DEFAULT);
  spdlog::info("nudged stopped");
  return exit_code_;
}

// The start-up replay runs on a worker thread so that the loop answers /healthz and /readyz
// (503) meanwhile and keeps the watchdog fed. Until it is done only that thread touches State
// and the reader; the loop starts using them in on_replayed().
void App::start_replay() {
  replaying_ = true;
  replay_started_ = std::chrono::steady_clock::now();
  uv_queue_work(
      &loop_, &replay_work_,
      [](uv_work_t* w) {
        App* app = app_of(w);
        // A SIGTERM meanwhile sets replay_stop_: replay returns within a page.
        Result<ReplayStats> stats =
            replay(*app->reader_, app->state_, 4096, 50000, &app->replay_stop_);
        app->replay_status_ = stats ? Status::ok() : stats.status();
        if (stats) app->replayed_at_start_ = stats->events;
      },
      [](uv_work_t* w, int) { app_of(w)->on_replayed(); });
}

void App::on_replayed() {
  replaying_ = false;
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - replay_started_).count();
  metrics_.set_replay_seconds(seconds);
  if (!replay_status_) {
    spdlog::error("cannot start: replaying the log failed: {}", replay_status_.message());
    exit_code_ = 1;
    begin_shutdown();
    maybe_finish_shutdown();  // when a SIGTERM had already begun it
    return;
  }
  if (replay_stop_) {  // asked to stop: State is partial, and nothing is to be done with it
    spdlog::info("replay stopped after {} events ({:.3f} s): stopping", replayed_at_start_,
                 seconds);
    maybe_finish_shutdown();
    return;
  }
  {
    LogContext fields{{"position", state_.position()}};
    spdlog::info("replayed {} events up to position {} in {:.3f} s", replayed_at_start_,
                 state_.position(), seconds);
  }
  if (stopping_) {
    maybe_finish_shutdown();
    return;
  }
  shred_erased_keys();
  ready_ = true;
  running_since_ = now();
  state_.track_planning(true);
  uv_timer_start(
      &poll_timer_, [](uv_timer_t* t) { app_of(t)->catch_up(); }, kPollMs, kPollMs);
  uv_timer_start(
      &replan_timer_, [](uv_timer_t* t) { app_of(t)->replan(); }, kReplanMs, kReplanMs);
  replan();
  spdlog::info("nudged running: {} events, {} notifications planned", state_.events_applied(),
               schedule_.size());
  last_status_ = status_line();
  systemd_.ready(last_status_);
  uv_timer_start(
      &status_timer_, [](uv_timer_t* t) { app_of(t)->refresh_status(); }, kStatusMs, kStatusMs);
  if (reload_after_replay_) {  // after READY=1: the reload says RELOADING=1, then READY=1
    reload_after_replay_ = false;
    reload_now();
  }
}

// Destroys the keys of the participants the log shows as erased: all of them after the start-up
// replay (a crash between an erase event and its key deletion, or a key store restored from a
// copy made before an erasure), then those newly erased whenever a participant.erased has been
// read back (it is durable by then). Only new ones: an address key made again after its owner's
// erasure (the same address opting out again) must not go with the next erasure of anyone.
// The keys leave memory at once; their rows are deleted, and the file scrubbed, by the writer
// around its next transaction (KeyStore::erase_later), which flush_erasures() starts now: the
// loop never waits for that DELETE's fsync or the VACUUM.
void App::shred_erased_keys() {
  shredded_erasures_ = state_.erasures();
  ErasedSubjects erased = erased_subjects(
      state_, [this](const std::string& id) { return shredded_.insert(id).second; });
  if (erased.subjects.empty()) return;
  int dropped = keys_->erase_later(std::move(erased.subjects));
  flush_erasures(dropped, erased.participants);
}

// Runs the writer's hook now with an empty batch, and says what it destroyed. Ids only in the
// log line. When the transaction fails, the hook keeps the erasures; they are tried again in
// a few seconds (or by any write before that).
void App::flush_erasures(int dropped, int participants) {
  writer_->submit(Batch{}, [this, dropped, participants](Result<std::vector<Appended>> r) {
    KeyStore::EraseReport report = keys_->take_erase_report();
    if (!r) {
      spdlog::error("destroying the keys of erased participants failed ({}); trying again",
                    r.status().message());
      if (!stopping_) {
        erase_retry_participants_ = participants;
        uv_timer_start(
            &erase_retry_timer_,
            [](uv_timer_t* t) {
              App* app = app_of(t);
              app->flush_erasures(0, app->erase_retry_participants_);
            },
            kEraseRetryMs, 0);
      }
      return;
    }
    if (!report.scrub_error.empty()) {
      spdlog::error(
          "scrubbing the key store after an erasure failed ({}); trying again after "
          "the next write",
          report.scrub_error);
    }
    if (report.destroyed + dropped > 0) {
      spdlog::info("destroyed {} keys of erased participants ({} newly erased)",
                   report.destroyed + dropped, participants);
    }
  });
}

// Every event enters State here, in log order, whoever wrote it.
void App::catch_up(int64_t known_last) {
  if (!ready_) {
    writer_->recycle(writer_->take_committed());  // replay at start reads them
    return;
  }
  int64_t before = state_.position();
  std::vector<Event> committed = writer_->take_committed();
  Result<ReplayStats> r = catch_up_with(*reader_, state_, committed, known_last);
  writer_->recycle(std::move(committed));
  if (!r) {
    LogContext fields{{"position", state_.position()}};
    // Events read before the failure are in State: go on, so that the plan follows them.
    spdlog::error("reading the log failed: {}", r.status().message());
  }
  if (state_.position() == before) return;
  if (state_.erasures() != shredded_erasures_) shred_erased_keys();
  // Outcomes that only settle their own notification leave the rest of the plan as it was:
  // the settled items are skipped where they stand. Anything else (a registration, a change,
  // a retry to schedule) is planned afresh. This keeps a send O(1) rather than O(plan).
  if (state_.plan_input_position() <= planned_input_) {
    arm_timer();
    return;
  }
  // New registrations of new people (the bulk of what arrives) are planned on their own and
  // merged in: O(new) rather than O(everything) per group commit. Anything else, plan afresh.
  PlanningDelta delta = state_.take_planning_delta();
  if (delta.other || delta.new_registrations.empty() || stopping_) {
    replan();
    return;
  }
  for (const std::string& id : delta.new_registrations) {
    if (const RegistrationState* r = state_.registration(id)) unplanned_.push_back(r);
  }
  planned_input_ = state_.plan_input_position();
  // Merging into the schedule moves its tail: do it for many registrations at once, a few
  // milliseconds later, rather than once per group commit.
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&add_timer_))) {
    uv_timer_start(
        &add_timer_, [](uv_timer_t* t) { app_of(t)->plan_added(); }, kAddBatchMs, 0);
  }
  arm_timer();
}

void App::plan_added() {
  if (unplanned_.empty() || stopping_) return;
  schedule_.add(state_, config_.plan, now(), unplanned_, cursor_, running_since_);
  unplanned_.clear();
  arm_timer();
}

std::vector<std::string> App::track_erasures(const Batch& batch) {
  std::vector<std::string> ids;
  for (const NewEvent& ev : batch) {
    if (const auto* e = std::get_if<ParticipantErased>(&ev.data)) {
      ids.push_back(e->participant_id);
      erasing_.insert(e->participant_id);
    }
  }
  return ids;
}

// Once the erasure is in State (or failed): State answers for it from here on.
void App::untrack_erasures(const std::vector<std::string>& participant_ids) {
  for (const std::string& id : participant_ids) {
    auto it = erasing_.find(id);
    if (it != erasing_.end()) erasing_.erase(it);
  }
}

bool App::settled(const Notification& n) const {
  return settles(state_.outcome(n.id), n.attempt);
}

void App::replan() {
  if (stopping_ || !ready_) return;
  state_.take_planning_delta();  // everything is planned now
  unplanned_.clear();
  schedule_.rebuild(state_, config_.plan, now(), running_since_);
  planned_input_ = state_.plan_input_position();
  cursor_ = 0;
  warn_about_coordinators();
  arm_timer();
}

// A coordinator who used the unsubscribe link every email carries (or texted STOP) gets no more
// accommodation requests or escalations, and nothing else would show that nobody does. Said
// when it becomes so (at start, a reload, or the opt-out), with counts only: no address.
void App::warn_about_coordinators() {
  size_t configured = config_.plan.coordinators.size();
  size_t reachable = coordinators_reachable(state_, config_.plan);
  if (reachable == coordinators_reachable_ && configured == coordinators_configured_) return;
  coordinators_reachable_ = reachable;
  coordinators_configured_ = configured;
  if (configured == 0 || reachable == configured) return;
  if (reachable == 0) {
    spdlog::warn(
        "every accessibility coordinator ({}) has opted out: accommodation requests and "
        "escalations reach no one; opt the address back in (participant.opted_in) or change "
        "[accessibility] coordinator",
        configured);
  } else {
    spdlog::warn(
        "{} of {} accessibility coordinators have opted out: they get no accommodation requests "
        "or escalations",
        configured - reachable, configured);
  }
}

// The timer goes to the first entry not yet dispatched. Dispatched entries whose outcome is
// back are passed for good by moving the cursor.
void App::arm_timer() {
  if (stopping_) return;
  auto& entries = schedule_.entries();
  while (cursor_ < entries.size() && entries[cursor_].dispatched &&
         settled(schedule_.expand(entries[cursor_]))) {
    ++cursor_;
  }
  for (size_t i = cursor_; i < entries.size(); ++i) {
    if (entries[i].dispatched) continue;
    int64_t wait = std::chrono::duration_cast<Millis>(entries[i].due - now()).count();
    uv_timer_start(
        &due_timer_, [](uv_timer_t* t) { app_of(t)->on_due(); },
        static_cast<uint64_t>(std::max<int64_t>(wait, 0)), 0);
    return;
  }
  uv_timer_stop(&due_timer_);
}

void App::on_due() {
  TimePoint t = now();
  auto& entries = schedule_.entries();
  for (size_t i = cursor_; i < entries.size(); ++i) {
    Scheduled& e = entries[i];
    if (e.due > t) break;
    if (e.dispatched) continue;
    e.dispatched = true;
    Notification n = schedule_.expand(e);
    // Still in flight from before the last replan, or settled meanwhile: nothing to do.
    if (busy_.count(n.id) || settled(n)) continue;
    dispatch(n);
  }
  arm_timer();
}

void App::dispatch(const Notification& n) {
  LogContext fields{{"notification_id", n.id}, {"channel", n.channel}, {"attempt", n.attempt}};
  busy_[n.id] = n.attempt;
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug(
        "firing {} {:.3f} ms after due", n.id,
        std::chrono::duration<double, std::milli>(std::chrono::system_clock::now() - n.due)
            .count());
  }
  if (n.action == Notification::Action::kExpire) {
    // Why, in the reason: its last failure left no retry that fits before the deadline
    // (on_send_done recorded a retry_at past it); or it was held up (a busy or failing channel)
    // until the deadline passed; or, as the planner tells, it fell due while nudged was not
    // running. Saying the last for the others sends the operator looking for a downtime that
    // never happened.
    const NotificationOutcome* o = state_.outcome(n.id);
    std::string reason;
    if (o != nullptr && o->retry_pending && o->retry_at >= n.deadline) {
      reason = "deadline " + format_utc_millis(n.deadline) +
               " passed before a retry could be made (attempt " + std::to_string(n.attempt - 1) +
               " failed)";
    } else if (!n.missed_while_down) {
      reason = "deadline " + format_utc_millis(n.deadline) +
               " passed before it could be sent (due " + format_utc_millis(n.nominal_due) + ")";
    }
    if (reason.empty()) {
      spdlog::info("notification {} expired: missed while nudged was down", n.id);
      reason = "missed: due " + format_utc_millis(n.due) + " while nudged was not running";
    } else {
      spdlog::error("notification {} expired: {}", n.id, reason);
    }
    metrics_.count_notification("expired", n.channel, kind_name(n.kind));
    record(NotificationExpired{n.id, std::move(reason)}, n.id);
    return;
  }
  waiting_[n.channel].push_back(n);
  pump(n.channel);
}

// Starts queued sends on a channel while it has room.
void App::pump(const std::string& name) {
  auto& queue = waiting_[name];
  auto ch = channels_.find(name);
  bool dropped = false;
  while (!queue.empty() && !stopping_ && !pending_reload_ && !outcomes_stalled_) {
    if (ch != channels_.end() && in_flight_per_channel_[name] >= ch->second->concurrency()) {
      break;
    }
    Notification n = std::move(queue.front());
    queue.pop_front();
    // While it waited, the plan may have dropped it (an opt-out, a cancel) or changed it (a new
    // due time, now an expiry).
    if (!still_planned(n)) {
      busy_.erase(n.id);
      dropped = true;
      continue;
    }
    if (kept_from_quiet_hours(n)) continue;
    start_send(n);
  }
  // A changed item's new entry was passed over while the old one was busy: plan afresh so that
  // it is acted on (rare: a send that waited in the queue across a replan). Not here and now:
  // pump runs inside on_due's walk over the schedule, which a rebuild would pull away.
  if (dropped && !uv_is_active(reinterpret_cast<uv_handle_t*>(&deferred_replan_timer_))) {
    uv_timer_start(
        &deferred_replan_timer_, [](uv_timer_t* t) { app_of(t)->replan(); }, 0, 0);
  }
}

bool App::still_planned(const Notification& n) const {
  return schedule_.holds(n, cursor_) && !settled(n);
}

// SPEC §4's quiet hours, at the moment an SMS would start to go out rather than only when it
// was planned: one due at 20:50 that waited behind a slow provider must not go at 23:00.
// True when it does not go now: held until they end (it stays busy), or expired.
bool App::kept_from_quiet_hours(const Notification& n) {
  std::optional<QuietHoursRule> rule = quiet_hours_rule(state_, config_.plan, n);
  if (!rule) return false;
  QuietHoursVerdict verdict = quiet_hours_at_send(now(), *rule);
  LogContext fields{{"notification_id", n.id}, {"channel", n.channel}, {"attempt", n.attempt}};
  switch (verdict.action) {
    case QuietHoursVerdict::Action::kSend:
      return false;
    case QuietHoursVerdict::Action::kHold:
      spdlog::info(
          "{} reached the recipient's quiet hours waiting to be sent (due {}): held until {}", n.id,
          format_utc_millis(n.due), format_utc_millis(verdict.ends));
      held_.emplace(verdict.ends, n);
      arm_quiet_timer();
      return true;
    case QuietHoursVerdict::Action::kExpire: {
      std::string reason =
          "held up into the recipient's quiet hours (" + format_utc_millis(verdict.began) + " to " +
          format_utc_millis(verdict.ends) + "), which end less than 15 minutes before the start " +
          format_utc_millis(rule->start) + ": not sent at night (due " + format_utc_millis(n.due) +
          ")";
      spdlog::warn("notification {} expired: {}", n.id, reason);
      metrics_.count_notification("expired", n.channel, kind_name(n.kind));
      record(NotificationExpired{n.id, std::move(reason)}, n.id);
      return true;
    }
  }
  return false;
}

void App::arm_quiet_timer() {
  if (stopping_ || held_.empty()) {
    uv_timer_stop(&quiet_timer_);
    return;
  }
  int64_t wait = std::chrono::duration_cast<Millis>(held_.begin()->first - now()).count();
  uv_timer_start(
      &quiet_timer_, [](uv_timer_t* t) { app_of(t)->release_held(false); },
      static_cast<uint64_t>(std::max<int64_t>(wait, 0)), 0);
}

// Held SMS whose quiet hours are over (`all`: every one, after a reload that may have changed
// them) go back to their channel's queue. pump() checks them again there: still planned (a
// cancel or an opt-out meanwhile drops them), and clear of quiet hours now. The timer may fire
// a moment before the wall clock says they end: those wait for the next turn.
void App::release_held(bool all) {
  TimePoint t = now();
  std::vector<std::string> channels;
  while (!held_.empty() && (all || held_.begin()->first <= t)) {
    Notification n = std::move(held_.extract(held_.begin()).mapped());
    if (std::find(channels.begin(), channels.end(), n.channel) == channels.end()) {
      channels.push_back(n.channel);
    }
    waiting_[n.channel].push_back(std::move(n));
  }
  for (const std::string& channel : channels)
    pump(channel);
  arm_quiet_timer();
}

void App::start_send(const Notification& n) {
  auto ch = channels_.find(n.channel);
  if (ch == channels_.end()) {
    on_send_done(n, SendResult::permanent("channel " + n.channel + " is not configured"));
    return;
  }
  LogContext fields{{"notification_id", n.id}, {"channel", n.channel}, {"attempt", n.attempt}};
  ComposeContext ctx{state_, config_, *templates_, *sealer_, participant_key_, now()};
  Result<Message> message = compose(n, ctx);
  if (!message) {
    on_send_done(n, SendResult::permanent("cannot compose: " + message.status().message()));
    return;
  }
  ++in_flight_per_channel_[n.channel];
  ++sends_in_flight_;
  metrics_.observe_lateness(std::chrono::duration<double>(now() - n.due).count());
  spdlog::debug("sending {} (attempt {})", n.id, n.attempt);
  ch->second->send(*message, [this, n](SendResult result) {
    --in_flight_per_channel_[n.channel];
    --sends_in_flight_;
    on_send_done(n, std::move(result));
    if (pending_reload_ && sends_in_flight_ == 0 && !stopping_) {
      apply_reload();
    } else {
      pump(n.channel);
    }
  });
}

void App::on_send_done(const Notification& n, SendResult result) {
  metrics_.count_notification(result.kind == SendResult::Kind::kSent ? "sent" : "failed", n.channel,
                              kind_name(n.kind));
  LogContext fields{{"notification_id", n.id}, {"channel", n.channel}, {"attempt", n.attempt}};
  switch (result.kind) {
    case SendResult::Kind::kSent:
      spdlog::info("sent {} on {} (attempt {})", n.id, n.channel, n.attempt);
      record(NotificationSent{n.id, n.channel, n.attempt,
                              result.provider_id.empty()
                                  ? std::nullopt
                                  : std::optional<std::string>(result.provider_id)},
             n.id);
      return;
    case SendResult::Kind::kTransient: {
      if (result.account_level) alert_account_refused(n, result);
      double jitter = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
      TimePoint t = now();
      std::optional<TimePoint> retry =
          next_retry_clear_of_quiet_hours(t, n.attempt, result.retry_after, jitter, n.deadline,
                                          quiet_hours_rule(state_, config_.plan, n));
      if (!retry) {
        // No try fits before the deadline. Recorded with a retry_at past it, which the planner
        // turns into notification.expired (SPEC §4: retries stop at the deadline). A second
        // past: the schedule keeps the deadline in whole seconds, rounded down, so n.deadline
        // may be up to 999 ms before the planner's.
        TimePoint past = std::max(next_retry(t, n.attempt, result.retry_after, jitter),
                                  n.deadline + std::chrono::seconds(1));
        spdlog::warn("{} failed on {} (attempt {}), no retry fits before its deadline {}: {}", n.id,
                     n.channel, n.attempt, format_utc_millis(n.deadline), scrub(result.reason));
        record(NotificationFailed{n.id, n.channel, n.attempt, scrub(result.reason), false,
                                  instant_from_utc(past)},
               n.id);
        return;
      }
      spdlog::warn("{} failed on {} (attempt {}), retry at {}: {}", n.id, n.channel, n.attempt,
                   format_utc_millis(*retry), scrub(result.reason));
      record(NotificationFailed{n.id, n.channel, n.attempt, scrub(result.reason), false,
                                instant_from_utc(*retry)},
             n.id);
      return;
    }
    case SendResult::Kind::kPermanent:
      spdlog::error("{} failed for good on {} (attempt {}): {}", n.id, n.channel, n.attempt,
                    scrub(result.reason));
      record(
          NotificationFailed{n.id, n.channel, n.attempt, scrub(result.reason), true, std::nullopt},
          n.id);
      if (result.opted_out_address) {
        // The provider says this number unsubscribed (replied STOP): record it the way an
        // inbound STOP is recorded, so nothing more is planned for it. The address is sealed
        // by intake and never logged.
        spdlog::info("{}: the provider reports the recipient opted out; recording it", n.id);
        record(ParticipantOptedOut{"sms", Personal{*result.opted_out_address}}, n.id);
      }
      return;
  }
}

// The provider refuses the sender (credentials, account, relay, the server as a whole): each
// message is retried, but only the operator can fix this. Said at error level at most once
// every kAccountAlertEvery per channel, with ids only (the reason is codes and our words).
void App::alert_account_refused(const Notification& n, const SendResult& result) {
  constexpr auto kAccountAlertEvery = std::chrono::minutes(10);
  TimePoint t = now();
  auto [it, first] = account_alerted_at_.try_emplace(n.channel, t);
  if (!first && t - it->second < kAccountAlertEvery) return;
  it->second = t;
  spdlog::error(
      "channel {}: the provider refuses the sender's account, not the recipient ({}, for {}); "
      "check the channel's credentials, account and sender settings: messages are retried "
      "until their deadlines and go out once this is fixed",
      n.channel, scrub(result.reason), n.id);
}

// Appends an outcome. The notification stays busy until the event is read back into State.
void App::record(EventData data, const std::string& notification_id) {
  LogContext fields{{"notification_id", notification_id}};
  Result<NewEvent> ev = intake_->prepare(std::move(data));
  if (!ev) {
    // Cannot happen with the events built here; if it does, keep the notification parked
    // (busy) rather than send it again and again.
    spdlog::error("cannot record the outcome of {}: {}", notification_id, ev.status().to_string());
    return;
  }
  submit_outcome(std::move(*ev), notification_id);
}

void App::submit_outcome(NewEvent ev, const std::string& notification_id) {
  ++appends_in_flight_;
  Batch batch;
  batch.push_back(ev);
  writer_->submit(std::move(batch), [this, ev = std::move(ev),
                                     notification_id](Result<std::vector<Appended>> r) mutable {
    --appends_in_flight_;
    LogContext fields{{"notification_id", notification_id}};
    if (r && !r->empty()) {
      if (!r->front().duplicate) metrics_.count_appended(1);
      LogContext at{{"position", r->front().position}};
      spdlog::debug("recorded the outcome of {} at position {}", notification_id,
                    r->front().position);
      // Read it back (unless another completion of the same transaction already did), and
      // then it settles its notification, which may be planned (or not) afresh. Only this
      // notification can have been settled by this event: no walk over everything busy.
      if (state_.position() < r->front().position) catch_up(r->front().position);
      if (auto it = busy_.find(notification_id);
          it != busy_.end() && settles(state_.outcome(notification_id), it->second)) {
        busy_.erase(it);
      }
      if (outcomes_stalled_) {
        outcomes_stalled_ = false;
        spdlog::info("outcomes are recorded again: resuming sends");
        for (auto& [name, queue] : waiting_)
          pump(name);
      }
    }
    if (!r && !finished_) {
      // The message went out (or failed) but the log does not say so yet. Keep it busy and
      // append the same event again shortly: its id makes a repeat harmless. While stopping
      // too, until the shutdown bound: each outcome written spares a duplicate after restart.
      spdlog::error("recording the outcome of {} failed, trying again: {}", notification_id,
                    r.status().message());
      unrecorded_.emplace_back(std::move(ev), notification_id);
      if (!outcomes_stalled_) {
        outcomes_stalled_ = true;
        spdlog::error("no new sends until outcomes can be recorded again");
      }
      if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&rerecord_timer_))) {
        uv_timer_start(
            &rerecord_timer_, [](uv_timer_t* t) { app_of(t)->retry_unrecorded(); }, 1000, 0);
      }
    } else if (!r) {
      unrecorded_.emplace_back(std::move(ev), notification_id);  // counted at exit
    }
    maybe_finish_shutdown();
  });
}

void App::retry_unrecorded() {
  std::vector<std::pair<NewEvent, std::string>> again;
  again.swap(unrecorded_);
  for (auto& [ev, id] : again)
    submit_outcome(std::move(ev), id);
}

std::string App::status_line() const {
  std::string line = "replayed " + std::to_string(replayed_at_start_) + " events at start; " +
                     std::to_string(schedule_.size() - cursor_) + " notifications pending";
  for (size_t i = cursor_; i < schedule_.size(); ++i) {
    const Scheduled& e = schedule_.entries()[i];
    if (e.dispatched) continue;
    line += "; next due at " + format_utc_millis(e.due);
    break;
  }
  return line;
}

// STATUS= follows the plan as sends go out and events arrive, at most every kStatusMs and only
// when the line changed.
void App::refresh_status() {
  std::string line = status_line();
  if (line == last_status_) return;
  last_status_ = std::move(line);
  systemd_.status(last_status_);
}

// SIGHUP. One that comes during the start-up replay is kept for when it is done (the file may
// have been edited since the start), rather than dropped.
void App::reload() {
  if (!ready_ && !stopping_) {
    spdlog::info("SIGHUP during the start-up replay: reloading once it is done");
    reload_after_replay_ = true;
    return;
  }
  reload_now();
}

// Loads the configuration, templates and channels anew; refuses (and keeps the running ones)
// when any of them is bad. The swap itself waits for sends in flight on the old channels.
Status App::reload_now() {
  if (stopping_) return Status::unavailable("stopping");
  // READY=1 comes after replay; a reload then would announce it early. Ask again when ready.
  if (!ready_) return Status::unavailable("still replaying the log; reload when ready");
  systemd_.reloading();
  spdlog::info("reloading {}", options_.config_path);
  auto refuse = [this](const Status& why) {
    spdlog::error("reload refused, keeping the running configuration: {}", why.message());
    systemd_.ready("reload refused; " + status_line());
    return why;
  };
  Result<Config> config = load_config(options_.config_path);
  if (!config) return refuse(config.status());
  if (Status fits = check_reloadable(config_, *config); !fits) return refuse(fits);
  for (const std::string& w : config->warnings)
    spdlog::warn("{}: {}", options_.config_path, w);
  Result<Templates> templates = Templates::load(options_.builtin_templates, config->templates.dir);
  if (!templates) return refuse(templates.status());
  Result<std::map<std::string, std::unique_ptr<Channel>>> channels = make_channels(*config);
  if (!channels) return refuse(channels.status());
  if (pending_reload_) {  // a second SIGHUP while the first waits: the newer one wins
    for (auto& [name, ch] : pending_reload_->channels)
      ch->close();
  }
  pending_reload_ = std::make_unique<PendingReload>(
      PendingReload{std::move(*config), std::make_unique<Templates>(std::move(*templates)),
                    std::move(*channels)});
  // The old channels finish what they started; no new send starts until the swap.
  if (sends_in_flight_ == 0) {
    apply_reload();
  } else {
    spdlog::info("reload: waiting for {} sends in flight", sends_in_flight_);
  }
  return Status::ok();
}

void App::apply_reload() {
  std::unique_ptr<PendingReload> next = std::move(pending_reload_);
  for (auto& [name, ch] : channels_)
    ch->close();
  channels_ = std::move(next->channels);
  config_ = std::move(next->config);
  index_coordinators(config_.plan, *sealer_);
  templates_ = std::move(next->templates);
  // Listeners stay bound (check_reloadable refused a changed address); limits follow the file.
  if (http_) {
    ServerLimits limits;
    limits.parser.max_body = config_.webhooks.max_body;
    http_->set_limits(limits);
  }
  set_log_level(config_.daemon.log_level);  // log_format cannot change (check_reloadable)
  spdlog::info("reloaded");
  replan();
  systemd_.ready(status_line());
  release_held(true);  // quiet hours may have changed
  for (auto& [name, queue] : waiting_)
    pump(name);
}

void App::begin_shutdown() {
  if (stopping_) return;
  stopping_ = true;
  replay_stop_ = true;  // a start-up replay still running gives up at its next page
  uv_signal_stop(&sighup_);
  systemd_.stopping();
  spdlog::info("stopping: {} sends in flight", sends_in_flight_);
  uv_timer_stop(&due_timer_);
  uv_timer_stop(&poll_timer_);
  uv_timer_stop(&replan_timer_);
  uv_timer_stop(&watchdog_timer_);
  uv_timer_stop(&erase_retry_timer_);  // the writer's last transactions still run the hook
  uv_timer_stop(&quiet_timer_);        // held SMS are planned again after the next start
  // Listeners close now; a connection waiting for its append is answered, then closed.
  for (HttpServer* server : {http_.get(), admin_.get()}) {
    if (server == nullptr) continue;
    server->close([this] {
      --servers_open_;
      maybe_finish_shutdown();
    });
  }
  uv_timer_stop(&status_timer_);
  // Outcomes waiting to be appended again are tried now rather than after their timer: the
  // shutdown waits for them (until the bound) like for the sends in flight.
  if (!unrecorded_.empty()) {
    spdlog::info("stopping: recording the outcomes of {} sends", unrecorded_.size());
    uv_timer_stop(&rerecord_timer_);
    retry_unrecorded();
  }
  uv_timer_start(
      &shutdown_timer_,
      [](uv_timer_t* t) {
        App* app = app_of(t);
        // Closing the channels (maybe_finish_shutdown) fails each unfinished send as
        // transient, and the writer appends those failures before it stops: the log says an
        // attempt was made, and a restart retries it after its backoff.
        spdlog::warn("stopping: {} sends unfinished after {} s; recording them as failed",
                     app->sends_in_flight_, kShutdownGraceMs / 1000);
        app->sends_in_flight_ = 0;
        app->appends_in_flight_ = 0;
        app->servers_open_ = 0;
        app->shutdown_bound_passed_ = true;
        for (HttpServer* server : {app->http_.get(), app->admin_.get()}) {
          if (server != nullptr) server->abort();
        }
        app->maybe_finish_shutdown();
      },
      kShutdownGraceMs, 0);
  maybe_finish_shutdown();
}

void App::maybe_finish_shutdown() {
  if (!stopping_ || finished_ || sends_in_flight_ > 0 || appends_in_flight_ > 0 ||
      servers_open_ > 0 || replaying_ || (!unrecorded_.empty() && !shutdown_bound_passed_)) {
    return;
  }
  finished_ = true;
  uv_timer_stop(&rerecord_timer_);
  for (auto& [name, ch] : channels_)
    ch->close();
  writer_->stop();
  writer_->run_completions();
  log_unrecorded_at_exit();
  uv_stop(&loop_);
}

// Sends whose outcome never reached the log will be sent again after the next start: the
// operator is told how many duplicates to expect (a count; each id was logged as its append
// failed).
void App::log_unrecorded_at_exit() {
  std::unordered_set<std::string> ids;
  for (const auto& [ev, id] : unrecorded_)
    ids.insert(id);
  if (ids.empty()) return;
  spdlog::error(
      "stopping: the outcomes of {} sends could not be recorded; they will be sent again "
      "after the next start",
      ids.size());
}

}  // namespace nudged
