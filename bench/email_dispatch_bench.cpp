// Email dispatch throughput: messages/s through the smtp channel (the daemon's path: the message
// built with curl's MIME API on the daemon's loop, transfers on the channel's curl thread,
// connections reused) against a bare libcurl multi loop (curl_multi_perform + curl_multi_poll)
// sending the same message, also built with curl's MIME API (multipart/mixed > alternative of
// text, HTML, calendar, the same headers), to the same loopback SMTP sink, in the same run, with
// the same number in flight. Prints both rates, their ratio, how many connections the sink saw
// (connection reuse: one per transfer slot, not per message) and the bytes of each message the
// sink received.
//
//   email_dispatch_bench [--messages 20000] [--concurrency 4] [--rounds 7] [--check] [--only 1|2]
//
// Rounds alternate the order of the two sides (bench/paired_rounds.h). --check exits 1 when the
// issue's target is missed. --only 1 runs just the bare loop, --only 2 just the channel: for
// profiling one side (no ratio).
#include <curl/curl.h>
#include <uv.h>

#include <cstdio>
#include <memory>
#include <string>

#include "bench/bench_args.h"
#include "bench/paired_rounds.h"
#include "bench/sink.h"
#include "channels/channel.h"

namespace nudged::bench {
namespace {

struct Run {
  double seconds = 0;
  long ok = 0;
};

Message message() {
  Message m;
  m.notification_id = "registration.confirmation:r1:email:20270112T000000Z:r1";
  m.kind = "registration.confirmation";
  m.channel = "email";
  m.to = "riley@example.org";
  m.subject = "You're registered: Peer support on Tuesday, January 12, 7:00 PM EST";
  m.text = std::string(
      "Hi Riley,\n\nYou're registered for Peer support on Tuesday, January 12, 7:00 PM EST.\n"
      "Join: https://zoom.example.org/j/1\n\nTo stop these emails: "
      "https://reminders.example.org/v1/unsubscribe?token=p-1.2\n");
  m.html = "<!doctype html><html lang=\"en\"><head><title>Registered</title></head><body><p>" +
           m.text + "</p></body></html>";
  m.headers = {{"List-Unsubscribe", "<https://reminders.example.org/v1/unsubscribe?token=p-1.2>"},
               {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}};
  m.message_id_token = "0123456789abcdef0123456789abcdef";  // as compose makes it: 32 hex digits
  m.calendar = CalendarPart{
      "REQUEST",
      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:s1.r1@example.org"
      "\r\nSEQUENCE:1\r\nDTSTART:20270113T000000Z\r\nDTEND:20270113T010000Z\r\nSUMMARY:Peer "
      "support\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"};
  return m;
}

Run through_channel(int port, long messages, long concurrency) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  ChannelConfig config{"email",
                       "smtp",
                       {{"url", "smtp://127.0.0.1:" + std::to_string(port)},
                        {"from", "Peer Support <meetings@example.org>"},
                        {"tls", "none"}}};
  auto made = ChannelRegistry::instance().create(config, ChannelEnv{&loop});
  if (!made) {
    std::fprintf(stderr, "%s\n", made.status().to_string().c_str());
    std::exit(1);
  }
  std::unique_ptr<Channel> channel = std::move(*made);
  const Message m = message();
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

struct BareMail {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* rcpt = nullptr;
  curl_mime* mime = nullptr;
  ~BareMail() {
    curl_easy_cleanup(easy);
    curl_mime_free(mime);
    curl_slist_free_all(headers);
    curl_slist_free_all(rcpt);
  }
};

void add_part(curl_mime* mime, const char* type, const std::string& data, const char* encoder) {
  curl_mimepart* p = curl_mime_addpart(mime);
  curl_mime_data(p, data.data(), data.size());
  curl_mime_type(p, type);
  curl_mime_encoder(p, encoder);
}

// The same message as the channel sends (headers, multipart/mixed > alternative > 3 parts).
BareMail* bare_mail(const std::string& url, const Message& m, const std::string& text_crlf,
                    const std::string& html_crlf) {
  auto* b = new BareMail{};
  b->easy = curl_easy_init();
  curl_easy_setopt(b->easy, CURLOPT_PRIVATE, b);
  curl_easy_setopt(b->easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(b->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(b->easy, CURLOPT_MAIL_FROM, "<meetings@example.org>");
  b->rcpt = curl_slist_append(nullptr, "<riley@example.org>");
  curl_easy_setopt(b->easy, CURLOPT_MAIL_RCPT, b->rcpt);
  for (const char* h :
       {"Date: Tue, 12 Jan 2027 00:00:00 +0000", "From: Peer Support <meetings@example.org>",
        "To: <riley@example.org>",
        "Subject: You're registered: Peer support on Tuesday, January 12, 7:00 PM EST",
        "Message-ID: <0123456789abcdef0123456789abcdef@example.org>",
        "List-Unsubscribe: <https://reminders.example.org/v1/unsubscribe?token=p-1.2>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click"}) {
    b->headers = curl_slist_append(b->headers, h);
  }
  curl_easy_setopt(b->easy, CURLOPT_HTTPHEADER, b->headers);
  b->mime = curl_mime_init(b->easy);
  curl_mime* alt = curl_mime_init(b->easy);
  add_part(alt, "text/plain; charset=utf-8", text_crlf, "quoted-printable");
  add_part(alt, "text/html; charset=utf-8", html_crlf, "quoted-printable");
  add_part(alt, "text/calendar; charset=utf-8; method=REQUEST", m.calendar->ics, "base64");
  curl_mimepart* holder = curl_mime_addpart(b->mime);
  curl_mime_subparts(holder, alt);
  curl_mime_type(holder, "multipart/alternative");
  curl_easy_setopt(b->easy, CURLOPT_MIMEPOST, b->mime);
  return b;
}

std::string crlf(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

Run bare_curl(int port, long messages, long concurrency) {
  const std::string url = "smtp://127.0.0.1:" + std::to_string(port);
  const Message m = message();
  const std::string text = crlf(m.text), html = crlf(m.html);
  CURLM* multi = curl_multi_init();
  long started = 0, finished = 0;
  Run run;
  auto add = [&] {
    curl_multi_add_handle(multi, bare_mail(url, m, text, html)->easy);
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
      if (msg->data.result == CURLE_OK) ++run.ok;
      BareMail* b = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &b);
      curl_multi_remove_handle(multi, msg->easy_handle);
      delete b;
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
  const long messages = arg(argc, argv, "--messages", 20000);
  const long concurrency = arg(argc, argv, "--concurrency", 4);
  const long rounds = std::max(1L, arg(argc, argv, "--rounds", 7));
  const long only = arg(argc, argv, "--only", 0);
  const bool check = flag(argc, argv, "--check");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  uint64_t channel_connections = 0, bare_connections = 0;
  uint64_t channel_bytes = 0, bare_bytes = 0;  // per message, as the sink received it
  // One side against a fresh sink; remembers what the sink saw.
  auto against_sink = [&](auto send, uint64_t& connections, uint64_t& bytes) {
    Sink sink(Sink::Kind::kSmtp);
    Run run = send(sink.port(), messages, concurrency);
    connections = sink.connections();
    bytes = sink.data_bytes() / messages;
    return run;
  };
  auto run_bare = [&] { return against_sink(bare_curl, bare_connections, bare_bytes); };
  auto run_channel = [&] {
    return against_sink(through_channel, channel_connections, channel_bytes);
  };
  if (only != 0) {
    for (long r = 0; r < rounds; ++r) {
      Run run = only == 1 ? run_bare() : run_channel();
      std::printf("  round %ld: %.0f messages/s (%ld of %ld accepted)\n", r + 1,
                  messages / run.seconds, run.ok, messages);
      if (run.ok != messages) return 1;
    }
    return 0;
  }
  std::printf(
      "email dispatch: %ld messages, %ld in flight, %ld rounds (smtp channel / bare curl)\n",
      messages, concurrency, rounds);
  PairedRounds paired;
  if (!paired.run(rounds, messages, run_channel, run_bare)) return 1;
  std::printf(
      "  smtp channel   : %10.0f messages/s (best round; %llu connections, %llu bytes a "
      "message)\n",
      paired.best_side(), static_cast<unsigned long long>(channel_connections),
      static_cast<unsigned long long>(channel_bytes));
  std::printf(
      "  bare curl multi: %10.0f messages/s (best round; %llu connections, %llu bytes a "
      "message)\n",
      paired.best_baseline(), static_cast<unsigned long long>(bare_connections),
      static_cast<unsigned long long>(bare_bytes));
  std::printf("  ratio          : %10.2f (best / best)\n",
              paired.best_side() / paired.best_baseline());
  std::printf("  ratio          : %10.2f (median of the rounds)\n", paired.median_ratio());
  if (check) {
    bool met = paired.median_ratio() >= 0.9;
    std::printf("  target (median ratio >= 0.9): %s\n", met ? "met" : "MISSED");
    if (!met) return 1;
  }
  return 0;
}
