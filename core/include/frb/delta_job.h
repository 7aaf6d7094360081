// Delta versions: live + logged upserts/deletes -> a new validated,
// checksummed, immutable version (docs/architecture.md, "Deltas").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frb/config.h"
#include "frb/delta_log.h"
#include "frb/env.h"
#include "frb/index_file.h"
#include "frb/job_control.h"
#include "frb/rebuild.h"
#include "frb/status.h"

namespace frb {

struct ApplyResult {
  FileDigest file;
  int64_t ntotal = 0;
  int64_t removed = 0;  // vectors removed (deleted or replaced ids present)
  int64_t added = 0;
};

// The apply stage. Stateless; Apply may run concurrently for different jobs.
class DeltaApplier {
 public:
  explicit DeltaApplier(Env* env) : env_(env) {}

  // Loads the live index (checksum first), removes every deleted and
  // upserted id, adds the upserts under their ids, in sequence order, and
  // writes the result to `out_path` (fsynced). IVF indexes use a hash-table
  // direct map for the removals; Flat and the like need an id map
  // (source.ids). kFailedPrecondition, before anything is written, when the
  // index cannot take the delta: no id map, or HNSW asked to remove or
  // replace vectors (FAISS 1.7.3 cannot).
  Result<ApplyResult> Apply(const IndexConfig& cfg, const std::string& live_path,
                            const FileDigest& live_file, const std::vector<DeltaData>& deltas,
                            const std::string& out_path, JobControl& control);

 private:
  Env* env_;
};

// Thread-compatible: one Run per object. Stages: loading_source (live
// manifest, pending log records), adding (apply), writing_staging,
// validating (against the source overlaid with every logged delta up to
// the last applied), publishing. No backup stage: the outgoing version
// stays on disk as the rollback target.
class DeltaJob {
 public:
  DeltaJob(Env* env, const Config& config, const IndexConfig& index, RebuildOptions options);

  // Applies every logged delta newer than what live contains; kSkipped
  // when there is none. Like RebuildJob::Run: never throws, live untouched
  // unless the outcome is kDone, staging removed, outcome in last_job.json.
  // With deltas.on_unsupported: rebuild, a delta the index cannot take
  // runs a full rebuild (which replays it) instead.
  JobOutcome Run(JobControl& control);

 private:
  Status RunStages(JobControl& control, JobOutcome& out);
  Env* env_;
  const Config& config_;
  const IndexConfig& index_;
  RebuildOptions options_;
};

}  // namespace frb
