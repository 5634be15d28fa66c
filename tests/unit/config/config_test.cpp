// Tests of config/config.h: the TOML file of SPEC §2 as typed values, its defaults, and its
// errors, which name the file and the dotted key and never show a secret.
#include "config/config.h"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace nudged {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

// The repository's config/, found from this file so the test runs from any directory.
const fs::path kRepoConfigDir = fs::path(__FILE__).parent_path() / "../../../config";

// A distinctive secret: no error message or printout may ever contain it.
const std::string kSecret = "Zq7-secret-value-9f8e7d6c5b4a";

// Each test gets a fresh directory for its configuration and secret files, and starts without
// $CREDENTIALS_DIRECTORY.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "nudged-config-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    unsetenv("CREDENTIALS_DIRECTORY");
  }
  void TearDown() override {
    unsetenv("CREDENTIALS_DIRECTORY");
    fs::remove_all(dir_);
  }

  std::string write(const std::string& name, const std::string& body) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << body;
    return p.string();
  }

  // Loads `toml` from <dir>/nudged.toml; a failure is reported and gives the defaults.
  Config load_ok(const std::string& toml) {
    Result<Config> r = load_config(write("nudged.toml", toml));
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    return r.is_ok() ? *r : Config{};
  }

  Status load_error(const std::string& toml) {
    Result<Config> r = load_config(write("nudged.toml", toml));
    EXPECT_FALSE(r.is_ok()) << toml;
    return r.status();
  }

  std::string path() const { return (dir_ / "nudged.toml").string(); }
  std::string in_dir(const std::string& rel) const { return (dir_ / rel).string(); }

  fs::path dir_;
};

void expect_policy_eq(const Policy& a, const Policy& b) {
  EXPECT_EQ(a.email_reminders, b.email_reminders);
  EXPECT_EQ(a.sms_reminders, b.sms_reminders);
  EXPECT_EQ(a.quiet_hours, b.quiet_hours);
  EXPECT_EQ(a.late_grace, b.late_grace);
  EXPECT_EQ(a.accommodation_lead, b.accommodation_lead);
  EXPECT_EQ(a.roster_before, b.roster_before);
  EXPECT_EQ(a.discreet_default, b.discreet_default);
}

// --- the shipped example -------------------------------------------------------------------

TEST(ConfigExampleTest, ShippedExampleLoads) {
  fs::path example = kRepoConfigDir / "nudged.example.toml";
  Result<Config> r = load_config(example.string());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const Config& c = *r;
  fs::path repo = fs::weakly_canonical(kRepoConfigDir / "..");
  EXPECT_EQ(c.daemon.state_dir, (repo / "var").string());
  EXPECT_EQ(c.database_path(), (repo / "var" / "nudged.db").string());
  EXPECT_EQ(c.daemon.listen.to_string(), "127.0.0.1:8787");
  EXPECT_FALSE(c.webhooks.secret.empty());
  ASSERT_NE(c.channel("email"), nullptr);
  ASSERT_NE(c.channel("sms"), nullptr);
  EXPECT_EQ(c.channel("email")->kind, "file");
  EXPECT_EQ(c.channel("sms")->kind, "file");
  EXPECT_EQ(c.channel("email")->settings.at("dir"), (repo / "var" / "outbox" / "email").string());
  ASSERT_EQ(c.plan.coordinators.size(), 1u);
  EXPECT_EQ(c.plan.coordinators[0], (StaffAddress{"email", "access@example.org"}));
  ASSERT_EQ(c.plan.groups.count("ibd"), 1u);
  EXPECT_EQ(c.plan.groups.at("ibd").policy.sms_reminders, std::vector{Offset::seconds(3 * 3600)});
  EXPECT_TRUE(c.warnings.empty()) << c.warnings.front();
}

const std::string kEmailChannel = "[channels.email]\nkind = \"file\"\ndir = \"out\"\n";

// --- defaults and happy paths ----------------------------------------------------------------

TEST_F(ConfigTest, EmptyFileGivesTheDefaults) {
  Config c = load_ok("");
  EXPECT_EQ(c.daemon.state_dir, "/var/lib/nudged");
  EXPECT_EQ(c.daemon.database, "nudged.db");
  EXPECT_EQ(c.database_path(), "/var/lib/nudged/nudged.db");
  EXPECT_EQ(c.daemon.listen.host, "127.0.0.1");
  EXPECT_EQ(c.daemon.listen.port, 8787);
  EXPECT_EQ(c.daemon.admin_socket, "/run/nudged/admin.sock");
  EXPECT_EQ(c.daemon.public_url, "http://127.0.0.1:8787");
  EXPECT_EQ(c.daemon.log_level, LogLevel::kInfo);
  EXPECT_EQ(c.daemon.log_format, LogFormat::kText);
  EXPECT_EQ(c.webhooks.secret, "");
  EXPECT_EQ(c.webhooks.tolerance, seconds(300));
  EXPECT_EQ(c.webhooks.max_body, 65536u);
  EXPECT_EQ(c.webhooks.zoom.secret_token, "");
  EXPECT_EQ(c.webhooks.twilio.auth_token, "");
  EXPECT_EQ(c.webhooks.twilio.public_url, "http://127.0.0.1:8787/v1/webhooks/twilio/sms");
  EXPECT_TRUE(c.channels.empty());
  expect_policy_eq(c.plan.defaults, Policy{});
  EXPECT_TRUE(c.plan.groups.empty());
  EXPECT_TRUE(c.plan.coordinators.empty());
  EXPECT_EQ(c.templates.dir, "");
}

TEST_F(ConfigTest, EmptyTablesGiveTheDefaultsToo) {
  Config c = load_ok(
      "[daemon]\n[webhooks]\n[channels]\n[policy]\n[groups]\n[accessibility]\n"
      "[templates]\n");
  EXPECT_EQ(c.database_path(), "/var/lib/nudged/nudged.db");
  expect_policy_eq(c.plan.defaults, Policy{});
}

