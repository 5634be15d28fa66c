// Upcasting: reading events written at an older schema version of their type.
//
// The log is never rewritten; an event keeps the schema it was written with, and each read
// lifts its data to the current schema, one step at a time, before decoding. A step is a pure
// function from JSON text to JSON text, registered in upcast.cpp beside the reason it exists.
// Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "events/event.h"
#include "events/status.h"

namespace nudged {

// Lifts `json` (data of `type` at `schema`) to current_schema(type). Returns the JSON unchanged
// when it is already current; an error when the schema is newer than this build knows, or when
// no upcaster covers a step.
Result<std::string> upcast_data(EventType type, int schema, std::string_view json);

// The oldest schema of `type` that this build can still read.
int oldest_schema(EventType type);

}  // namespace nudged
