// SMS dispatch throughput: messages/s through the twilio channel (the daemon's path: number
// normalised, body fitted, form built, curl multi driven by libuv, JSON answer read) against a
// bare libcurl multi loop (curl_multi_poll, no libuv) posting the same requests to the same
// loopback sink, in the same run, with the same number in flight. Both make a fresh easy handle
// per message, set the same timeouts and reuse connections. Prints both rates and their ratio.
//
//   sms_dispatch_bench [--messages 100000] [--concurrency 16] [--rounds 7] [--check]
//                      [--only 1|2|3]
//
// Rounds alternate the order of the two sides (bench/paired_rounds.h). --check exits 1 when the
// issue's targets are missed. --only runs one side alone, for profiling: 1 the bare loop, 2 the
// channel, 3 the bare loop's own requests through CurlMulti on a libuv loop (what driving curl
// from libuv costs, without the channel's work).
#include <curl/curl.h>
#include <uv.h>

#include <cstdio>
#include <memory>
#include <string>

#include "bench/bench_args.h"
#include "bench/paired_rounds.h"
#include "bench/sink.h"
#include "channels/channel.h"
#include "channels/curl_multi.h"

namespace nudged::bench {
namespace {

const char* kSid = "ACbench0000000000000000000000000000";
const char* kText =
    "Reminder: Peer support starts today at 7:00 PM EST. Join: https://zoom.example.org/j/1 "
    "Reply STOP to opt out.";

struct Run {
  double seconds = 0;
  long ok = 0;
};

size_t discard(char*, size_t size, size_t count, void*) {
  return size * count;
}

Run through_channel(int port, long messages, long concurrency) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  ChannelConfig config{"sms",
                       "twilio",
                       {{"api_base", "http://127.0.0.1:" + std::to_string(port)},
                        {"account_sid", kSid},
                        {"auth_token", "token"},
                        {"from", "+15005550006"}}};
  auto made = ChannelRegistry::instance().create(config, ChannelEnv{&loop});
  if (!made) {
    std::fprintf(stderr, "%s\n", made.status().to_string().c_str());
    std::exit(1);
  }
  std::unique_ptr<Channel> channel = std::move(*made);
  Message m;
  m.notification_id = "session.reminder:r1:sms:20270112T000000Z:r1";
  m.kind = "session.reminder";
  m.channel = "sms";
  m.to = "+14155550142";
  m.text = kText;

  long started = 0, finished = 0, in_flight = 0;
  Run run;
  std::function<void()> pump = [&] {
    while (in_flight < concurrency && started < messages) {
      ++started;
      ++in_flight;
      channel->send(m, [&](SendResult r) {
        --in_flight;
        ++finished;
        if (r.kind == SendResult::Kind::kSent) ++run.ok;
        if (finished == messages) {
          uv_stop(&loop);
        } else {
          pump();
        }
      });
    }
  };
  auto t0 = std::chrono::steady_clock::now();
  pump();
  uv_run(&loop, UV_RUN_DEFAULT);
  run.seconds = seconds_since(t0);
  channel->close();
  channel.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return run;
}

// The bare loop's request, exactly as the channel sends it: the same URL, form, headers,
// credentials and timeouts, on a fresh easy handle per message.
struct BareRequest {
  std::string url;
  std::string form;
  curl_slist* headers = nullptr;
  explicit BareRequest(int port) {
    url = "http://127.0.0.1:" + std::to_string(port) + "/2010-04-01/Accounts/" + kSid +
          "/Messages.json";
    char* body = curl_easy_escape(nullptr, kText, 0);
    form = std::string("To=%2B14155550142&From=%2B15005550006&Body=") + body;
    curl_free(body);
    headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");
  }
  ~BareRequest() { curl_slist_free_all(headers); }
  BareRequest(const BareRequest&) = delete;
  BareRequest& operator=(const BareRequest&) = delete;

  CURL* easy() const {
    CURL* e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);  // as the channel: a bound on every send
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(e, CURLOPT_USERNAME, kSid);
    curl_easy_setopt(e, CURLOPT_PASSWORD, "token");
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, form.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(form.size()));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    return e;
  }
};

