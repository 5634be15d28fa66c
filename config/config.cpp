#include "config/config.h"

#include <sodium.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>

#include "events/contact.h"

namespace nudged {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxSecretBytes = 64 * 1024;
constexpr size_t kMinWebhookSecret = 16;
constexpr int64_t kMaxBodyLimit = 16 * 1024 * 1024;

// A bad key, thrown by the readers below and turned into a Status by load_config(). DESIGN.md
// keeps exceptions for configuration load; here they spare every small reader a
// check-and-return, and the first bad key ends the load.
struct KeyError {
  std::string key;
  std::string what;
};

[[noreturn]] void fail(std::string key, std::string what) {
  throw KeyError{std::move(key), std::move(what)};
}

std::string join_key(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  return std::string(prefix) + "." + std::string(name);
}

std::string indexed(const std::string& key, size_t i) {
  return key + "[" + std::to_string(i) + "]";
}

// A value echoed in an error: quoted, control characters escaped, long text cut so a pasted
// blob does not flood the terminal. Never called with a secret or a URL (which may hold one).
std::string shown(std::string_view text) {
  constexpr size_t kMax = 60;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMax) out += "...";
  return out + "\"";
}

std::string comma_list(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words)
    out += (out.empty() ? "" : ", ") + w;
  return out;
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
  });
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool all_of_chars(std::string_view s, int (*pred)(int)) {
  return std::all_of(s.begin(), s.end(),
                     [pred](char c) { return pred(static_cast<unsigned char>(c)) != 0; });
}

// Where relative paths lead: the configuration's directory, and the directory systemd's
// LoadCredential= fills ($CREDENTIALS_DIRECTORY) when the service has one.
struct Places {
  fs::path config_dir;
  fs::path credentials_dir;  // empty when the variable is unset

  std::string resolve(std::string_view p) const {
    fs::path q(p);
    return (q.is_absolute() ? q : config_dir / q).lexically_normal().string();
  }
  fs::path credential(std::string_view p) const {
    fs::path q(p);
    if (q.is_absolute()) return q;
    return ((credentials_dir.empty() ? config_dir : credentials_dir) / q).lexically_normal();
  }
};

// One TOML table and its dotted path. The getters check types; allow_only() makes any key it
// was not told about an error, so a misspelt key never silently leaves a default in force.
class Section {
 public:
  Section(const toml::table& table, std::string path) : table_(&table), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  const toml::table& table() const { return *table_; }
  std::string key(std::string_view name) const { return join_key(path_, name); }
  bool has(std::string_view name) const { return table_->contains(name); }
  const toml::node* node(std::string_view name) const { return table_->get(name); }

  // `what` finishes "<key>: unknown key; accepted: ..." for the general case and lets a
  // channel say which kind refused the key.
  void allow_only(const std::vector<std::string>& names,
                  const std::string& what = "unknown key") const {
    for (auto&& [k, v] : *table_) {
      if (std::find(names.begin(), names.end(), k.str()) == names.end()) {
        fail(key(k.str()), what + "; accepted: " + comma_list(names));
      }
    }
  }

  // A non-empty string without control characters; nullopt when absent.
  std::optional<std::string> text(std::string_view name) const {
    const toml::node* n = node(name);
    if (n == nullptr) return std::nullopt;
    const auto* s = n->as_string();
    if (s == nullptr || s->get().empty()) fail(key(name), "must be a non-empty string");
    if (has_control(s->get())) fail(key(name), "must not contain control characters");
    return s->get();
  }

  // Like text(), but "" is a value (quiet_hours = "" turns quiet hours off).
  std::optional<std::string> maybe_empty_text(std::string_view name) const {
    const toml::node* n = node(name);
    if (n == nullptr) return std::nullopt;
    if (n->as_string() == nullptr) fail(key(name), "must be a string");
    if (n->as_string()->get().empty()) return std::string();
    return text(name);
  }

  // A duration such as "5m": a string, so a bare number (seconds? minutes?) is refused with
  // the form that is accepted rather than a generic "must be a string".
  std::optional<std::string> duration_text(std::string_view name) const {
    const toml::node* n = node(name);
    if (n == nullptr) return std::nullopt;
    if (n->as_string() == nullptr || n->as_string()->get().empty()) {
      fail(key(name), "must be a duration string such as \"5m\", \"30s\" or \"2h\"");
    }
    return text(name);
  }

  std::optional<int64_t> integer(std::string_view name) const {
    const toml::node* n = node(name);
    if (n == nullptr) return std::nullopt;
    if (n->as_integer() == nullptr) fail(key(name), "must be an integer");
    return n->as_integer()->get();
  }

  std::optional<bool> boolean(std::string_view name) const {
    const toml::node* n = node(name);
    if (n == nullptr) return std::nullopt;
    if (n->as_boolean() == nullptr) fail(key(name), "must be true or false");
    return n->as_boolean()->get();
  }

  // The sub-table `name`; nullopt when absent.
  std::optional<Section> sub(std::string_view name) const {
    const toml::node* n = node(name);
    if (n == nullptr) return std::nullopt;
    if (n->as_table() == nullptr) fail(key(name), "must be a table");
    return Section(*n->as_table(), key(name));
  }

 private:
  const toml::table* table_;
  std::string path_;
};

// The section `name` of the file, or an empty one so that defaults flow through one path.
Section section_or_empty(const Section& root, std::string_view name) {
  static const toml::table kEmpty;
  std::optional<Section> s = root.sub(name);
  return s ? *s : Section(kEmpty, std::string(name));
}

