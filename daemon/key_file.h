// Small secret files under state_dir (the participant-id hash key, for now).
//
// Created on first use with 32 random bytes, mode 0600, written to a temporary file and renamed
// so a crash never leaves a half-written key. Main thread, at start-up.
#pragma once

#include <string>

#include "events/status.h"

namespace nudged {

// Returns the key in `path`, creating it when absent. An existing file of the wrong size is an
// error (never silently replaced: every participant id depends on it).
Result<std::string> load_or_create_key(const std::string& path);

}  // namespace nudged
