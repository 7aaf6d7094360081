// Progress, cancellation and deadline of one job, shared between the thread
// running the job and the threads watching or cancelling it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "frb/status.h"

namespace frb {

// docs/architecture.md, "The lifecycle of one job"; the end states are terminal.
enum class Stage {
  kQueued,
  kWaitingForLock,  // another job or process holds the index lock
  kLoadingSource,
  kTraining,
  kAdding,
  kWritingStaging,
  kValidating,
  kBackingUp,
  kPublishing,
  kDone,
  kFailed,
  kCancelled,
  kTimedOut,
  kSkipped,  // nothing to build: live already is this source and config
};
std::string_view StageName(Stage s);  // "loading_source", ...
bool IsTerminal(Stage s);

struct StageRecord {
  Stage stage;
  double seconds = 0;  // so far, for the current stage
};

struct JobSnapshot {
  Stage stage = Stage::kQueued;
  double progress = 0;  // fraction of the current stage done, [0, 1]
  // The current stage's work in `unit` ("vectors", "bytes", "queries"),
  // when it reports work (SetWork); total 0 otherwise.
  double done = 0, total = 0;
  std::string unit;
  // The pace over the stage so far, in `rate_unit` ("vectors/s", "bytes/s",
  // or "%/s" for a stage reporting only its fraction; 0 when unknown), and
  // the seconds left at that pace (-1 when unknown).
  double rate = 0;
  std::string rate_unit;
  double eta_seconds = -1;
  std::vector<StageRecord> stages;  // in order entered
};

// Thread-safe.
class JobControl {
 public:
  using Listener = std::function<void(const JobSnapshot&)>;

  // Requests cooperative cancellation; the job stops at its next check.
  void Cancel() { cancelled_.store(true); }
  bool cancel_requested() const { return cancelled_.load(); }
  // The job fails with kTimedOut once `deadline` passes.
  void SetDeadline(std::chrono::steady_clock::time_point deadline);
  // kCancelled or kTimedOut when the job must stop, else ok. Cheap.
  Status Check() const;

  // Starts a new stage (closing the previous one's timer) at progress 0.
  void EnterStage(Stage s);
  // Sets the current stage's progress; listeners are throttled to ~10 Hz.
  void SetProgress(double fraction);
  // Sets the current stage's progress as `done` of `total` `unit`s, so the
  // snapshot also gives a rate and an ETA. A new unit or total, and done
  // reaching total, reach the listener unthrottled.
  void SetWork(double done, double total, std::string_view unit);
  JobSnapshot Snapshot() const;
  // Seconds spent per stage name (closed stages and the running one).
  std::map<std::string, double> StageSeconds() const;
  // Called (on the job's thread) on every stage change and throttled
  // progress update. Set before the job starts.
  void SetListener(Listener l);

 private:
  void Notify(bool force);
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> deadline_ns_{0};  // steady clock; 0 = none
  mutable std::mutex mu_;
  JobSnapshot snap_;
  std::chrono::steady_clock::time_point stage_start_{};
  std::chrono::steady_clock::time_point last_notify_{};
  Listener listener_;
};

}  // namespace frb
