// The daemon's Prometheus metrics (names are a contract, listed in
// docs/api.md; dashboards and alert rules use exactly these).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "frb/backup.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/manifest.h"
#include "frb/rebuild.h"
#include "frb/repository_sync.h"
#include "frb/scheduler.h"

namespace frb::rebuildd {

// A gauge family whose series are re-derived at every scrape; series not set
// in a scrape are removed, so a dropped index or an old live version stops
// being reported. Thread-compatible (DaemonMetrics serializes scrapes).
class GaugeSet {
 public:
  explicit GaugeSet(prometheus::Family<prometheus::Gauge>& family) : family_(family) {}
  void Begin() { touched_.clear(); }
  void Set(const prometheus::Labels& labels, double value);
  void End();

 private:
  prometheus::Family<prometheus::Gauge>& family_;
  std::map<prometheus::Labels, prometheus::Gauge*> series_;
  std::set<prometheus::Labels> touched_;
};

// Thread-safe: RecordOutcome from job threads, Scrape from HTTP threads.
class DaemonMetrics {
 public:
  DaemonMetrics();

  // Counts a finished rebuild and observes its stage durations; counts a
  // successful restore or rollback as a rollback, and a verify or scrub's
  // bytes read and repair. `kind` as in JobRequest.
  void RecordOutcome(const std::string& kind, const JobOutcome& out);
  // A delta refused before it reached the log (bad inbox or API input).
  void RecordDeltaRejected(const std::string& index);
  // Counts one repository sync of `index` (bytes, duration, failure) and
  // keeps how far the repository is behind local live for the lag gauges.
  void RecordRepositorySync(const std::string& index, bool ok, const RepoSyncResult& r);
  // Refreshes the state-derived gauges from the store and the scheduler,
  // then renders the Prometheus text format.
  std::string Scrape(Env* env, const Config& config, const Scheduler& scheduler);

 private:
  // Live manifests are immutable: cache them by (index, version).
  const Manifest* LiveManifest(Env* env, const Config& config, const std::string& index);

  std::mutex mu_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& builds_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& rollbacks_;
  prometheus::Family<prometheus::Counter>& verify_failures_;
  prometheus::Family<prometheus::Counter>& scrub_bytes_;
  prometheus::Family<prometheus::Counter>& repairs_;
  GaugeSet last_success_, consecutive_failures_, live_info_, live_created_, vectors_,
      size_bytes_, recall_, next_run_, interval_, backups_, backup_bytes_, disk_free_,
      scrub_last_, corrupt_versions_, quarantined_, tuned_nprobe_, tuned_efsearch_,
      ivf_imbalance_, ivf_empty_ratio_;
  prometheus::Family<prometheus::Counter>& repo_bytes_;
  prometheus::Family<prometheus::Histogram>& repo_duration_;
  prometheus::Family<prometheus::Counter>& repo_failures_;
  GaugeSet repo_lag_seconds_, repo_lag_versions_;
  // Delta jobs by result; upserts + deletes since the live chain's full build.
  prometheus::Family<prometheus::Counter>& deltas_;
  GaugeSet delta_rows_since_full_;
  struct RepoLag {
    int64_t behind_since_unix = 0;
    int versions = 0;
  };
  std::map<std::string, RepoLag> repo_lag_;  // by index, from the last sync
  // Failed verifications already counted: "index/version/unix_ms".
  std::set<std::string> counted_verify_failures_;
  std::map<std::string, std::unique_ptr<Manifest>> manifests_;  // key: index/version
  // Offsite (s3://) backup listings by index: a listing is many requests,
  // so one serves the scrapes of a minute, or until a job ends.
  struct RemoteBackups {
    int64_t listed_unix_ms = 0;
    bool ok = false;
    std::vector<BackupInfo> list;
  };
  std::map<std::string, RemoteBackups> remote_backups_;
};

}  // namespace frb::rebuildd
