// Deltas reaching faiss-rebuildd without an API call: each index's inbox
// (<index dir>/inbox/) is consumed in name order -- a delta NAME is
// NAME.upserts.npy + NAME.ids.npy and/or NAME.deletes.npy, taken only once
// NAME.ready exists, so a half-written file is never read -- into the delta
// log; and whenever the log holds a delta newer than live (from the inbox,
// from a POST that found the index busy, from a job killed mid-way), a
// "delta" job is queued once the index is free.
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

// Thread-safe: Tick runs on the feeder's thread (or a test's).
class DeltaFeeder {
 public:
  using FailedFn = std::function<void(const std::string& index)>;
  DeltaFeeder(Env* env, std::function<std::shared_ptr<const Config>()> config,
              Scheduler* scheduler, FailedFn on_bad_input);
  ~DeltaFeeder();  // Stop()
  DeltaFeeder(const DeltaFeeder&) = delete;
  DeltaFeeder& operator=(const DeltaFeeder&) = delete;

  void Tick();
  void Start(std::chrono::milliseconds period = std::chrono::milliseconds(1000));
  void Stop();

 private:
  void ConsumeInbox(const Config& cfg, const IndexConfig& ic);
  void QueuePending(const Config& cfg, const IndexConfig& ic);
  // Queues one forced full rebuild for a live delta version that passes
  // the index's `retrain:` policy (delta share, IVF imbalance, empty lists).
  void QueueRetrain(const Config& cfg, const IndexConfig& ic);
  Env* env_;
  std::function<std::shared_ptr<const Config>()> config_;
  Scheduler* scheduler_;
  FailedFn on_bad_input_;
  std::mutex mu_;
  // index -> highest sequence number a job was queued for: each new delta
  // queues at most one job by itself (a failing one is not retried in a loop).
  std::map<std::string, int64_t> queued_through_;
  // index -> live version a retrain was queued for: once per version, so a
  // failing rebuild is not retried in a loop (the schedule still runs).
  std::map<std::string, std::string> retrain_queued_for_;
  PeriodicThread loop_;  // last: stopped before the state it uses goes
};

}  // namespace frb::rebuildd
