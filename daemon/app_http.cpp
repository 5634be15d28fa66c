// The App's HTTP side: its listeners, the routes it answers itself (health, readiness,
// metrics, the admin API) and the path from a route's Verdict to a durable append and the
// answer. The routes that decide events are in ingress*.cpp. Loop thread.

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <nlohmann/json.hpp>

#include "daemon/app.h"
#include "daemon/ingress.h"
#include "daemon/state_json.h"
#include "events/series.h"

namespace nudged {
namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

HttpResponse not_ready() {
  HttpResponse r = HttpResponse::error(503, "not_ready", "nudged is still replaying its log");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

HttpResponse stopping() {
  HttpResponse r = HttpResponse::error(503, "stopping", "nudged is shutting down");
  r.headers.emplace_back("Retry-After", "5");
  return r;
}

ServerLimits limits_for(const Config& config) {
  ServerLimits limits;
  limits.parser.max_body = config.webhooks.max_body;
  return limits;
}

}  // namespace

Status App::start_listeners() {
  http_ = std::make_unique<HttpServer>(
      &loop_, limits_for(config_), [this](HttpRequest&& request, HttpServer::Respond respond) {
        handle_request(std::move(request), std::move(respond), false);
      });
  ++servers_open_;
  // Socket activation: systemd holds the listening socket and passes it on; else listen.
  int passed = sd_listen_fds(1);
  if (passed > 0) {
    for (int i = 0; i < passed; ++i) {
      Status s = http_->listen_fd(SD_LISTEN_FDS_START + i);
      if (!s) return s;
    }
    spdlog::info("listening on {} socket(s) from systemd", passed);
  } else {
    Status s = http_->listen_tcp(config_.daemon.listen.host, config_.daemon.listen.port);
    if (!s) return s;
    spdlog::info("listening on http://{}", config_.daemon.listen.to_string());
  }
  if (!config_.daemon.admin_socket.empty()) {
    // The admin API allows appending and erasing: big requests (imports) but no signature,
    // since the socket's file mode (0660) is its access control.
    ServerLimits admin_limits;
    admin_limits.parser.max_body = 16 * 1024 * 1024;
    admin_ = std::make_unique<HttpServer>(
        &loop_, admin_limits, [this](HttpRequest&& request, HttpServer::Respond respond) {
          handle_request(std::move(request), std::move(respond), true);
        });
    ++servers_open_;
    Status s = admin_->listen_unix(config_.daemon.admin_socket, 0660);
    if (!s) return Status::invalid("daemon.admin_socket", s.message());
  }
  return Status::ok();
}

void App::handle_request(HttpRequest&& request, HttpServer::Respond respond, bool admin) {
  // Every answer is counted by route pattern (never by raw path: paths carry ids).
  std::string label = "other";
  auto answer = [this, &label, respond](HttpResponse r) mutable {
    metrics_.count_request(label, r.status);
    respond(std::move(r));
  };
  if (request.path == "/healthz" || request.path == "/readyz" || request.path == "/metrics") {
    label = request.path;
    if (request.method != "GET") {
      HttpResponse r =
          HttpResponse::error(405, "method_not_allowed", "this path takes only GET, HEAD");
      r.headers.emplace_back("Allow", "GET, HEAD");
      answer(std::move(r));
    } else if (request.path == "/healthz") {
      answer(HttpResponse::json(200, R"({"status":"ok"})"));
    } else if (request.path == "/readyz") {
      answer(ready_ ? HttpResponse::json(200, R"({"status":"ready"})") : not_ready());
    } else {
      answer(HttpResponse::text(
          200, metrics_.render(static_cast<int64_t>(schedule_.size() - cursor_), ready_),
          "text/plain; version=0.0.4; charset=utf-8"));
    }
    return;
  }
  if (admin && request.path.rfind("/v1/admin/", 0) == 0) {
    label = "/v1/admin";
    auto counted = [this, respond](HttpResponse r) {
      metrics_.count_request("/v1/admin", r.status);
      respond(std::move(r));
    };
    handle_admin(std::move(request), counted);
    return;
  }
  std::vector<std::string> params;
  bool path_matched = false;
  const Route* route = match_route(event_routes(), request, params, path_matched);
  if (route == nullptr) {
    if (!path_matched) return answer(HttpResponse::error(404, "not_found", "no such endpoint"));
    // RFC 9110 §15.5.6: a 405 says what the path takes (a HEAD reaches here as a GET).
    std::string allow = allowed_methods(event_routes(), request);
    HttpResponse r =
        HttpResponse::error(405, "method_not_allowed", "this path takes only " + allow);
    r.headers.emplace_back("Allow", allow);
    return answer(std::move(r));
  }
  label = route->pattern;
  if (stopping_) return answer(stopping());
  if (!ready_) return answer(not_ready());
  IngressContext ctx{config_, state_, *intake_, *sealer_, participant_key_, unix_now(), &ledger_};
  Verdict verdict = route->handler(request, params, ctx);
  if (verdict.batch.empty()) return answer(std::move(verdict.reply));
  submit_request(std::move(verdict.batch), std::move(verdict.accepted),
                 [this, label, respond](HttpResponse r) {
                   metrics_.count_request(label, r.status);
                   respond(std::move(r));
                 });
}

// Appends a request's events and answers once they are durable and read back into State, so
// that the next request sees them (a registration right after its session, say).
void App::submit_request(Batch batch,
                         std::function<HttpResponse(const std::vector<Appended>&)> accepted,
                         HttpServer::Respond respond) {
  ++appends_in_flight_;
  std::vector<std::string> erasing = track_erasures(batch);
  writer_->submit(
      std::move(batch), [this, accepted = std::move(accepted), respond = std::move(respond),
                         erasing = std::move(erasing)](Result<std::vector<Appended>> r) {
        --appends_in_flight_;
        if (!r) {
          if (r.status().code() != Code::kConflict) {
            spdlog::error("appending a request's events failed: {}", r.status().message());
          }
          respond(error_response(r.status()));
        } else {
          int64_t fresh = 0, last = 0;
          for (const Appended& a : *r) {
            fresh += a.duplicate ? 0 : 1;
            last = std::max(last, a.position);
          }
          metrics_.count_appended(fresh);
          // Read back before answering, so the caller's next request sees its events. One
          // transaction completes many requests: the first of them reads for all.
          if (state_.position() < last) catch_up(last);
          HttpResponse reply = accepted ? accepted(*r) : HttpResponse::json(202, "{}");
          if (erasing.empty()) {
            respond(std::move(reply));
          } else {
            after_erasures(
                [respond, reply = std::move(reply)]() mutable { respond(std::move(reply)); });
          }
        }
        untrack_erasures(erasing);
        maybe_finish_shutdown();
      });
}

// Runs `then` once the keys of every erasure read back so far are gone from the key store's
// file, not only from memory (KeyStore::erase_later): an empty batch queued behind the one
// that destroys them. An erase is answered then, so that whoever reads the files next (an
// export, a backup) finds no key of the erased.
void App::after_erasures(std::function<void()> then) {
  ++appends_in_flight_;
  writer_->submit(Batch{}, [this, then = std::move(then)](Result<std::vector<Appended>> r) {
    --appends_in_flight_;
    if (!r) spdlog::error("destroying the keys of erased participants: {}", r.status().message());
    then();
    maybe_finish_shutdown();
  });
}

// `nudgectl events import` through the daemon: JSON Lines, each line its own atomic batch as
// in an offline import (one bad line takes no other down), all of them in the Writer's queue
// so that group commit makes them few transactions. Answers line by line. Lines are checked a
// few milliseconds' worth at a time (continue_imports), so a file of a hundred thousand lines
// does not keep the loop from sends and other requests for seconds.
struct App::Import {
  std::string body;
  size_t offset = 0;  // where the next line starts
  int64_t line_no = 0;
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  size_t waiting = 0;  // lines with the writer
  bool submitted_all = false;
  bool erases = false;  // holds a participant.erased: answered once the keys are gone
  HttpServer::Respond respond;
};

void App::admin_import(HttpRequest&& request, HttpServer::Respond respond) {
  auto job = std::make_shared<Import>();
  job->body = std::move(request.body);
  job->respond = std::move(respond);
  ++appends_in_flight_;  // until every line is submitted: a stop waits for the whole file
  imports_.push_back(std::move(job));
  // Slices run from an idle handle, once per turn of the loop, after its I/O. (Not a 0 ms
  // timer re-armed from its own callback: libuv 1.44 runs such a timer again in the same turn,
  // and I/O would wait for the whole file.)
  uv_idle_start(&import_idle_,
                [](uv_idle_t* h) { static_cast<App*>(h->data)->continue_imports(); });
}

// Checks and submits lines of the oldest import for up to kImportSliceNs; the loop turns before
// the next slice.
void App::continue_imports() {
  if (imports_.empty()) {
    uv_idle_stop(&import_idle_);
    return;
  }
  std::shared_ptr<Import> job = imports_.front();
  uint64_t until = uv_hrtime() + kImportSliceNs;
  std::string_view body = job->body;
  while (job->offset < body.size() && uv_hrtime() < until) {
    size_t end = body.find('\n', job->offset);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(job->offset, end - job->offset);
    job->offset = end + 1;
    ++job->line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    Result<NewEvent> ev = intake_->from_envelope_json(line);
    if (ev) {
      // A series new to the log meets what one over HTTP does (a series already in it is an
      // old log's, re-imported: its events go in as duplicates, whatever their rule).
      if (Status s = check_imported_series(state_, *ev); !s) ev = s;
    }
    if (!ev) {
      job->results.push_back({{"line", job->line_no}, {"error", ev.status().to_string()}});
      continue;
    }
    size_t index = job->results.size();
    job->results.push_back({{"line", job->line_no}});
    ++job->waiting;
    ++appends_in_flight_;
    Batch batch;
    batch.push_back(std::move(*ev));
    std::vector<std::string> erasing = track_erasures(batch);
    job->erases = job->erases || !erasing.empty();
    writer_->submit(std::move(batch), [this, job, index, erasing = std::move(erasing)](
                                          Result<std::vector<Appended>> r) {
      --appends_in_flight_;
      if (!erasing.empty()) {
        if (r) catch_up();  // the erasure into State before it stops being tracked here
        untrack_erasures(erasing);
      }
      nlohmann::ordered_json& out = job->results[index];
      if (!r) {
        out["error"] = r.status().to_string();
      } else {
        out["position"] = r->front().position;
        out["duplicate"] = r->front().duplicate;
        if (!r->front().duplicate) metrics_.count_appended(1);
      }
      if (--job->waiting == 0 && job->submitted_all) finish_import(*job);
    });
  }
  if (job->offset < body.size()) return;  // the next slice at the next turn
  job->submitted_all = true;
  std::string().swap(job->body);  // the lines are in the writer's queue now
  imports_.pop_front();
  --appends_in_flight_;
  if (job->waiting == 0) finish_import(*job);
  if (imports_.empty()) uv_idle_stop(&import_idle_);
}

void App::finish_import(Import& job) {
  catch_up();
  HttpResponse reply =
      HttpResponse::json(200, nlohmann::ordered_json{{"results", job.results}}.dump(
                                  -1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (job.erases) {
    after_erasures(
        [respond = job.respond, reply = std::move(reply)]() mutable { respond(std::move(reply)); });
  } else {
    job.respond(std::move(reply));
  }
  maybe_finish_shutdown();
}

void App::handle_admin(HttpRequest&& request, HttpServer::Respond respond) {
  std::string what = request.path.substr(std::string("/v1/admin/").size());
  bool get = request.method == "GET";
  bool post = request.method == "POST";
  if (what == "status" && get && !ready_) {
    // State belongs to the replay's worker thread until it is done: nothing of it here.
    return respond(HttpResponse::json(200, nlohmann::ordered_json{{"ready", false},
                                                                  {"stopping", stopping_},
                                                                  {"status", "replaying the log"}}
                                               .dump()));
  }
  if (what == "status" && get) {
    nlohmann::ordered_json j = {{"ready", ready_},
                                {"stopping", stopping_},
                                {"position", state_.position()},
                                {"events_applied", state_.events_applied()},
                                {"notifications_pending", schedule_.size() - cursor_},
                                {"sends_in_flight", sends_in_flight_},
                                {"connections", http_ ? http_->connections() : 0},
                                {"status", status_line()}};
    return respond(HttpResponse::json(200, j.dump()));
  }
  if (what == "reload" && post) {
    Status s = reload_now();
    if (!s) return respond(HttpResponse::error(422, "reload_refused", s.message(), s.field()));
    return respond(HttpResponse::json(200, R"({"reloaded":true})"));
  }
  if (!ready_) return respond(not_ready());
  if (what == "schedule" && get) {
    std::vector<Notification> plan;
    for (size_t i = cursor_; i < schedule_.size(); ++i) {
      Notification n = schedule_.expand(schedule_.entries()[i]);
      if (!settled(n)) plan.push_back(std::move(n));
    }
    return respond(
        HttpResponse::json(200, nlohmann::ordered_json{{"plan", plan_json(plan)}}.dump(
                                    -1, ' ', false, nlohmann::json::error_handler_t::replace)));
  }
  if (what == "sessions" && get) {
    return respond(HttpResponse::json(
        200, state_json(state_, config_.plan, now())
                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  }
  if ((what == "events" || what == "erase") && post) {
    if (stopping_) return respond(stopping());
    if (what == "events" && request.media_type() == "application/x-ndjson") {
      return admin_import(std::move(request), std::move(respond));
    }
    if (request.media_type() != "application/json") {
      return respond(HttpResponse::error(415, "unsupported_media_type", "send application/json"));
    }
    IngressContext ctx{config_, state_, *intake_, *sealer_, participant_key_, unix_now()};
    Verdict verdict;
    // Same bodies as the public API; the socket's permissions stand in for a signature.
    verdict = what == "events" ? admin_events(request, ctx) : admin_erase(request, ctx);
    if (verdict.batch.empty()) return respond(std::move(verdict.reply));
    return submit_request(std::move(verdict.batch), std::move(verdict.accepted),
                          std::move(respond));
  }
  bool known = what == "status" || what == "reload" || what == "schedule" || what == "sessions" ||
               what == "events" || what == "erase";
  respond(known ? HttpResponse::error(405, "method_not_allowed", "wrong method for this path")
                : HttpResponse::error(404, "not_found", "no such admin endpoint"));
}

}  // namespace nudged
