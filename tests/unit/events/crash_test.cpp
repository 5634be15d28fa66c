// A process killed with SIGKILL in the middle of appends leaves a database that opens,
// verifies, and holds every append whose callback had reported success.

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <set>

#include "events/writer.h"
#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

// The child: appends registrations through a Writer as fast as it can, writing the id of each
// one to `ack_fd` only once its callback reports it durable. Never returns.
[[noreturn]] void append_until_killed(const std::string& db, int ack_fd) {
  auto store = EventStore::open(db);
  if (!store) _exit(3);
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;
  Writer writer(
      std::move(*store), [] { return testing::at("2026-11-26T10:00:00Z"); },
      [&] {
        std::lock_guard lock(mu);
        woken = true;
        cv.notify_one();
      });
  for (int round = 0;; ++round) {
    // Several batches in flight at once, so the kill can land mid-transaction.
    for (int k = 0; k < 8; ++k) {
      int n = round * 8 + k;
      std::string id = "r" + std::to_string(n);
      writer.submit(testing::batch_of({testing::registration_json(
                        id, "s1", "p" + std::to_string(n) + "@example.org")}),
                    [ack_fd, id](Result<std::vector<Appended>> r) {
                      if (!r) _exit(4);
                      std::string line = id + "\n";
                      if (write(ack_fd, line.data(), line.size()) < 0) _exit(5);
                    });
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return woken; });
    woken = false;
    lock.unlock();
    writer.run_completions();
  }
}

TEST(CrashTest, SigkillMidAppendLosesNothingAcknowledged) {
  testing::TempDir dir;
  std::string db = dir.file("crash.db");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    append_until_killed(db, fds[1]);
  }
  close(fds[1]);

  // Read acknowledgements until enough have arrived, then kill without warning.
  std::set<std::string> acked;
  std::string buf;
  char chunk[4096];
  while (acked.size() < 400) {
    ssize_t n = read(fds[0], chunk, sizeof chunk);
    ASSERT_GT(n, 0) << "child stopped early";
    buf.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      acked.insert(buf.substr(0, nl));
      buf.erase(0, nl + 1);
    }
  }
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  // Acks written just before the kill may still sit in the pipe: they count too.
  ssize_t n;
  while ((n = read(fds[0], chunk, sizeof chunk)) > 0)
    buf.append(chunk, static_cast<size_t>(n));
  for (size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) {
    acked.insert(buf.substr(0, nl));
  }
  close(fds[0]);

  auto store = EventStore::open(db, EventStore::OpenMode::kExisting);
  ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  VerifyReport report = (*store)->verify();
  EXPECT_TRUE(report.faults.empty()) << report.faults.front();
  std::set<std::string> stored;
  (*store)->read(0, 1 << 30, [&](const StoredEvent& e) {
    std::string id(e.id);
    stored.insert(id.substr(id.rfind('/') + 1));  // "registration.received/r12" -> "r12"
  });
  EXPECT_GE(stored.size(), acked.size());
  for (const std::string& id : acked)
    EXPECT_TRUE(stored.count(id)) << id << " was acked but lost";
}

}  // namespace
}  // namespace nudged
