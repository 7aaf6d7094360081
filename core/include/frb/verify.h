// Verify: reads every byte of every on-disk version of an index (and every
// backup) and checks it against its manifest. FAISS loads most bit-flipped
// files without complaint, so only a checksum pass finds silent damage; the
// scrub runs this on a schedule, rate-limited, and repair (repair.h) acts on
// what it finds.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "frb/backup.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/job_control.h"
#include "frb/json.h"
#include "frb/status.h"
#include "frb/store.h"

namespace frb {

// A token bucket on a read loop: Acquire(n) sleeps as long as reading n more
// bytes would exceed `bytes_per_second` on average (bursts up to a tenth of
// a second's worth). Thread-compatible.
class RateLimiter {
 public:
  explicit RateLimiter(uint64_t bytes_per_second);  // 0 = unlimited
  // Accounts for `bytes` read; sleeps when over the rate. Returns the
  // control's kCancelled/kTimedOut while sleeping, else ok.
  Status Acquire(uint64_t bytes, JobControl* control);
  uint64_t rate() const { return rate_; }

 private:
  uint64_t rate_;
  double tokens_;  // may go negative: debt paid by sleeping
  double capacity_;
  std::chrono::steady_clock::time_point last_;
};

// The outcome of checking one on-disk version. `problems[i].check` is one of
// "manifest" (unreadable, or its own checksum fails), "manifest_version" (it
// describes another version), "missing" (no index file), "read" (I/O error),
// "size" or "sha256" (the index file vs the manifest).
struct VersionCheck {
  std::string version_id;
  bool ok = false;
  std::vector<VerifyProblem> problems;
  uint64_t bytes = 0;          // bytes read
  uint64_t file_size = 0;      // of the index file when checked
  int64_t file_mtime_ns = 0;   // of the index file when checked
  Json ToJson() const;
};

// Checks manifest and index file of `version` of `store`, reading the file
// through `limiter` (may be null). Corruption is a result, not an error;
// errors are only kCancelled/kTimedOut from `control` (may be null).
Result<VersionCheck> VerifyVersion(Env* env, const VersionStore& store, const std::string& version,
                                   RateLimiter* limiter, JobControl* control);

struct VerifyOptions {
  uint64_t max_bytes_per_second = 0;  // 0 = unlimited
  bool backups = true;                // also every backup of the index
};

// Everything one verify of an index found.
struct IndexVerifyReport {
  std::string index;
  std::optional<std::string> live, rollback;
  std::vector<VersionCheck> versions;        // on disk, oldest first
  std::vector<VerifyResult> backups;         // oldest first
  std::vector<VerifyProblem> broken_backups; // unreadable backup manifests
  uint64_t bytes_read = 0;
  double seconds = 0;
  int64_t finished_unix_ms = 0;

  bool ok() const;
  // Number of on-disk versions and backups that failed.
  int corrupt_count() const;
  const VersionCheck* Find(const std::string& version) const;
  bool live_corrupt() const;
  // Every failed check as "FILE: CHECK: DETAIL", one per entry.
  std::vector<std::string> ProblemLines() const;
  Json ToJson() const;
};

// Verifies every on-disk version of `index` and, with options.backups, every
// backup; records the outcome in <index dir>/verify_state.json (see
// ReadVerifyState). Needs no lock: versions are immutable (a version pruned
// meanwhile is skipped).
Result<IndexVerifyReport> VerifyIndex(Env* env, const Config& config, const IndexConfig& index,
                                      const VerifyOptions& options, JobControl* control);

// The last verify of an index, as recorded: when it finished, what it read,
// and per version the result with the file's size and mtime then.
struct VerifyState {
  int64_t finished_unix_ms = 0;
  uint64_t bytes_read = 0;
  std::map<std::string, VersionCheck> versions;
};
Result<std::optional<VerifyState>> ReadVerifyState(Env* env, const VersionStore& store);

// What is known about one on-disk version without reading its bytes:
// "corrupt" (manifest unreadable, file missing or of the wrong size, or the
// last verify failed), "modified" (the index file changed after it was
// published or verified; published files never change), "ok" (verified and
// unchanged since) or "unverified". `detail` says why.
struct VersionIntegrity {
  std::string state;
  std::string detail;
  std::optional<int64_t> verified_unix_ms;
  bool bad() const { return state == "corrupt" || state == "modified"; }
  Json ToJson() const;
};
VersionIntegrity QuickIntegrity(Env* env, const VersionStore& store, const std::string& version,
                                const std::optional<VerifyState>& state);

// What `status` and the daemon show: {"live": VersionIntegrity,
// "rollback": VersionIntegrity (absent without a target), "last_verify":
// time or null, "quarantined": count}; `live_bad`, when given, is set when
// the live version is corrupt or modified.
Json IntegritySummary(Env* env, const VersionStore& store, bool* live_bad = nullptr);

}  // namespace frb
