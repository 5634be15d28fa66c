// The "smtp" channel: email through an SMTP server, on the loop's curl thread (connections to
// the server are kept and reused between messages; see curl_thread.h for why a thread).
//
// The message: multipart/mixed holding one multipart/alternative of text/plain, the accessible
// text/html and, for invitations, text/calendar; method=... (the shape calendar clients expect
// of an invite); text and HTML quoted-printable, the calendar base64. Headers: From, To,
// Subject (RFC 2047 when not ASCII), Date, Message-ID (stable per notification) and the
// message's own headers (List-Unsubscribe, List-Unsubscribe-Post from compose).
//
// Built with curl's MIME API (curl encodes the parts, picks the boundaries and dot-stuffs the
// DATA), here on the daemon's loop together with the rest of the easy handle; the finished
// handle then goes to the curl thread, which adds it to its multi handle. A handle and its MIME
// tree are only ever used by one thread at a time (see curl_thread.h).
//
// TLS: tls = "none" (CURLUSESSL_NONE), "opportunistic" (STARTTLS when offered: TRY) or
// "required" (ALL); smtps:// URLs are TLS from the first byte. Certificates are always verified
// (against ca_file when set). Auth: username and password.
//
// Outcomes, recorded as the reply code, the enhanced status code and our words for them, never
// the server's own text, which can name the recipient (channels/failure_text.h); with no reply,
// curl's kind of failure. No reply (connection, TLS, timeout) and 4xx are transient. A 5xx depends
// on what it refused. Before RCPT TO (the greeting, EHLO, STARTTLS, AUTH, MAIL FROM) the server
// refuses us, not this recipient: bad credentials, an account or relay problem, a server refusing
// everyone. Permanent, that would throw away every message owed, and none would be resent after the
// fix, so it is transient, marked account-level. At RCPT TO and after, a 5xx is about this
// recipient or message (550 5.1.1 no such user, 552 too big): permanent, except what is about us
// all the same, an authentication or policy refusal (530, 535, X.7.x: relaying denied, sender not
// allowed) or a mail system refusing everything (X.3.x but X.3.4, too big). See
// account_level_reply().
//
// Settings: url, from, username, password, tls, timeout, ca_file. Loop thread only.
#include <algorithm>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "channels/curl_sender.h"
#include "channels/curl_thread.h"
#include "channels/failure_text.h"
#include "channels/mail_headers.h"
#include "events/contact.h"