template <typename E, size_t N>
E pick(const std::string& key, const std::string& text,
       const std::pair<std::string_view, E> (&names)[N]) {
  std::vector<std::string> accepted;
  for (const auto& [name, value] : names) {
    if (name == text) return value;
    accepted.emplace_back(name);
  }
  fail(key, shown(text) + " is not one of " + comma_list(accepted));
}

constexpr std::pair<std::string_view, LogLevel> kLogLevels[] = {
    {"trace", LogLevel::kTrace}, {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
    {"warn", LogLevel::kWarn},   {"error", LogLevel::kError},
};
constexpr std::pair<std::string_view, LogFormat> kLogFormats[] = {
    {"text", LogFormat::kText}, {"json", LogFormat::kJson}, {"journal", LogFormat::kJournal}};

// --- secrets ---------------------------------------------------------------------------------

// Closes a descriptor on every path out, including a thrown KeyError.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// A secret's text: errors say what is wrong with it, never what it is.
void check_secret(const std::string& key, const std::string& secret, const std::string& origin) {
  if (secret.empty()) fail(key, origin + "is empty");
  if (has_control(secret)) {
    fail(key, origin + "contains control characters (only one trailing newline is removed)");
  }
}

// Reads a regular file named by `key`, stopping once it holds more than `limit` bytes (the
// caller decides what too much means). Errors name the key and the path, never content.
std::string read_regular_file(const std::string& key, const fs::path& path, size_t limit) {
  // O_NONBLOCK: a FIFO named by mistake must not hang the load (no effect on regular files).
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)};
  if (f.fd < 0) fail(key, "cannot read " + shown(path.string()) + ": " + errno_text(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    fail(key, shown(path.string()) + " is not a regular file");
  }
  std::string data;
  char buf[4096];
  while (data.size() <= limit) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(key, "cannot read " + shown(path.string()) + ": " + errno_text(errno));
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  sodium_memzero(buf, sizeof buf);
  return data;
}

std::string read_secret_file(const std::string& key, const fs::path& path) {
  std::string data = read_regular_file(key, path, kMaxSecretBytes);
  if (data.size() > kMaxSecretBytes) {
    fail(key, shown(path.string()) + " is larger than 64 KiB; is it the right file?");
  }
  // Editors and `echo` end files with a newline that is not part of the secret.
  if (!data.empty() && data.back() == '\n') data.pop_back();
  if (!data.empty() && data.back() == '\r') data.pop_back();
  check_secret(key, data, shown(path.string()) + " ");
  return data;
}

// The secret `name` of `s`: inline, or read from the file its `<name>_file` key names (a
// relative one in $CREDENTIALS_DIRECTORY when set). nullopt when neither key is present.
std::optional<std::string> read_secret(const Section& s, const std::string& name,
                                       const Places& at) {
  const std::string file_name = name + "_file";
  if (s.has(name) && s.has(file_name)) {
    fail(s.key(name), "set " + name + " or " + file_name + ", not both");
  }
  if (s.has(name)) {
    const auto* str = s.node(name)->as_string();
    if (str == nullptr) fail(s.key(name), "must be a string");  // the value is not shown
    check_secret(s.key(name), str->get(), "");
    return str->get();
  }
  if (std::optional<std::string> file = s.text(file_name)) {
    return read_secret_file(s.key(file_name), at.credential(*file));
  }
  return std::nullopt;
}

// --- addresses and URLs ----------------------------------------------------------------------

// "127.0.0.1:8787", "[::1]:8787", or "localhost:8787" (the IPv4 loopback: RFC 6761 fixes what
// localhost means, so no name lookup; any other name is refused rather than looked up).
ListenAddress parse_listen(const std::string& key, const std::string& text) {
  const std::string bad =
      shown(text) + " is not an IP address and port such as 127.0.0.1:8787 or [::1]:8787";
  bool v6 = starts_with(text, "[");
  size_t sep = v6 ? text.find("]:") : text.rfind(':');
  if (sep == std::string::npos) fail(key, bad);
  std::string host = v6 ? text.substr(1, sep - 1) : text.substr(0, sep);
  if (!v6 && host == "localhost") host = "127.0.0.1";
  std::string port = text.substr(sep + (v6 ? 2 : 1));
  unsigned char addr[sizeof(in6_addr)];
  if (::inet_pton(v6 ? AF_INET6 : AF_INET, host.c_str(), addr) != 1) fail(key, bad);
  if (port.empty() || port.size() > 5 || !all_of_chars(port, ::isdigit)) fail(key, bad);
  int number = std::stoi(port);
  if (number < 1 || number > 65535) fail(key, shown(text) + ": the port must be 1 to 65535");
  return ListenAddress{host, static_cast<uint16_t>(number)};
}

struct Url {
  std::string scheme;               // lower case
  std::string host;                 // without brackets or port
  std::optional<std::string> port;  // as written after the ':'; nullopt when there is none
};

