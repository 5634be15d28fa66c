#include "events/replay.h"

#include "events/upcast.h"

namespace nudged {

Result<Event> decode_stored(const StoredEvent& row, Decoder& decoder) {
  std::string at = "position " + std::to_string(row.position) + ": ";
  std::optional<EventType> type = parse_event_type(row.type);
  if (!type) return Status::corrupt(at + "unknown event type \"" + std::string(row.type) + "\"");
  Result<EventData> data = [&]() -> Result<EventData> {
    if (row.schema == current_schema(*type)) {
      return decoder.decode(*type, row.data, DecodeMode::kStored);
    }
    Result<std::string> json = upcast_data(*type, row.schema, row.data);
    if (!json) return json.status();
    return decoder.decode(*type, *json, DecodeMode::kStored);
  }();
  if (!data) return Status::corrupt(at + data.status().to_string());
  Result<Instant> recorded = parse_rfc3339(row.recorded_at);
  if (!recorded) return Status::corrupt(at + "recorded_at is not an RFC 3339 time");

  Event ev{Envelope{row.position, std::string(row.id), *type, row.schema, std::string(row.stream),
                    row.version, recorded->utc, std::string(row.meta)},
           std::move(*data)};
  return ev;
}

Result<ReplayStats> replay(EventStore& store, State& state, int64_t page_size) {
  Decoder decoder;
  ReplayStats stats;
  Status failed;
  for (;;) {
    Result<int64_t> n = store.read(state.position(), page_size, [&](const StoredEvent& row) {
      if (!failed) return;
      Result<Event> ev = decode_stored(row, decoder);
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
