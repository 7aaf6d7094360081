// spdlog setup shared by faiss-rebuildd and faiss-searchd: the same text and
// JSON formats for both. On stderr under systemd (journald's stream, named
// by $JOURNAL_STREAM), text lines carry a sd-daemon(3) "<N>" priority prefix
// and no timestamp, so journalctl keeps the levels and does not show two
// times; JSON lines are left whole for log shippers.
#pragma once

#include <string>
#include <string_view>

#include "frb/status.h"

namespace frb::service {

struct LogOptions {
  std::string program;          // logger name, e.g. "faiss-searchd"
  std::string format = "text";  // "text" or "json"
  std::string file;             // empty: stderr; else rotated at 64 MiB, 5 kept
  std::string level = "info";   // trace|debug|info|warn|error|critical|off
};

// Installs the default logger. Call once, before other threads start.
Status SetupLogging(const LogOptions& options);

// Whether stderr is journald's stream ($JOURNAL_STREAM names its device and
// inode; systemd sets it for StandardError=journal).
bool StderrIsJournal();

}  // namespace frb::service