// Splits "scheme://host[:port][/path]"; nullopt for anything else, user info included (a
// password in a URL would end up in logs and process listings).
std::optional<Url> split_url(std::string_view text) {
  size_t sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  if (std::any_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t'; })) {
    return std::nullopt;
  }
  Url url{std::string(text.substr(0, sep)), "", std::nullopt};
  std::transform(url.scheme.begin(), url.scheme.end(), url.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view rest = text.substr(sep + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view after_host;  // ":port" or nothing
  if (starts_with(authority, "[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    url.host = std::string(authority.substr(1, close - 1));
    after_host = authority.substr(close + 1);
  } else {
    size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) after_host = authority.substr(colon);
  }
  if (url.host.empty()) return std::nullopt;
  if (!after_host.empty()) {
    if (after_host[0] != ':') return std::nullopt;
    url.port = std::string(after_host.substr(1));
  }
  return url;
}

// A port curl would refuse, or wrap around, at every send: then every message fails as
// transient and is retried forever, so it is an error at load instead.
bool is_port(std::string_view port) {
  if (port.empty() || port.size() > 5 || !all_of_chars(port, ::isdigit)) return false;
  int number = std::stoi(std::string(port));
  return number >= 1 && number <= 65535;
}

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr a{};
  return ::inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

// Checks a URL's shape and scheme. `secure` demands https except to a loopback host: provider
// credentials and personal data must not cross a network in clear, but tests and local
// bridges listen on 127.0.0.1. The value is not echoed: webhook URLs often carry a token.
std::string check_url(const std::string& key, const std::string& text,
                      const std::vector<std::string>& schemes, bool secure) {
  std::optional<Url> url = split_url(text);
  std::string accepted = comma_list(schemes);
  if (!url || std::find(schemes.begin(), schemes.end(), url->scheme) == schemes.end()) {
    fail(key, "must be a URL (scheme " + accepted + ") with a host and no user name or password");
  }
  // The port alone is shown, and only when it is digits: the rest of a URL may carry a token.
  if (url->port && !is_port(*url->port)) {
    const std::string& port = *url->port;
    bool digits = !port.empty() && port.size() <= 10 && all_of_chars(port, ::isdigit);
    fail(key, (digits ? "has port " + port : std::string("has a port that is not a number")) +
                  "; a port is a number from 1 to 65535");
  }
  if (secure && url->scheme == "http" && !is_loopback(url->host)) {
    fail(key, "must use https (http only to a loopback address such as 127.0.0.1)");
  }
  return text;
}

// --- [daemon] --------------------------------------------------------------------------------

std::string check_socket_path(const std::string& key, const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    fail(key, shown(path) + " is longer than the " +
                  std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                  " bytes a Unix socket path may have");
  }
  return path;
}

std::string check_public_url(const std::string& key, std::string url) {
  check_url(key, url, {"http", "https"}, false);
  if (url.find_first_of("?#") != std::string::npos) fail(key, "must not have a query or fragment");
  // Links are built as public_url + "/v1/...": one slash, whatever the operator wrote.
  while (url.back() == '/')
    url.pop_back();
  return url;
}

// A 32-byte key: raw, or 64 hex digits (a trailing newline allowed). Errors never show content.
std::string read_key_file(const std::string& key, const fs::path& path) {
  // A longer file is not a key: reading stops past 1 KiB and the size check below refuses it.
  std::string data = read_regular_file(key, path, 1024);
  std::string out;
  if (data.size() == 32) {
    out = data;
  } else {
    while (!data.empty() && (data.back() == '\n' || data.back() == '\r'))
      data.pop_back();
    out.assign(32, '\0');
    size_t len = 0;
    if (data.size() != 64 ||
        sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), data.data(),
                       data.size(), nullptr, &len, nullptr) != 0 ||
        len != 32) {
      sodium_memzero(data.data(), data.size());
      fail(key, shown(path.string()) +
                    " must hold a 32-byte key: 32 raw bytes or 64 hex digits (such as "
                    "`openssl rand -hex 32`)");
    }
  }
  sodium_memzero(data.data(), data.size());
  return out;
}

DaemonConfig read_daemon(const Section& s, const Places& at) {
  s.allow_only({"state_dir", "database", "listen", "admin_socket", "public_url", "log_level",
                "log_format", "master_key_file"});
  DaemonConfig d;
  if (auto v = s.text("state_dir")) d.state_dir = at.resolve(*v);
  if (auto v = s.text("database")) d.database = *v;
  if (auto v = s.text("listen")) d.listen = parse_listen(s.key("listen"), *v);
  if (auto v = s.text("admin_socket")) {
    d.admin_socket = check_socket_path(s.key("admin_socket"), at.resolve(*v));
  }
  d.public_url = "http://" + d.listen.to_string();
  if (auto v = s.text("public_url")) d.public_url = check_public_url(s.key("public_url"), *v);
  if (auto v = s.text("log_level")) d.log_level = pick(s.key("log_level"), *v, kLogLevels);
  if (auto v = s.text("log_format")) d.log_format = pick(s.key("log_format"), *v, kLogFormats);
  if (auto v = s.text("master_key_file")) {
    fs::path path = at.credential(*v);
    d.master_key_file = path.string();
    d.master_key = read_key_file(s.key("master_key_file"), path);
  }
  return d;
}

// --- [webhooks] ------------------------------------------------------------------------------

std::chrono::seconds read_tolerance(const Section& s) {
  std::optional<std::string> text = s.duration_text("tolerance");
  if (!text) return std::chrono::seconds(300);
  Result<std::chrono::seconds> d = parse_exact_duration(*text);
  if (!d) fail(s.key("tolerance"), d.status().message());
  if (d->count() == 0) fail(s.key("tolerance"), "must be above zero, such as \"5m\"");
  return *d;
}

// A secret that must be there when its table is: an empty [webhooks.zoom] is a mistake.
std::string required_secret(const Section& s, const std::string& name, const Places& at) {
  std::optional<std::string> v = read_secret(s, name, at);
  if (!v) fail(s.key(name), "required (or " + name + "_file)");
  return *v;
}