namespace nudged {
namespace {

struct SmtpSettings {
  std::string url;
  std::string from;          // as configured: "Peer Support <meetings@example.org>"
  std::string from_address;  // meetings@example.org
  std::string domain;        // example.org: for Message-IDs
  std::string username;
  std::string password;
  long use_ssl = CURLUSESSL_TRY;
  CurlSettings curl;
  std::string mail_from;    // "<meetings@example.org>": the envelope sender
  std::string from_header;  // "From: ...", encoded once
};

// Where in the SMTP dialogue a reply came. curl runs the greeting, EHLO, STARTTLS and AUTH
// before the request proper (its connect phase) and then, for the one recipient we give it,
// MAIL FROM, RCPT TO, DATA and the end of the data, one reply each.
enum class SmtpStage : uint8_t { kSession, kMailFrom, kRcptTo, kData, kEndOfData };

// A 5xx at RCPT TO or later that is about the sender all the same (see the file comment).
// `line` is the whole reply line, "554 5.7.1 <a@b>: Relay access denied"; enhanced status codes
// (RFC 3463) are optional, so the bare reply code counts too.
bool account_level_reply(long reply, std::string_view line) {
  // 530 authentication required, 534 mechanism too weak, 535 credentials invalid, 538
  // encryption required for the mechanism (RFC 4954).
  if (reply == 530 || reply == 534 || reply == 535 || reply == 538) return true;
  if (line.size() < 9 || (line[3] != ' ' && line[3] != '-')) return false;
  // "5.7.1": class (the reply's own), subject, detail.
  std::string_view code = line.substr(4);
  code = code.substr(0, code.find_first_not_of("0123456789.", 0));
  if (code.size() < 5 || code[0] != line[0] || code[1] != '.' || code[3] != '.') return false;
  char subject = code[2];
  std::string_view detail = code.substr(4);
  // X.7.*: security or policy. Only the details about the sender: not authenticated (0, 8, 9,
  // 11, 13, 14), the sender's SPF/DKIM/DMARC failing (23 to 27), not permitted to send as this
  // sender (60), and a 5.7.1 that says relaying is denied. Others, such as 5.7.1 "recipient
  // blocked" or a spam refusal, are about this recipient: retried until the deadline they would
  // mail a refusing host for weeks (a series notice's) and hurt the sender's reputation.
  if (subject == '7') {
    static constexpr std::string_view kSenderSide[] = {"0",  "8",  "9",  "11", "13", "14",
                                                       "23", "24", "25", "26", "27", "60"};
    for (std::string_view d : kSenderSide) {
      if (detail == d) return true;
    }
    if (detail != "1") return false;
    std::string lower(line);
    for (char& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower.find("relay") != std::string::npos;
  }
  // X.3.*: the mail system as a whole (full, not accepting messages); X.3.4 is this message
  // being too big.
  if (subject == '3') return detail != "4";
  return false;
}

bool is_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (c <= 0x20 || c >= 0x7f || c == ':') return false;
  }
  return true;
}

// Mail lines end in CRLF; templates end theirs in LF. curl's quoted-printable encoder treats
// only CRLF as a line break (a bare LF would become "=0A" and one endless line).
std::string crlf(const std::string& text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out.push_back('\r');
    out.push_back(text[i]);
  }
  return out;
}

// Header values from compose are ASCII URLs; anything else is flattened and encoded.
std::string header_line(std::string_view name, const std::string& value) {
  std::string line(name);
  line += ": ";
  line += encode_header_text(value);
  return line;
}

class SmtpJob final : public CurlJob {
 public:
  SmtpJob(const SmtpSettings& s, const Message& m, const std::string& to) : CurlJob(s.curl) {
    if (easy_ == nullptr) return;
    curl_easy_setopt(easy_, CURLOPT_URL, s.url.c_str());
    curl_easy_setopt(easy_, CURLOPT_USE_SSL, s.use_ssl);
    if (!s.username.empty()) {
      curl_easy_setopt(easy_, CURLOPT_USERNAME, s.username.c_str());
      curl_easy_setopt(easy_, CURLOPT_PASSWORD, s.password.c_str());
    }
    curl_easy_setopt(easy_, CURLOPT_MAIL_FROM, s.mail_from.c_str());
    rcpt_ = curl_slist_append(nullptr, ("<" + to + ">").c_str());
    curl_easy_setopt(easy_, CURLOPT_MAIL_RCPT, rcpt_);
    // curl hands every reply line of the server to the header callback (pingpong.c: "response
    // lines can be seen as a kind of headers"); we keep the refusal, if any. Not the debug
    // callback: that needs CURLOPT_VERBOSE, which makes curl format and report every step of
    // every transfer, a measurable cost per message.
    curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &SmtpJob::on_reply_line);
    curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
    // Called once connected (or on a reused connection) just before MAIL FROM: the replies
    // after it are the request's own, counted to tell a refusal of the sender from one of the
    // recipient (curl's result codes do not: MAIL, RCPT and DATA all give CURLE_SEND_ERROR).
    curl_easy_setopt(easy_, CURLOPT_PREREQFUNCTION, &SmtpJob::on_request_start);
    curl_easy_setopt(easy_, CURLOPT_PREREQDATA, this);
    // curl's default upload buffer is 64 KiB, and SMTP adds a scratch buffer twice that for the
    // dot-stuffing, both allocated per transfer; reminders are a few KiB.
    curl_easy_setopt(easy_, CURLOPT_UPLOAD_BUFFERSIZE, 16L * 1024);

