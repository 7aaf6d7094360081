// The faiss-rebuildd process: owns the config, the job runner, the
// scheduler, the metrics and the admin server, and wires them together.
// Everything it does is a call into core; HTTP lives in admin_api.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/job_runner.h"
#include "frb/json.h"
#include "frb/scheduler.h"
#include "frb/status.h"
#include "metrics.h"
#include "notifier.h"
#include "delta_feeder.h"
#include "repo_syncer.h"
#include "scrubber.h"
#include "token_auth.h"

namespace frb::rebuildd {

class AdminServer;

struct DaemonOptions {
  std::string config_path;
  bool config_is_default = false;  // no --config: a missing file says so
  std::string listen_override;  // --listen; port 0 picks a free port
};

// Thread-safe: the API threads, the signal thread and job threads call in.
class Daemon {
 public:
  Daemon(Env* env, DaemonOptions options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Loads the config, restores scheduler state, binds and serves HTTP,
  // starts the scheduler loop. Logs "listening on HOST:PORT".
  Status Start();
  // Re-reads and validates the config file; on any problem keeps the running
  // config and returns kInvalidArgument listing every problem (`problems`
  // gets them one by one).
  Status Reload(std::vector<std::string>* problems = nullptr);
  // Stops the scheduler and the API, cancels queued and running jobs (they
  // clean their staging) and waits for them. Idempotent.
  void Shutdown();

  std::shared_ptr<const Config> config() const;
  TokenAuth auth() const;
  Env* env() const { return env_; }
  JobRunner& runner() { return *runner_; }
  Scheduler& scheduler() { return *scheduler_; }
  DaemonMetrics& metrics() { return metrics_; }
  service::Notifier& notifier() { return notifier_; }
  int port() const { return port_; }

  // /healthz: the scheduler loop ticked recently.
  bool Alive(std::string* why) const;
  // /readyz: alive, config loaded, data dir writable, its lock held, not
  // shutting down, and no index's live version known to be corrupt.
  bool Ready(std::string* why) const;
  Json StatusJson() const;
  // kNotFound for an unknown index.
  Result<Json> IndexJson(const std::string& name) const;
  // One line for systemd's STATUS=.
  std::string StatusLine() const;

 private:
  Json IndexJsonLocked(const Config& cfg, const IndexConfig& ic) const;
  void OnJobFinished(const JobRequest& req, const JobOutcome& out);
  // Creates `data_dir` and takes its daemon lock (kBusy with the reason when
  // another daemon holds it).
  static Result<std::unique_ptr<FileLock>> LockDataDir(Env* env, const std::string& data_dir);

  Env* env_;
  DaemonOptions options_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  mutable std::mutex mu_;  // guards config_, auth_
  std::shared_ptr<const Config> config_;
  TokenAuth auth_;
  std::mutex reload_mu_;   // one reload at a time (SIGHUP and API)
  // Held for the daemon's lifetime on <data_dir>/.rebuildd.lock: a second
  // daemon on the same data dir refuses to start. Guarded by mu_.
  std::unique_ptr<FileLock> data_lock_;
  std::string data_lock_dir_;
  std::atomic<bool> shutting_down_{false};
  int port_ = 0;
  DaemonMetrics metrics_;
  service::Notifier notifier_;
  std::unique_ptr<JobRunner> runner_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<Scrubber> scrubber_;
  std::unique_ptr<DeltaFeeder> delta_feeder_;
  std::unique_ptr<RepoSyncer> repo_syncer_;
  std::unique_ptr<AdminServer> server_;
};

}  // namespace frb::rebuildd