WebhooksConfig read_webhooks(const Section& s, const DaemonConfig& daemon, const Places& at,
                             std::vector<std::string>& warnings) {
  s.allow_only({"secret", "secret_file", "tolerance", "max_body", "zoom", "twilio"});
  WebhooksConfig w;
  if (std::optional<std::string> secret = read_secret(s, "secret", at)) {
    // The HMAC key the operator chooses: a short one can be guessed offline from one signed
    // request. SPEC §2 sets no minimum, so it is a warning, not a refusal. It names the key
    // the file has, so the operator looks in the right place.
    if (secret->size() < kMinWebhookSecret) {
      warnings.push_back(s.key(s.has("secret_file") ? "secret_file" : "secret") +
                         ": is shorter than " + std::to_string(kMinWebhookSecret) +
                         " bytes, so a signed request lets someone guess it; `openssl rand "
                         "-hex 32` makes a strong one");
    }
    w.secret = *secret;
  }
  w.tolerance = read_tolerance(s);
  if (auto v = s.integer("max_body")) {
    if (*v < 1 || *v > kMaxBodyLimit) {
      fail(s.key("max_body"), std::to_string(*v) + " is not a size in bytes from 1 to 16777216");
    }
    w.max_body = static_cast<size_t>(*v);
  }
  if (std::optional<Section> zoom = s.sub("zoom")) {
    zoom->allow_only({"secret_token", "secret_token_file"});
    w.zoom.secret_token = required_secret(*zoom, "secret_token", at);
  }
  w.twilio.public_url = daemon.public_url + "/v1/webhooks/twilio/sms";
  if (std::optional<Section> twilio = s.sub("twilio")) {
    twilio->allow_only({"auth_token", "auth_token_file", "public_url"});
    w.twilio.auth_token = required_secret(*twilio, "auth_token", at);
    if (auto v = twilio->text("public_url")) {
      w.twilio.public_url = check_url(twilio->key("public_url"), *v, {"http", "https"}, false);
    }
  }
  return w;
}

// --- [channels.<name>] -----------------------------------------------------------------------

// What one kind accepts: plain keys, and secrets (each also as "<name>_file").
struct KindRules {
  std::string_view kind;
  std::vector<std::string> keys;
  std::vector<std::string> secrets;
  void (*check)(ChannelTable& c, const Section& s, const Places& at);
};

void require(const ChannelTable& c, const Section& s, const std::string& name,
             const std::string& hint = "") {
  if (c.settings.count(name) == 0) fail(s.key(name), "required" + hint);
}

// "Peer Support <meetings@example.org>" or a bare address.
void check_from_address(const std::string& key, const std::string& from) {
  size_t open = from.rfind('<');
  std::string address = from;
  if (open != std::string::npos) {
    if (from.back() != '>') fail(key, shown(from) + " is not Name <address> or an address");
    address = from.substr(open + 1, from.size() - open - 2);
  }
  if (!normalize_email(address)) {
    fail(key, shown(from) + " is not an address such as Peer Support <meetings@example.org>");
  }
}

void check_smtp(ChannelTable& c, const Section& s, const Places&) {
  auto& m = c.settings;
  require(c, s, "url");
  require(c, s, "from");
  check_url(s.key("url"), m["url"], {"smtp", "smtps"}, false);
  const std::string scheme = split_url(m["url"])->scheme;
  check_from_address(s.key("from"), m["from"]);
  if (m.count("tls") == 0) m["tls"] = "opportunistic";
  if (m["tls"] != "none" && m["tls"] != "opportunistic" && m["tls"] != "required") {
    fail(s.key("tls"), shown(m["tls"]) + " is not one of none, opportunistic, required");
  }
  if (scheme == "smtps" && m["tls"] == "none") {
    fail(s.key("tls"), "\"none\" contradicts an smtps:// url, which is always TLS");
  }
  if (m.count("username") != 0)
    require(c, s, "password", " when username is set (or password_file)");
  if (m.count("password") != 0) require(c, s, "username", " when a password is set");
}

bool is_e164(std::string_view n) {
  return n.size() >= 9 && n.size() <= 16 && n[0] == '+' && all_of_chars(n.substr(1), ::isdigit);
}

// Twilio's alphanumeric sender IDs: up to 11 letters, digits and spaces, at least one letter.
bool is_sender_id(std::string_view n) {
  return !n.empty() && n.size() <= 11 && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == ' ';
  }) && std::any_of(n.begin(), n.end(), [](char c) {
    return std::isalpha(static_cast<unsigned char>(c));
  });
}

bool is_sid(std::string_view sid, std::string_view prefix) {
  return sid.size() > prefix.size() && starts_with(sid, prefix) && all_of_chars(sid, ::isalnum);
}

void check_twilio(ChannelTable& c, const Section& s, const Places&) {
  auto& m = c.settings;
  require(c, s, "account_sid");
  if (!is_sid(m["account_sid"], "AC")) {
    fail(s.key("account_sid"), "must be an account SID: AC followed by letters and digits");
  }
  require(c, s, "auth_token", " (or auth_token_file)");
  if (m.count("api_base") == 0) m["api_base"] = "https://api.twilio.com";
  check_url(s.key("api_base"), m["api_base"], {"http", "https"}, true);
  bool from = m.count("from") != 0, service = m.count("messaging_service_sid") != 0;
  if (from == service) {
    fail(s.key("from"), from ? "set from or messaging_service_sid, not both"
                             : "required (or messaging_service_sid)");
  }
  if (from && !is_e164(m["from"]) && !is_sender_id(m["from"])) {
    fail(s.key("from"),
         shown(m["from"]) + " is not an E.164 number such as +15555550100 or a sender ID");
  }
  if (service && !is_sid(m["messaging_service_sid"], "MG")) {
    fail(s.key("messaging_service_sid"), "must be a service SID: MG, then letters and digits");
  }
}

void check_webhook(ChannelTable& c, const Section& s, const Places&) {
  require(c, s, "url");
  check_url(s.key("url"), c.settings["url"], {"http", "https"}, true);
  require(c, s, "secret", " (or secret_file): the receiver checks the signature with it");
}

void check_file(ChannelTable& c, const Section& s, const Places& at) {
  require(c, s, "dir", ": the directory messages are written to");
  c.settings["dir"] = at.resolve(c.settings["dir"]);
}

