#include "channels/channel.h"

namespace nudged {

// A function-local static: adapters register from static initialisers in other translation
// units, whose order relative to this one is unspecified.
ChannelRegistry& ChannelRegistry::instance() {
  static ChannelRegistry registry;
  return registry;
}

// Registration happens before main(), single-threaded; afterwards the map is only read.
bool ChannelRegistry::add(std::string kind, ChannelFactory factory) {
  return factories_.emplace(std::move(kind), std::move(factory)).second;
}

Result<std::unique_ptr<Channel>> ChannelRegistry::create(const ChannelConfig& config,
                                                         const ChannelEnv& env) const {
  auto it = factories_.find(config.kind);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [kind, factory] : factories_)
      known += (known.empty() ? "" : ", ") + kind;
    return Status::invalid("channels." + config.name + ".kind",
                           "unknown channel kind \"" + config.kind + "\" (known: " + known + ")");
  }
  Result<std::unique_ptr<Channel>> channel = it->second(config, env);
  if (!channel) return channel.status().within("channels." + config.name);
  return channel;
}

std::vector<std::string> ChannelRegistry::kinds() const {
  std::vector<std::string> out;
  for (const auto& [kind, factory] : factories_)
    out.push_back(kind);
  return out;
}

}  // namespace nudged
