// The orchestrator of one rebuild job: runs the lifecycle stages in order
// (source -> builder -> validator -> publisher) and records the outcome.
// Stages never call each other; only this file knows the order.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/job_control.h"
#include "frb/json.h"
#include "frb/manifest.h"
#include "frb/status.h"

namespace frb {

struct JobOutcome {
  std::string job_id;
  std::string index;
  std::string trigger;  // "cli", "api", "schedule"
  Stage stage = Stage::kQueued;  // terminal stage reached
  Stage failed_stage = Stage::kQueued;  // where it stopped, when not done
  Status status;
  std::string version_id;   // published version (when done)
  std::string parent_version;
  std::optional<ValidationReport> validation;
  std::vector<std::string> pruned_backups;  // backup jobs: removed by retention
  std::map<std::string, double> stage_seconds;
  int64_t started_unix_ms = 0;
  int64_t finished_unix_ms = 0;
  // Went on despite these (e.g. a corrupt outgoing live version was not
  // backed up but quarantined).
  std::vector<std::string> warnings;
  // Verify/scrub jobs: {"verify": IndexVerifyReport, "repair": RepairOutcome}.
  Json verify;
  std::string skip_reason;  // why nothing was built (kSkipped)

  Json ToJson() const;
  static Result<JobOutcome> FromJson(const Json& j);
};

// The outcome as one word: the terminal stage's name, except "busy" for a
// job that never got the index lock (another job or process held it for
// the whole lock wait) -- not a build failure.
std::string_view ResultName(const JobOutcome& out);

// "j-20261121T130501Z-3f9a1c": sortable by start time, unique per process run.
std::string NewJobId();

struct RebuildOptions {
  std::string job_id;          // empty = NewJobId()
  std::string trigger = "cli";
  // How long to wait for the index lock held by another job or process
  // (polled, cancellable, within the job's timeout) before giving up with
  // kBusy; zero fails at once.
  std::chrono::milliseconds lock_wait{0};
  // Build even when live was built from the same source content and the
  // same index-shaping config (else the job ends kSkipped).
  bool force = false;
  // Memory the build may use; empty = AvailableMemoryBytes (tests inject).
  std::function<Result<uint64_t>()> available_memory;
};

// Thread-compatible: one Run per object.
class RebuildJob {
 public:
  RebuildJob(Env* env, const Config& config, const IndexConfig& index,
             RebuildOptions options);

  // Runs the whole cycle, or ends kSkipped (status ok, nothing published)
  // right after the fingerprint pass when live already matches; see
  // LiveMatches. Never throws; every failure is in the outcome,
  // the live version is untouched unless the outcome is kDone, and the
  // staging directory is removed either way. The outcome is also written to
  // <index dir>/last_job.json.
  JobOutcome Run(JobControl& control);

 private:
  Status RunStages(JobControl& control, JobOutcome& out);
  Env* env_;
  const Config& config_;
  const IndexConfig& index_;
  RebuildOptions options_;
};

// The frame every job of an index shares: sets the deadline, runs `stages`,
// turns its status into the terminal stage, records stage times and writes
// <index dir>/last_job.json (not for kBusy).
JobOutcome RunIndexJob(Env* env, const Config& config, const IndexConfig& index,
                       const RebuildOptions& options, JobControl& control,
                       const std::function<Status(JobControl&, JobOutcome&)>& stages);

// "" unless `live` was built from content equal to `source` (sha256, count,
// dim; not path or mtime: a touched or moved file is the same data) with
// the same factory, metric, dimension and training sample size as `index`
// asks for now; then a sentence saying so.
std::string LiveMatches(const Manifest& live, const SourceFingerprint& source,
                        const IndexConfig& index);

// The outcome of the last job of an index, if any was recorded.
Result<std::optional<JobOutcome>> ReadLastJob(Env* env, const Config& config,
                                              const std::string& index);

}  // namespace frb