// Keys every curl-based channel (smtp, twilio, webhook) takes: `timeout`, the bound on one
// delivery attempt ("30s" when not set), and `ca_file`, a CA bundle or certificate to trust
// instead of the system's (a private relay, a test server with its own certificate).
void check_curl_keys(ChannelTable& c, const Section& s, const Places& at) {
  auto& m = c.settings;
  if (m.count("timeout") != 0) {
    Result<std::chrono::seconds> t = parse_exact_duration(m["timeout"]);
    if (!t) fail(s.key("timeout"), t.status().message());
    if (t->count() <= 0) fail(s.key("timeout"), "must be more than 0s");
  }
  if (m.count("ca_file") != 0) {
    m["ca_file"] = at.resolve(m["ca_file"]);
    // Read now (its first bytes): a missing bundle would otherwise fail every send as a
    // transient TLS error, retried for ever.
    read_regular_file(s.key("ca_file"), m["ca_file"], 0);
  }
}

template <void (*Check)(ChannelTable&, const Section&, const Places&)>
void with_curl_keys(ChannelTable& c, const Section& s, const Places& at) {
  Check(c, s, at);
  check_curl_keys(c, s, at);
}

const std::vector<KindRules>& kind_rules() {
  static const std::vector<KindRules> rules = {
      {"smtp",
       {"url", "from", "username", "tls", "timeout", "ca_file"},
       {"password"},
       with_curl_keys<check_smtp>},
      {"file", {"dir"}, {}, check_file},
      {"twilio",
       {"api_base", "account_sid", "from", "messaging_service_sid", "timeout", "ca_file"},
       {"auth_token"},
       with_curl_keys<check_twilio>},
      {"webhook", {"url", "timeout", "ca_file"}, {"secret"}, with_curl_keys<check_webhook>},
  };
  return rules;
}

const KindRules& rules_for(const Section& s, const std::string& kind) {
  std::vector<std::string> kinds;
  for (const KindRules& r : kind_rules()) {
    if (r.kind == kind) return r;
    kinds.emplace_back(r.kind);
  }
  fail(s.key("kind"), shown(kind) + " is not a channel kind; accepted: " + comma_list(kinds));
}

// Registrations name "email" and "sms" for what they carry, so those two tables must be of a
// kind that can carry it (SPEC §2 lists smtp|file and twilio|webhook|file).
void check_kind_fits_name(const Section& s, const std::string& name, const std::string& kind) {
  if (name == "email" && kind != "smtp" && kind != "file") {
    fail(s.key("kind"), shown(kind) + " cannot carry email; [channels.email] takes smtp or file");
  }
  if (name == "sms" && kind != "twilio" && kind != "webhook" && kind != "file") {
    fail(s.key("kind"),
         shown(kind) + " cannot carry SMS; [channels.sms] takes twilio, webhook or file");
  }
}

bool is_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

ChannelTable read_channel(const Section& s, const std::string& name, const Places& at) {
  if (!is_name(name)) fail(s.path(), "a channel name may hold only letters, digits, - and _");
  std::optional<std::string> kind = s.text("kind");
  if (!kind) fail(s.key("kind"), "required: smtp, file, twilio or webhook");
  const KindRules& rules = rules_for(s, *kind);
  check_kind_fits_name(s, name, *kind);

  std::vector<std::string> accepted = {"kind"};
  accepted.insert(accepted.end(), rules.keys.begin(), rules.keys.end());
  for (const std::string& secret : rules.secrets) {
    accepted.push_back(secret);
    accepted.push_back(secret + "_file");
  }
  s.allow_only(accepted, "not a key of a " + *kind + " channel");

  ChannelTable c{name, *kind, {}};
  for (const std::string& key : rules.keys) {
    if (auto v = key == "timeout" ? s.duration_text(key) : s.text(key)) c.settings[key] = *v;
  }
  for (const std::string& secret : rules.secrets) {
    if (auto v = read_secret(s, secret, at)) c.settings[secret] = *v;
  }
  rules.check(c, s, at);
  return c;
}

constexpr size_t kMaxChannels = 100;
constexpr size_t kMaxCoordinators = 100;

std::vector<ChannelTable> read_channels(const Section& s, const Places& at) {
  std::vector<ChannelTable> channels;
  // The daemon's schedule indexes channel names in one byte (daemon/schedule.h).
  if (s.table().size() > kMaxChannels) {
    fail("channels", "has more than " + std::to_string(kMaxChannels) + " channels");
  }
  for (auto&& [k, v] : s.table()) {
    std::optional<Section> table = s.sub(k.str());
    channels.push_back(read_channel(*table, std::string(k.str()), at));
  }
  return channels;  // toml::table iterates in key order
}

// --- [policy] and [groups.<id>] --------------------------------------------------------------

const std::vector<std::string>& policy_keys() {
  static const std::vector<std::string> keys = {
      "email_reminders",    "sms_reminders", "quiet_hours",     "late_grace",
      "accommodation_lead", "roster_before", "discreet_default"};
  return keys;
}

Offset to_offset(const std::string& key, const std::string& text) {
  Result<Offset> o = parse_offset(text);
  if (!o) fail(key, o.status().message());
  return *o;
}

std::vector<Offset> read_offsets(const Section& s, const std::string& name) {
  const std::string key = s.key(name);
  const toml::array* list = s.node(name)->as_array();
  if (list == nullptr) fail(key, "must be a list of durations such as [\"7d\", \"1h\"]");
  std::vector<Offset> out;
  for (size_t i = 0; i < list->size(); ++i) {
    const auto* text = list->get(i)->as_string();
    if (text == nullptr) fail(indexed(key, i), "must be a duration such as \"1h\"");
    Offset o = to_offset(indexed(key, i), text->get());
    if (std::find(out.begin(), out.end(), o) != out.end()) {
      fail(indexed(key, i), shown(text->get()) + " is listed twice");
    }
    out.push_back(o);
  }
  return out;
}

