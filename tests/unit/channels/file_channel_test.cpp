// Tests of the "file" channel (channels/file_channel.cpp) on a real libuv loop, and of the
// registry it joins (channels/channel.cpp).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "channels/channel.h"
#include "tests/unit/events/test_events.h"

namespace nudged {
namespace {

namespace fs = std::filesystem;

class Loop {
 public:
  Loop() { uv_loop_init(&loop_); }
  ~Loop() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  uv_loop_t* get() { return &loop_; }
  void run() { uv_run(&loop_, UV_RUN_DEFAULT); }

 private:
  uv_loop_t loop_;
};

std::unique_ptr<Channel> file_channel(uv_loop_t* loop, const std::string& dir) {
  ChannelConfig config{"outbox", "file", {{"dir", dir}}};
  Result<std::unique_ptr<Channel>> ch = ChannelRegistry::instance().create(config, {loop});
  EXPECT_TRUE(ch.is_ok()) << ch.status().to_string();
  return ch.is_ok() ? std::move(*ch) : nullptr;
}

Message email() {
  Message m;
  m.notification_id = "n-7f3a.reminder";
  m.kind = "session.reminder";
  m.channel = "email";
  m.to = "pat@example.org";
  m.subject = "Reminder: Arts & Crafts on Tuesday, January 12, 7:00 PM EST";
  m.text = "Hi Pat,\n\nThis is a reminder.\n";
  m.html = "<!DOCTYPE html>\n<html lang=\"en\"><title>x</title></html>\n";
  m.headers = {{"List-Unsubscribe", "<https://example.org/u?t=1>"}};
  m.calendar = CalendarPart{"REQUEST", "BEGIN:VCALENDAR\nEND:VCALENDAR\n"};
  return m;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Sends one message and runs the loop until it is done.
struct Outcome {
  std::optional<SendResult> result;
  bool called_inside_send = false;
  std::thread::id thread;
};

Outcome send_one(Loop& loop, Channel& channel, const Message& m) {
  Outcome out;
  bool in_send = true;
  channel.send(m, [&](SendResult r) {
    out.called_inside_send = in_send;
    out.thread = std::this_thread::get_id();
    out.result = std::move(r);
  });
  in_send = false;
  EXPECT_FALSE(out.result) << "done ran inside send()";
  loop.run();
  return out;
}

TEST(ChannelRegistry, FileKindIsLinkedIn) {
  // The adapter registers from a static initialiser: this fails if the linker dropped it.
  std::vector<std::string> kinds = ChannelRegistry::instance().kinds();
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "file"), kinds.end());
}

TEST(ChannelRegistry, ErrorsNameTheChannelTable) {
  Loop loop;
  Result<std::unique_ptr<Channel>> ch =
      ChannelRegistry::instance().create({"outbox", "file", {}}, {loop.get()});
  ASSERT_FALSE(ch.is_ok());
  EXPECT_EQ(ch.status().field(), "channels.outbox.dir");
  ch = ChannelRegistry::instance().create({"sms", "carrier-pigeon", {}}, {loop.get()});
  ASSERT_FALSE(ch.is_ok());
  EXPECT_EQ(ch.status().field(), "channels.sms.kind");
  EXPECT_NE(ch.status().message().find("file"), std::string::npos);  // lists the known kinds
}

TEST(FileChannel, WritesTheMessageAtomicallyWithMode0600) {
  testing::TempDir tmp;
  const fs::path dir = fs::path(tmp.file("var")) / "outbox";  // parents made too
  Loop loop;
  auto channel = file_channel(loop.get(), dir.string());
  ASSERT_TRUE(channel);
  EXPECT_EQ(channel->concurrency(), 8);

  Outcome out = send_one(loop, *channel, email());
  ASSERT_TRUE(out.result);
  EXPECT_EQ(out.result->kind, SendResult::Kind::kSent) << out.result->reason;
  EXPECT_FALSE(out.called_inside_send);
  EXPECT_EQ(out.thread, std::this_thread::get_id());  // the loop's thread

  const fs::path file = dir / "n-7f3a.reminder.eml";
  const std::string content = slurp(file);
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // Exactly one file: no temp file left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);

  // Headers first, in order, then text, HTML and the calendar.
  const std::string headers =
      "To: pat@example.org\n"
      "Subject: Reminder: Arts & Crafts on Tuesday, January 12, 7:00 PM EST\n"
      "Channel: email\n"
      "Kind: session.reminder\n"
      "Notification-Id: n-7f3a.reminder\n"
      "List-Unsubscribe: <https://example.org/u?t=1>\n"
      "MIME-Version: 1.0\n"
      "Content-Type: multipart/alternative; boundary=\"";
  EXPECT_EQ(content.rfind(headers, 0), 0u) << content;
  size_t text = content.find("Content-Type: text/plain; charset=utf-8\n");
  size_t html = content.find("Content-Type: text/html; charset=utf-8\n");
  size_t ics = content.find("Content-Type: text/calendar; charset=utf-8; method=REQUEST\n");
  ASSERT_NE(text, std::string::npos);
  ASSERT_NE(html, std::string::npos);
  ASSERT_NE(ics, std::string::npos);
  EXPECT_LT(text, html);
  EXPECT_LT(html, ics);
  EXPECT_NE(content.find("\n\nHi Pat,\n\nThis is a reminder.\n--"), std::string::npos);
  EXPECT_NE(content.find("BEGIN:VCALENDAR\nEND:VCALENDAR\n--"), std::string::npos);
  EXPECT_EQ(content.substr(content.size() - 3), "--\n");
}

TEST(FileChannel, SmsIsATextFileWithHeadersAndBody) {
  testing::TempDir tmp;
  Loop loop;
  auto channel = file_channel(loop.get(), tmp.file("out"));
  Message m;
  m.notification_id = "n-1";
  m.kind = "session.reminder";
  m.channel = "sms";
  m.to = "+15555550123";
  m.text = "Reminder: Arts & Crafts starts soon.";
  Outcome out = send_one(loop, *channel, m);
  ASSERT_TRUE(out.result);
  EXPECT_EQ(out.result->kind, SendResult::Kind::kSent);
  EXPECT_EQ(slurp(fs::path(tmp.file("out")) / "n-1.txt"),
            "To: +15555550123\nChannel: sms\nKind: session.reminder\nNotification-Id: n-1\n\n"
            "Reminder: Arts & Crafts starts soon.\n");
}

TEST(FileChannel, SameIdAgainOverwrites) {
  testing::TempDir tmp;
  Loop loop;
  auto channel = file_channel(loop.get(), tmp.file("out"));
  Message m = email();
  ASSERT_EQ(send_one(loop, *channel, m).result->kind, SendResult::Kind::kSent);
  m.text = "Second attempt.\n";
  ASSERT_EQ(send_one(loop, *channel, m).result->kind, SendResult::Kind::kSent);
  const fs::path dir = tmp.file("out");
  EXPECT_NE(slurp(dir / "n-7f3a.reminder.eml").find("Second attempt."), std::string::npos);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(FileChannel, ManyAtOnceAllLand) {
  testing::TempDir tmp;
  Loop loop;
  auto channel = file_channel(loop.get(), tmp.file("out"));
  int sent = 0;
  for (int i = 0; i < 20; ++i) {
    Message m = email();
    m.notification_id = "n-" + std::to_string(i);
    channel->send(m, [&](SendResult r) { sent += r.kind == SendResult::Kind::kSent; });
  }
  loop.run();
  EXPECT_EQ(sent, 20);
  const fs::path dir = tmp.file("out");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 20);
}

TEST(FileChannel, IdCannotEscapeTheDirectoryAndHeadersCannotBeInjected) {
  testing::TempDir tmp;
  Loop loop;
  const fs::path dir = fs::path(tmp.file("out"));
  auto channel = file_channel(loop.get(), dir.string());
  Message m = email();
  m.notification_id = "../../escape";
  m.subject = "Hello\r\nBcc: someone@example.org";
  ASSERT_EQ(send_one(loop, *channel, m).result->kind, SendResult::Kind::kSent);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  const std::string name = files[0].filename().string();
  EXPECT_EQ(name.find('/'), std::string::npos);
  EXPECT_NE(name[0], '.');
  EXPECT_EQ(name.rfind("_._.._escape-", 0), 0u) << name;
  EXPECT_FALSE(fs::exists(fs::path(tmp.file("escape.eml"))));
  const std::string content = slurp(files[0]);
  EXPECT_EQ(content.find("\nBcc:"), std::string::npos);
  EXPECT_NE(content.find("Subject: Hello  Bcc: someone@example.org\n"), std::string::npos);
}

// The directory is made once; if it disappears later (an operator cleaned up), the send that
// finds it gone fails for now and the next one makes it again.
TEST(FileChannel, ADirectoryRemovedLaterIsMadeAgain) {
  testing::TempDir tmp;
  const fs::path dir = fs::path(tmp.file("var")) / "outbox";
  Loop loop;
  auto channel = file_channel(loop.get(), dir.string());
  Outcome first = send_one(loop, *channel, email());
  ASSERT_TRUE(first.result);
  EXPECT_EQ(first.result->kind, SendResult::Kind::kSent) << first.result->reason;
  fs::remove_all(dir);
  Outcome lost = send_one(loop, *channel, email());
  ASSERT_TRUE(lost.result);
  EXPECT_EQ(lost.result->kind, SendResult::Kind::kTransient);
  EXPECT_NE(lost.result->reason.find("ENOENT"), std::string::npos) << lost.result->reason;
  Outcome again = send_one(loop, *channel, email());
  ASSERT_TRUE(again.result);
  EXPECT_EQ(again.result->kind, SendResult::Kind::kSent) << again.result->reason;
  EXPECT_TRUE(fs::exists(dir / "n-7f3a.reminder.eml"));
}

TEST(FileChannel, UnwritableDirectoryIsTransientWithoutPersonalData) {
  testing::TempDir tmp;
  // A regular file where a parent directory should be: fails even for root.
  std::ofstream(tmp.file("blocker")) << "x";
  Loop loop;
  auto channel = file_channel(loop.get(), tmp.file("blocker") + "/outbox");
  Message m = email();
  Outcome out = send_one(loop, *channel, m);
  ASSERT_TRUE(out.result);
  EXPECT_EQ(out.result->kind, SendResult::Kind::kTransient);
  EXPECT_FALSE(out.called_inside_send);
  EXPECT_NE(out.result->reason.find("ENOTDIR"), std::string::npos) << out.result->reason;
  for (const std::string& personal : {m.to, std::string("Pat"), std::string("Arts"), tmp.file("")})
    EXPECT_EQ(out.result->reason.find(personal), std::string::npos) << out.result->reason;
}

TEST(FileChannel, ReadOnlyDirectoryIsTransient) {
  if (geteuid() == 0) GTEST_SKIP() << "root writes anywhere";
  testing::TempDir tmp;
  const fs::path dir = tmp.file("ro");
  fs::create_directory(dir);
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
  Loop loop;
  auto channel = file_channel(loop.get(), dir.string());
  Outcome out = send_one(loop, *channel, email());
  fs::permissions(dir, fs::perms::owner_all);
  ASSERT_TRUE(out.result);
  EXPECT_EQ(out.result->kind, SendResult::Kind::kTransient);
  EXPECT_NE(out.result->reason.find("EACCES"), std::string::npos) << out.result->reason;
}

TEST(FileChannel, CloseFailsWritesInFlightOnceAndLaterSendsLater) {
  testing::TempDir tmp;
  Loop loop;
  auto channel = file_channel(loop.get(), tmp.file("out"));
  int calls = 0;
  std::optional<SendResult> first;
  channel->send(email(), [&](SendResult r) {
    ++calls;
    first = std::move(r);
  });
  channel->close();  // before the loop ran: the write is in flight
  ASSERT_EQ(calls, 1);
  EXPECT_EQ(first->kind, SendResult::Kind::kTransient);

  std::optional<SendResult> late;
  channel->send(email(), [&](SendResult r) { late = std::move(r); });
  EXPECT_FALSE(late);
  channel.reset();  // the write in flight outlives the channel
  loop.run();
  EXPECT_EQ(calls, 1);
  ASSERT_TRUE(late);
  EXPECT_EQ(late->kind, SendResult::Kind::kTransient);
}

}  // namespace
}  // namespace nudged
