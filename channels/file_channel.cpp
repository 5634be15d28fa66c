// The "file" channel: writes each message to `<dir>/<notification id>.eml` (email) or `.txt`
// (anything else), for demos, dry runs and tests. Settings: `dir` (created 0700 when missing).
//
// An .eml is a MIME message a mail client can open (multipart/alternative: text, HTML,
// calendar); headers carry raw UTF-8 (RFC 6532) so the file also reads well in a terminal.
// Writes are atomic (temp file, fsync, rename over the final name) so a reader never sees half
// a message, and a second send of the same id overwrites: delivery is at-least-once.
//
// All I/O runs on libuv's thread pool, one job per message; its completion, and so every `done`,
// runs on the loop thread. The directory entry is not fsynced: a crash right after a
// send may lose the file, acceptable for a channel meant for demos.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "channels/channel.h"

namespace nudged {
namespace {

constexpr size_t kMaxNameBytes = 150;

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Notification ids are ours, but a file name must never climb out of `dir` or hide: keep
// [A-Za-z0-9._-], no leading dot, bounded length. When that changed anything, a hash of the
// original keeps two different ids from landing on one file.
std::string file_stem(const std::string& id) {
  std::string out;
  for (char c : id.substr(0, kMaxNameBytes)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    out.push_back(ok ? c : '_');
  }
  if (!out.empty() && out[0] == '.') out[0] = '_';
  if (out != id) out += (out.empty() ? "" : "-") + hex64(fnv1a(id));
  return out;
}

// A header value on one line: a CR or LF in it would start a header of the value's choosing.
std::string header_value(std::string_view v) {
  std::string out;
  for (char c : v)
    out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  return out;
}

bool is_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (c <= 0x20 || c >= 0x7f || c == ':') return false;
  }
  return true;
}

bool is_email(const Message& m) {
  return !m.subject.empty() || !m.html.empty() || m.calendar.has_value();
}

void append_part(std::string& out, const std::string& boundary, const std::string& type,
                 const std::string& body) {
  out += "--" + boundary + "\n";
  out += "Content-Type: " + type + "\n";
  out += "Content-Transfer-Encoding: 8bit\n\n";
  out += body;
  if (body.empty() || body.back() != '\n') out += "\n";
}

std::string file_content(const Message& m) {
  std::string out;
  out += "To: " + header_value(m.to) + "\n";
  if (!m.subject.empty()) out += "Subject: " + header_value(m.subject) + "\n";
  out += "Channel: " + header_value(m.channel) + "\n";
  out += "Kind: " + header_value(m.kind) + "\n";
  out += "Notification-Id: " + header_value(m.notification_id) + "\n";
  for (const auto& [name, value] : m.headers) {
    if (is_header_name(name)) out += name + ": " + header_value(value) + "\n";
  }
  if (!is_email(m)) {
    out += "\n" + m.text;
    if (m.text.empty() || m.text.back() != '\n') out += "\n";
    return out;
  }
  out += "MIME-Version: 1.0\n";
  if (m.html.empty() && !m.calendar) {
    out += "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n";
    out += m.text;
    if (m.text.empty() || m.text.back() != '\n') out += "\n";
    return out;
  }
  // The boundary must occur in no part; our parts are text, so a counter settles it quickly.
  std::string boundary = "nudged-" + hex64(fnv1a(m.notification_id));
  for (int n = 0;; ++n) {
    std::string candidate = boundary + (n == 0 ? "" : "-" + std::to_string(n));
    auto in = [&candidate](const std::string& s) { return s.find(candidate) != s.npos; };
    if (!in(m.text) && !in(m.html) && !(m.calendar && in(m.calendar->ics))) {
      boundary = candidate;
      break;
    }
  }
  // multipart/alternative with the calendar as the last alternative is how invitations travel.
  out += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\n\n";
  append_part(out, boundary, "text/plain; charset=utf-8", m.text);
  if (!m.html.empty()) append_part(out, boundary, "text/html; charset=utf-8", m.html);
  if (m.calendar) {
    append_part(out, boundary,
                "text/calendar; charset=utf-8; method=" + header_value(m.calendar->method),
                m.calendar->ics);
  }
  out += "--" + boundary + "--\n";
  return out;
}

