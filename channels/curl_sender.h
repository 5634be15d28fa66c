// CurlJob and CurlSender: what the curl-based adapters (smtp, twilio, webhook) share, so each
// adapter is only "build the request" and "read the answer".
//
// A CurlJob is one prepared transfer: the easy handle and everything it points into (request
// body, header list, MIME tree), plus what came back (status, a bounded body, Retry-After).
// A CurlSender belongs to one channel and keeps that channel's jobs in flight on its
// CurlDriver: it gives Channel::send its contract (every `done` once, on the loop, never from
// inside send(); after close() none at all).
//
// Loop thread only.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "channels/channel.h"
#include "channels/curl_multi.h"

namespace nudged {

// Settings every curl channel understands: `timeout` (whole transfer, default 30s),
// `ca_file` (trust this CA bundle or certificate instead of the system's).
struct CurlSettings {
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds connect_timeout{10'000};
  std::string ca_file;
};

// A header list for use_shared_headers(): built once, freed when the last job lets go.
std::shared_ptr<curl_slist> shared_header_list(std::initializer_list<const char*> lines);

// Reads `timeout` and `ca_file` from a channel's settings. Fails on a timeout that is not an
// exact duration ("20s", "2m").
Result<CurlSettings> curl_settings(const ChannelConfig& config);

class CurlJob {
 public:
  explicit CurlJob(const CurlSettings& settings);
  virtual ~CurlJob();
  CurlJob(const CurlJob&) = delete;
  CurlJob& operator=(const CurlJob&) = delete;

  CURL* easy() const { return easy_; }
  bool ok() const { return easy_ != nullptr; }

  // After the transfer: curl's result and the response, as the channel's outcome.
  virtual SendResult result(CURLcode code) = 0;

  // Adds a request header line ("Name: value"); kept alive here until the job ends.
  void add_header(const std::string& line);
  // Installs the header list on the handle (call after the last add_header).
  void use_headers(CURLoption option = CURLOPT_HTTPHEADER);
  // Installs a list shared by every job of a channel (headers that never change), kept alive
  // by this job until it ends.
  void use_shared_headers(std::shared_ptr<curl_slist> headers);

  long response_code() const;
  const std::string& response_body() const { return response_; }
  // The answer's Retry-After as a wait from now, when it had a usable one.
  std::optional<std::chrono::seconds> retry_after() const;

 protected:
  CURL* easy_ = nullptr;

 private:
  static size_t on_body(char* data, size_t size, size_t count, void* self);
  static size_t on_header(char* data, size_t size, size_t count, void* self);

  curl_slist* headers_ = nullptr;
  std::shared_ptr<curl_slist> shared_headers_;
  std::string response_;
  std::string retry_after_;  // the raw header value of the last response
};

// "Retry-After: 120" or an HTTP date, as a wait from `now` (never negative). nullopt when it is
// neither.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, time_t now);

// For a provider's HTTP answer: 2xx sent, 429 and 5xx transient (Retry-After honoured), other
// 4xx permanent, no answer at all (connection, TLS, timeout) transient.
enum class HttpClass { kSent, kTransient, kPermanent };
HttpClass classify_http(CURLcode code, long status);

// Where a channel's transfers run:
//  - loop_driver(): on the daemon's loop itself through its CurlMulti (channels/curl_multi.h),
//    for HTTP (twilio, webhook);
//  - CurlThread (channels/curl_thread.h): on a thread with a multi handle of its own, for SMTP,
//    because libcurl waits for the reply to the end of DATA with a blocking wait (smtp_done ->
//    smtp_block_statemach, even under the multi interface): on the daemon's loop a slow or
//    hung mail server would stall everything for up to the timeout.
// `finished` always runs on the daemon's loop, never inside start(); after cancel() it does not
// run. The job stays alive (shared) until both sides are done with it.
class CurlDriver {
 public:
  using Finished = std::function<void(CURLcode)>;
  virtual ~CurlDriver() = default;
  virtual bool start(std::shared_ptr<CurlJob> job, Finished finished) = 0;
  virtual void cancel(CurlJob* job) = 0;
  virtual void defer(std::function<void()> fn) = 0;  // on the daemon's loop, a later turn
};

// The driver running transfers on `loop` itself (its CurlMulti::for_loop). nullptr if curl
// cannot be set up.
std::shared_ptr<CurlDriver> loop_driver(uv_loop_t* loop);

class CurlSender {
 public:
  explicit CurlSender(std::shared_ptr<CurlDriver> driver);
  ~CurlSender();
  CurlSender(const CurlSender&) = delete;
  CurlSender& operator=(const CurlSender&) = delete;

  // Starts the job; `done` gets job->result(code) later. A job curl refuses fails as transient,
  // on a later loop turn. After close(), refused: `done` is dropped, never called.
  void send(std::unique_ptr<CurlJob> job, Channel::Done done);
  // Delivers a result known at once (a number that is not a number) on a later loop turn.
  void fail_later(SendResult result, Channel::Done done);
  // Cancels what is in flight, telling each `done` (transient), delivers the results waiting to
  // be delivered, and lets go of the driver. Afterwards no `done` runs.
  void close();
  bool closed() const;
  size_t in_flight() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace nudged