TEST_F(ConfigTest, DaemonSection) {
  Config c = load_ok(R"([daemon]
state_dir = "state"
database = "events.db"
listen = "0.0.0.0:9000"
admin_socket = "run/admin.sock"
public_url = "https://reminders.example.org/"
log_level = "debug"
log_format = "journal"
)");
  // Relative paths are read from the configuration's directory, not the working directory.
  EXPECT_EQ(c.daemon.state_dir, in_dir("state"));
  EXPECT_EQ(c.database_path(), in_dir("state/events.db"));
  EXPECT_EQ(c.daemon.listen.host, "0.0.0.0");
  EXPECT_EQ(c.daemon.listen.port, 9000);
  EXPECT_EQ(c.daemon.admin_socket, in_dir("run/admin.sock"));
  EXPECT_EQ(c.daemon.public_url, "https://reminders.example.org");  // one slash to join on
  EXPECT_EQ(c.daemon.log_level, LogLevel::kDebug);
  EXPECT_EQ(c.daemon.log_format, LogFormat::kJournal);
  EXPECT_EQ(c.webhooks.twilio.public_url, "https://reminders.example.org/v1/webhooks/twilio/sms");
}

TEST_F(ConfigTest, AbsoluteDatabaseIgnoresStateDir) {
  Config c = load_ok("[daemon]\nstate_dir = \"/srv/x\"\ndatabase = \"/data/e.db\"\n");
  EXPECT_EQ(c.database_path(), "/data/e.db");
}

TEST_F(ConfigTest, Ipv6ListenAndItsDefaultPublicUrl) {
  Config c = load_ok("[daemon]\nlisten = \"[::1]:8080\"\n");
  EXPECT_EQ(c.daemon.listen.host, "::1");
  EXPECT_EQ(c.daemon.listen.port, 8080);
  EXPECT_EQ(c.daemon.listen.to_string(), "[::1]:8080");
  EXPECT_EQ(c.daemon.public_url, "http://[::1]:8080");
}

TEST_F(ConfigTest, LocalhostListensOnTheLoopbackWithoutALookup) {
  Config c = load_ok("[daemon]\nlisten = \"localhost:18787\"\n");
  EXPECT_EQ(c.daemon.listen.host, "127.0.0.1");
  EXPECT_EQ(c.daemon.listen.port, 18787);
  EXPECT_EQ(c.daemon.public_url, "http://127.0.0.1:18787");
  Status s = load_error("[daemon]\nlisten = \"example.org:8787\"\n");
  EXPECT_EQ(s.field(), "daemon.listen");
}

TEST_F(ConfigTest, EveryLogLevelAndFormat) {
  std::vector<std::pair<std::string, LogLevel>> levels = {{"trace", LogLevel::kTrace},
                                                          {"debug", LogLevel::kDebug},
                                                          {"info", LogLevel::kInfo},
                                                          {"warn", LogLevel::kWarn},
                                                          {"error", LogLevel::kError}};
  for (const auto& [name, level] : levels) {
    Config c = load_ok("[daemon]\nlog_level = \"" + name + "\"\n");
    EXPECT_EQ(c.daemon.log_level, level) << name;
    EXPECT_STREQ(log_level_name(level), name.c_str());
  }
  EXPECT_EQ(load_ok("[daemon]\nlog_format = \"json\"\n").daemon.log_format, LogFormat::kJson);
}

TEST_F(ConfigTest, WebhooksSection) {
  write("zoom-token", "zoom-token-value\n");
  Config c = load_ok(R"([webhooks]
secret = "0123456789abcdef0123"
tolerance = "90s"
max_body = 1048576

[webhooks.zoom]
secret_token_file = "zoom-token"

[webhooks.twilio]
auth_token = "twilio-token"
public_url = "https://example.org/v1/webhooks/twilio/sms"
)");
  EXPECT_EQ(c.webhooks.secret, "0123456789abcdef0123");
  EXPECT_EQ(c.webhooks.tolerance, seconds(90));
  EXPECT_EQ(c.webhooks.max_body, 1048576u);
  EXPECT_EQ(c.webhooks.zoom.secret_token, "zoom-token-value");  // trailing newline dropped
  EXPECT_EQ(c.webhooks.twilio.auth_token, "twilio-token");
  EXPECT_EQ(c.webhooks.twilio.public_url, "https://example.org/v1/webhooks/twilio/sms");
}

TEST_F(ConfigTest, SmtpChannel) {
  write("secrets/smtp-password", "pa55word\r\n");
  Config c = load_ok(R"([channels.email]
kind = "smtp"
url = "smtp://127.0.0.1:2525"
from = "Peer Support <meetings@example.org>"
username = "meetings"
password_file = "secrets/smtp-password"
)");
  ASSERT_EQ(c.channels.size(), 1u);
  EXPECT_EQ(c.channels[0].name, "email");
  EXPECT_EQ(c.channels[0].kind, "smtp");
  std::map<std::string, std::string> want = {{"url", "smtp://127.0.0.1:2525"},
                                             {"from", "Peer Support <meetings@example.org>"},
                                             {"username", "meetings"},
                                             {"password", "pa55word"},
                                             {"tls", "opportunistic"}};  // the default
  EXPECT_EQ(c.channels[0].settings, want);
}

TEST_F(ConfigTest, SmtpsWithRequiredTlsAndNoLogin) {
  Config c = load_ok(
      "[channels.mail]\nkind = \"smtp\"\nurl = \"smtps://smtp.example.org\"\n"
      "from = \"meetings@example.org\"\ntls = \"required\"\n");
  EXPECT_EQ(c.channel("mail")->settings.at("tls"), "required");
  EXPECT_EQ(c.channel("mail")->settings.count("password"), 0u);
}

TEST_F(ConfigTest, PortsAtTheEdgesAndACaFileBesideTheConfig) {
  write("certs/ca.pem", "-----BEGIN CERTIFICATE-----\n");
  Config c = load_ok(
      "[channels.mail]\nkind = \"smtp\"\nurl = \"smtps://[::1]:65535\"\n"
      "from = \"meetings@example.org\"\nca_file = \"certs/ca.pem\"\n"
      "[channels.staff]\nkind = \"webhook\"\nurl = \"https://h:1/x\"\nsecret = \"s\"\n");
  EXPECT_EQ(c.channel("mail")->settings.at("ca_file"), in_dir("certs/ca.pem"));
}

