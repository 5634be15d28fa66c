// Channel: the interface every delivery adapter (file, smtp, twilio, webhook) implements, and
// the registry that maps a `kind` name in [channels.<name>] to a factory.
//
// Channels live on the daemon's libuv loop: send() is called on the loop thread and its
// completion runs on the loop thread, exactly once, never from inside send() itself (so the
// caller's bookkeeping is never re-entered). A channel never blocks the loop.
// A new channel is one file implementing this interface plus one NUDGED_REGISTER_CHANNEL line.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "events/status.h"

typedef struct uv_loop_s uv_loop_t;

namespace nudged {

// An iCalendar attachment for email (invite on confirmation, update or cancel on change).
struct CalendarPart {
  std::string method;  // "REQUEST" or "CANCEL"
  std::string ics;     // the VCALENDAR text
};

// A message rendered and addressed, ready to go. `to` and the bodies are personal data: an
// adapter never logs them.
struct Message {
  std::string notification_id;
  std::string kind;     // "session.reminder", ...
  std::string channel;  // the configured channel name ("email", "sms", "outbox"...)
  std::string to;       // email address, E.164 number, or whatever the channel addresses
  std::string subject;  // email only
  std::string text;     // plain-text body; the SMS body
  std::string html;     // email only; empty for SMS
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. List-Unsubscribe
  // Email: the local part of the Message-ID, a keyed hash of notification_id (compose, under
  // the daemon's link key), so every attempt at one notification carries the same Message-ID.
  // Keyed because a notification id names the session, and session ids often name the group.
  std::string message_id_token;
  std::optional<CalendarPart> calendar;
};

struct SendResult {
  enum class Kind { kSent, kTransient, kPermanent };
  Kind kind = Kind::kSent;
  std::string provider_id;                          // for kSent, when the provider gives one
  std::optional<std::chrono::seconds> retry_after;  // for kTransient, when the provider asks
  // For failures: recorded in notification.failed and logged, so built from codes and fixed
  // words only, never a provider's text (channels/failure_text.h).
  std::string reason;
  // Set when the provider says the recipient has unsubscribed (Twilio 21610): the daemon then
  // records participant.opted_out for this address on this channel. Personal data: never logged.
  std::optional<std::string> opted_out_address;
  // For kTransient: the provider refused the sender, not this recipient or message (bad
  // credentials, an account suspended or out of quota, relaying denied, a server refusing
  // everyone). Retried like any transient failure, because every message owed would otherwise
  // be thrown away and none resent once the operator has fixed it; and the daemon tells the
  // operator, since retrying alone will not fix it.
  bool account_level = false;

  static SendResult sent(std::string provider_id = {}) {
    return SendResult{Kind::kSent, std::move(provider_id), std::nullopt, {}, std::nullopt, false};
  }
  static SendResult transient(std::string reason,
                              std::optional<std::chrono::seconds> retry_after = std::nullopt) {
    return SendResult{Kind::kTransient, {}, retry_after, std::move(reason), std::nullopt, false};
  }
  static SendResult permanent(std::string reason) {
    return SendResult{Kind::kPermanent, {}, std::nullopt, std::move(reason), std::nullopt, false};
  }
  // A refusal of the sender's account or of the server as a whole (see account_level).
  static SendResult account_refused(
      std::string reason, std::optional<std::chrono::seconds> retry_after = std::nullopt) {
    SendResult r = transient(std::move(reason), retry_after);
    r.account_level = true;
    return r;
  }
};

// A [channels.<name>] table as configured: its kind and its other keys as strings (already
// checked by config/ against the kind's known keys; secrets already read from their files).
struct ChannelConfig {
  std::string name;
  std::string kind;
  std::map<std::string, std::string> settings;
};

class Channel {
 public:
  using Done = std::function<void(SendResult)>;
  virtual ~Channel() = default;

  // Starts sending `message`; `done` runs later on the loop thread with the outcome.
  virtual void send(const Message& message, Done done) = 0;

  // How many sends may be in flight at once on this channel.
  virtual int concurrency() const { return 4; }

  // Stops accepting sends and finishes (or fails, as transient) those in flight, calling their
  // `done`. After close() returns, no `done` of this channel runs any more.
  virtual void close() {}
};

// What a factory gets besides its own table.
struct ChannelEnv {
  uv_loop_t* loop = nullptr;
};

using ChannelFactory =
    std::function<Result<std::unique_ptr<Channel>>(const ChannelConfig&, const ChannelEnv&)>;

// The kinds compiled in. Registration happens at static-initialisation time.
class ChannelRegistry {
 public:
  static ChannelRegistry& instance();
  bool add(std::string kind, ChannelFactory factory);
  Result<std::unique_ptr<Channel>> create(const ChannelConfig& config, const ChannelEnv& env) const;
  std::vector<std::string> kinds() const;

 private:
  std::map<std::string, ChannelFactory> factories_;
};

#define NUDGED_REGISTER_CHANNEL_CONCAT2(a, b) a##b
#define NUDGED_REGISTER_CHANNEL_CONCAT(a, b) NUDGED_REGISTER_CHANNEL_CONCAT2(a, b)
// In the adapter's .cpp: NUDGED_REGISTER_CHANNEL("file", make_file_channel);
#define NUDGED_REGISTER_CHANNEL(kind, factory)                                             \
  static const bool NUDGED_REGISTER_CHANNEL_CONCAT(nudged_channel_registered_, __LINE__) = \
      ::nudged::ChannelRegistry::instance().add(kind, factory)

}  // namespace nudged
