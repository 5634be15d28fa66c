// Composing: from a planned Notification to a Message a channel can send. Finds the session
// and the recipient in State, opens the personal values it needs (only here, at send time),
// builds the MessageView and renders it. Runs on the loop thread; pure apart from the sealer.
#pragma once

#include <string>

#include "channels/channel.h"
#include "channels/render.h"
#include "config/config.h"
#include "daemon/link_token.h"
#include "events/planner.h"
#include "events/state.h"

namespace nudged {

struct ComposeContext {
  const State& state;
  const Config& config;
  const Templates& templates;
  const Sealer& sealer;
  std::string_view link_key;  // keys unsubscribe tokens, calendar UIDs and Message-IDs
  TimePoint now;              // when the message is composed (injected: compose stays pure)
};

Result<Message> compose(const Notification& n, const ComposeContext& ctx);

}  // namespace nudged