TEST_F(ConfigTest, TwilioChannel) {
  Config c = load_ok(R"([channels.sms]
kind = "twilio"
account_sid = "AC0123456789abcdef"
auth_token = "tok"
from = "+15555550100"
)");
  std::map<std::string, std::string> want = {{"api_base", "https://api.twilio.com"},
                                             {"account_sid", "AC0123456789abcdef"},
                                             {"auth_token", "tok"},
                                             {"from", "+15555550100"}};
  EXPECT_EQ(c.channel("sms")->settings, want);

  // A messaging service instead of a number; a loopback api_base may be plain http (tests).
  c = load_ok(R"([channels.sms]
kind = "twilio"
api_base = "http://127.0.0.1:9999"
account_sid = "AC1"
auth_token = "tok"
messaging_service_sid = "MG0123"
)");
  EXPECT_EQ(c.channel("sms")->settings.at("messaging_service_sid"), "MG0123");
  EXPECT_EQ(c.channel("sms")->settings.at("api_base"), "http://127.0.0.1:9999");
}

TEST_F(ConfigTest, WebhookAndFileChannels) {
  write("hook-secret", "hook-secret-value");
  Config c = load_ok(R"([channels.staff]
kind = "webhook"
url = "https://chat.example.org/hooks/abc"
secret_file = "hook-secret"

[channels.outbox]
kind = "file"
dir = "./var/outbox"
)");
  ASSERT_EQ(c.channels.size(), 2u);
  EXPECT_EQ(c.channels[0].name, "outbox");  // ordered by name
  EXPECT_EQ(c.channels[1].name, "staff");
  EXPECT_EQ(c.channel("outbox")->settings.at("dir"), in_dir("var/outbox"));
  std::map<std::string, std::string> want = {{"url", "https://chat.example.org/hooks/abc"},
                                             {"secret", "hook-secret-value"}};
  EXPECT_EQ(c.channel("staff")->settings, want);
  EXPECT_EQ(c.channel("nope"), nullptr);
}

TEST_F(ConfigTest, PolicySection) {
  Config c = load_ok(R"([policy]
email_reminders = ["3d", "90m"]
sms_reminders = []
quiet_hours = "22:30-07:15"
late_grace = "45m"
accommodation_lead = "14d"
roster_before = "12h"
discreet_default = true
)");
  const Policy& p = c.plan.defaults;
  EXPECT_EQ(p.email_reminders, (std::vector{Offset::days(3), Offset::seconds(90 * 60)}));
  EXPECT_TRUE(p.sms_reminders.empty());
  EXPECT_EQ(p.quiet_hours, (QuietHours{true, 22 * 60 + 30, 7 * 60 + 15}));
  EXPECT_EQ(p.late_grace, Offset::seconds(45 * 60));
  EXPECT_EQ(p.accommodation_lead, Offset::days(14));
  EXPECT_EQ(p.roster_before, Offset::seconds(12 * 3600));
  EXPECT_TRUE(p.discreet_default);
}

TEST_F(ConfigTest, EmptyQuietHoursTurnsThemOff) {
  EXPECT_FALSE(load_ok("[policy]\nquiet_hours = \"\"\n").plan.defaults.quiet_hours.enabled);
}

TEST_F(ConfigTest, GroupInheritsPolicyAndOverridesOneKey) {
  Config c = load_ok(R"([policy]
email_reminders = ["2d"]
sms_reminders = ["1h"]
discreet_default = true

[groups.ibd]
name = "IBD peer support"
sms_reminders = ["3h"]

[groups.games]
)");
  const GroupPolicy& ibd = c.plan.groups.at("ibd");
  EXPECT_EQ(ibd.name, "IBD peer support");
  EXPECT_EQ(ibd.policy.sms_reminders, std::vector{Offset::seconds(3 * 3600)});  // overridden
  EXPECT_EQ(ibd.policy.email_reminders, std::vector{Offset::days(2)});          // from [policy]
  EXPECT_TRUE(ibd.policy.discreet_default);                                     // from [policy]
  EXPECT_EQ(ibd.policy.roster_before, Policy{}.roster_before);                  // built-in default
  EXPECT_EQ(c.plan.groups.at("games").name, "games");  // the id when no name is given
  expect_policy_eq(c.plan.groups.at("games").policy, c.plan.defaults);
  EXPECT_EQ(c.plan.policy_for("ibd").sms_reminders, ibd.policy.sms_reminders);
  EXPECT_EQ(c.plan.policy_for("other").sms_reminders, std::vector{Offset::seconds(3600)});
}

TEST_F(ConfigTest, CoordinatorAsStringOrList) {
  const std::string channels =
      "[channels.email]\nkind = \"file\"\ndir = \"out\"\n"
      "[channels.sms]\nkind = \"file\"\ndir = \"out\"\n"
      "[channels.staff]\nkind = \"webhook\"\nurl = \"https://chat.example.org/h\"\n"
      "secret = \"s\"\n";
  Config one = load_ok(channels + "[accessibility]\ncoordinator = \"email:Access@Example.ORG\"\n");
  ASSERT_EQ(one.plan.coordinators.size(), 1u);
  EXPECT_EQ(one.plan.coordinators[0], (StaffAddress{"email", "Access@example.org"}));

  Config many = load_ok(channels +
                        "[accessibility]\ncoordinator = [\"email:access@example.org\", "
                        "\"sms:+44 20 7183 8750\", \"staff:#access\"]\n");
  std::vector<StaffAddress> want = {{"email", "access@example.org"},
                                    {"sms", "+442071838750"},  // normalised to E.164
                                    {"staff", "#access"}};
  EXPECT_EQ(many.plan.coordinators, want);
}

TEST_F(ConfigTest, ChannelsAndCoordinatorsAreBoundedForTheSchedule) {
  std::string channels;
  for (int i = 0; i < 101; ++i) {
    channels += "[channels.c" + std::to_string(i) + "]\nkind = \"file\"\ndir = \"out\"\n";
  }
  Status s = load_error(channels);
  EXPECT_EQ(s.field(), "channels");
  EXPECT_NE(s.message().find("more than 100 channels"), std::string::npos) << s.message();

  std::string list;
  for (int i = 0; i < 101; ++i) {
    list += std::string(i ? ", " : "") + "\"email:access" + std::to_string(i) + "@example.org\"";
  }
  const std::string email = "[channels.email]\nkind = \"file\"\ndir = \"out\"\n";
  s = load_error(email + "[accessibility]\ncoordinator = [" + list + "]\n");
  EXPECT_EQ(s.field(), "accessibility.coordinator");
  EXPECT_NE(s.message().find("more than 100 coordinators"), std::string::npos) << s.message();
}

