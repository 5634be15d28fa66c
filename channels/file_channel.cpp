// The "file" channel: writes each message to `<dir>/<notification id>.eml` (email) or `.txt`
// (anything else), for demos, dry runs and tests. Settings: `dir` (created 0700 when missing).
//
// An .eml is a MIME message a mail client can open (multipart/alternative: text, HTML,
// calendar); headers carry raw UTF-8 (RFC 6532) so the file also reads well in a terminal.
// Writes are atomic (temp file, fsync, rename over the final name) so a reader never sees half
// a message, and a second send of the same id overwrites: delivery is at-least-once.
//
// All I/O runs on libuv's thread pool through uv_fs_* requests; their callbacks, and so every
// `done`, run on the loop thread. The directory entry is not fsynced: a crash right after a
// send may lose the file, acceptable for a channel meant for demos.
#include <fcntl.h>
#include <uv.h>

#include <atomic>
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

struct Shared;

// One message on its way to disk. Owns itself from send() until its last callback; holds the
// channel's shared part, not the channel, so it may outlive a closed channel.
class FileWrite {
 public:
  FileWrite(std::shared_ptr<Shared> shared, uv_loop_t* loop, std::string content,
            std::string final_path, std::string temp_path, Channel::Done done)
      : shared_(std::move(shared)),
        loop_(loop),
        content_(std::move(content)),
        final_path_(std::move(final_path)),
        temp_path_(std::move(temp_path)),
        done_(std::move(done)) {
    req_.data = this;
    work_.data = this;
  }

  void start();
  // Fails without touching the disk, from a later loop turn (never inside send()).
  void fail_later(std::string why);
  // Calls `done` now with a transient failure, and lets the I/O finish unobserved.
  void abandon(const std::string& why);

 private:
  enum class Step { kMkdir, kOpen, kWrite, kFsync, kClose, kRename, kCleanupClose, kCleanupUnlink };

  static void on_fs(uv_fs_t* req);
  void next(ssize_t result);
  void submit(Step step, int rc);
  void make_dir();
  void fail(std::string why);
  void cleanup();
  void finish(SendResult result);

  std::shared_ptr<Shared> shared_;
  uv_loop_t* loop_;
  uv_fs_t req_{};
  uv_work_t work_{};
  std::string content_;
  std::string final_path_;
  std::string temp_path_;
  Channel::Done done_;
  Step step_ = Step::kOpen;
  std::vector<std::string> dirs_;  // mkdir -p: the pending directories, deepest first
  uv_file fd_ = -1;
  size_t written_ = 0;
  std::string failure_;
};

// What a channel and its writes in flight share.
struct Shared {
  std::string dir;
  bool dir_ready = false;  // made (or found) once; a later ENOENT makes it try again
  bool closed = false;
  std::set<FileWrite*> in_flight;
};

void FileWrite::start() {
  shared_->in_flight.insert(this);
  if (shared_->dir_ready) {
    submit(Step::kOpen, uv_fs_open(loop_, &req_, temp_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600, on_fs));
    return;
  }
  dirs_ = {shared_->dir};
  make_dir();
}

void FileWrite::make_dir() {
  submit(Step::kMkdir, uv_fs_mkdir(loop_, &req_, dirs_.back().c_str(), 0700, on_fs));
}

// A uv_fs_* call that could not even be queued (EINVAL, ENOMEM) has no callback coming: fail on
// a later turn. Closing and unlinking synchronously here is a blocking call on a path that
// should never run; it beats leaking the descriptor.
void FileWrite::submit(Step step, int rc) {
  step_ = step;
  if (rc >= 0) return;
  uv_fs_req_cleanup(&req_);
  if (fd_ >= 0) {
    uv_fs_close(loop_, &req_, fd_, nullptr);
    uv_fs_req_cleanup(&req_);
    uv_fs_unlink(loop_, &req_, temp_path_.c_str(), nullptr);
    uv_fs_req_cleanup(&req_);
    fd_ = -1;
  }
  fail_later(reason("cannot queue file operation", rc));
}

void FileWrite::fail_later(std::string why) {
  failure_ = std::move(why);
  shared_->in_flight.insert(this);
  int rc = uv_queue_work(
      loop_, &work_, [](uv_work_t*) {},
      [](uv_work_t* work, int) {
        auto* self = static_cast<FileWrite*>(work->data);
        self->finish(SendResult::transient(self->failure_));
      });
  // Only a loop being torn down refuses work; nobody is left to tell.
  if (rc < 0) finish(SendResult::transient(failure_));
}

