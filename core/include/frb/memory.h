// How much memory this process may still allocate (Linux: /proc/meminfo and
// cgroup v2), the basis of admission checks before a build.
#pragma once

#include <cstdint>

#include "frb/env.h"
#include "frb/status.h"

namespace frb {

// min(MemAvailable, cgroup limit - usage) over the process's cgroup v2 and
// its ancestors; MemAvailable alone without a cgroup limit. An error only
// when neither figure can be read. Thread-safe.
Result<uint64_t> AvailableMemoryBytes(Env* env = Env::Default());

}  // namespace frb
