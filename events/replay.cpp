#include "events/replay.h"

#include "events/upcast.h"

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

Result<ReplayStats> replay(EventStore& store, State& state, int64_t page_size) {
  Decoder decoder;
  ReplayStats stats;
  Status failed;
  Result<int64_t> last = store.last_position();
  if (!last) return last.status();
  state.reserve(*last - state.position());
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
  }
  return stats;
}

}  // namespace nudged
