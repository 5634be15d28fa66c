// The ingress benchmark (issue #5): durable registrations per second through the real daemon,
// against the same daemon's GET /healthz rate in the same run.
//
//   ingress_load --nudged PATH [--seconds N] [--connections C]
//
// Starts `nudged` on a temporary state directory (file channels in the same directory), waits
// for /readyz, then drives it from one libuv loop of our own with C keep-alive connections,
// each sending its next request as soon as the previous answer is complete:
//   1. GET /healthz for N seconds: the server's own ceiling (parse, route, answer);
//   2. POST /v1/registrations for N seconds, each signed and distinct (a new person each), so
//      each answer (202) means an event committed with fsync and read back into State.
// Requests are built and signed before the clock starts, so the client's own work is small.
// Prints both rates, the ratio, p50/p99 latency of the registrations, and the daemon's CPU time
// per request of each phase (from /proc, so comparable between runs on a busy machine). With
// BENCH_NO_CHANNEL=1 in the environment the daemon has no email channel, so confirmations are
// not rendered and sent: the ingress path alone.

#include <openssl/hmac.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kSecret = "bench-webhook-secret-0123456789";

std::string hex_hmac(const std::string& key, const std::string& msg) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out, &len);
  static const char* d = "0123456789abcdef";
  std::string h;
  for (unsigned i = 0; i < len; ++i) {
    h += d[out[i] >> 4];
    h += d[out[i] & 15];
  }
  return h;
}

std::string registration_request(int64_t n, int64_t t) {
  std::string body = R"({"session_id":"bench-session","participant":{"name":"Bench Person",)"
                     R"("email":"person)" +
                     std::to_string(n) +
                     R"(@example.org"},"channels":["email"],"sms_consent":false,)"
                     R"("accommodations":[]})";
  std::string sig =
      "t=" + std::to_string(t) + ",v1=" + hex_hmac(kSecret, std::to_string(t) + "." + body);
  return "POST /v1/registrations HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
         "Nudged-Signature: " +
         sig + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct Load;

struct Conn {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  Load* load = nullptr;
  std::string in;
  Clock::time_point sent;
  const std::string* request = nullptr;
};

struct Load {
  uv_loop_t* loop;
  std::vector<std::string> requests;  // one per request to send, in order
  size_t next = 0;
  bool cycle = false;  // reuse requests (healthz) rather than stop at the end
  Clock::time_point end;
  int64_t done = 0;
  int64_t failures = 0;
  std::vector<double> latency_ms;
  std::vector<Conn*> conns;
  int open = 0;
};

void send_next(Conn* c);

// One whole response in c->in: headers, then Content-Length bytes of body.
bool take_response(Conn* c, int* status) {
  size_t head_end = c->in.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  size_t cl = c->in.find("Content-Length: ");
  size_t body_len = cl != std::string::npos && cl < head_end
                        ? std::strtoul(c->in.c_str() + cl + 16, nullptr, 10)
                        : 0;
  if (c->in.size() < head_end + 4 + body_len) return false;
  *status = std::atoi(c->in.c_str() + 9);
  c->in.erase(0, head_end + 4 + body_len);
  return true;
}

void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  Conn* c = static_cast<Conn*>(s->data);
  if (nread < 0) {
    std::fprintf(stderr, "connection closed: %s\n", uv_strerror(static_cast<int>(nread)));
    uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
    --c->load->open;
    delete[] buf->base;
    return;
  }
  c->in.append(buf->base, static_cast<size_t>(nread));
  delete[] buf->base;
  int status = 0;
  while (take_response(c, &status)) {
    Load* l = c->load;
    ++l->done;
    if (status != 200 && status != 202) {
      if (l->failures++ < 3) std::fprintf(stderr, "status %d\n", status);
    }
    l->latency_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - c->sent).count());
    send_next(c);
  }
}

void send_next(Conn* c) {
  Load* l = c->load;
  if (Clock::now() >= l->end || (!l->cycle && l->next >= l->requests.size())) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
    if (--l->open == 0) uv_stop(l->loop);
    return;
  }
  c->request = &l->requests[l->cycle ? l->next++ % l->requests.size() : l->next++];
  c->sent = Clock::now();
  uv_buf_t b =
      uv_buf_init(const_cast<char*>(c->request->data()), static_cast<unsigned>(c->request->size()));
  uv_write(&c->write, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1, [](uv_write_t*, int status) {
    if (status != 0) std::fprintf(stderr, "write: %s\n", uv_strerror(status));
  });
}