    add_header("Date: " + rfc5322_date(std::time(nullptr)));
    add_header(s.from_header);
    add_header("To: <" + to + ">");
    add_header(header_line("Subject", m.subject));
    // Only compose's keyed token: never a hash anyone could recompute from a guessed
    // notification id. A message built elsewhere (none is, in the daemon) goes without, and the
    // server gives it one.
    if (std::string id = message_id(m.message_id_token, s.domain); !id.empty()) {
      add_header("Message-ID: " + id);
    }
    for (const auto& [name, value] : m.headers) {
      if (is_header_name(name)) add_header(header_line(name, value));
    }
    use_headers();  // CURLOPT_HTTPHEADER: for SMTP, the headers of the top-level MIME message

    mime_ = curl_mime_init(easy_);
    curl_mime* alternative = curl_mime_init(easy_);
    add_part(alternative, "text/plain; charset=utf-8", crlf(m.text), "quoted-printable");
    if (!m.html.empty()) {
      add_part(alternative, "text/html; charset=utf-8", crlf(m.html), "quoted-printable");
    }
    if (m.calendar) {
      // base64 keeps the calendar's CRLF line ends and folding byte for byte.
      add_part(alternative, "text/calendar; charset=utf-8; method=" + m.calendar->method,
               m.calendar->ics, "base64");
    }
    curl_mimepart* holder = curl_mime_addpart(mime_);
    curl_mime_subparts(holder, alternative);  // the holder owns `alternative` from here
    curl_mime_type(holder, "multipart/alternative");
    curl_easy_setopt(easy_, CURLOPT_MIMEPOST, mime_);
  }

  ~SmtpJob() override {
    // The handle first: it still points at the MIME tree, which it unlinks on cleanup, and at
    // the recipient list.
    curl_easy_cleanup(easy_);
    easy_ = nullptr;
    curl_mime_free(mime_);
    curl_slist_free_all(rcpt_);
  }

  SendResult result(CURLcode code) override {
    if (code == CURLE_OK) return SendResult::sent();
    long reply = response_code();
    // What is kept is built from codes only; the reply's own words are read below to classify
    // the refusal, and then dropped with the job.
    std::string why = smtp_failure_text(last_reply_);
    why = "smtp: " + (why.empty() ? curl_failure_text(code) : why);
    // curl's own word that the server refused our login, our hello or TLS (a STARTTLS
    // refused when required): about the account or the server, whatever the reply.
    if (code == CURLE_LOGIN_DENIED || code == CURLE_AUTH_ERROR ||
        code == CURLE_REMOTE_ACCESS_DENIED || code == CURLE_USE_SSL_FAILED) {
      return SendResult::account_refused(std::move(why));
    }
    if (reply >= 500 && reply < 600) {
      if (refused_at_ < SmtpStage::kRcptTo || account_level_reply(reply, last_reply_)) {
        return SendResult::account_refused(std::move(why));
      }
      return SendResult::permanent(std::move(why));
    }
    return SendResult::transient(std::move(why));
  }

 private:
  static void add_part(curl_mime* mime, const std::string& type, const std::string& body,
                       const char* encoding) {
    curl_mimepart* part = curl_mime_addpart(mime);
    curl_mime_data(part, body.data(), body.size());
    curl_mime_type(part, type.c_str());
    curl_mime_encoder(part, encoding);
  }

  static size_t on_reply_line(char* data, size_t size, size_t count, void* self) {
    auto* job = static_cast<SmtpJob*>(self);
    size_t n = size * count;
    // The stage this reply answers: after the request began, its n-th reply answers its n-th
    // command. Lines of a multiline reply ("250-...") but its last do not end a reply.
    SmtpStage stage = SmtpStage::kSession;
    if (job->request_started_) {
      stage = static_cast<SmtpStage>(
          std::min<int>(job->request_replies_ + 1, static_cast<int>(SmtpStage::kEndOfData)));
      if (n < 4 || data[3] != '-') ++job->request_replies_;
    }
    // The refusal, not the QUIT that curl sends after it: keep the last 4xx/5xx reply.
    if (n > 0 && (data[0] == '4' || data[0] == '5')) {
      std::string line(data, std::min<size_t>(n, 512));
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
        line.pop_back();
      job->last_reply_ = std::move(line);
      job->refused_at_ = stage;
    }
    return n;
  }

  static int on_request_start(void* self, char*, char*, int, int) {
    auto* job = static_cast<SmtpJob*>(self);
    job->request_started_ = true;
    job->request_replies_ = 0;
    return CURL_PREREQFUNC_OK;
  }

  curl_mime* mime_ = nullptr;
  curl_slist* rcpt_ = nullptr;
  std::string last_reply_;
  // Set on the curl thread while the transfer runs, read by result() after it: the transfer's
  // end orders the two, as for last_reply_.
  SmtpStage refused_at_ = SmtpStage::kSession;
  bool request_started_ = false;
  int request_replies_ = 0;
};

