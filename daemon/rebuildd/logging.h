// spdlog setup for the daemon: plain text or one JSON object per line on
// stderr (journald and log shippers read stderr).
#pragma once

#include <string>
#include <string_view>

#include "frb/status.h"

namespace frb::rebuildd {

// `format` is "text" or "json". Call once, before other threads start.
Status SetupLogging(std::string_view format, const std::string& file = "");

}  // namespace frb::rebuildd
