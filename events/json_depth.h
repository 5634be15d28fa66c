// How deeply a JSON text nests its arrays and objects, found without parsing it.
//
// nlohmann::json parses any depth, but copying, converting or printing a value recurses once
// per level: 32,000 balanced "[]" pairs in a 64 KiB body overflow the stack. Bodies read with
// nlohmann from outside (webhooks, the admin socket, a provider's answer) are checked here
// first. simdjson has its own limit and needs no check.
#pragma once

#include <string_view>

namespace nudged {

// What the JSON bodies nudged reads need, with room to spare (a Zoom event nests 6 levels).
constexpr int kMaxJsonDepth = 64;

// True when no array or object in `text` is nested deeper than `max_depth`. Brackets inside
// strings do not count. Not a validator: invalid JSON is left for the parser to refuse.
bool json_depth_within(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace nudged