// Applies the policy keys present in `s` on top of `policy`; absent keys keep its values.
void apply_policy(const Section& s, Policy& policy) {
  if (s.has("email_reminders")) policy.email_reminders = read_offsets(s, "email_reminders");
  if (s.has("sms_reminders")) policy.sms_reminders = read_offsets(s, "sms_reminders");
  if (auto v = s.maybe_empty_text("quiet_hours")) {
    Result<QuietHours> q = parse_quiet_hours(*v);
    if (!q) fail(s.key("quiet_hours"), q.status().message());
    policy.quiet_hours = *q;
  }
  if (auto v = s.duration_text("late_grace")) {
    policy.late_grace = to_offset(s.key("late_grace"), *v);
  }
  if (auto v = s.duration_text("accommodation_lead")) {
    policy.accommodation_lead = to_offset(s.key("accommodation_lead"), *v);
  }
  if (auto v = s.duration_text("roster_before"))
    policy.roster_before = to_offset(s.key("roster_before"), *v);
  if (auto v = s.boolean("discreet_default")) policy.discreet_default = *v;
}

// Group ids come from events, so they follow the event codec's id rule.
bool is_group_id(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '@';
  });
}

std::map<std::string, GroupPolicy> read_groups(const Section& s, const Policy& defaults) {
  std::vector<std::string> accepted = {"name"};
  accepted.insert(accepted.end(), policy_keys().begin(), policy_keys().end());
  std::map<std::string, GroupPolicy> groups;
  for (auto&& [k, v] : s.table()) {
    std::string id(k.str());
    Section g = *s.sub(id);
    if (!is_group_id(id)) fail(g.path(), "a group id may hold only letters, digits and - _ . : @");
    g.allow_only(accepted);
    GroupPolicy group{g.text("name").value_or(id), defaults};
    apply_policy(g, group.policy);
    groups.emplace(id, std::move(group));
  }
  return groups;
}

// --- [accessibility] -------------------------------------------------------------------------

std::vector<std::string> channel_names(const std::vector<ChannelTable>& channels) {
  std::vector<std::string> names;
  for (const ChannelTable& c : channels)
    names.push_back(c.name);
  return names;
}

// The address must suit the channel: an email channel gets a mailbox, an SMS one a number.
StaffAddress read_coordinator(const std::string& key, const std::string& text,
                              const std::vector<ChannelTable>& channels) {
  Result<StaffAddress> parsed = parse_staff_address(text);
  if (!parsed) fail(key, shown(text) + " " + parsed.status().message());
  StaffAddress a = *parsed;
  auto it = std::find_if(channels.begin(), channels.end(),
                         [&](const ChannelTable& c) { return c.name == a.channel; });
  if (it == channels.end()) {
    std::vector<std::string> names = channel_names(channels);
    fail(key, "channel " + shown(a.channel) + " is not configured; add [channels." + a.channel +
                  "]" + (names.empty() ? "" : " or use one of " + comma_list(names)));
  }
  if (it->kind == "smtp" || it->name == "email") {
    Result<std::string> email = normalize_email(a.address);
    if (!email) fail(key, shown(a.address) + " is " + email.status().message());
    a.address = *email;
  } else if (it->kind == "twilio" || it->name == "sms") {
    Result<std::string> phone = normalize_phone(a.address, "");
    if (!phone) fail(key, shown(a.address) + " is " + phone.status().message());
    a.address = *phone;
  }
  return a;
}

std::vector<StaffAddress> read_coordinators(const Section& s,
                                            const std::vector<ChannelTable>& channels) {
  s.allow_only({"coordinator"});
  const toml::node* n = s.node("coordinator");
  if (n == nullptr) return {};
  const std::string key = s.key("coordinator");
  if (n->is_string()) return {read_coordinator(key, *s.text("coordinator"), channels)};
  const toml::array* list = n->as_array();
  if (list == nullptr) fail(key, "must be \"channel:address\" or a list of them");
  // The daemon's schedule indexes a coordinator in one byte (daemon/schedule.h).
  if (list->size() > kMaxCoordinators) {
    fail(key, "lists more than " + std::to_string(kMaxCoordinators) + " coordinators");
  }
  std::vector<StaffAddress> out;
  for (size_t i = 0; i < list->size(); ++i) {
    const auto* text = list->get(i)->as_string();
    if (text == nullptr)
      fail(indexed(key, i), "must be a string such as \"email:access@example.org\"");
    out.push_back(read_coordinator(indexed(key, i), text->get(), channels));
  }
  return out;
}

// --- [templates] -----------------------------------------------------------------------------

TemplatesConfig read_templates(const Section& s, const Places& at) {
  s.allow_only({"dir"});
  TemplatesConfig t;
  if (auto v = s.text("dir")) {
    t.dir = at.resolve(*v);
    // Checked now: a misspelt directory would otherwise quietly leave the defaults in use.
    std::error_code ec;
    if (!fs::is_directory(t.dir, ec)) fail(s.key("dir"), shown(t.dir) + " is not a directory");
  }
  return t;
}

// --- warnings --------------------------------------------------------------------------------
// Settings that load and run but quietly defeat a purpose. Each names the key and never shows a
// value (an address or a secret).

void warn_without_coordinator(const Config& cfg, std::vector<std::string>& warnings) {
  if (!cfg.plan.coordinators.empty()) return;
  warnings.push_back(
      "accessibility.coordinator: not set, so the accommodations people ask for when they "
      "register reach no one; set it to \"channel:address\" (or a list of them)");
}