// --only 3: the bare requests through CurlMulti on a libuv loop, without the channel.
Run multi_on_uv(int port, long messages, long concurrency) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  Run run;
  {
    auto multi = std::make_shared<CurlMulti>(&loop);
    const BareRequest request(port);
    long started = 0, finished = 0;
    std::function<void()> add = [&] {
      CURL* e = request.easy();
      ++started;
      bool ok = multi->start(e, [&, e](CURLcode code) {
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (code == CURLE_OK && status == 201) ++run.ok;
        curl_easy_cleanup(e);
        ++finished;
        if (finished == messages) {
          uv_stop(&loop);
        } else if (started < messages) {
          add();
        }
      });
      if (!ok) {  // counted as done, not accepted
        curl_easy_cleanup(e);
        if (++finished == messages) uv_stop(&loop);
      }
    };
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < concurrency && started < messages; ++i)
      add();
    uv_run(&loop, UV_RUN_DEFAULT);
    run.seconds = seconds_since(t0);
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // the multi's handles close
  uv_loop_close(&loop);
  return run;
}

Run bare_curl(int port, long messages, long concurrency) {
  const BareRequest request(port);
  CURLM* multi = curl_multi_init();
  long started = 0, finished = 0;
  Run run;
  auto add = [&] {
    curl_multi_add_handle(multi, request.easy());
    ++started;
  };
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < concurrency && started < messages; ++i)
    add();
  while (finished < messages) {
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      if (msg->data.result == CURLE_OK && status == 201) ++run.ok;
      curl_multi_remove_handle(multi, msg->easy_handle);
      curl_easy_cleanup(msg->easy_handle);
      ++finished;
      if (started < messages) add();
    }
    if (finished < messages) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  run.seconds = seconds_since(t0);
  curl_multi_cleanup(multi);
  return run;
}

}  // namespace
}  // namespace nudged::bench

int main(int argc, char** argv) {
  using namespace nudged::bench;
  const long messages = arg(argc, argv, "--messages", 100000);
  const long concurrency = arg(argc, argv, "--concurrency", 16);
  const long rounds = std::max(1L, arg(argc, argv, "--rounds", 7));
  const long only = arg(argc, argv, "--only", 0);
  const bool check = flag(argc, argv, "--check");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Sink sink(Sink::Kind::kHttp);
  if (only != 0) {
    for (long r = 0; r < rounds; ++r) {
      Run run = only == 1   ? bare_curl(sink.port(), messages, concurrency)
                : only == 2 ? through_channel(sink.port(), messages, concurrency)
                            : multi_on_uv(sink.port(), messages, concurrency);
      std::printf("  round %ld: %.0f messages/s (%ld of %ld accepted)\n", r + 1,
                  messages / run.seconds, run.ok, messages);
      if (run.ok != messages) return 1;
    }
    return 0;
  }
  std::printf(
      "sms dispatch: %ld messages, %ld in flight, %ld rounds (twilio channel / bare curl)\n",
      messages, concurrency, rounds);
  PairedRounds paired;
  if (!paired.run(
          rounds, messages, [&] { return through_channel(sink.port(), messages, concurrency); },
          [&] { return bare_curl(sink.port(), messages, concurrency); })) {
    return 1;
  }
  std::printf("  twilio channel : %10.0f messages/s (best round)\n", paired.best_side());
  std::printf("  bare curl multi: %10.0f messages/s (best round)\n", paired.best_baseline());
  std::printf("  ratio          : %10.2f (best / best)\n",
              paired.best_side() / paired.best_baseline());
  std::printf("  ratio          : %10.2f (median of the rounds)\n", paired.median_ratio());
  std::printf("  sink connections: %llu\n", static_cast<unsigned long long>(sink.connections()));
  if (check) {
    bool met = paired.best_side() >= 10000 && paired.median_ratio() >= 0.9;
    std::printf("  targets (>= 10,000/s, median ratio >= 0.9): %s\n", met ? "met" : "MISSED");
    if (!met) return 1;
  }
  return 0;
}
