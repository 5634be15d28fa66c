// Small secret files under state_dir (the participant-id hash key, the development master key),
// and the check that the key files of an existing event log are where they should be.
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

// Refuses (kNotFound, naming the file) when the event log at `db_path` already holds events but
// `key_store_path` or `participant_key_path` does not exist (a file with no events table holds
// none). Both are made on the first start;
// made again beside an existing log, every personal value in it would stay unreadable (sent to
// no one) and everyone who registers again would become a new participant. A restore that
// forgot one of the files is the usual cause. Writes nothing; a log that does not exist yet, or
// holds no events, passes.
Status check_keys_of_existing_log(const std::string& db_path, const std::string& key_store_path,
                                  const std::string& participant_key_path);

}  // namespace nudged
