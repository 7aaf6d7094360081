// How much memory this process may still allocate: the basis of admission
// checks before loading an index beside the one being served, or building
// one. Linux only (/proc, cgroup v2); every path is a parameter so tests and
// containers can point it elsewhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "frb/env.h"
#include "frb/status.h"

namespace frb {

// Where the readings come from.
struct MemorySources {
  std::string meminfo = "/proc/meminfo";
  std::string self_cgroup = "/proc/self/cgroup";
  std::string cgroup_root = "/sys/fs/cgroup";  // the cgroup v2 mount
  // When set, the process's cgroup v2 directory itself (self_cgroup is not
  // read); its ancestors up to cgroup_root are not consulted then.
  std::string cgroup_dir;
};

struct AvailableMemory {
  // The smaller of the two readings below that exist.
  uint64_t bytes = 0;
  // MemAvailable of /proc/meminfo (the kernel's estimate, page cache that
  // can be reclaimed included).
  std::optional<uint64_t> mem_available;
  // Smallest memory.max - working set over the process's cgroup and its
  // ancestors, where working set = memory.current - inactive_file (as the
  // kubelet counts it: inactive page cache is reclaimed before the OOM
  // killer runs). nullopt without cgroup v2 or without any limit.
  std::optional<uint64_t> cgroup_headroom;
};

// Reads both sources. An error only when neither gives a figure (e.g. not
// Linux); a missing or unlimited cgroup is not an error.
// Thread-safe (reads files through `env`).
Result<AvailableMemory> ReadAvailableMemory(Env* env, const MemorySources& sources = {});

// ReadAvailableMemory(...).bytes: what a new allocation of that size can
// take without pushing the process (or the machine) into the OOM killer.
Result<uint64_t> AvailableMemoryBytes(Env* env, const MemorySources& sources = {});

}  // namespace frb
