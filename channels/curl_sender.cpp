#include "channels/curl_sender.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <utility>
#include <vector>

#include "events/policy.h"

namespace nudged {
namespace {

constexpr size_t kMaxResponse = 64 * 1024;  // providers answer in a few hundred bytes

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

}  // namespace

Result<CurlSettings> curl_settings(const ChannelConfig& config) {
  CurlSettings out;
  if (auto it = config.settings.find("timeout"); it != config.settings.end()) {
    Result<std::chrono::seconds> t = parse_exact_duration(it->second);
    if (!t) return Status::invalid("timeout", t.status().message());
    if (t->count() <= 0) return Status::invalid("timeout", "must be more than 0s");
    out.timeout = *t;
    out.connect_timeout = std::min(out.connect_timeout, out.timeout);
  }
  if (auto it = config.settings.find("ca_file"); it != config.settings.end()) {
    out.ca_file = it->second;
  }
  return out;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, time_t now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return std::chrono::seconds(999'999'999);
    return std::chrono::seconds(std::stol(std::string(value)));
  }
  // curl_getdate is a pure parser (no network, no curl state): safe anywhere.
  time_t when = curl_getdate(std::string(value).c_str(), nullptr);
  if (when < 0) return std::nullopt;
  return std::chrono::seconds(std::max<time_t>(0, when - now));
}

HttpClass classify_http(CURLcode code, long status) {
  if (code != CURLE_OK || status == 0) return HttpClass::kTransient;
  if (status >= 200 && status < 300) return HttpClass::kSent;
  if (status == 429 || status >= 500) return HttpClass::kTransient;
  if (status == 408) return HttpClass::kTransient;  // the server timed us out: try again
  return HttpClass::kPermanent;
}

CurlJob::CurlJob(const CurlSettings& settings) {
  easy_ = curl_easy_init();
  if (easy_ == nullptr) return;
  curl_easy_setopt(easy_, CURLOPT_PRIVATE, this);
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM: the resolver is threaded anyway
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &CurlJob::on_body);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &CurlJob::on_header);
  curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(settings.timeout.count()));
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(settings.connect_timeout.count()));
  // Providers are reached by configured URLs; never follow a redirect elsewhere with our
  // credentials, and speak only the protocols we mean to.
  curl_easy_setopt(easy_, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");
  curl_easy_setopt(easy_, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!settings.ca_file.empty()) curl_easy_setopt(easy_, CURLOPT_CAINFO, settings.ca_file.c_str());
}

CurlJob::~CurlJob() {
  if (easy_ != nullptr) curl_easy_cleanup(easy_);
  curl_slist_free_all(headers_);
  // shared_headers_ goes after the handle that pointed at it.
}

void CurlJob::add_header(const std::string& line) {
  curl_slist* next = curl_slist_append(headers_, line.c_str());
  if (next != nullptr) headers_ = next;
}

void CurlJob::use_headers(CURLoption option) {
  curl_easy_setopt(easy_, option, headers_);
}

void CurlJob::use_shared_headers(std::shared_ptr<curl_slist> headers) {
  shared_headers_ = std::move(headers);
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, shared_headers_.get());
}

std::shared_ptr<curl_slist> shared_header_list(std::initializer_list<const char*> lines) {
  curl_slist* list = nullptr;
  for (const char* line : lines) {
    curl_slist* next = curl_slist_append(list, line);
    if (next != nullptr) list = next;
  }
  return std::shared_ptr<curl_slist>(list, curl_slist_free_all);
}

std::optional<std::chrono::seconds> CurlJob::retry_after() const {
  if (retry_after_.empty()) return std::nullopt;
  return parse_retry_after(retry_after_, std::time(nullptr));
}

