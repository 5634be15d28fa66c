// nudgectl's commands that talk to the running daemon over its admin socket (HTTP over a Unix
// socket, through libcurl): status, schedule, sessions, and the writes that must go through
// the daemon while it runs (it is the log's single writer): events import and erase.

#include <curl/curl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "daemon/ctl.h"
#include "daemon/key_file.h"
#include "events/erasure.h"
#include "events/intake.h"
#include "events/replay.h"

namespace nudged::ctl {
namespace {

struct Reply {
  long status = 0;
  std::string body;
  std::string error;  // set when the request did not complete
};

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

Reply request(const std::string& socket, const std::string& method, const std::string& path,
              const std::string& body = {}, const std::string& content_type = {}) {
  Reply reply;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Reply{0, {}, "cannot start libcurl"};
  std::string url = "http://nudged" + path;
  curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 600L);
  curl_slist* headers = nullptr;
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  }
  CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    reply.error = curl_easy_strerror(rc);
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

// The error a daemon answered, as a person reads it.
std::string error_text(const Reply& r) {
  if (!r.error.empty()) return r.error;
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    std::string out = j["error"].value("message", std::string("error"));
    std::string field = j["error"].value("field", std::string());
    return field.empty() ? out : field + ": " + out;
  }
  return "HTTP " + std::to_string(r.status);
}

int print_json(const Reply& r) {
  if (!r.error.empty() || r.status != 200) {
    std::cerr << "nudgectl: " << error_text(r) << "\n";
    return kExitBadInput;
  }
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(r.body, nullptr, false);
  std::cout << (j.is_discarded() ? r.body : j.dump(2)) << "\n";
  return kExitOk;
}

}  // namespace

bool daemon_listening(const std::string& socket) {
  if (socket.empty() || socket.size() >= sizeof(sockaddr_un::sun_path)) return false;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socket.copy(addr.sun_path, socket.size());
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

int daemon_get(const Context& ctx, const std::string& what) {
  if (ctx.socket_path.empty()) {  // --db alone names no daemon
    std::cerr << "nudgectl: " << what
              << " asks the running daemon: give --socket PATH or --config FILE\n";
    return kExitUsage;
  }
  if (!daemon_listening(ctx.socket_path)) {
    std::cerr << "nudgectl: no daemon answers on " << ctx.socket_path << "\n";
    return kExitBadInput;
  }
  return print_json(request(ctx.socket_path, "GET", "/v1/admin/" + what));
}

int erase_via_daemon(const Context& ctx, const std::string& participant_id) {
  nlohmann::json body = {{"participant_id", participant_id}};
  Reply r = request(ctx.socket_path, "POST", "/v1/admin/erase", body.dump(), "application/json");
  if (!r.error.empty() || r.status != 202) {
    std::cerr << "nudgectl: " << error_text(r) << "\n";
    return kExitBadInput;
  }
  std::cout << "participant " << participant_id << " erased\n";
  return kExitOk;
}

int import_via_daemon(const Context& ctx, const ImportOptions& opt) {
  std::ifstream file;
  std::istream* in = open_input(opt.file, file);
  if (in == nullptr) return kExitBadInput;
  int64_t appended = 0, duplicates = 0, errors = 0;
  int64_t first_line = 1;
  bool failed = false;
  // Chunks of lines, each one request; the daemon answers line by line (numbered from 1 in
  // the chunk, shifted here to the file's numbering).
  auto send = [&](const std::string& chunk, int64_t lines_in_chunk) {
    Reply r = request(ctx.socket_path, "POST", "/v1/admin/events", chunk, "application/x-ndjson");
    nlohmann::json j =
        r.status == 200 ? nlohmann::json::parse(r.body, nullptr, false) : nlohmann::json();
    if (!r.error.empty() || !j.is_object() || !j.contains("results")) {
      std::cerr << "nudgectl: " << error_text(r) << "\n";
      failed = true;
      return;
    }
    for (const auto& item : j["results"]) {
      int64_t line = first_line - 1 + item.value("line", int64_t{0});
      if (item.contains("error")) {
        ++errors;
        std::cout << "line " << line << ": error: " << item["error"].get<std::string>() << "\n";
      } else if (item.value("duplicate", false)) {
        ++duplicates;
        std::cout << "line " << line << ": duplicate of position "
                  << item.value("position", int64_t{0}) << "\n";
      } else {
        ++appended;
        std::cout << "line " << line << ": appended at position "
                  << item.value("position", int64_t{0}) << "\n";
      }
    }
    first_line += lines_in_chunk;
  };
  std::string chunk, line;
  int64_t lines = 0;
  bool first = true;
  while (!failed && std::getline(*in, line)) {
    if (first) drop_bom(line);
    first = false;
    chunk += line;
    chunk += '\n';
    ++lines;
    if (lines == 1000 || chunk.size() > 4 * 1024 * 1024) {
      send(chunk, lines);
      chunk.clear();
      lines = 0;
    }
  }
  if (!failed && lines > 0) send(chunk, lines);
  std::cerr << "nudgectl: " << appended << " appended, " << duplicates << " duplicates, " << errors
            << " errors (through the daemon)\n";
  return errors == 0 && !failed ? kExitOk : kExitBadInput;
}

int erase_offline(const Context& ctx, const std::string& participant_id) {
  if (!keys_of_log_present(ctx)) return kExitBadInput;
  auto store = open_store(ctx);
  if (!store) return kExitBadInput;
  Result<std::string> key = load_or_create_key(ctx.key_path);
  if (!key) {
    std::cerr << "nudgectl: " << key.status().message() << "\n";
    return kExitBadInput;
  }
  // Only someone the log knows: an id mistyped would otherwise be "erased" and nobody would
  // notice (through the daemon the same is a 422).
  State state;
  if (Result<ReplayStats> known = replay(*store, state); !known) {
    std::cerr << "nudgectl: " << known.status().message() << "\n";
    return kExitBadInput;
  }
  if (state.participant(participant_id) == nullptr) {
    std::cerr << "nudgectl: no participant " << participant_id << " in the log\n";
    return kExitBadInput;
  }
  // participant.erased holds no personal value: nothing is sealed, no key store needed here.
  PlainSealer sealer;
  Intake intake(IntakeOptions{&sealer, *key, nullptr});
  Result<NewEvent> ev =
      intake.prepare(ParticipantErased{participant_id}, {}, R"({"source":"nudgectl"})");
  if (!ev) {
    std::cerr << "nudgectl: " << ev.status().to_string() << "\n";
    return kExitBadInput;
  }
  Batch batch;
  batch.push_back(std::move(*ev));
  auto r =
      store->append(batch, std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now()));
  if (!r) {
    std::cerr << "nudgectl: " << r.status().to_string() << "\n";
    return kExitBadInput;
  }
  // The event is durable: now destroy the keys (of everyone erased, which also repairs an
  // erasure whose key deletion was interrupted). State catches up from where it was.
  Result<ReplayStats> replayed = replay(*store, state);
  std::unique_ptr<KeyStore> keys = replayed ? open_keys(ctx, /*create=*/false) : nullptr;
  Result<ShredReport> shred =
      keys ? shred_erased(state, *keys) : Result<ShredReport>(Status::io("no key store"));
  if (!shred) {
    std::cerr << "nudgectl: participant " << participant_id
              << " is erased in the log, but its keys were not destroyed yet ("
              << (replayed ? shred.status().message() : replayed.status().message())
              << "); the daemon destroys them when it starts\n";
    return kExitBadInput;
  }
  std::cout << "participant " << participant_id << " erased\n";
  return kExitOk;
}

}  // namespace nudged::ctl
