#include "events/writer.h"

#include <algorithm>
#include <iterator>

#include "events/replay.h"

namespace nudged {

Writer::Writer(std::unique_ptr<EventStore> store, std::function<TimePoint()> clock,
               std::function<void()> wake, bool decode_committed)
    : store_(std::move(store)),
      clock_(std::move(clock)),
      wake_(std::move(wake)),
      decode_committed_(decode_committed) {
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
  std::vector<std::vector<Event>> spent;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is written
      work.swap(queue_);
      spent.swap(spent_);
    }
    spent.clear();
    std::vector<const Batch*> batches;
    batches.reserve(work.size());
    for (const Pending& p : work)
      batches.push_back(&p.batch);
    auto results = store_->append_group(batches, clock_());
    if (decode_committed_) decode(results);
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

// A transaction holds the log's write lock from BEGIN IMMEDIATE to COMMIT, so the rows it
// added are one run of positions: read that run back, stopping at the first row that does not
// decode (the loop then reads from there itself, and reports it as a replay would).
void Writer::decode(const std::vector<Result<std::vector<Appended>>>& results) {
  int64_t first = 0, last = 0;
  for (const Result<std::vector<Appended>>& r : results) {
    if (!r) continue;
    for (const Appended& a : *r) {
      if (a.duplicate) continue;
      first = first == 0 ? a.position : std::min(first, a.position);
      last = std::max(last, a.position);
    }
  }
  if (first == 0) return;
  std::vector<Event> events;
  events.reserve(static_cast<size_t>(last - first + 1));
  bool failed = false;
  Result<int64_t> n = store_->read(first - 1, last - first + 1, [&](const StoredEvent& row) {
    if (failed) return;
    Result<Event> ev = decode_for_replay(row, decoder_);
    if (!ev) {
      failed = true;
      return;
    }
    events.push_back(std::move(*ev));
  });
  if (!n || events.empty()) return;
  // After a gap (a transaction whose read-back failed), apply_continuing stops at it and the
  // loop reads the rest from the log.
  std::lock_guard lock(mu_);
  std::move(events.begin(), events.end(), std::back_inserter(committed_));
}

std::vector<Event> Writer::take_committed() {
  std::vector<Event> out;
  std::lock_guard lock(mu_);
  out.swap(committed_);
  return out;
}

void Writer::recycle(std::vector<Event> spent) {
  if (spent.empty()) return;
  std::lock_guard lock(mu_);
  spent_.push_back(std::move(spent));
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