void warn_without_webhook_secret(const Config& cfg, std::vector<std::string>& warnings) {
  if (!cfg.webhooks.secret.empty()) return;
  warnings.push_back(
      "webhooks.secret: not set (nor secret_file), so every signed request (POST /v1/events "
      "from forms) is answered 401; `openssl rand -hex 32` makes one");
}

void warn_clear_text_password(const Config& cfg, std::vector<std::string>& warnings) {
  for (const ChannelTable& c : cfg.channels) {
    if (c.kind != "smtp" || c.settings.count("password") == 0) continue;
    if (c.settings.at("tls") != "none") continue;
    std::optional<Url> url = split_url(c.settings.at("url"));
    if (url && is_loopback(url->host)) continue;  // a local relay: nothing crosses a network
    warnings.push_back("channels." + c.name +
                       ".tls: \"none\" with a username and password sends the password in "
                       "clear to a host that is not loopback; use \"required\"");
  }
}

void add_warnings(Config& cfg) {
  warn_without_coordinator(cfg, cfg.warnings);
  warn_without_webhook_secret(cfg, cfg.warnings);
  warn_clear_text_password(cfg, cfg.warnings);
}

// --- the file --------------------------------------------------------------------------------

void check_top_level(const toml::table& root) {
  const std::vector<std::string> tables = {"daemon",        "webhooks", "channels", "policy",
                                           "accessibility", "groups",   "templates"};
  for (auto&& [k, v] : root) {
    if (std::find(tables.begin(), tables.end(), k.str()) != tables.end()) continue;
    fail(std::string(k.str()), std::string(v.is_table() ? "unknown table" : "unknown key") +
                                   "; accepted tables: " + comma_list(tables));
  }
}

Config read_config(const toml::table& root, const Places& at) {
  check_top_level(root);
  Section top(root, "");
  Config cfg;
  cfg.daemon = read_daemon(section_or_empty(top, "daemon"), at);
  cfg.webhooks = read_webhooks(section_or_empty(top, "webhooks"), cfg.daemon, at, cfg.warnings);
  cfg.channels = read_channels(section_or_empty(top, "channels"), at);
  Section policy = section_or_empty(top, "policy");
  policy.allow_only(policy_keys());
  apply_policy(policy, cfg.plan.defaults);
  cfg.plan.groups = read_groups(section_or_empty(top, "groups"), cfg.plan.defaults);
  cfg.plan.coordinators = read_coordinators(section_or_empty(top, "accessibility"), cfg.channels);
  cfg.templates = read_templates(section_or_empty(top, "templates"), at);
  add_warnings(cfg);
  return cfg;
}

bool is_secret_key_name(std::string_view name) {
  return name == "secret" || name == "password" || name == "auth_token" || name == "secret_token";
}

// toml++ quotes the text it stumbled on ("saw 'tru3'"). When the line assigns a secret, that
// text is part of the secret, so every quoted fragment is dropped from the message.
std::string syntax_message(const std::string& content, const toml::parse_error& e) {
  std::string what(e.description());
  std::istringstream lines(content);
  std::string line;
  for (auto n = e.source().begin.line; n > 0 && std::getline(lines, line); --n) {
  }
  std::string name = line.substr(0, line.find('='));
  name.erase(std::remove_if(name.begin(), name.end(),
                            [](char c) {
                              return std::isspace(static_cast<unsigned char>(c)) || c == '"' ||
                                     c == '\'';
                            }),
             name.end());
  name = name.substr(name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1);
  if (!is_secret_key_name(name)) return what;
  std::string out;
  bool inside = false;
  for (char c : what) {
    if (c == '\'') {
      out += inside ? "'" : "'...";
      inside = !inside;
    } else if (!inside) {
      out += c;
    }
  }
  return out;
}

Result<std::string> read_file(const std::string& path) {
  // A directory opens and reads as empty, which would pass as a file of defaults.
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return Status::io(path + ": is a directory; give the configuration file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io(path + ": cannot read: " + errno_text(errno));
  std::ostringstream body;
  body << in.rdbuf();
  if (in.bad()) return Status::io(path + ": cannot read: " + errno_text(errno));
  return body.str();
}

Places places_for(const std::string& path) {
  std::error_code ec;
  fs::path absolute = fs::absolute(path, ec);
  Places at{(ec ? fs::path(path) : absolute).parent_path(), {}};
  const char* credentials = std::getenv("CREDENTIALS_DIRECTORY");
  if (credentials != nullptr && *credentials != '\0') at.credentials_dir = credentials;
  return at;
}

// --- printing --------------------------------------------------------------------------------

std::string redacted(const std::string& secret) {
  return secret.empty() ? "" : "[redacted]";
}

std::string format_quiet_hours(const QuietHours& q) {
  if (!q.enabled) return "";
  auto clock = [](int minutes) {
    auto two = [](int n) {
      return std::string(1, static_cast<char>('0' + n / 10)) + static_cast<char>('0' + n % 10);
    };
    return two(minutes / 60) + ":" + two(minutes % 60);
  };
  return clock(q.start_minute) + "-" + clock(q.end_minute);
}

toml::array offsets_array(const std::vector<Offset>& offsets) {
  toml::array a;
  for (const Offset& o : offsets)
    a.push_back(format_offset(o));
  return a;
}

toml::table policy_table(const Policy& p) {
  return toml::table{{"email_reminders", offsets_array(p.email_reminders)},
                     {"sms_reminders", offsets_array(p.sms_reminders)},
                     {"quiet_hours", format_quiet_hours(p.quiet_hours)},
                     {"late_grace", format_offset(p.late_grace)},
                     {"accommodation_lead", format_offset(p.accommodation_lead)},
                     {"roster_before", format_offset(p.roster_before)},
                     {"discreet_default", p.discreet_default}};
}

// A webhook channel's URL often is its credential (chat "incoming webhook" URLs): keep the
// scheme and host only.
std::string url_origin(const std::string& url) {
  std::optional<Url> u = split_url(url);
  return u ? u->scheme + "://" + u->host + "/[redacted]" : "[redacted]";
}

toml::table channel_table(const ChannelTable& c) {
  toml::table t{{"kind", c.kind}};
  for (const auto& [k, v] : c.settings) {
    if (is_secret_setting(k)) {
      t.insert_or_assign(k, redacted(v));
    } else if (c.kind == "webhook" && k == "url") {
      t.insert_or_assign(k, url_origin(v));
    } else {
      t.insert_or_assign(k, v);
    }
  }
  return t;
}

}  // namespace

