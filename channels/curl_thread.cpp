#include "channels/curl_thread.h"

#include <utility>

namespace nudged {

std::shared_ptr<CurlThread> CurlThread::for_loop(uv_loop_t* loop) {
  static std::mutex mutex;
  static std::map<uv_loop_t*, std::weak_ptr<CurlThread>> instances;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto existing = instances[loop].lock()) return existing;
  auto made = std::make_shared<CurlThread>(loop);
  if (!made->ok()) return nullptr;
  for (auto it = instances.begin(); it != instances.end();) {
    it = it->second.expired() ? instances.erase(it) : std::next(it);
  }
  instances[loop] = made;
  return made;
}

CurlThread::CurlThread(uv_loop_t* loop) : owner_(loop) {
  owner_async_ = new uv_async_t{};
  uv_async_init(owner_, owner_async_,
                [](uv_async_t* a) { static_cast<CurlThread*>(a->data)->on_owner_wakeup(); });
  owner_async_->data = this;
  thread_ = std::thread([this] { run(); });
  std::unique_lock<std::mutex> lock(ready_mutex_);
  ready_cv_.wait(lock, [this] { return started_; });
}

CurlThread::~CurlThread() {
  if (running_) post(Op{Op::Kind::kStop, 0, nullptr});
  if (thread_.joinable()) thread_.join();
  pending_.clear();
  deferred_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(owner_async_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
}

void CurlThread::run() {
  bool looping = uv_loop_init(&worker_loop_) == 0;
  bool ok = looping;
  if (looping) {
    uv_async_init(&worker_loop_, &worker_async_,
                  [](uv_async_t* a) { static_cast<CurlThread*>(a->data)->on_worker_wakeup(); });
    worker_async_.data = this;
    worker_multi_ = std::make_unique<CurlMulti>(&worker_loop_);
    ok = worker_multi_->ok();
  }
  {
    std::lock_guard<std::mutex> lock(ready_mutex_);
    started_ = true;
    running_ = ok;
  }
  ready_cv_.notify_all();
  if (!looping) return;
  if (!ok) {
    worker_multi_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&worker_async_), nullptr);
  }
  // Until kStop has let go of the multi and closed the async; their close callbacks run here.
  uv_run(&worker_loop_, UV_RUN_DEFAULT);
  uv_loop_close(&worker_loop_);
}

void CurlThread::post(Op op) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ops_.push_back(std::move(op));
  }
  uv_async_send(&worker_async_);
}

bool CurlThread::start(std::shared_ptr<CurlJob> job, Finished finished) {
  if (!running_) return false;
  uint64_t id = next_id_++;
  pending_[id] = Pending{job.get(), std::move(finished)};
  post(Op{Op::Kind::kStart, id, std::move(job)});
  return true;
}

void CurlThread::cancel(CurlJob* job) {
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->second.job == job) {
      post(Op{Op::Kind::kCancel, it->first, nullptr});
      pending_.erase(it);
      return;
    }
  }
}

void CurlThread::defer(std::function<void()> fn) {
  deferred_.push_back(std::move(fn));
  uv_async_send(owner_async_);
}

// Worker thread.
void CurlThread::on_worker_wakeup() {
  std::vector<Op> ops;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ops.swap(ops_);
  }
  for (Op& op : ops) {
    switch (op.kind) {
      case Op::Kind::kStart: {
        uint64_t id = op.id;
        CURL* easy = op.job->easy();
        active_[id] = std::move(op.job);
        bool started = worker_multi_->start(easy, [this, id](CURLcode code) {
          active_.erase(id);  // the worker's reference; the daemon side keeps its own
          {
            std::lock_guard<std::mutex> lock(mutex_);
            results_.push_back(Result{id, code});
          }
          uv_async_send(owner_async_);
        });
        if (!started) {
          active_.erase(id);
          {
            std::lock_guard<std::mutex> lock(mutex_);
            results_.push_back(Result{id, CURLE_FAILED_INIT});
          }
          uv_async_send(owner_async_);
        }
        break;
      }
      case Op::Kind::kCancel: {
        auto it = active_.find(op.id);
        if (it == active_.end()) break;  // finished meanwhile: its result is dropped over there
        worker_multi_->cancel(it->second->easy());
        active_.erase(it);
        break;
      }
      case Op::Kind::kStop:
        // Easy handles out of the multi, the multi cleaned up, its handles closed; then ours.
        for (auto& [id, job] : active_)
          worker_multi_->cancel(job->easy());
        active_.clear();
        worker_multi_.reset();
        uv_close(reinterpret_cast<uv_handle_t*>(&worker_async_), nullptr);
        return;
    }
  }
}

// Daemon loop.
void CurlThread::on_owner_wakeup() {
  // A `finished` may close the last smtp channel, which lets go of this driver: the guard keeps
  // it alive to the end of this callback (and may then end it, after the walk below).
  std::shared_ptr<CurlThread> keep = weak_from_this().lock();
  std::vector<Result> results;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    results.swap(results_);
  }
  for (const Result& r : results) {
    auto it = pending_.find(r.id);
    if (it == pending_.end()) continue;  // cancelled
    Finished fn = std::move(it->second.finished);
    pending_.erase(it);
    if (fn) fn(r.code);
  }
  std::deque<std::function<void()>> now;
  now.swap(deferred_);
  for (auto& fn : now)
    fn();
}

}  // namespace nudged
