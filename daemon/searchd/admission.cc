#include "admission.h"

namespace frb::searchd {

AdmissionDecision MemoryAdmission::Decide(uint64_t new_bytes, uint64_t old_bytes,
                                          uint64_t other_bytes) const {
  const bool can_replace = options_.policy == ReloadPolicy::kUnready;
  switch (options_.mode) {
    case AdmissionOptions::Mode::kOff:
      return {};
    case AdmissionOptions::Mode::kLimit: {
      const uint64_t limit = options_.limit_bytes;
      if (other_bytes + old_bytes + new_bytes <= limit) return {};
      const std::string why = std::to_string(other_bytes + old_bytes) + " + " +
                              std::to_string(new_bytes) + " bytes would exceed the memory " +
                              "limit of " + std::to_string(limit) + " bytes";
      if (can_replace && other_bytes + new_bytes <= limit) return {Admit::kReplace, why};
      return {Admit::kRefuse, why};
    }
    case AdmissionOptions::Mode::kAvailable:
      break;
  }
  auto avail = ReadAvailableMemory(env_, options_.sources);
  if (!avail.ok())
    return {Admit::kBeside, "no memory reading (" + avail.status().ToString() + ")"};
  // The served versions are already in the process's memory and hence not
  // in the reading: only the new copy must fit.
  const uint64_t need = new_bytes + options_.reserve_bytes;
  if (need <= avail->bytes) return {};
  std::string source = avail->cgroup_headroom && *avail->cgroup_headroom == avail->bytes
                           ? "cgroup memory.max headroom"
                           : "MemAvailable";
  const std::string why = std::to_string(new_bytes) + " bytes + a reserve of " +
                          std::to_string(options_.reserve_bytes) + " exceed the " +
                          std::to_string(avail->bytes) + " bytes available (" + source + ")";
  // Dropping the old version first frees about its size.
  if (can_replace && need <= avail->bytes + old_bytes) return {Admit::kReplace, why};
  return {Admit::kRefuse, why};
}

}  // namespace frb::searchd