TEST_F(ConfigTest, TemplatesDirIsResolvedAgainstTheConfigDirectory) {
  fs::create_directories(dir_ / "templates");
  EXPECT_EQ(load_ok("[templates]\ndir = \"templates\"\n").templates.dir, in_dir("templates"));
}

// --- secrets ---------------------------------------------------------------------------------

TEST_F(ConfigTest, CredentialsDirectoryHoldsRelativeSecretFiles) {
  fs::path creds = dir_ / "credentials";
  write("credentials/webhook-secret", "from-credentials-directory\n");
  write("webhook-secret", "from-config-directory-value\n");
  const std::string toml = "[webhooks]\nsecret_file = \"webhook-secret\"\n";

  EXPECT_EQ(load_ok(toml).webhooks.secret, "from-config-directory-value");
  setenv("CREDENTIALS_DIRECTORY", creds.c_str(), 1);
  EXPECT_EQ(load_ok(toml).webhooks.secret, "from-credentials-directory");
  // An absolute path is read as it is.
  EXPECT_EQ(
      load_ok("[webhooks]\nsecret_file = \"" + in_dir("webhook-secret") + "\"\n").webhooks.secret,
      "from-config-directory-value");
}

TEST_F(ConfigTest, OnlyOneTrailingNewlineIsTrimmed) {
  write("s", kSecret + "\n\n");
  Status s = load_error("[webhooks]\nsecret_file = \"s\"\n");
  EXPECT_EQ(s.field(), "webhooks.secret_file");
  EXPECT_EQ(s.message().find(kSecret), std::string::npos);
}

TEST_F(ConfigTest, ToStringRedactsEverySecret) {
  write("pw", kSecret + "-pw\n");
  Config c = load_ok(R"([webhooks]
secret = ")" + kSecret +
                     R"("
[webhooks.zoom]
secret_token = ")" + kSecret +
                     R"(-zoom"
[webhooks.twilio]
auth_token = ")" + kSecret +
                     R"(-twilio"
[channels.email]
kind = "smtp"
url = "smtp://127.0.0.1:2525"
from = "a@example.org"
username = "u"
password_file = "pw"
[channels.sms]
kind = "twilio"
account_sid = "AC1"
auth_token = ")" + kSecret +
                     R"(-sms"
from = "+15555550100"
[channels.staff]
kind = "webhook"
url = "https://chat.example.org/hooks/)" +
                     kSecret + R"("
secret = ")" + kSecret +
                     R"(-hook"
)");
  EXPECT_EQ(c.channel("email")->settings.at("password"), kSecret + "-pw");
  std::string text = c.to_string();
  EXPECT_EQ(text.find(kSecret), std::string::npos) << text;
  EXPECT_NE(text.find("[redacted]"), std::string::npos);
  EXPECT_NE(text.find("smtp://127.0.0.1:2525"), std::string::npos);
  EXPECT_TRUE(is_secret_setting("password"));
  EXPECT_TRUE(is_secret_setting("auth_token"));
  EXPECT_FALSE(is_secret_setting("username"));
}

// Every way a secret can be wrong, or sit next to something wrong: the message says what and
// where, never the value.
TEST_F(ConfigTest, SecretsNeverAppearInErrors) {
  write("twice", kSecret + "\n\n");
  const std::vector<std::string> cases = {
      "[webhooks]\nsecret = \"" + kSecret + "\"\nsecret_file = \"x\"\n",
      "[webhooks]\nsecret = \"" + kSecret + "\\u0001\"\n",
      "[webhooks]\nsecret = [\"" + kSecret + "\"]\n",
      "[webhooks]\nsecret = \"" + kSecret + "\"\ntolerance = \"1d\"\n",
      "[webhooks]\nsecret_file = \"twice\"\n",
      "[webhooks.zoom]\nsecret_token = \"" + kSecret + "\"\nsecret_token_file = \"twice\"\n",
      "[channels.sms]\nkind = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"" + kSecret +
          "\"\n",
      "[channels.email]\nkind = \"smtp\"\nurl = \"smtp://h\"\nfrom = \"a@b.org\"\npassword = \"" +
          kSecret + "\"\n",
      "[channels.staff]\nkind = \"webhook\"\nurl = \"ftp://h/" + kSecret + "\"\nsecret = \"s\"\n",
      "[channels.staff]\nkind = \"webhook\"\nurl = \"http://chat.example.org/" + kSecret +
          "\"\nsecret = \"s\"\n",
      // TOML syntax errors quote what they stumbled on; on a secret's line that is the secret.
      "[webhooks]\nsecret = 98765432109876543210987654321\n",
      "[webhooks]\nsecret = tru" + kSecret + "\n",
      "[webhooks]\nsecret = \"" + kSecret + "\" \"" + kSecret + "\"\n",
  };
  for (const std::string& toml : cases) {
    Status s = load_error(toml);
    EXPECT_FALSE(s.message().empty()) << toml;
    EXPECT_EQ(s.message().find(kSecret), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find("98765432109876543210987654321"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find(kSecret.substr(0, 10)), std::string::npos) << s.message();
  }
}

// The warnings that start with `key`: a test looks at its own and ignores the others.
std::vector<std::string> warnings_about(const Config& c, const std::string& key) {
  std::vector<std::string> out;
  for (const std::string& w : c.warnings) {
    if (w.rfind(key + ":", 0) == 0) out.push_back(w);
  }
  return out;
}

// SPEC §2 sets no minimum: a short secret works, with a warning that does not show it.
TEST_F(ConfigTest, ShortWebhookSecretIsAWarningNotAnError) {
  Config c = load_ok("[webhooks]\nsecret = \"test-secret\"\n");
  EXPECT_EQ(c.webhooks.secret, "test-secret");
  std::vector<std::string> w = warnings_about(c, "webhooks.secret");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].rfind("webhooks.secret: is shorter than 16 bytes", 0), 0u) << w[0];
  EXPECT_EQ(w[0].find("test-secret"), std::string::npos);
  EXPECT_TRUE(
      warnings_about(load_ok("[webhooks]\nsecret = \"" + kSecret + "\"\n"), "webhooks.secret")
          .empty());
}