class SmtpChannel final : public Channel {
 public:
  SmtpChannel(SmtpSettings settings, std::shared_ptr<CurlDriver> driver)
      : settings_(std::move(settings)), sender_(std::move(driver)) {}
  ~SmtpChannel() override { close(); }

  void send(const Message& message, Done done) override {
    Result<std::string> to = normalize_email(message.to);
    if (!to) {
      return sender_.fail_later(SendResult::permanent("smtp: the recipient is not an address"),
                                std::move(done));
    }
    sender_.send(std::make_unique<SmtpJob>(settings_, message, *to), std::move(done));
  }

  int concurrency() const override { return 4; }
  void close() override { sender_.close(); }

 private:
  SmtpSettings settings_;
  CurlSender sender_;
};

Result<std::unique_ptr<Channel>> make_smtp_channel(const ChannelConfig& config,
                                                   const ChannelEnv& env) {
  if (env.loop == nullptr) return Status::invalid("", "an smtp channel needs the event loop");
  auto get = [&](const char* key) {
    auto it = config.settings.find(key);
    return it == config.settings.end() ? std::string() : it->second;
  };
  SmtpSettings s;
  s.url = get("url");
  s.from = get("from");
  s.username = get("username");
  s.password = get("password");
  if (s.url.empty()) return Status::invalid("url", "required");
  s.from_address = address_of(s.from);
  Result<std::string> from = normalize_email(s.from_address);
  if (!from) return Status::invalid("from", "not an address such as Name <a@example.org>");
  s.from_address = *from;
  s.domain = s.from_address.substr(s.from_address.rfind('@') + 1);
  s.mail_from = "<" + s.from_address + ">";
  s.from_header = "From: " + encode_mailbox(s.from);
  std::string tls = get("tls");
  if (tls == "none") {
    s.use_ssl = CURLUSESSL_NONE;
  } else if (tls == "required") {
    s.use_ssl = CURLUSESSL_ALL;
  } else if (tls.empty() || tls == "opportunistic") {
    s.use_ssl = CURLUSESSL_TRY;
  } else {
    return Status::invalid("tls", "one of none, opportunistic, required");
  }
  Result<CurlSettings> curl = curl_settings(config);
  if (!curl) return curl.status();
  s.curl = *curl;
  std::shared_ptr<CurlDriver> driver = CurlThread::for_loop(env.loop);
  if (!driver) return Status::io("cannot set up libcurl");
  return std::unique_ptr<Channel>(std::make_unique<SmtpChannel>(std::move(s), std::move(driver)));
}

}  // namespace

NUDGED_REGISTER_CHANNEL("smtp", make_smtp_channel);

}  // namespace nudged