void run_phase(Load& l, int port, int connections, double seconds) {
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", port, &addr);
  l.end = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  for (int i = 0; i < connections; ++i) {
    Conn* c = new Conn;
    c->load = &l;
    uv_tcp_init(l.loop, &c->tcp);
    uv_tcp_nodelay(&c->tcp, 1);
    c->tcp.data = c;
    c->connect.data = c;
    l.conns.push_back(c);
    ++l.open;
    uv_tcp_connect(&c->connect, &c->tcp, reinterpret_cast<sockaddr*>(&addr),
                   [](uv_connect_t* req, int status) {
                     Conn* conn = static_cast<Conn*>(req->data);
                     if (status != 0) {
                       // Not listening yet (the readiness probe retries): count it, go on.
                       ++conn->load->failures;
                       uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp), nullptr);
                       if (--conn->load->open == 0) uv_stop(conn->load->loop);
                       return;
                     }
                     uv_read_start(
                         reinterpret_cast<uv_stream_t*>(&conn->tcp),
                         [](uv_handle_t*, size_t, uv_buf_t* buf) {
                           *buf = uv_buf_init(new char[65536], 65536);
                         },
                         on_read);
                     send_next(conn);
                   });
  }
  uv_run(l.loop, UV_RUN_DEFAULT);
  for (Conn* c : l.conns) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->tcp)))
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), nullptr);
  }
  uv_run(l.loop, UV_RUN_DEFAULT);
  for (Conn* c : l.conns)
    delete c;
  l.conns.clear();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

bool http_ok(int port, const char* path) {
  Load l;
  l.loop = uv_default_loop();
  l.requests = {std::string("GET ") + path + " HTTP/1.1\r\nHost: bench\r\n\r\n"};
  run_phase(l, port, 1, 2.0);
  return l.done > 0 && l.failures == 0;
}

}  // namespace

// CPU time the daemon used (user + system), from /proc: the whole process and its loop thread
// (the main thread). A measure of work per request that does not depend on what else the
// machine runs, unlike a rate.
class CpuClock {
 public:
  struct Sample {
    double process = 0;
    double loop = 0;
    Sample operator-(const Sample& o) const { return {process - o.process, loop - o.loop}; }
  };
  explicit CpuClock(pid_t pid)
      : process_("/proc/" + std::to_string(pid) + "/stat"),
        loop_("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/stat") {}
  Sample sample() const { return {seconds(process_), seconds(loop_)}; }
  // Waits until the daemon is idle (under 2 ms of CPU in 100 ms, at most 10 s), then samples.
  Sample settle() const {
    Sample last = sample();
    for (int i = 0; i < 100; ++i) {
      usleep(100 * 1000);
      Sample now = sample();
      if (now.process - last.process < 0.002) return now;
      last = now;
    }
    return last;
  }

 private:
  // Fields 14 and 15 of stat (utime, stime), after the parenthesised command name.
  static double seconds(const std::string& path) {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t close = text.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream fields(text.substr(close + 2));
    std::string f;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
      if (i >= 14) ticks += std::stod(f);
    }
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  std::string process_;
  std::string loop_;
};

