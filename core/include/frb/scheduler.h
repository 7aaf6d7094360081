// Cron-driven triggering of rebuild jobs, with failure cooldown, misfire
// handling after downtime, and per-index state that survives restarts in
// <data_dir>/scheduler_state.json.
//
// Decisions, per index with a schedule:
//  * next_run is the next cron fire time after the moment it was computed.
//    When the clock reaches it the index is due; it fires once and next_run
//    moves to the first fire time after *now*, so a stalled loop or a
//    suspended machine never produces a burst of catch-up runs.
//  * Downtime: at start, a persisted next_run in the past means runs were
//    missed. misfire "run_once" fires one run at once; "skip" waits for the
//    next fire time.
//  * Cooldown: after a failed (or timed-out) job, a due run waits until
//    failure_cooldown has passed since that failure; runs falling due during
//    the wait coalesce into that one run. Manual triggers ignore cooldown.
//  * Busy: a run falling due while the index has a queued or running job is
//    skipped (the job in flight is as fresh as the run would be).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "frb/clock.h"
#include "frb/config.h"
#include "frb/cron.h"
#include "frb/env.h"
#include "frb/job_runner.h"
#include "frb/json.h"
#include "frb/status.h"
#include "frb/thread_annotations.h"
#include "frb/timezone.h"

namespace frb {

// What the scheduler knows of one index; persisted.
struct IndexSchedState {
  int64_t last_started_unix_ms = 0;
  int64_t last_finished_unix_ms = 0;
  std::string last_job_id;
  std::string last_result;  // terminal stage name, "" = never ran
  std::string last_error;
  int64_t last_success_unix_ms = 0;
  int64_t last_failure_unix_ms = 0;
  int consecutive_failures = 0;
  int64_t next_run_unix = 0;  // cron fire time waited for; 0 = none
  bool due = false;           // fell due, waiting for cooldown to end
  // Firings not submitted because a job of the index was already queued or
  // running: that job already serves the firing, but an operator who sees
  // none of the scheduled runs start needs to know why.
  int64_t skipped_busy = 0;

  Json ToJson() const;
  static IndexSchedState FromJson(const Json& j);
};

// Thread-safe. Lock order: Scheduler before JobRunner (the runner never
// calls back with its lock held).
class Scheduler {
 public:
  Scheduler(Env* env, Clock* clock, JobRunner* runner);
  ~Scheduler();  // Stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Takes a (new) config: parses schedules and zones, restores persisted
  // state on the first call and applies the misfire policy. On error nothing
  // changes. Indexes gone from the config are forgotten. Failing to save the
  // state (a full disk) is not an error here: see persist_status().
  Status Configure(const Config& config);
  // The outcome of the last attempt to save the state file; while it fails,
  // every Tick tries again, so it clears by itself once space returns.
  Status persist_status() const;

  // Evaluates due runs at the clock's current time. The loop thread calls it;
  // tests call it directly after moving a FakeClock.
  void Tick();
  // Start runs one Tick at once, then a thread ticks about every `period`;
  // Stop ends the thread.
  void Start(std::chrono::milliseconds period = std::chrono::milliseconds(1000));
  void Stop();
  // Steady-clock time of the loop's last completed Tick (for health checks
  // and the systemd watchdog); epoch when it never ran.
  std::chrono::steady_clock::time_point last_tick() const;

  // A manual (CLI/API) trigger through the same queue: kNotFound for an
  // unknown index, kBusy when a job of the index is queued or running.
  // `kind`/`version`/`force` as in JobRequest.
  Result<std::string> Trigger(const std::string& index, const std::string& trigger,
                              const std::string& kind = "rebuild",
                              const std::string& version = "", bool force = false);

  // Feed every finished rebuild job here (JobRunner::SetOnFinish).
  void OnJobFinished(const JobOutcome& out);

  std::optional<IndexSchedState> State(const std::string& index) const;
  // When the next scheduled run will fire, taking cooldown into account;
  // nullopt for manual-only indexes.
  std::optional<int64_t> NextRunUnix(const std::string& index) const;
  std::map<std::string, IndexSchedState> AllStates() const;
  std::string state_path() const;

 private:
  struct Entry {
    std::optional<CronExpr> cron;
    TimeZone tz;
    IndexSchedState st;
  };
  int64_t CooldownEndMs(const Entry& e) const REQUIRES(mu_);
  std::optional<int64_t> NextRunLocked(const Entry& e) const REQUIRES(mu_);
  Status PersistLocked() REQUIRES(mu_);
  int64_t NextFire(const Entry& e, int64_t after_unix) const;

  Env* env_;
  Clock* clock_;
  JobRunner* runner_;
  mutable Mutex mu_;
  bool configured_ GUARDED_BY(mu_) = false;
  std::string state_path_ GUARDED_BY(mu_);
  std::string misfire_ GUARDED_BY(mu_) = "run_once";
  std::chrono::seconds cooldown_ GUARDED_BY(mu_){0};
  std::map<std::string, Entry> entries_ GUARDED_BY(mu_);
  Status persist_status_ GUARDED_BY(mu_);

  Mutex loop_mu_;
  CondVar loop_cv_;
  bool loop_stop_ GUARDED_BY(loop_mu_) = false;
  std::thread loop_;
  std::atomic<int64_t> last_tick_ns_{0};
};

}  // namespace frb
