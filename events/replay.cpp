#include "events/replay.h"

#include "events/upcast.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace nudged {

namespace {

std::string at(const StoredEvent& row) {
  return "position " + std::to_string(row.position) + ": ";
}

}  // namespace

Result<Event> decode_for_replay(const StoredEvent& row, Decoder& decoder) {
  std::optional<EventType> type = parse_event_type(row.type);
  if (!type) {
    return Status::corrupt(at(row) + "unknown event type \"" + std::string(row.type) + "\"");
  }
  Result<EventData> data = [&]() -> Result<EventData> {
    if (row.schema == current_schema(*type)) {
      return decoder.decode(*type, row.data, DecodeMode::kStored);
    }
    Result<std::string> json = upcast_data(*type, row.schema, row.data);
    if (!json) return json.status();
    return decoder.decode(*type, *json, DecodeMode::kStored);
  }();
  if (!data) return Status::corrupt(at(row) + data.status().to_string());
  Result<Instant> recorded = parse_rfc3339(row.recorded_at);
  if (!recorded) return Status::corrupt(at(row) + "recorded_at is not an RFC 3339 time");

  Event ev{Envelope{row.position, {}, *type, row.schema, {}, row.version, recorded->utc, {}},
           std::move(*data)};
  return ev;
}

Result<Event> decode_stored(const StoredEvent& row, Decoder& decoder) {
  Result<Event> ev = decode_for_replay(row, decoder);
  if (ev) {
    ev->envelope.id.assign(row.id);
    ev->envelope.stream.assign(row.stream);
    ev->envelope.meta.assign(row.meta);
  }
  return ev;
}

namespace {

// One page read and decoded by the reader thread, waiting to be folded in.
struct DecodedPage {
  std::vector<Event> events;
  Status status;
  bool last = false;
};

// A small bounded hand-off between the reader thread and the folding thread.
class PageQueue {
 public:
  // False once the queue is closed: the reader stops reading.
  bool push(DecodedPage page) {
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return pages_.size() < kDepth || closed_; });
    if (closed_) return false;
    pages_.push_back(std::move(page));
    ready_.notify_one();
    return true;
  }
  DecodedPage pop() {
    std::unique_lock lock(mu_);
    ready_.wait(lock, [&] { return !pages_.empty(); });
    DecodedPage page = std::move(pages_.front());
    pages_.pop_front();
    room_.notify_one();
    return page;
  }
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    room_.notify_all();
  }

 private:
  static constexpr size_t kDepth = 4;
  std::mutex mu_;
  std::condition_variable ready_, room_;
  std::deque<DecodedPage> pages_;
  bool closed_ = false;
};

bool stop_asked(const std::atomic<bool>* stop) {
  return stop != nullptr && stop->load(std::memory_order_relaxed);
}

Result<ReplayStats> replay_here(EventStore& store, State& state, int64_t page_size,
                                const std::atomic<bool>* stop) {
  Decoder decoder;
  ReplayStats stats;
  Status failed;
  for (;;) {
    Result<int64_t> n = store.read(state.position(), page_size, [&](const StoredEvent& row) {
      if (!failed) return;
      Result<Event> ev = decode_for_replay(row, decoder);
      if (!ev) {
        failed = ev.status();
        return;
      }
      state.apply(ev->envelope, std::move(ev->data));
      ++stats.events;
      stats.last_position = row.position;
    });
    if (!n) return n.status();
    if (!failed) return failed;
    if (*n < page_size) break;
    if (stop_asked(stop)) {
      stats.stopped = true;
      break;
    }
  }
  return stats;
}

// Reading and decoding (SQLite, JSON) and folding (hash tables) each take about half the
// time of a replay, so a long replay runs them on two threads: the reader thread owns the
// store and its decoder for the duration, this thread owns State.
Result<ReplayStats> replay_pipelined(EventStore& store, State& state, int64_t page_size,
                                     const std::atomic<bool>* stop) {
  PageQueue queue;
  int64_t from = state.position();
  std::thread reader([&store, &queue, from, page_size] {
    Decoder decoder;
    int64_t after = from;
    for (;;) {
      DecodedPage page;
      page.events.reserve(static_cast<size_t>(page_size));
      Result<int64_t> n = store.read(after, page_size, [&](const StoredEvent& row) {
        if (!page.status) return;
        Result<Event> ev = decode_for_replay(row, decoder);
        if (!ev) {
          page.status = ev.status();
          return;
        }
        after = row.position;
        page.events.push_back(std::move(*ev));
      });
      if (!n) page.status = n.status();
      page.last = !page.status || *n < page_size;
      bool last = page.last;
      if (!queue.push(std::move(page)) || last) return;
    }
  });
  ReplayStats stats;
  Status failed;
  for (;;) {
    DecodedPage page = queue.pop();
    for (Event& ev : page.events) {
      state.apply(ev.envelope, std::move(ev.data));
      ++stats.events;
      stats.last_position = ev.envelope.position;
    }
    if (!page.status) failed = page.status;
    if (page.last) break;
    if (stop_asked(stop)) {
      stats.stopped = true;
      break;
    }
  }
  queue.close();
  reader.join();
  if (!failed) return failed;
  return stats;
}

}  // namespace

int64_t apply_continuing(State& state, std::vector<Event>& events) {
  state.reserve(static_cast<int64_t>(events.size()));
  int64_t applied = 0;
  for (Event& ev : events) {
    if (ev.envelope.position <= state.position()) continue;   // State has it already
    if (ev.envelope.position != state.position() + 1) break;  // a gap: replay() reads on
    state.apply(ev.envelope, std::move(ev.data));
    ++applied;
  }
  return applied;
}

Result<ReplayStats> catch_up_with(EventStore& store, State& state, std::vector<Event>& committed,
                                  int64_t known_last) {
  int64_t applied = apply_continuing(state, committed);
  if (known_last > 0 && state.position() >= known_last) {
    return ReplayStats{applied, state.position(), false};
  }
  Result<ReplayStats> r = replay(store, state);
  if (r) r->events += applied;
  return r;
}

Result<ReplayStats> replay(EventStore& store, State& state, int64_t page_size,
                           int64_t pipeline_from, const std::atomic<bool>* stop) {
  Result<int64_t> last = store.last_position();
  if (!last) return last.status();
  int64_t pending = *last - state.position();
  if (pending <= 0) return ReplayStats{};
  state.reserve(pending);
  // Below the threshold a second thread costs more than it saves.
  if (pending < pipeline_from) return replay_here(store, state, page_size, stop);
  return replay_pipelined(store, state, page_size, stop);
}

}  // namespace nudged