// The warning names the key the file has: secret_file when the secret came from a file.
TEST_F(ConfigTest, ShortSecretFromAFileNamesSecretFile) {
  write("hook-secret", "short\n");
  std::vector<std::string> w = warnings_about(
      load_ok("[webhooks]\nsecret_file = \"hook-secret\"\n"), "webhooks.secret_file");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("is shorter than 16 bytes"), std::string::npos) << w[0];
}

// Without a coordinator, the accommodations people ask for reach no one.
TEST_F(ConfigTest, MissingCoordinatorIsAWarning) {
  std::vector<std::string> w = warnings_about(load_ok(""), "accessibility.coordinator");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("reach no one"), std::string::npos) << w[0];
  EXPECT_EQ(
      warnings_about(load_ok("[accessibility]\ncoordinator = []\n"), "accessibility.coordinator")
          .size(),
      1u);
  Config set = load_ok(kEmailChannel + "[accessibility]\ncoordinator = \"email:a@example.org\"\n");
  EXPECT_TRUE(warnings_about(set, "accessibility.coordinator").empty());
  for (const std::string& line : set.warnings)
    EXPECT_EQ(line.find("a@example.org"), std::string::npos) << line;
}

// Without a webhook secret every signed request is answered 401.
TEST_F(ConfigTest, MissingWebhookSecretIsAWarning) {
  std::vector<std::string> w = warnings_about(load_ok(""), "webhooks.secret");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("401"), std::string::npos) << w[0];
  write("hook-secret", kSecret + "\n");
  EXPECT_TRUE(
      warnings_about(load_ok("[webhooks]\nsecret_file = \"hook-secret\"\n"), "webhooks.secret")
          .empty());
}

// A password with tls = "none" crosses the network in clear, unless the relay is local.
TEST_F(ConfigTest, ClearTextSmtpPasswordIsAWarning) {
  auto smtp = [](const std::string& url, const std::string& tls) {
    return "[channels.email]\nkind = \"smtp\"\nurl = \"" + url +
           "\"\nfrom = \"a@b.org\"\nusername = \"u\"\npassword = \"" + kSecret + "\"\ntls = \"" +
           tls + "\"\n";
  };
  Config c = load_ok(smtp("smtp://smtp.example.org:587", "none"));
  std::vector<std::string> w = warnings_about(c, "channels.email.tls");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("in clear"), std::string::npos) << w[0];
  for (const std::string& line : c.warnings)
    EXPECT_EQ(line.find(kSecret), std::string::npos) << line;
  EXPECT_TRUE(
      warnings_about(load_ok(smtp("smtp://127.0.0.1:2525", "none")), "channels.email.tls").empty());
  EXPECT_TRUE(
      warnings_about(load_ok(smtp("smtp://smtp.example.org:587", "required")), "channels.email.tls")
          .empty());
  EXPECT_TRUE(warnings_about(load_ok("[channels.email]\nkind = \"smtp\"\nurl = \"smtp://h\"\n"
                                     "from = \"a@b.org\"\ntls = \"none\"\n"),
                             "channels.email.tls")
                  .empty());
}

// --- errors ----------------------------------------------------------------------------------

struct ErrorCase {
  const char* what;
  std::string toml;
  std::string field;
  std::string says;  // a part of the message after "<file>: <field>: "
};

class ConfigErrorTest : public ConfigTest, public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(ConfigErrorTest, NamesTheKeyAndWhatIsAccepted) {
  const ErrorCase& c = GetParam();
  write("present-secret", "a-secret-from-a-file-0123456789\n");
  Status s = load_error(c.toml);
  EXPECT_EQ(s.code(), Code::kInvalidField);
  EXPECT_EQ(s.field(), c.field);
  std::string prefix = path() + ": " + c.field + ": ";
  EXPECT_EQ(s.message().substr(0, prefix.size()), prefix) << s.message();
  EXPECT_NE(s.message().find(c.says), std::string::npos) << s.message();
}

const std::string kEmail = "[channels.email]\nkind = \"file\"\ndir = \"out\"\n";