void FileWrite::abandon(const std::string& why) {
  if (!done_) return;
  Channel::Done done = std::move(done_);
  done_ = nullptr;
  done(SendResult::transient(why));
}

void FileWrite::on_fs(uv_fs_t* req) {
  auto* self = static_cast<FileWrite*>(req->data);
  ssize_t result = req->result;
  uv_fs_req_cleanup(req);
  self->next(result);
}

void FileWrite::next(ssize_t result) {
  switch (step_) {
    case Step::kMkdir: {
      if (result == UV_ENOENT) {
        // A parent is missing: make it first, then come back down.
        std::string parent = dirs_.back();
        while (!parent.empty() && parent.back() == '/')
          parent.pop_back();
        size_t slash = parent.rfind('/');
        if (slash != std::string::npos && slash > 0) {
          dirs_.push_back(parent.substr(0, slash));
          return make_dir();
        }
      }
      if (result < 0 && result != UV_EEXIST) return fail(reason("cannot create directory", result));
      dirs_.pop_back();
      if (!dirs_.empty()) return make_dir();
      shared_->dir_ready = true;
      return submit(Step::kOpen, uv_fs_open(loop_, &req_, temp_path_.c_str(),
                                            O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600, on_fs));
    }
    case Step::kOpen:
      if (result < 0) {
        if (result == UV_ENOENT) shared_->dir_ready = false;
        return fail(reason("cannot create file", result));
      }
      fd_ = static_cast<uv_file>(result);
      result = 0;
      [[fallthrough]];
    case Step::kWrite: {
      if (result < 0) return fail(reason("cannot write file", result));
      written_ += static_cast<size_t>(result);
      if (written_ < content_.size()) {
        if (step_ == Step::kWrite && result == 0) return fail(reason("cannot write file", UV_EIO));
        uv_buf_t buf = uv_buf_init(content_.data() + written_,
                                   static_cast<unsigned>(content_.size() - written_));
        return submit(Step::kWrite, uv_fs_write(loop_, &req_, fd_, &buf, 1,
                                                static_cast<int64_t>(written_), on_fs));
      }
      return submit(Step::kFsync, uv_fs_fsync(loop_, &req_, fd_, on_fs));
    }
    case Step::kFsync:
      if (result < 0) return fail(reason("cannot sync file", result));
      return submit(Step::kClose, uv_fs_close(loop_, &req_, fd_, on_fs));
    case Step::kClose:
      fd_ = -1;
      if (result < 0) return fail(reason("cannot close file", result));
      return submit(Step::kRename,
                    uv_fs_rename(loop_, &req_, temp_path_.c_str(), final_path_.c_str(), on_fs));
    case Step::kRename:
      if (result < 0) return fail(reason("cannot rename file", result));
      return finish(SendResult::sent());
    case Step::kCleanupClose:
      fd_ = -1;
      return submit(Step::kCleanupUnlink, uv_fs_unlink(loop_, &req_, temp_path_.c_str(), on_fs));
    case Step::kCleanupUnlink:
      return finish(SendResult::transient(failure_));
  }
}

// Remember why, then remove what was made (close the fd, unlink the temp file) before telling.
void FileWrite::fail(std::string why) {
  failure_ = std::move(why);
  cleanup();
}

void FileWrite::cleanup() {
  if (fd_ >= 0) {
    return submit(Step::kCleanupClose, uv_fs_close(loop_, &req_, fd_, on_fs));
  }
  if (step_ == Step::kMkdir || (step_ == Step::kOpen)) {
    return finish(SendResult::transient(failure_));  // nothing was created
  }
  submit(Step::kCleanupUnlink, uv_fs_unlink(loop_, &req_, temp_path_.c_str(), on_fs));
}

void FileWrite::finish(SendResult result) {
  shared_->in_flight.erase(this);
  Channel::Done done = std::move(done_);
  delete this;
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
    auto* write = new FileWrite(shared_, loop_, file_content(message), final_path, temp_path,
                                std::move(done));
    if (shared_->closed) return write->fail_later("file channel: closed");
    write->start();
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