long CurlJob::response_code() const {
  long code = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

size_t CurlJob::on_body(char* data, size_t size, size_t count, void* self) {
  auto* job = static_cast<CurlJob*>(self);
  size_t n = size * count;
  size_t room = kMaxResponse - std::min(kMaxResponse, job->response_.size());
  job->response_.append(data, std::min(n, room));
  return n;  // the rest is read and dropped, not an error
}

size_t CurlJob::on_header(char* data, size_t size, size_t count, void* self) {
  auto* job = static_cast<CurlJob*>(self);
  std::string_view line(data, size * count);
  // Only kept here: parsed in retry_after(), outside curl's callback (curl_getdate is curl too).
  if (iequals_prefix(line, "HTTP/")) job->retry_after_.clear();  // a new response begins
  if (iequals_prefix(line, "retry-after:")) job->retry_after_ = std::string(line.substr(12));
  return size * count;
}

// --- the loop driver ----------------------------------------------------------------------------

namespace {

class LoopDriver final : public CurlDriver {
 public:
  explicit LoopDriver(std::shared_ptr<CurlMulti> multi) : multi_(std::move(multi)) {}
  ~LoopDriver() override {
    for (auto& [easy, job] : jobs_)
      multi_->cancel(easy);
  }
  bool start(std::shared_ptr<CurlJob> job, Finished finished) override {
    CURL* easy = job->easy();
    // Only our own map is touched here when curl reports back: the job stays alive until then.
    bool ok = multi_->start(easy, [this, easy, finished = std::move(finished)](CURLcode code) {
      jobs_.erase(easy);
      finished(code);
    });
    if (ok) jobs_[easy] = std::move(job);
    return ok;
  }
  void cancel(CurlJob* job) override {
    multi_->cancel(job->easy());
    jobs_.erase(job->easy());
  }
  void defer(std::function<void()> fn) override { multi_->defer(std::move(fn)); }

 private:
  std::shared_ptr<CurlMulti> multi_;
  std::map<CURL*, std::shared_ptr<CurlJob>> jobs_;
};

}  // namespace

std::shared_ptr<CurlDriver> loop_driver(uv_loop_t* loop) {
  std::shared_ptr<CurlMulti> multi = CurlMulti::for_loop(loop);
  if (!multi) return nullptr;
  return std::make_shared<LoopDriver>(std::move(multi));
}

// --- CurlSender --------------------------------------------------------------------------------

struct CurlSender::State {
  struct Entry {
    std::shared_ptr<CurlJob> job;  // null for a result delivered later
    Channel::Done done;
    std::optional<SendResult> result;
  };
  std::shared_ptr<CurlDriver> driver;
  std::map<uint64_t, Entry> entries;
  uint64_t next_id = 0;
  bool closed = false;

  // Removes the entry and calls its done. A missing entry was closed or already delivered.
  static void deliver(const std::weak_ptr<State>& weak, uint64_t id,
                      const std::function<SendResult(Entry&)>& outcome) {
    std::shared_ptr<State> state = weak.lock();
    if (!state) return;
    auto it = state->entries.find(id);
    if (it == state->entries.end()) return;
    Entry entry = std::move(it->second);
    state->entries.erase(it);
    SendResult r = outcome(entry);
    entry.job.reset();  // the easy handle goes before done runs: no handle outlives its send
    if (entry.done) entry.done(std::move(r));
  }
};

CurlSender::CurlSender(std::shared_ptr<CurlDriver> driver) : state_(std::make_shared<State>()) {
  state_->driver = std::move(driver);
}

CurlSender::~CurlSender() {
  close();
}

void CurlSender::send(std::unique_ptr<CurlJob> job, Channel::Done done) {
  if (state_->closed) return;
  if (!job || !job->ok()) {
    return fail_later(SendResult::transient("cannot set up a curl transfer"), std::move(done));
  }
  uint64_t id = state_->next_id++;
  std::shared_ptr<CurlJob> shared(std::move(job));
  state_->entries[id] = State::Entry{shared, std::move(done), std::nullopt};
  std::weak_ptr<State> weak = state_;
  bool started = state_->driver->start(shared, [weak, id](CURLcode code) {
    State::deliver(weak, id, [code](State::Entry& e) { return e.job->result(code); });
  });
  if (!started) {
    State::Entry& e = state_->entries[id];
    e.job.reset();
    e.result = SendResult::transient("curl refused the transfer");
    state_->driver->defer(
        [weak, id] { State::deliver(weak, id, [](State::Entry& e) { return *e.result; }); });
  }
}

void CurlSender::fail_later(SendResult result, Channel::Done done) {
  if (state_->closed) return;
  uint64_t id = state_->next_id++;
  state_->entries[id] = State::Entry{nullptr, std::move(done), std::move(result)};
  std::weak_ptr<State> weak = state_;
  state_->driver->defer(
      [weak, id] { State::deliver(weak, id, [](State::Entry& e) { return *e.result; }); });
}

void CurlSender::close() {
  if (state_->closed) return;
  state_->closed = true;
  std::map<uint64_t, State::Entry> entries;
  entries.swap(state_->entries);
  std::vector<std::pair<Channel::Done, SendResult>> calls;
  for (auto& [id, e] : entries) {
    if (e.job) {
      state_->driver->cancel(e.job.get());
      e.job.reset();
      calls.emplace_back(std::move(e.done), SendResult::transient("channel closed while sending"));
    } else {
      calls.emplace_back(std::move(e.done), std::move(*e.result));
    }
  }
  // Letting go may end the loop's curl driver (the last curl channel): its handles close now
  // and are freed by the loop.
  state_->driver.reset();
  for (auto& [done, result] : calls) {
    if (done) done(std::move(result));
  }
}

bool CurlSender::closed() const {
  return state_->closed;
}

size_t CurlSender::in_flight() const {
  return state_->entries.size();
}

}  // namespace nudged