std::string reason(const char* what, ssize_t uv_error) {
  // uv error names and texts ("EACCES", "permission denied") carry no path and no personal data.
  const int e = static_cast<int>(uv_error);
  return std::string("file channel: ") + what + ": " + uv_strerror(e) + " (" + uv_err_name(e) + ")";
}

// What a channel and its writes in flight share.
struct Shared;

// One message on its way to disk. A single job on libuv's thread pool does the whole write with
// plain system calls (make the directory when needed, open the temp file, write, fsync, close,
// rename; on a failure close and unlink the temp file), and its completion tells `done` on the
// loop: one thread-pool round trip a message, not one per step. Owns itself from start() until
// that completion; holds the channel's shared part, not the channel, so it may outlive a closed
// channel.
class FileWrite {
 public:
  FileWrite(std::shared_ptr<Shared> shared, std::string content, std::string final_path,
            std::string temp_path, Channel::Done done)
      : shared_(std::move(shared)),
        content_(std::move(content)),
        final_path_(std::move(final_path)),
        temp_path_(std::move(temp_path)),
        done_(std::move(done)) {
    work_.data = this;
  }

  void start(uv_loop_t* loop);
  // Fails without touching the disk, from a later loop turn (never inside send()).
  void fail_later(uv_loop_t* loop, std::string why);
  // Calls `done` now with a transient failure, and lets the I/O finish unobserved.
  void abandon(const std::string& why);

 private:
  void queue(uv_loop_t* loop);
  static void run(uv_work_t* work);                // on a thread-pool thread
  static void after(uv_work_t* work, int status);  // on the loop
  void write_file();
  void fail(const char* what, int error, int fd);

  std::shared_ptr<Shared> shared_;
  uv_work_t work_{};
  std::string content_;
  std::string final_path_;
  std::string temp_path_;
  Channel::Done done_;
  // Set on the loop before the job is queued, read by the job:
  bool write_ = true;  // false: fail_later, nothing to do on disk
  std::string dir_;    // non-empty: make it (and its parents) first
  // Set by the job, read by the completion (libuv orders the two):
  std::string failure_;    // empty: written
  bool dir_made_ = false;  // the directory exists now
  bool dir_gone_ = false;  // the temp file could not be made for want of the directory
};

struct Shared {
  std::string dir;
  bool dir_ready = false;  // made (or found) once; a later ENOENT makes it try again
  bool closed = false;
  std::set<FileWrite*> in_flight;
};

// mkdir -p with mode 0700 for what it makes. 0 or an errno.
int make_dirs(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return 0;
  if (errno != ENOENT) return errno;
  size_t end = dir.find_last_not_of('/');
  size_t slash = end == std::string::npos ? std::string::npos : dir.rfind('/', end);
  if (slash == std::string::npos || slash == 0) return ENOENT;
  if (int e = make_dirs(dir.substr(0, slash)); e != 0) return e;
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return 0;
  return errno;
}

void FileWrite::start(uv_loop_t* loop) {
  if (!shared_->dir_ready) dir_ = shared_->dir;
  queue(loop);
}

void FileWrite::fail_later(uv_loop_t* loop, std::string why) {
  write_ = false;
  failure_ = std::move(why);
  queue(loop);
}

void FileWrite::queue(uv_loop_t* loop) {
  shared_->in_flight.insert(this);
  // Only a loop being torn down refuses work; then there is no later turn to wait for.
  if (int rc = uv_queue_work(loop, &work_, &FileWrite::run, &FileWrite::after); rc < 0) {
    if (failure_.empty()) failure_ = reason("cannot queue file operation", rc);
    after(&work_, 0);
  }
}

void FileWrite::abandon(const std::string& why) {
  if (!done_) return;
  Channel::Done done = std::move(done_);
  done_ = nullptr;
  done(SendResult::transient(why));
}

