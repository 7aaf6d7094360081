// The scrub schedule of faiss-rebuildd, beside the rebuild scheduler: each
// index's `scrub.schedule` queues a "scrub" job (VerifyIndex at
// scrub.max_bytes_per_second, then repair) through the same job queue, and a
// live version whose files changed or no longer match their manifest (a
// cheap stat-and-manifest check every few seconds) gets a "verify" job at
// once. The next scrub is due at the first fire time after the last
// recorded verify (or after the daemon started, when there is none), so a
// restart neither repeats nor loses one.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/scheduler.h"
#include "periodic_thread.h"

namespace frb::rebuildd {

// Thread-safe: Tick runs on the scrubber's thread (or a test's).
class Scrubber {
 public:
  Scrubber(Env* env, std::function<std::shared_ptr<const Config>()> config, Scheduler* scheduler);
  ~Scrubber();  // Stop()
  Scrubber(const Scrubber&) = delete;
  Scrubber& operator=(const Scrubber&) = delete;

  // Queues what is due now (a busy index is retried at the next tick).
  void Tick();
  void Start(std::chrono::milliseconds period = std::chrono::milliseconds(2000));
  void Stop();
  // When the next scrub of `index` is due (unix seconds); 0 when it has none.
  int64_t NextScrubUnix(const std::string& index) const;

 private:
  Env* env_;
  std::function<std::shared_ptr<const Config>()> config_;
  Scheduler* scheduler_;
  int64_t started_unix_;
  mutable std::mutex mu_;
  std::map<std::string, int64_t> next_;         // index -> due (unix s)
  std::map<std::string, std::string> flagged_;  // index -> live state already queued for
  PeriodicThread loop_;  // last: stopped before the state it uses goes
};

}  // namespace frb::rebuildd