int main(int argc, char** argv) {
  std::string nudged;
  double seconds = 5;
  int connections = 64;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--nudged" && i + 1 < argc)
      nudged = argv[++i];
    else if (a == "--seconds" && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else if (a == "--connections" && i + 1 < argc)
      connections = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: ingress_load --nudged PATH [--seconds N] [--connections C]\n");
      return 2;
    }
  }
  if (nudged.empty()) {
    std::fprintf(stderr, "usage: ingress_load --nudged PATH [--seconds N] [--connections C]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  // A free port: bind 0, read it, let it go (the daemon binds it a moment later).
  int port;
  {
    uv_loop_t* loop = uv_default_loop();
    uv_tcp_t probe;
    uv_tcp_init(loop, &probe);
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&probe, reinterpret_cast<sockaddr*>(&addr), 0);
    sockaddr_in bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&probe, reinterpret_cast<sockaddr*>(&bound), &len);
    port = ntohs(bound.sin_port);
    uv_close(reinterpret_cast<uv_handle_t*>(&probe), nullptr);
    uv_run(loop, UV_RUN_DEFAULT);
  }
  char tmpl[] = "/tmp/nudged-ingress-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  {
    std::ofstream cfg(dir + "/nudged.toml");
    cfg << "[daemon]\nstate_dir = \"" << dir << "/state\"\nlisten = \"127.0.0.1:" << port
        << "\"\nadmin_socket = \"" << dir << "/admin.sock\"\nlog_level = \"warn\"\n"
        << "[webhooks]\nsecret = \"" << kSecret << "\"\nmax_body = 65536\n"
        << (std::getenv("BENCH_NO_CHANNEL")
                ? ""
                : "[channels.email]\nkind = \"file\"\ndir = \"" + dir + "/outbox\"\n");
  }
  pid_t pid = fork();
  if (pid == 0) {
    execl(nudged.c_str(), nudged.c_str(), "--config", (dir + "/nudged.toml").c_str(), nullptr);
    _exit(127);
  }
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    usleep(50 * 1000);
    ready = http_ok(port, "/readyz");
  }
  if (!ready) {
    std::fprintf(stderr, "nudged did not become ready\n");
    kill(pid, SIGKILL);
    return 1;
  }
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  // The session the registrations are for, through the same API.
  {
    std::string body =
        R"({"type":"session.scheduled","data":{"session_id":"bench-session","group":"general","title":"Bench","starts_at":"2031-01-01T19:00:00-05:00","time_zone":"America/New_York","duration_minutes":60,"join_url":"https://zoom.example/j/1","facilitators":[]}})";
    std::string sig =
        "t=" + std::to_string(now) + ",v1=" + hex_hmac(kSecret, std::to_string(now) + "." + body);
    Load l;
    l.loop = uv_default_loop();
    l.requests = {
        "POST /v1/events HTTP/1.1\r\nHost: bench\r\nContent-Type: "
        "application/json\r\nNudged-Signature: " +
        sig + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body};
    run_phase(l, port, 1, 5.0);
    if (l.failures != 0 || l.done != 1) {
      std::fprintf(stderr, "could not schedule the bench session\n");
      kill(pid, SIGKILL);
      return 1;
    }
  }

  CpuClock cpu(pid);
  CpuClock::Sample before_health = cpu.sample();
  Load health;
  health.loop = uv_default_loop();
  health.requests = {"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"};
  health.cycle = true;
  run_phase(health, port, connections, seconds);
  double health_rate = static_cast<double>(health.done) / seconds;
  CpuClock::Sample health_cpu = cpu.settle() - before_health;

  Load regs;
  regs.loop = uv_default_loop();
  // Enough for a rate far above the target; built before the clock starts.
  size_t count = static_cast<size_t>(std::max(60000.0, 60000.0 * seconds));
  regs.requests.reserve(count);
  for (size_t i = 0; i < count; ++i)
    regs.requests.push_back(registration_request(static_cast<int64_t>(i), now));
  CpuClock::Sample before_regs = cpu.sample();
  auto start = Clock::now();
  run_phase(regs, port, connections, seconds);
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  double reg_rate = static_cast<double>(regs.done - regs.failures) / std::min(took, seconds);
  // Including what the daemon still does after the last answer (sending confirmations).
  CpuClock::Sample regs_cpu = cpu.settle() - before_regs;

  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  std::filesystem::remove_all(dir);

  std::printf("connections                 %d\n", connections);
  std::printf("GET /healthz                %.0f requests/s\n", health_rate);
  std::printf(
      "POST /v1/registrations      %.0f durable registrations/s (%lld answered, %lld not 202)\n",
      reg_rate, static_cast<long long>(regs.done), static_cast<long long>(regs.failures));
  std::printf("latency p50 / p99           %.2f / %.2f ms\n", percentile(regs.latency_ms, 0.5),
              percentile(regs.latency_ms, 0.99));
  std::printf("ratio registrations/healthz %.2f (target >= 0.5; registrations target >= 25000/s)\n",
              health_rate > 0 ? reg_rate / health_rate : 0.0);
  auto per = [](double seconds_cpu, int64_t n) { return n > 0 ? seconds_cpu * 1e6 / n : 0.0; };
  std::printf("daemon CPU per /healthz     %.1f us (loop thread %.1f us)\n",
              per(health_cpu.process, health.done), per(health_cpu.loop, health.done));
  std::printf("daemon CPU per registration %.1f us (loop thread %.1f us)\n",
              per(regs_cpu.process, regs.done), per(regs_cpu.loop, regs.done));
  bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!clean_exit) std::fprintf(stderr, "nudged did not exit cleanly\n");
  return regs.failures == 0 && clean_exit ? 0 : 1;
}