INSTANTIATE_TEST_SUITE_P(
    Config, ConfigErrorTest,
    ::testing::Values(
        // Unknown tables and keys, in every section.
        ErrorCase{"top table", "[deamon]\n", "deamon", "unknown table; accepted tables: daemon"},
        ErrorCase{"top key", "database = \"x\"\n", "database", "unknown key"},
        ErrorCase{"daemon", "[daemon]\nlisten_on = \"x\"\n", "daemon.listen_on",
                  "unknown key; accepted: state_dir, database"},
        ErrorCase{"webhooks", "[webhooks]\nsecrets = \"x\"\n", "webhooks.secrets", "unknown key"},
        ErrorCase{"zoom", "[webhooks.zoom]\ntoken = \"x\"\n", "webhooks.zoom.token",
                  "unknown key; accepted: secret_token, secret_token_file"},
        ErrorCase{"twilio hook", "[webhooks.twilio]\nauth_token = \"x\"\nurl = \"x\"\n",
                  "webhooks.twilio.url", "unknown key"},
        ErrorCase{"webhooks sub", "[webhooks.github]\n", "webhooks.github", "unknown key"},
        ErrorCase{"channel", kEmail + "colour = \"red\"\n", "channels.email.colour",
                  "not a key of a file channel; accepted: kind, dir"},
        ErrorCase{"policy", "[policy]\nsms_reminderz = [\"2h\"]\n", "policy.sms_reminderz",
                  "unknown key; accepted: email_reminders"},
        ErrorCase{"group", "[groups.ibd]\ncolour = \"red\"\n", "groups.ibd.colour",
                  "unknown key; accepted: name, email_reminders"},
        ErrorCase{"accessibility", "[accessibility]\ncoordinators = []\n",
                  "accessibility.coordinators", "unknown key; accepted: coordinator"},
        ErrorCase{"templates", "[templates]\npath = \"x\"\n", "templates.path",
                  "unknown key; accepted: dir"},

        // Wrong types.
        ErrorCase{"table as value", "daemon = 1\n", "daemon", "must be a table"},
        ErrorCase{"string", "[daemon]\ndatabase = 3\n", "daemon.database",
                  "must be a non-empty string"},
        ErrorCase{"empty string", "[daemon]\ndatabase = \"\"\n", "daemon.database",
                  "must be a non-empty string"},
        ErrorCase{"control character", "[daemon]\ndatabase = \"a\\nb\"\n", "daemon.database",
                  "must not contain control characters"},
        ErrorCase{"integer", "[webhooks]\nmax_body = \"64k\"\n", "webhooks.max_body",
                  "must be an integer"},
        ErrorCase{"boolean", "[policy]\ndiscreet_default = \"yes\"\n", "policy.discreet_default",
                  "must be true or false"},
        ErrorCase{"list", "[policy]\nemail_reminders = \"7d\"\n", "policy.email_reminders",
                  "must be a list of durations"},
        ErrorCase{"list item", "[policy]\nemail_reminders = [\"7d\", 1]\n",
                  "policy.email_reminders[1]", "must be a duration"},
        ErrorCase{"channel table", "[channels]\nemail = \"smtp\"\n", "channels.email",
                  "must be a table"},
        ErrorCase{"group table", "[groups]\nibd = \"IBD\"\n", "groups.ibd", "must be a table"},
        ErrorCase{"coordinator", "[accessibility]\ncoordinator = 3\n", "accessibility.coordinator",
                  "must be \"channel:address\" or a list"},

        // Durations and quiet hours.
        ErrorCase{"duration", "[policy]\nlate_grace = \"30 minutes\"\n", "policy.late_grace",
                  "\"30 minutes\" is not a duration such as 30s, 90m, 2h or 7d"},
        ErrorCase{"duration in list", "[policy]\nemail_reminders = [\"7d\", \"1w\"]\n",
                  "policy.email_reminders[1]", "\"1w\" is not a duration"},
        ErrorCase{"duplicate", "[policy]\nsms_reminders = [\"2h\", \"2h\"]\n",
                  "policy.sms_reminders[1]", "\"2h\" is listed twice"},
        ErrorCase{"group duration", "[groups.ibd]\nroster_before = \"soon\"\n",
                  "groups.ibd.roster_before", "is not a duration"},
        ErrorCase{"integer tolerance", "[webhooks]\ntolerance = 300\n", "webhooks.tolerance",
                  "must be a duration string such as \"5m\""},
        ErrorCase{"integer late grace", "[policy]\nlate_grace = 1800\n", "policy.late_grace",
                  "must be a duration string such as \"5m\""},
        ErrorCase{"integer timeout",
                  "[channels.staff]\nkind = \"webhook\"\nurl = \"https://h/x\"\nsecret = \"s\"\n"
                  "timeout = 30\n",
                  "channels.staff.timeout", "must be a duration string"},
        // The quoted value keeps its unit, however long the number.
        ErrorCase{"overlong duration", "[webhooks]\ntolerance = \"99999999999999999999h\"\n",
                  "webhooks.tolerance", "\"99999999999999999999h\" is longer than 366 days"},
        ErrorCase{"calendar tolerance", "[webhooks]\ntolerance = \"1d\"\n", "webhooks.tolerance",
                  "must be in s, m or h"},
        ErrorCase{"zero tolerance", "[webhooks]\ntolerance = \"0s\"\n", "webhooks.tolerance",
                  "must be above zero"},
        ErrorCase{"quiet hours", "[policy]\nquiet_hours = \"25:00-08:00\"\n", "policy.quiet_hours",
                  "\"25:00-08:00\" is not a window such as 21:00-08:00"},
        ErrorCase{"quiet hours sign", "[policy]\nquiet_hours = \"+1:00-08:00\"\n",
                  "policy.quiet_hours", "is not a window"},
        ErrorCase{"quiet hours type", "[policy]\nquiet_hours = false\n", "policy.quiet_hours",
                  "must be a string"},

        // [daemon] values.
        ErrorCase{"log level", "[daemon]\nlog_level = \"verbose\"\n", "daemon.log_level",
                  "\"verbose\" is not one of trace, debug, info, warn, error"},
        ErrorCase{"log format", "[daemon]\nlog_format = \"xml\"\n", "daemon.log_format",
                  "\"xml\" is not one of text, json, journal"},
        ErrorCase{"listen name", "[daemon]\nlisten = \"reminders.example.org:8787\"\n",
                  "daemon.listen",
                  "is not an IP address and port such as 127.0.0.1:8787 or [::1]:8787"},
        ErrorCase{"listen no port", "[daemon]\nlisten = \"127.0.0.1\"\n", "daemon.listen",
                  "is not an IP address and port"},
        ErrorCase{"listen bare v6", "[daemon]\nlisten = \"::1:8787\"\n", "daemon.listen",
                  "is not an IP address and port"},
        ErrorCase{"listen port 0", "[daemon]\nlisten = \"127.0.0.1:0\"\n", "daemon.listen",
                  "the port must be 1 to 65535"},
        ErrorCase{"listen port big", "[daemon]\nlisten = \"127.0.0.1:65536\"\n", "daemon.listen",
                  "the port must be 1 to 65535"},
        ErrorCase{"public url", "[daemon]\npublic_url = \"reminders.example.org\"\n",
                  "daemon.public_url", "must be a URL (scheme http, https)"},
        ErrorCase{"socket path", "[daemon]\nadmin_socket = \"/" + std::string(120, 'a') + "\"\n",
                  "daemon.admin_socket", "bytes a Unix socket path may have"},

        // [webhooks] values.
        ErrorCase{"max body", "[webhooks]\nmax_body = 0\n", "webhooks.max_body",
                  "0 is not a size in bytes from 1 to 16777216"},
        ErrorCase{"zoom without token", "[webhooks.zoom]\n", "webhooks.zoom.secret_token",
                  "required (or secret_token_file)"},

        // Channels.
        ErrorCase{"kind", "[channels.pigeon]\nkind = \"carrier\"\n", "channels.pigeon.kind",
                  "\"carrier\" is not a channel kind; accepted: smtp, file, twilio, webhook"},
        ErrorCase{"no kind", "[channels.outbox]\ndir = \"x\"\n", "channels.outbox.kind",
                  "required"},
        ErrorCase{"key of another kind",
                  "[channels.outbox]\nkind = \"file\"\ndir = \"x\"\nurl = \"smtp://h\"\n",
                  "channels.outbox.url", "not a key of a file channel"},
        ErrorCase{"twilio key on smtp",
                  "[channels.email]\nkind = \"smtp\"\nurl = \"smtp://h\"\nfrom = \"a@b.org\"\n"
                  "account_sid = \"AC1\"\n",
                  "channels.email.account_sid", "not a key of a smtp channel"},
        ErrorCase{"file without dir", "[channels.outbox]\nkind = \"file\"\n", "channels.outbox.dir",
                  "required"},
        ErrorCase{"twilio from and service",
                  "[channels.sms]\nkind = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"t\"\n"
                  "from = \"+15555550100\"\nmessaging_service_sid = \"MG1\"\n",
                  "channels.sms.from", "set from or messaging_service_sid, not both"},
        ErrorCase{"twilio neither",
                  "[channels.sms]\nkind = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"t\"\n",
                  "channels.sms.from", "required (or messaging_service_sid)"},
        ErrorCase{
            "twilio token",
            "[channels.sms]\nkind = \"twilio\"\naccount_sid = \"AC1\"\nfrom = \"+15555550100\"\n",
            "channels.sms.auth_token", "required (or auth_token_file)"},
        ErrorCase{"twilio sid",
                  "[channels.sms]\nkind = \"twilio\"\naccount_sid = \"SK1\"\nauth_token = \"t\"\n"
                  "from = \"+15555550100\"\n",
                  "channels.sms.account_sid", "must be an account SID"},
        ErrorCase{"twilio clear http",
                  "[channels.sms]\nkind = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"t\"\n"
                  "from = \"+15555550100\"\napi_base = \"http://api.twilio.com\"\n",
                  "channels.sms.api_base", "must use https"},
        ErrorCase{"twilio from",
                  "[channels.sms]\nkind = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"t\"\n"
                  "from = \"555-0100\"\n",
                  "channels.sms.from", "is not an E.164 number"},
        ErrorCase{"smtp url",
                  "[channels.email]\nkind = \"smtp\"\nurl = \"https://h\"\n"
                  "from = \"a@b.org\"\n",
                  "channels.email.url", "must be a URL (scheme smtp, smtps)"},
        ErrorCase{"smtp url password",
                  "[channels.email]\nkind = \"smtp\"\nurl = \"smtp://u:p@h\"\nfrom = \"a@b.org\"\n",
                  "channels.email.url", "no user name or password"},
        // A port out of range fails every send as transient, for ever: refused at load.
        ErrorCase{"smtp port out of range",
                  "[channels.email]\nkind = \"smtp\"\nurl = \"smtp://127.0.0.1:99999\"\n"
                  "from = \"a@b.org\"\n",
                  "channels.email.url", "has port 99999; a port is a number from 1 to 65535"},
        ErrorCase{"smtps port zero",
                  "[channels.email]\nkind = \"smtp\"\nurl = \"smtps://[::1]:0\"\n"
                  "from = \"a@b.org\"\n",
                  "channels.email.url", "has port 0;"},
        ErrorCase{"smtp empty port",
                  "[channels.email]\nkind = \"smtp\"\nurl = \"smtp://h:\"\nfrom = \"a@b.org\"\n",
                  "channels.email.url", "has a port that is not a number"},
        ErrorCase{"smtp no host",
                  "[channels.email]\nkind = \"smtp\"\nurl = \"smtp://:25\"\nfrom = \"a@b.org\"\n",
                  "channels.email.url", "with a host"},
        ErrorCase{"twilio api_base port",
                  "[channels.sms]\nkind = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"t\"\n"
                  "from = \"+15555550100\"\napi_base = \"http://127.0.0.1:65536\"\n",
                  "channels.sms.api_base", "has port 65536;"},
        ErrorCase{"webhook url port",
                  "[channels.staff]\nkind = \"webhook\"\nurl = \"https://h:8x/hooks/abc\"\n"
                  "secret = \"s\"\n",
                  "channels.staff.url", "has a port that is not a number"},
        ErrorCase{"missing ca_file",
                  "[channels.email]\nkind = \"smtp\"\nurl = \"smtp://h\"\nfrom = \"a@b.org\"\n"
                  "ca_file = \"/nope/ca.pem\"\n",
                  "channels.email.ca_file", "cannot read \"/nope/ca.pem\": No such file"},
        ErrorCase{"ca_file is a directory",
                  "[channels.staff]\nkind = \"webhook\"\nurl = \"https://h/x\"\nsecret = \"s\"\n"
                  "ca_file = \".\"\n",
                  "channels.staff.ca_file", "is not a regular file"},
        ErrorCase{"smtp from", "[channels.email]\nkind = \"smtp\"\nurl = \"smtp://h\"\n",
                  "channels.email.from", "required"},
        ErrorCase{
            "smtp bad from",
            "[channels.email]\nkind = \"smtp\"\nurl = \"smtp://h\"\nfrom = \"Peer Support\"\n",
            "channels.email.from", "is not an address such as"},
        ErrorCase{"smtp tls",
                  "[channels.email]\nkind = \"smtp\"\nurl = \"smtp://h\"\nfrom = \"a@b.org\"\n"
                  "tls = \"always\"\n",
                  "channels.email.tls", "\"always\" is not one of none, opportunistic, required"},
        ErrorCase{"smtps without tls",
                  "[channels.email]\nkind = \"smtp\"\nurl = \"smtps://h\"\nfrom = \"a@b.org\"\n"
                  "tls = \"none\"\n",
                  "channels.email.tls", "contradicts an smtps:// url"},
        ErrorCase{"smtp half login",
                  "[channels.email]\nkind = \"smtp\"\nurl = \"smtp://h\"\nfrom = \"a@b.org\"\n"
                  "username = \"u\"\n",
                  "channels.email.password", "required when username is set"},
        ErrorCase{"webhook secret", "[channels.staff]\nkind = \"webhook\"\nurl = \"https://h/x\"\n",
                  "channels.staff.secret", "required (or secret_file)"},
        ErrorCase{"email of sms kind", "[channels.email]\nkind = \"twilio\"\n",
                  "channels.email.kind", "cannot carry email; [channels.email] takes smtp or file"},
        ErrorCase{"sms of smtp kind", "[channels.sms]\nkind = \"smtp\"\n", "channels.sms.kind",
                  "cannot carry SMS"},
        ErrorCase{"channel name", "[channels.\"my:chan\"]\nkind = \"file\"\ndir = \"x\"\n",
                  "channels.my:chan", "a channel name may hold only"},

        // Secrets.
        ErrorCase{"inline and file",
                  "[webhooks]\nsecret = \"0123456789abcdef0\"\n"
                  "secret_file = \"present-secret\"\n",
                  "webhooks.secret", "set secret or secret_file, not both"},
        ErrorCase{"inline and file in a channel",
                  "[channels.staff]\nkind = \"webhook\"\nurl = \"https://h/x\"\nsecret = \"s\"\n"
                  "secret_file = \"present-secret\"\n",
                  "channels.staff.secret", "set secret or secret_file, not both"},
        ErrorCase{"missing file", "[webhooks]\nsecret_file = \"absent-secret\"\n",
                  "webhooks.secret_file", "absent-secret\": No such file or directory"},
        ErrorCase{"secret file is a directory", "[webhooks.twilio]\nauth_token_file = \".\"\n",
                  "webhooks.twilio.auth_token_file", "is not a regular file"},
        ErrorCase{"empty inline secret", "[webhooks.zoom]\nsecret_token = \"\"\n",
                  "webhooks.zoom.secret_token", "is empty"},

        // [accessibility] and [templates].
        ErrorCase{"coordinator channel",
                  kEmail + "[accessibility]\ncoordinator = \"sms:+15555550100\"\n",
                  "accessibility.coordinator",
                  "channel \"sms\" is not configured; add [channels.sms] or use one of email"},
        ErrorCase{"coordinator with no channels",
                  "[accessibility]\ncoordinator = \"email:access@example.org\"\n",
                  "accessibility.coordinator", "channel \"email\" is not configured"},
        ErrorCase{
            "coordinator in a list",
            kEmail + "[accessibility]\ncoordinator = [\"email:a@example.org\", \"pager:1\"]\n",
            "accessibility.coordinator[1]", "channel \"pager\" is not configured"},
        ErrorCase{"coordinator shape",
                  kEmail + "[accessibility]\ncoordinator = \"a@example.org\"\n",
                  "accessibility.coordinator", "must be channel:address"},
        ErrorCase{"coordinator address",
                  kEmail + "[accessibility]\ncoordinator = \"email:nobody\"\n",
                  "accessibility.coordinator", "\"nobody\" is not a valid email address"},
        ErrorCase{"templates dir", "[templates]\ndir = \"no-such-dir\"\n", "templates.dir",
                  "no-such-dir\" is not a directory"},
        ErrorCase{"group id", "[groups.\"a b\"]\n", "groups.a b", "a group id may hold only"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) {
      std::string name;
      for (char c : std::string(info.param.what))
        name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

TEST_F(ConfigTest, SyntaxErrorsGiveLineAndColumn) {
  Status s = load_error("[daemon]\nstate_dir = \"/x\"\nlisten = 127.0.0.1:8787\n");
  EXPECT_EQ(s.field(), "");
  std::string prefix = path() + ":3:";
  EXPECT_EQ(s.message().substr(0, prefix.size()), prefix) << s.message();
}

// A directory reads as empty, which would pass as a file of defaults.
TEST_F(ConfigTest, DirectoryIsNotAConfigurationFile) {
  Result<Config> r = load_config(dir_.string());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(), dir_.string() + ": is a directory; give the configuration file");
}

TEST_F(ConfigTest, UnreadableFileNamesIt) {
  Result<Config> r = load_config(in_dir("absent.toml"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(),
            in_dir("absent.toml") + ": cannot read: No such file or directory");
}

// --- reload ----------------------------------------------------------------------------------

// Keys used only at start cannot change at a reload: the daemon would say "reloaded" and keep
// the old listener, files and key. The refusal names the key; every other key may change.
TEST_F(ConfigTest, ReloadRefusesKeysThatNeedARestart) {
  write("master-1", std::string(64, 'a'));
  write("master-2", std::string(64, 'b'));
  const std::string base = R"([daemon]
state_dir = "state"
listen = "127.0.0.1:8787"
admin_socket = "admin.sock"
log_level = "info"
log_format = "text"
master_key_file = "master-1"
)";
  Config running = load_ok(base);
  auto changed = [&](const std::string& from, const std::string& to) {
    std::string toml = base;
    toml.replace(toml.find(from), from.size(), to);
    return load_ok(toml);
  };
  const std::vector<std::pair<std::string, Config>> refused = {
      {"daemon.listen", changed("8787", "8788")},
      {"daemon.state_dir", changed("\"state\"", "\"state2\"")},
      {"daemon.database", changed("[daemon]", "[daemon]\ndatabase = \"other.db\"")},
      {"daemon.admin_socket", changed("admin.sock", "admin2.sock")},
      {"daemon.log_format", changed("\"text\"", "\"json\"")},
      {"daemon.master_key_file", changed("master-1", "master-2")},
  };
  for (const auto& [key, next] : refused) {
    Status s = check_reloadable(running, next);
    ASSERT_FALSE(s.is_ok()) << key;
    EXPECT_EQ(s.field(), key);
    EXPECT_EQ(s.message(), key + " cannot change on reload; restart nudged to apply it");
  }
  // The same key file with new content: the key store was opened with the old key.
  write("master-1", std::string(64, 'c'));
  EXPECT_EQ(check_reloadable(running, load_ok(base)).field(), "daemon.master_key_file");
  write("master-1", std::string(64, 'a'));

  EXPECT_TRUE(check_reloadable(running, load_ok(base)).is_ok());
  EXPECT_TRUE(check_reloadable(running, changed("\"info\"", "\"debug\"")).is_ok());
  EXPECT_TRUE(check_reloadable(running, changed("[daemon]", "[daemon]\ndatabase = \"./nudged.db\""))
                  .is_ok());
  EXPECT_TRUE(check_reloadable(running, load_ok(base + "public_url = \"https://x.example.org\"\n"
                                                       "[policy]\nsms_reminders = [\"3h\"]\n"))
                  .is_ok());
}

}  // namespace
}  // namespace nudged
