#include "daemon/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace nudged {
namespace {

// Points stderr at a temporary file for the test's lifetime: the json sink writes there.
class LogTest : public testing::Test {
 protected:
  void SetUp() override {
    // One file per process: ctest runs each test as its own process, two at a time, and a
    // shared name let one test's lines land in another's file.
    path_ = testing::TempDir() + "nudged-log-test-stderr-" + std::to_string(::getpid());
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
    unsetenv("JOURNAL_STREAM");
  }
  void TearDown() override {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    unsetenv("JOURNAL_STREAM");
    setup_logging(LogFormat::kText, LogLevel::kInfo);
    std::remove(path_.c_str());
  }
  std::string captured() {
    spdlog::default_logger()->flush();
    std::ifstream in(path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string stderr_stream() {
    struct stat st {};
    ::fstat(STDERR_FILENO, &st);
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  }

  std::string path_;
  int saved_ = -1;
};

TEST_F(LogTest, ContextFieldsNestAndUnwind) {
  EXPECT_TRUE(log_context().empty());
  {
    LogContext outer{{"notification_id", std::string("n1")}, {"channel", std::string("sms")}};
    {
      LogContext inner{{"position", int64_t{42}}};
      ASSERT_EQ(log_context().size(), 3u);
      EXPECT_STREQ(log_context().back().key, "position");
      EXPECT_TRUE(log_context().back().number);
    }
    ASSERT_EQ(log_context().size(), 2u);
    EXPECT_EQ(log_context()[0].value, "n1");
  }
  EXPECT_TRUE(log_context().empty());
}

TEST_F(LogTest, JsonLinesCarryTheFieldsInnermostWinning) {
  setup_logging(LogFormat::kJson, LogLevel::kDebug);
  {
    LogContext outer{{"notification_id", std::string("outer")}, {"channel", std::string("email")}};
    LogContext inner{{"notification_id", std::string("inner")}, {"attempt", int64_t{2}}};
    spdlog::warn("sent {} \"quoted\"", "x");
  }
  spdlog::debug("no fields");
  spdlog::trace("below the level");
  std::istringstream lines(captured());
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  nlohmann::json first = nlohmann::json::parse(line);
  EXPECT_EQ(first["level"], "warn");
  EXPECT_EQ(first["msg"], "sent x \"quoted\"");
  EXPECT_EQ(first["notification_id"], "inner");
  EXPECT_EQ(first["channel"], "email");
  EXPECT_EQ(first["attempt"], 2);
  EXPECT_TRUE(first.contains("ts"));
  ASSERT_TRUE(std::getline(lines, line));
  nlohmann::json second = nlohmann::json::parse(line);
  EXPECT_EQ(second["msg"], "no fields");
  EXPECT_FALSE(second.contains("notification_id"));
  EXPECT_FALSE(std::getline(lines, line));  // trace is below debug
}

TEST_F(LogTest, InvalidUtf8InAMessageDoesNotThrow) {
  setup_logging(LogFormat::kJson, LogLevel::kInfo);
  spdlog::error("provider said {}", std::string("\xff\xfe bad"));
  nlohmann::json line = nlohmann::json::parse(captured());
  EXPECT_EQ(line["level"], "error");
}

TEST_F(LogTest, TextBecomesJournalOnlyWhenStderrIsTheJournalStream) {
  EXPECT_EQ(effective_log_format(LogFormat::kText), LogFormat::kText);
  setenv("JOURNAL_STREAM", "1:1", 1);
  EXPECT_EQ(effective_log_format(LogFormat::kText), LogFormat::kText);
  setenv("JOURNAL_STREAM", "garbage", 1);
  EXPECT_EQ(effective_log_format(LogFormat::kText), LogFormat::kText);
  setenv("JOURNAL_STREAM", stderr_stream().c_str(), 1);
  EXPECT_EQ(effective_log_format(LogFormat::kText), LogFormat::kJournal);
  // An explicit json is kept: whoever chose it reads stderr as JSON.
  EXPECT_EQ(effective_log_format(LogFormat::kJson), LogFormat::kJson);
}

}  // namespace
}  // namespace nudged