void FileWrite::run(uv_work_t* work) {
  auto* self = static_cast<FileWrite*>(work->data);
  if (self->write_) self->write_file();
}

void FileWrite::write_file() {
  if (!dir_.empty()) {
    if (int e = make_dirs(dir_); e != 0) return fail("cannot create directory", e, -1);
    dir_made_ = true;
  }
  int fd = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    dir_gone_ = errno == ENOENT;
    failure_ = reason("cannot create file", -errno);
    return;  // nothing was made
  }
  for (size_t written = 0; written < content_.size();) {
    ssize_t n = ::write(fd, content_.data() + written, content_.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write file", n < 0 ? errno : EIO, fd);
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot sync file", errno, fd);
  // A failed close may have lost written data (NFS): the file is not trusted, and the fd is
  // gone either way.
  if (::close(fd) != 0) return fail("cannot close file", errno, -1);
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    return fail("cannot rename file", errno, -1);
  }
}

// Remembers why, then removes what was made (the fd, the temp file).
void FileWrite::fail(const char* what, int error, int fd) {
  failure_ = reason(what, -error);
  if (fd >= 0) ::close(fd);
  ::unlink(temp_path_.c_str());
}

void FileWrite::after(uv_work_t* work, int) {
  auto* self = static_cast<FileWrite*>(work->data);
  Shared& shared = *self->shared_;
  shared.in_flight.erase(self);
  if (self->dir_made_) shared.dir_ready = true;
  if (self->dir_gone_) shared.dir_ready = false;
  SendResult result =
      self->failure_.empty() ? SendResult::sent() : SendResult::transient(self->failure_);
  Channel::Done done = std::move(self->done_);
  delete self;
  if (done) done(std::move(result));
}

class FileChannel final : public Channel {
 public:
  FileChannel(uv_loop_t* loop, std::string dir) : loop_(loop), shared_(std::make_shared<Shared>()) {
    shared_->dir = std::move(dir);
  }
  ~FileChannel() override { close(); }

  void send(const Message& message, Done done) override {
    const std::string stem = file_stem(message.notification_id);
    const std::string final_path =
        shared_->dir + "/" + stem + (is_email(message) ? ".eml" : ".txt");
    // Unique per process and send, so concurrent sends of one id never share a temp file.
    static std::atomic<uint64_t> counter{0};
    const std::string temp_path = shared_->dir + "/." + stem + ".tmp-" +
                                  std::to_string(uv_os_getpid()) + "-" +
                                  std::to_string(counter.fetch_add(1));
    auto* write =
        new FileWrite(shared_, file_content(message), final_path, temp_path, std::move(done));
    if (shared_->closed) return write->fail_later(loop_, "file channel: closed");
    write->start(loop_);
  }

  int concurrency() const override { return 8; }

  void close() override {
    shared_->closed = true;
    // The thread pool cannot be interrupted; the writes finish (or clean up) on their own.
    std::set<FileWrite*> in_flight = shared_->in_flight;
    for (FileWrite* w : in_flight)
      w->abandon("file channel: closed during write");
  }

 private:
  uv_loop_t* loop_;
  std::shared_ptr<Shared> shared_;
};

Result<std::unique_ptr<Channel>> make_file_channel(const ChannelConfig& config,
                                                   const ChannelEnv& env) {
  auto it = config.settings.find("dir");
  if (it == config.settings.end() || it->second.empty()) {
    return Status::invalid("dir", "a file channel needs a directory to write to");
  }
  if (env.loop == nullptr) return Status::invalid("", "a file channel needs the event loop");
  std::string dir = it->second;
  while (dir.size() > 1 && dir.back() == '/')
    dir.pop_back();
  return std::unique_ptr<Channel>(std::make_unique<FileChannel>(env.loop, std::move(dir)));
}

}  // namespace

NUDGED_REGISTER_CHANNEL("file", make_file_channel);

}  // namespace nudged