const char* log_level_name(LogLevel level) {
  for (const auto& [name, value] : kLogLevels) {
    if (value == level) return name.data();
  }
  return "info";
}

const char* log_format_name(LogFormat format) {
  for (const auto& [name, value] : kLogFormats) {
    if (value == format) return name.data();
  }
  return "text";
}

std::string ListenAddress::to_string() const {
  std::string port_text = std::to_string(port);
  return host.find(':') == std::string::npos ? host + ":" + port_text
                                             : "[" + host + "]:" + port_text;
}

bool is_secret_setting(std::string_view key) {
  return is_secret_key_name(key);
}

std::string Config::database_path() const {
  std::filesystem::path db(daemon.database);
  if (db.is_absolute()) return db.string();
  return (std::filesystem::path(daemon.state_dir) / db).string();
}

const ChannelTable* Config::channel(std::string_view name) const {
  for (const ChannelTable& c : channels) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string Config::to_string() const {
  toml::table root;
  root.insert_or_assign("daemon", toml::table{{"state_dir", daemon.state_dir},
                                              {"database", daemon.database},
                                              {"listen", daemon.listen.to_string()},
                                              {"admin_socket", daemon.admin_socket},
                                              {"public_url", daemon.public_url},
                                              {"log_level", log_level_name(daemon.log_level)},
                                              {"log_format", log_format_name(daemon.log_format)}});
  root.insert_or_assign(
      "webhooks",
      toml::table{{"secret", redacted(webhooks.secret)},
                  {"tolerance", format_offset(Offset::seconds(webhooks.tolerance.count()))},
                  {"max_body", static_cast<int64_t>(webhooks.max_body)},
                  {"zoom", toml::table{{"secret_token", redacted(webhooks.zoom.secret_token)}}},
                  {"twilio", toml::table{{"auth_token", redacted(webhooks.twilio.auth_token)},
                                         {"public_url", webhooks.twilio.public_url}}}});
  toml::table channel_tables;
  for (const ChannelTable& c : channels)
    channel_tables.insert_or_assign(c.name, channel_table(c));
  root.insert_or_assign("channels", std::move(channel_tables));
  root.insert_or_assign("policy", policy_table(plan.defaults));
  toml::table groups;
  for (const auto& [id, g] : plan.groups) {
    toml::table t = policy_table(g.policy);
    t.insert_or_assign("name", g.name);
    groups.insert_or_assign(id, std::move(t));
  }
  root.insert_or_assign("groups", std::move(groups));
  toml::array coordinators;
  for (const StaffAddress& a : plan.coordinators)
    coordinators.push_back(a.channel + ":" + a.address);
  root.insert_or_assign("accessibility", toml::table{{"coordinator", std::move(coordinators)}});
  root.insert_or_assign("templates", toml::table{{"dir", templates.dir}});
  std::ostringstream out;
  out << root << "\n";
  return out.str();
}

Result<Config> load_config(const std::string& path) {
  Result<std::string> content = read_file(path);
  if (!content) return content.status();
  toml::table root;
  try {
    root = toml::parse(*content, std::string_view(path));
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return Status::malformed(path + ":" + std::to_string(at.line) + ":" +
                             std::to_string(at.column) + ": " + syntax_message(*content, e));
  }
  try {
    return read_config(root, places_for(path));
  } catch (const KeyError& e) {
    return Status::invalid(e.key, path + ": " + e.key + ": " + e.what);
  }
}

namespace {

Status needs_restart(const std::string& key) {
  return Status::invalid(key, key + " cannot change on reload; restart nudged to apply it");
}

}  // namespace

Status check_reloadable(const Config& running, const Config& next) {
  const DaemonConfig& a = running.daemon;
  const DaemonConfig& b = next.daemon;
  if (a.state_dir != b.state_dir) return needs_restart("daemon.state_dir");
  // Compared as the path opened, so "nudged.db" and "./nudged.db" are the same database.
  if (fs::path(running.database_path()).lexically_normal() !=
      fs::path(next.database_path()).lexically_normal()) {
    return needs_restart("daemon.database");
  }
  if (a.listen.to_string() != b.listen.to_string()) return needs_restart("daemon.listen");
  if (a.admin_socket != b.admin_socket) return needs_restart("daemon.admin_socket");
  if (a.log_format != b.log_format) return needs_restart("daemon.log_format");
  // The key store was opened with the old key: a new file, or new content in the same file,
  // would only take effect (or fail to open the store) at the next start.
  if (a.master_key_file != b.master_key_file || a.master_key.size() != b.master_key.size() ||
      sodium_memcmp(a.master_key.data(), b.master_key.data(), a.master_key.size()) != 0) {
    return needs_restart("daemon.master_key_file");
  }
  return Status::ok();
}

}  // namespace nudged
