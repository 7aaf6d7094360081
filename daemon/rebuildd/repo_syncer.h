// Runs the repository stage (frb/repository_sync.h) in the background:
// after each publish, and every `repository.interval` to retry a failed
// upload or pick up a publish made by `faiss-rebuild --local`.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/repository_sync.h"
#include "metrics.h"

namespace frb::rebuildd {

// Thread-safe: Trigger from job threads; one internal sync thread.
class RepoSyncer {
 public:
  RepoSyncer(Env* env, std::function<std::shared_ptr<const Config>()> config,
             DaemonMetrics* metrics);
  ~RepoSyncer();
  void Start();
  // Stops the thread (an upload in progress finishes its current request
  // attempt first). Idempotent.
  void Stop();
  // Asks for a sync of `index` now.
  void Trigger(const std::string& index);

 private:
  void Loop();
  void SyncAll(const Config& cfg);
  Env* env_;
  std::function<std::shared_ptr<const Config>()> config_;
  DaemonMetrics* metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool triggered_ = false;
  std::unique_ptr<RepositorySync> sync_;  // used by the sync thread only
  std::string sync_key_;                  // the settings sync_ was made with
  std::thread thread_;
};

}  // namespace frb::rebuildd
