#include "events/writer.h"

namespace nudged {

Writer::Writer(std::unique_ptr<EventStore> store, std::function<TimePoint()> clock,
               std::function<void()> wake)
    : store_(std::move(store)), clock_(std::move(clock)), wake_(std::move(wake)) {
  thread_ = std::thread([this] { run(); });
}

Writer::~Writer() {
  stop();
}

void Writer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Writer::submit(Batch batch, Callback done) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(Pending{std::move(batch), std::move(done)});
  }
  cv_.notify_one();
}

void Writer::run() {
  std::vector<Pending> work;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is written
      work.swap(queue_);
    }
    std::vector<const Batch*> batches;
    batches.reserve(work.size());
    for (const Pending& p : work)
      batches.push_back(&p.batch);
    auto results = store_->append_group(batches, clock_());
    {
      std::lock_guard lock(mu_);
      ++transactions_;
      batches_ += work.size();
      for (size_t i = 0; i < work.size(); ++i) {
        done_.push_back(
            Done{std::move(results[i]), std::move(work[i].done), std::move(work[i].batch)});
      }
    }
    work.clear();
    wake_();
  }
}

void Writer::run_completions() {
  std::deque<Done> ready;
  {
    std::lock_guard lock(mu_);
    ready.swap(done_);
  }
  for (Done& d : ready) {
    if (d.done) d.done(std::move(d.result));
  }
}

uint64_t Writer::transactions() const {
  std::lock_guard lock(mu_);
  return transactions_;
}

uint64_t Writer::batches() const {
  std::lock_guard lock(mu_);
  return batches_;
}

}  // namespace nudged
