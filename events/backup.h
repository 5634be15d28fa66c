// Online copies of SQLite databases (the event log and the key store) with SQLite's backup API.
//
// The copy is consistent as of one read transaction of the source, taken while the daemon
// keeps running (WAL lets it write meanwhile). The destination is created mode 0600; an
// existing destination is refused rather than overwritten. Main thread of nudgectl.
#pragma once

#include <string>

#include "events/status.h"

namespace nudged {

Status backup_database(const std::string& source, const std::string& destination);

}  // namespace nudged
