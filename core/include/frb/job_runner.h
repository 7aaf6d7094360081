// The one job queue of the daemon: cron, CLI and API triggers all land here.
// At most one queued-or-running job per index; a fixed pool of workers bounds
// concurrent builds (scheduler.max_concurrent_builds).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "frb/clock.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/job_control.h"
#include "frb/json.h"
#include "frb/rebuild.h"
#include "frb/status.h"
#include "frb/thread_annotations.h"

namespace frb {

struct JobRequest {
  std::string job_id;
  std::string index;
  std::string trigger;  // "schedule", "api", "cli"
  // "rebuild" | "backup" | "restore" | "verify" | "scrub" | "rollback"
  std::string kind = "rebuild";
  std::string version;           // restore: the version to restore
  bool force = false;            // rebuild: even when live matches the source
};

// Runs one job to its end. Must fill the outcome's terminal stage and
// status; the runner fills job_id/index/trigger when left empty.
using JobFn = std::function<JobOutcome(const JobRequest&, JobControl&)>;

// The production job function, against the config current when the job
// starts (a reload never changes a running job): "rebuild" runs a
// RebuildJob, "delta" a DeltaJob (every logged delta newer than live), and
// "backup" backs up the live version, "restore" runs
// RestoreVersion (a new live version from an old one), "verify" and
// "scrub" run VerifyIndex (scrub at scrub.max_bytes_per_second) and then
// RepairIndex when something on disk is corrupt, "rollback" RollbackIndex.
JobFn MakeRebuildJobFn(Env* env,
                       std::function<std::shared_ptr<const Config>()> config);

// What the API shows about one job, queued, running or finished.
struct JobInfo {
  std::string job_id;
  std::string index;
  std::string trigger;
  std::string kind = "rebuild";
  std::string version;  // restore target
  bool force = false;
  int64_t queued_unix_ms = 0;
  Stage stage = Stage::kQueued;
  JobSnapshot live;                    // current progress while running
  std::optional<JobOutcome> outcome;   // set once finished
  bool cancel_requested = false;
  bool started = false;  // a worker picked it up (it may not have entered a stage yet)

  Json ToJson() const;
};

// Thread-safe. Callbacks run on worker (or calling) threads, never with the
// runner's lock held, so they may call back into the runner.
class JobRunner {
 public:
  using FinishFn = std::function<void(const JobRequest&, const JobOutcome&)>;

  // `workers` >= 1 threads start at once; `history` finished jobs are kept.
  JobRunner(int workers, JobFn fn, Clock* clock, size_t history = 200);
  ~JobRunner();  // Shutdown(true)
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Called after every job ends (including jobs cancelled while queued),
  // before the job shows as finished in Get/List/ActiveJob. Set before
  // submitting.
  void SetOnFinish(FinishFn fn);

  // Queues a job; returns its id. kBusy when the index already has a queued
  // or running job, kFailedPrecondition after Shutdown.
  Result<std::string> Submit(const std::string& index, const std::string& trigger,
                             const std::string& kind = "rebuild",
                             const std::string& version = "", bool force = false);
  // Cancels a queued job at once, or asks a running one to stop. kNotFound
  // for unknown ids, kFailedPrecondition for finished jobs.
  Status Cancel(const std::string& job_id);

  std::optional<JobInfo> Get(const std::string& job_id) const;
  // Running and queued first (oldest first), then finished, newest first.
  std::vector<JobInfo> List() const;
  // The queued or running job of `index`, if any.
  std::optional<std::string> ActiveJob(const std::string& index) const;
  int running() const;
  int queued() const;

  // Stops accepting jobs, drops the queue (recorded as cancelled) and, when
  // `cancel_running`, cancels running jobs; then waits for workers to exit.
  // Idempotent.
  void Shutdown(bool cancel_running);

 private:
  struct Record {
    JobInfo info;
    std::shared_ptr<JobControl> control;
  };
  void WorkerLoop();
  void FinishLocked(Record& rec, JobOutcome out) REQUIRES(mu_);
  void Trim() REQUIRES(mu_);

  JobFn fn_;
  Clock* clock_;
  size_t history_;
  mutable Mutex mu_;
  CondVar cv_;
  FinishFn on_finish_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::deque<std::string> queue_ GUARDED_BY(mu_);           // job ids, FIFO
  std::map<std::string, Record> jobs_ GUARDED_BY(mu_);      // all known jobs by id
  std::map<std::string, std::string> active_ GUARDED_BY(mu_);  // index -> job id
  std::deque<std::string> finished_ GUARDED_BY(mu_);        // oldest first, bounded
  int running_ GUARDED_BY(mu_) = 0;
  std::vector<std::thread> workers_;
};

}  // namespace frb
