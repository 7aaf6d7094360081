// Memory admission of a swap: may a new version be loaded while the old one
// still serves? By default the answer comes from the memory the kernel says
// is available (MemAvailable and the cgroup v2 limit, see frb/memory.h); a
// manual byte limit on the summed index sizes replaces it when given.
#pragma once

#include <cstdint>
#include <string>

#include "frb/env.h"
#include "frb/memory.h"

namespace frb::searchd {

// What to do when old + new version would not fit.
enum class ReloadPolicy {
  kRefuse,   // keep serving the old version; the new one is counted refused
  kUnready,  // drop the old one first (index unready, 503, for the load)
};

struct AdmissionOptions {
  enum class Mode { kOff, kLimit, kAvailable };
  Mode mode = Mode::kAvailable;
  uint64_t limit_bytes = 0;  // kLimit: cap on the summed file sizes served
  // kAvailable: kept free beyond the new version's size (FAISS's transient
  // buffers, allocator slack, the rest of the process).
  uint64_t reserve_bytes = 64ull << 20;
  MemorySources sources;  // kAvailable: where the readings come from
  ReloadPolicy policy = ReloadPolicy::kRefuse;
};

enum class Admit {
  kBeside,   // load the new version beside the old one
  kReplace,  // unready policy: drop the old one, then load
  kRefuse,   // keep the old one; do not load
};

struct AdmissionDecision {
  Admit admit = Admit::kBeside;
  std::string why;  // the figures behind a kReplace / kRefuse, for the log
};

// Thread-safe: immutable after construction; Decide reads files via env.
class MemoryAdmission {
 public:
  MemoryAdmission(Env* env, AdmissionOptions options) : env_(env), options_(std::move(options)) {}

  // A version of `new_bytes` (its file size) is to replace one of
  // `old_bytes` while `other_bytes` of other versions (other indexes,
  // versions still held by queries) stay loaded. A failed memory reading
  // admits (and says so in `why`): no reading is no evidence of a shortage.
  AdmissionDecision Decide(uint64_t new_bytes, uint64_t old_bytes, uint64_t other_bytes) const;

  const AdmissionOptions& options() const { return options_; }

 private:
  Env* env_;
  AdmissionOptions options_;
};

}  // namespace frb::searchd
