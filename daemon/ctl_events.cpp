// nudgectl events import|export|tail, and verify.

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "daemon/ctl.h"
#include "daemon/key_file.h"
#include "events/erasure.h"
#include "events/replay.h"
#include "events/series.h"
#include "events/sodium_sealer.h"

namespace nudged::ctl {
namespace {

constexpr size_t kMaxLine = 1 << 20;
constexpr size_t kImportGroup = 512;  // lines per transaction: one fsync per group

std::string json_string(std::string_view s) {
  return nlohmann::json(std::string(s))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

TimePoint now() {
  return std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
}

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

}  // namespace

std::unique_ptr<EventStore> open_store(const Context& ctx, bool create) {
  if (create) {
    // A first import makes the state directory (and the database's, when it is elsewhere),
    // readable by its owner only (health data).
    for (const std::string& file : {ctx.db_path, ctx.key_path}) {
      std::filesystem::path dir = std::filesystem::path(file).parent_path();
      std::error_code ec;
      if (dir.empty() || std::filesystem::exists(dir, ec)) continue;
      std::filesystem::create_directories(dir, ec);
      if (!ec) {
        std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::replace, ec);
      }
      if (ec) {
        std::cerr << "nudgectl: cannot create " << dir.string() << ": " << ec.message() << "\n";
        return nullptr;
      }
    }
  }
  Result<std::unique_ptr<EventStore>> store = EventStore::open(
      ctx.db_path, create ? EventStore::OpenMode::kCreate : EventStore::OpenMode::kExisting);
  if (!store) {
    std::cerr << "nudgectl: " << store.status().message() << "\n";
    return nullptr;
  }
  return std::move(*store);
}

std::string export_line(const StoredEvent& row, const Event& event, PersonalOut out,
                        const Sealer* sealer) {
  std::string line;
  line.reserve(row.data.size() + 256);
  line += "{\"position\":" + std::to_string(row.position);
  line += ",\"id\":" + json_string(row.id);
  line += ",\"type\":" + json_string(row.type);
  // Data is written at the current schema (upcast on read), so the schema says so too.
  line += ",\"schema\":" + std::to_string(current_schema(event.envelope.type));
  line += ",\"stream\":" + json_string(row.stream);
  line += ",\"version\":" + std::to_string(row.version);
  line += ",\"recorded_at\":" + json_string(row.recorded_at);
  line += ",\"data\":" + encode_data(event.data, out, sealer, row.id);
  line += ",\"meta\":";
  line += row.meta;
  line += "}";
  return line;
}

std::istream* open_input(const std::string& name, std::ifstream& file) {
  if (name == "-") return &std::cin;
  file.open(name);
  if (!file) {
    std::cerr << "nudgectl: cannot read " << name << "\n";
    return nullptr;
  }
  return &file;
}

void drop_bom(std::string& first_line) {
  if (first_line.rfind("\xEF\xBB\xBF", 0) == 0) first_line.erase(0, 3);
}

int events_import(const Context& ctx, const ImportOptions& opt) {
  std::ifstream file;
  std::istream* in = open_input(opt.file, file);
  if (in == nullptr) return kExitBadInput;
  if (!keys_of_log_present(ctx)) return kExitBadInput;
  auto store = open_store(ctx, /*create=*/true);
  if (!store) return kExitBadInput;
  Result<std::string> key = load_or_create_key(ctx.key_path);
  if (!key) {
    std::cerr << "nudgectl: " << key.status().message() << "\n";
    return kExitBadInput;
  }
  std::unique_ptr<KeyStore> keys = open_keys(ctx, /*create=*/true);
  if (!keys) return kExitBadInput;
  // New keys are written once per group, just before the group's events (one fsync for a
  // group rather than one per new person: an import of many people is otherwise all fsyncs).
  Result<std::function<Status()>> key_hook = keys->defer_writes();
  if (!key_hook) {
    std::cerr << "nudgectl: " << key_hook.status().message() << "\n";
    return kExitBadInput;
  }
  store->set_before_commit_hook(std::move(*key_hook));
  SodiumSealer sealer(*keys);
  // As the daemon does: someone erased who registers again gets a new participant id (events/
  // intake.h), so the log's erasures are replayed first, and this import's own are counted as
  // they are read (a line after an erasure is checked before the erasure is in the log).
  State known;
  if (Result<ReplayStats> r = replay(*store, known); !r) {
    std::cerr << "nudgectl: " << r.status().message() << "\n";
    return kExitBadInput;
  }
  std::set<std::string> erasing;
  IntakeOptions intake_options{&sealer, *key, nullptr};
  intake_options.erased = [&](const std::string& participant_id) {
    if (erasing.count(participant_id) > 0) return true;
    const ParticipantState* p = known.participant(participant_id);
    return p != nullptr && p->erased;
  };
  Intake intake(std::move(intake_options));

  int64_t appended = 0, duplicates = 0, errors = 0;
  // Lines are checked one by one; the good ones are appended in groups, each line its own
  // atomic batch, so one bad line never takes another down with it. A line refused before the
  // store waits in the group too, so that every line is reported in input order.
  struct Line {
    int64_t line_no;
    Batch batch;        // the event, when the line passed intake
    std::string error;  // why intake refused it, else empty
  };
  std::vector<Line> group;
  auto flush = [&]() -> bool {
    std::vector<const Batch*> batches;
    for (const Line& l : group)
      if (l.error.empty()) batches.push_back(&l.batch);
    std::vector<Result<std::vector<Appended>>> results;
    if (!batches.empty()) results = store->append_group(batches, now());
    size_t next = 0;
    for (const Line& l : group) {
      if (!l.error.empty()) {
        ++errors;
        std::cout << "line " << l.line_no << ": error: " << l.error << "\n";
        continue;
      }
      const Result<std::vector<Appended>>& result = results[next++];
      if (!result) {
        ++errors;
        std::cout << "line " << l.line_no << ": error: " << result.status().to_string() << "\n";
        if (result.status().code() == Code::kUnavailable || result.status().code() == Code::kIo) {
          group.clear();
          return false;
        }
        continue;
      }
      const Appended& a = result->front();
      if (a.duplicate) {
        ++duplicates;
        std::cout << "line " << l.line_no << ": duplicate of position " << a.position << "\n";
      } else {
        ++appended;
        std::cout << "line " << l.line_no << ": appended at position " << a.position << "\n";
      }
    }
    group.clear();
    return true;
  };

  std::string line;
  int64_t line_no = 0;
  bool store_ok = true;
  bool erasures = false;  // a participant.erased line: keys to destroy once it is durable
  while (store_ok && std::getline(*in, line)) {
    if (++line_no == 1) drop_bom(line);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (line.size() > kMaxLine) {
      group.push_back(Line{line_no, {}, "longer than " + std::to_string(kMaxLine) + " bytes"});
    } else if (Result<NewEvent> ev = intake.from_envelope_json(line); !ev) {
      group.push_back(Line{line_no, {}, ev.status().to_string()});
    } else if (Status series = check_imported_series(known, *ev); !series) {
      group.push_back(Line{line_no, {}, series.to_string()});
    } else {
      if (const auto* e = std::get_if<ParticipantErased>(&ev->data)) {
        erasing.insert(e->participant_id);
        erasures = true;
      }
      Batch batch;
      batch.push_back(std::move(*ev));
      group.push_back(Line{line_no, std::move(batch), {}});
    }
    if (group.size() >= kImportGroup) store_ok = flush();
  }
  if (store_ok) store_ok = flush();
  if (erasures) {
    // As `nudgectl erase` does: the erasures are durable, so their keys go now, not at the
    // daemon's next start (until then an export with personal data would still show them).
    // `known` catches up from where the first replay left it.
    Result<ReplayStats> replayed = replay(*store, known);
    Result<ShredReport> shred =
        replayed ? shred_erased(known, *keys) : Result<ShredReport>(replayed.status());
    if (!shred) {
      std::cerr << "nudgectl: the erasures are in the log, but their keys were not destroyed yet ("
                << shred.status().message() << "); the daemon destroys them when it starts\n";
      store_ok = false;
    }
  }
  std::cerr << "nudgectl: " << appended << " appended, " << duplicates << " duplicates, " << errors
            << " errors\n";
  return errors == 0 && store_ok ? kExitOk : kExitBadInput;
}

int events_export(const Context& ctx, const ExportOptions& opt) {
  auto store = open_store(ctx);
  if (!store) return kExitBadInput;
  // Keys only when personal data was asked for; without a key (erased) a value shows redacted.
  std::unique_ptr<KeyStore> keys;
  if (opt.include_personal_data) {
    keys = open_keys(ctx, /*create=*/false);
    if (!keys) return kExitBadInput;
  }
  std::optional<SodiumSealer> sealer;
  if (keys) sealer.emplace(*keys);
  Decoder decoder;
  PersonalOut out = opt.include_personal_data ? PersonalOut::kOpened : PersonalOut::kRedacted;
  int64_t after = opt.since;
  Status failed;
  for (;;) {
    Result<int64_t> n = store->read(after, 4096, [&](const StoredEvent& row) {
      if (!failed) return;
      Result<Event> ev = decode_stored(row, decoder);
      if (!ev) {
        failed = ev.status();
        return;
      }
      std::cout << export_line(row, *ev, out, sealer ? &*sealer : nullptr) << "\n";
      after = row.position;
    });
    if (!n) failed = n.status();
    if (!failed || *n == 0) break;
  }
  std::cout.flush();
  if (!failed) {
    std::cerr << "nudgectl: " << failed.message() << "\n";
    return kExitBadInput;
  }
  return kExitOk;
}

int events_tail(const Context& ctx, const TailOptions& opt) {
  auto store = open_store(ctx);
  if (!store) return kExitBadInput;
  Result<int64_t> last = store->last_position();
  if (!last) {
    std::cerr << "nudgectl: " << last.status().message() << "\n";
    return kExitBadInput;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Decoder decoder;
  int64_t after = std::max<int64_t>(0, *last - std::max<int64_t>(0, opt.lines));
  while (!g_stop) {
    Result<int64_t> n = store->read(after, 1024, [&](const StoredEvent& row) {
      Result<Event> ev = decode_stored(row, decoder);
      if (ev)
        std::cout << export_line(row, *ev, PersonalOut::kRedacted, nullptr) << "\n";
      else
        std::cout << "{\"position\":" << row.position
                  << ",\"error\":" << json_string(ev.status().message()) << "}\n";
      after = row.position;
    });
    std::cout.flush();
    if (!n) {
      std::cerr << "nudgectl: " << n.status().message() << "\n";
      return kExitBadInput;
    }
    if (*n > 0) continue;
    if (!opt.follow) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return kExitOk;
}

int verify(const Context& ctx) {
  auto store = open_store(ctx);
  if (!store) return kExitBadInput;
  VerifyReport report = store->verify();
  for (const std::string& n : report.notes)
    std::cout << "note: " << n << "\n";
  for (const std::string& f : report.faults)
    std::cout << "fault: " << f << "\n";
  if (!report.faults.empty()) {
    std::cout << "verify: FAILED with " << report.faults.size() << " fault(s) in " << report.events
              << " events\n";
    return kExitBadInput;
  }
  std::cout << "verify: ok, " << report.events << " events, chain intact up to position "
            << report.last_position << "\n";
  return kExitOk;
}

}  // namespace nudged::ctl
