#include "metrics.h"

#include <prometheus/text_serializer.h>

#include <ctime>
#include <limits>
#include <optional>

#include "frb/backup.h"
#include "frb/build_info.h"
#include "frb/cron.h"
#include "frb/store.h"
#include "frb/repair.h"
#include "frb/timezone.h"
#include "frb/verify.h"

namespace frb::rebuildd {
namespace {

constexpr int64_t kRemoteBackupsTtlMs = 60 * 1000;

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

prometheus::Family<prometheus::Gauge>& Gauge(prometheus::Registry& r, const std::string& name,
                                             const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(r);
}

// Stages range from milliseconds (publishing) to hours (training).
const prometheus::Histogram::BucketBoundaries kDurationBuckets = {
    0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400};

}  // namespace

void GaugeSet::Set(const prometheus::Labels& labels, double value) {
  auto it = series_.find(labels);
  if (it == series_.end()) it = series_.emplace(labels, &family_.Add(labels)).first;
  it->second->Set(value);
  touched_.insert(labels);
}

void GaugeSet::End() {
  for (auto it = series_.begin(); it != series_.end();) {
    if (touched_.count(it->first) == 0) {
      family_.Remove(it->second);
      it = series_.erase(it);
    } else {
      ++it;
    }
  }
}

DaemonMetrics::DaemonMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      builds_(BuildCounter()
                  .Name("faiss_rebuild_builds_total")
                  .Help("Rebuild jobs finished, by index and result (done, failed, "
                        "validation_failed, cancelled, timed_out, busy).")
                  .Register(*registry_)),
      duration_(BuildHistogram()
                    .Name("faiss_rebuild_build_duration_seconds")
                    .Help("Time spent in each stage of a rebuild job.")
                    .Register(*registry_)),
      rollbacks_(BuildCounter()
                     .Name("faiss_rebuild_rollbacks_total")
                     .Help("Restores of an earlier version made live by this daemon.")
                     .Register(*registry_)),
      verify_failures_(BuildCounter()
                           .Name("faiss_rebuild_backup_verify_failures_total")
                           .Help("Backup verifications that failed (truncated, bit-flipped or "
                                 "unreadable backups), counted once per failed verify.")
                           .Register(*registry_)),
      scrub_bytes_(BuildCounter()
                       .Name("faiss_rebuild_scrub_bytes_total")
                       .Help("Bytes read by verify and scrub jobs (index files and backups).")
                       .Register(*registry_)),
      repairs_(BuildCounter()
                   .Name("faiss_rebuild_repairs_total")
                   .Help("Corrupt live versions found, by result: done (an intact version was "
                         "re-published as live) or failed (no intact copy, or an error).")
                   .Register(*registry_)),
      last_success_(Gauge(*registry_, "faiss_rebuild_last_success_timestamp_seconds",
                          "Unix time of the last successful rebuild of the index.")),
      consecutive_failures_(Gauge(*registry_, "faiss_rebuild_consecutive_failures",
                                  "Failed or timed-out jobs since the last success.")),
      live_info_(Gauge(*registry_, "faiss_rebuild_live_version_info",
                       "Always 1; the version label names the live version.")),
      live_created_(Gauge(*registry_, "faiss_rebuild_live_version_created_timestamp_seconds",
                          "Unix time the live version was created.")),
      vectors_(Gauge(*registry_, "faiss_rebuild_index_vectors",
                     "Vectors in the live version (ntotal).")),
      size_bytes_(Gauge(*registry_, "faiss_rebuild_index_size_bytes",
                        "Size of the live version's index file.")),
      recall_(Gauge(*registry_, "faiss_rebuild_validation_recall",
                    "Recall@k of the live version measured by validation.")),
      next_run_(Gauge(*registry_, "faiss_rebuild_next_run_timestamp_seconds",
                      "Unix time of the next scheduled run (cooldown included).")),
      interval_(Gauge(*registry_, "faiss_rebuild_schedule_interval_seconds",
                      "Seconds between the next two scheduled runs of the index.")),
      backups_(Gauge(*registry_, "faiss_rebuild_backups",
                     "Backups of the index in the backup store.")),
      backup_bytes_(Gauge(*registry_, "faiss_rebuild_backup_bytes",
                          "Compressed bytes of the index's backups.")),
      disk_free_(Gauge(*registry_, "faiss_rebuild_disk_free_bytes",
                       "Free bytes available on the filesystem holding the path.")),
      scrub_last_(Gauge(*registry_, "faiss_rebuild_scrub_last_timestamp_seconds",
                        "Unix time the last verify or scrub of the index finished.")),
      corrupt_versions_(Gauge(*registry_, "faiss_rebuild_corrupt_versions",
                              "Versions on disk known to be corrupt or modified after "
                              "publication (last verify, manifest, size and mtime checks).")),
      quarantined_(Gauge(*registry_, "faiss_rebuild_quarantined_versions",
                         "Corrupt versions set aside in the index's quarantine directory.")),
      tuned_nprobe_(Gauge(*registry_, "faiss_rebuild_tuned_nprobe",
                          "nprobe the live version was tuned to (search: nprobe: auto).")),
      tuned_efsearch_(Gauge(*registry_, "faiss_rebuild_tuned_efsearch",
                            "efSearch the live version was tuned to (search: efSearch: auto).")),
      ivf_imbalance_(Gauge(*registry_, "faiss_rebuild_ivf_imbalance_factor",
                           "IVF imbalance factor of the live version, nlist * sum(list "
                           "size^2) / ntotal^2 (1 = even lists); IVF indexes only.")),
      ivf_empty_ratio_(Gauge(*registry_, "faiss_rebuild_ivf_empty_lists_ratio",
                             "Share of the live version's IVF lists that are empty; IVF "
                             "indexes only.")),
      repo_bytes_(BuildCounter()
                      .Name("faiss_rebuild_repository_upload_bytes_total")
                      .Help("Bytes uploaded to the object-storage repository.")
                      .Register(*registry_)),
      repo_duration_(BuildHistogram()
                         .Name("faiss_rebuild_repository_upload_duration_seconds")
                         .Help("Time to upload a version to the repository and move its "
                               "pointer.")
                         .Register(*registry_)),
      repo_failures_(BuildCounter()
                         .Name("faiss_rebuild_repository_upload_failures_total")
                         .Help("Repository syncs that failed (retried every "
                               "repository.interval).")
                         .Register(*registry_)),
      repo_lag_seconds_(Gauge(*registry_, "faiss_rebuild_repository_lag_seconds",
                              "Seconds since the oldest local live version the repository's "
                              "pointer does not reach was created; 0 when in sync.")),
      repo_lag_versions_(Gauge(*registry_, "faiss_rebuild_repository_lag_versions",
                               "Local versions newer than the repository's live version.")),
      deltas_(BuildCounter()
                  .Name("faiss_rebuild_deltas_total")
                  .Help("Delta jobs finished, by index and result (done, skipped, failed, "
                        "validation_failed, cancelled, timed_out, busy), and deltas "
                        "rejected before logging (rejected).")
                  .Register(*registry_)),
      delta_rows_since_full_(Gauge(*registry_, "faiss_rebuild_delta_rows_since_full",
                                   "Rows upserted or deleted by delta versions since the live "
                                   "version's last full build.")) {
  Gauge(*registry_, "faiss_rebuild_build_info",
        "Always 1; the labels name this program's version, its FAISS version and which "
        "FAISS kernels run.")
      .Add({{"version", ProgramVersion()}, {"faiss_version", FaissVersion()},
            {"kernels", FaissKernels()}})
      .Set(1);
}

void DaemonMetrics::RecordRepositorySync(const std::string& index, bool ok,
                                         const RepoSyncResult& r) {
  std::lock_guard<std::mutex> lock(mu_);
  prometheus::Labels l{{"index", index}};
  repo_bytes_.Add(l).Increment(static_cast<double>(r.bytes_uploaded));
  if (!ok) repo_failures_.Add(l).Increment();
  if (ok && r.uploaded) repo_duration_.Add(l, kDurationBuckets).Observe(r.seconds);
  if (ok || r.lag_versions > 0) repo_lag_[index] = {r.behind_since_unix, r.lag_versions};
}

void DaemonMetrics::RecordDeltaRejected(const std::string& index) {
  std::lock_guard<std::mutex> lock(mu_);
  deltas_.Add({{"index", index}, {"result", "rejected"}}).Increment();
}

void DaemonMetrics::RecordOutcome(const std::string& kind, const JobOutcome& out) {
  std::lock_guard<std::mutex> lock(mu_);
  remote_backups_.clear();  // any job may have added, pruned or verified backups
  if ((kind == "restore" || kind == "rollback") && out.stage == Stage::kDone)
    rollbacks_.Add({{"index", out.index}}).Increment();
  if (kind == "verify" || kind == "scrub") {
    if (const Json* v = out.verify.Find("verify"))
      scrub_bytes_.Add({{"index", out.index}}).Increment(v->GetDouble("bytes_read"));
    if (const Json* r = out.verify.Find("repair"); r && r->GetBool("live_corrupt"))
      repairs_.Add({{"index", out.index}, {"result", r->GetBool("repaired") ? "done" : "failed"}})
          .Increment();
  }
  if (kind == "delta") {
    std::string result = out.status.code() == Code::kValidationFailed
                             ? "validation_failed"
                             : std::string(ResultName(out));
    deltas_.Add({{"index", out.index}, {"result", result}}).Increment();
    return;
  }
  if (kind != "rebuild") return;
  // A rejected candidate is told apart from a broken build: the two page
  // different people.
  std::string result = out.status.code() == Code::kValidationFailed
                           ? "validation_failed"
                           : std::string(ResultName(out));
  builds_.Add({{"index", out.index}, {"result", result}}).Increment();
  for (const auto& [stage, seconds] : out.stage_seconds)
    duration_.Add({{"index", out.index}, {"stage", stage}}, kDurationBuckets).Observe(seconds);
}

const Manifest* DaemonMetrics::LiveManifest(Env* env, const Config& config,
                                            const std::string& index) {
  VersionStore store(env, config.data_dir, index);
  auto live = store.LiveVersion();
  if (!live.ok() || !*live) return nullptr;
  std::string key = index + "/" + **live;
  auto it = manifests_.find(key);
  if (it == manifests_.end()) {
    auto m = store.ReadManifest(**live);
    if (!m.ok()) return nullptr;
    // Drop the entry of the index's previous live version.
    for (auto old = manifests_.begin(); old != manifests_.end();)
      old = old->first.rfind(index + "/", 0) == 0 ? manifests_.erase(old) : std::next(old);
    it = manifests_.emplace(key, std::make_unique<Manifest>(std::move(*m))).first;
  }
  return it->second.get();
}

std::string DaemonMetrics::Scrape(Env* env, const Config& config, const Scheduler& scheduler) {
  std::lock_guard<std::mutex> lock(mu_);
  GaugeSet* sets[] = {&last_success_, &consecutive_failures_, &live_info_, &live_created_,
                      &vectors_,      &size_bytes_,          &recall_,    &next_run_,
                      &interval_,     &disk_free_,           &backups_,   &backup_bytes_,
                      &scrub_last_,   &corrupt_versions_,    &quarantined_,
                      &tuned_nprobe_, &tuned_efsearch_, &ivf_imbalance_, &ivf_empty_ratio_,
                      &repo_lag_seconds_, &repo_lag_versions_, &delta_rows_since_full_};
  for (auto* s : sets) s->Begin();
  auto states = scheduler.AllStates();
  // A summary rather than a gauge family: promtool rejects a "quantile"
  // label on anything else. prometheus-cpp cannot set quantiles directly,
  // so this family is built by hand. The validator records no mean, so the
  // sum is NaN rather than a made-up number.
  prometheus::MetricFamily latency{"faiss_rebuild_validation_latency_seconds",
                                   "Single-query search latency of the live version "
                                   "measured by validation.",
                                   prometheus::MetricType::Summary,
                                   {}};
  // Built by hand from the scheduler's persisted count, so the counter
  // survives restarts instead of starting over with every process.
  prometheus::MetricFamily skipped{"faiss_rebuild_schedule_skipped_total",
                                   "Scheduled runs not started because a job of the index was "
                                   "already queued or running.",
                                   prometheus::MetricType::Counter,
                                   {}};
  for (const auto& ic : config.indexes) {
    prometheus::Labels l{{"index", ic.name}};
    const IndexSchedState& st = states[ic.name];
    if (!ic.schedule.empty()) {
      prometheus::ClientMetric cm;
      cm.label.push_back({"index", ic.name});
      cm.counter.value = static_cast<double>(st.skipped_busy);
      skipped.metric.push_back(std::move(cm));
    }
    const Manifest* m = LiveManifest(env, config, ic.name);
    int64_t last_ok = st.last_success_unix_ms;
    // Before this daemon saw a success, the live version is the last one.
    if (last_ok == 0 && m != nullptr) last_ok = m->created_unix_ms;
    if (last_ok > 0) last_success_.Set(l, static_cast<double>(last_ok) / 1000);
    consecutive_failures_.Set(l, st.consecutive_failures);
    if (auto next = scheduler.NextRunUnix(ic.name)) next_run_.Set(l, static_cast<double>(*next));
    if (!ic.schedule.empty()) {
      auto cron = CronExpr::Parse(ic.schedule);
      auto tz = TimeZone::Load(ic.timezone.empty() ? config.scheduler.timezone : ic.timezone);
      if (cron.ok() && tz.ok()) {
        auto a = cron->Next(std::time(nullptr), *tz);
        auto b = a.ok() ? cron->Next(*a, *tz) : a;
        if (b.ok()) interval_.Set(l, static_cast<double>(*b - *a));
      }
    }
    // Counters exist from the start so increase() and alerts see a 0
    // baseline: Prometheus does not count a series' first sample.
    rollbacks_.Add(l);
    verify_failures_.Add(l);
    scrub_bytes_.Add(l);
    for (const char* r : {"done", "failed"}) repairs_.Add({{"index", ic.name}, {"result", r}});
    {
      VersionStore store(env, config.data_dir, ic.name);
      auto state = ReadVerifyState(env, store);
      std::optional<VerifyState> verify = state.ok() ? std::move(*state) : std::nullopt;
      if (verify) scrub_last_.Set(l, static_cast<double>(verify->finished_unix_ms) / 1000);
      int corrupt = 0;
      if (auto ids = store.ListVersions(); ids.ok())
        for (const auto& id : *ids) corrupt += QuickIntegrity(env, store, id, verify).bad() ? 1 : 0;
      corrupt_versions_.Set(l, corrupt);
      auto q = ListQuarantined(env, store);
      quarantined_.Set(l, q.ok() ? static_cast<double>(q->size()) : 0);
    }
    for (const char* r : {"done", "failed", "validation_failed", "cancelled", "timed_out", "busy"})
      builds_.Add({{"index", ic.name}, {"result", r}});
    BackupStore store(env, config, ic);
    std::optional<std::vector<BackupInfo>> backups;
    if (store.remote()) {
      RemoteBackups& cached = remote_backups_[ic.name];
      int64_t now = NowUnixMillis();
      if (cached.listed_unix_ms == 0 || now - cached.listed_unix_ms >= kRemoteBackupsTtlMs) {
        auto list = store.List();
        cached.listed_unix_ms = now;
        cached.ok = list.ok();
        if (list.ok()) cached.list = std::move(list).value();
      }
      if (cached.ok) backups = cached.list;
    } else if (auto list = store.List(); list.ok()) {
      backups = std::move(list).value();
    }
    if (backups) {
      uint64_t bytes = 0;
      for (const auto& b : *backups) {
        bytes += b.manifest.compressed_size;
        if (b.failed_verify_unix_ms &&
            counted_verify_failures_
                .insert(ic.name + "/" + b.manifest.version_id + "/" +
                        std::to_string(*b.failed_verify_unix_ms))
                .second) {
          verify_failures_.Add(l).Increment();
        }
      }
      backups_.Set(l, static_cast<double>(backups->size()));
      backup_bytes_.Set(l, static_cast<double>(bytes));
    }
    if (!config.repository.url.empty()) {
      repo_bytes_.Add(l);
      repo_failures_.Add(l);
      if (auto it = repo_lag_.find(ic.name); it != repo_lag_.end()) {
        int64_t since = it->second.behind_since_unix;
        repo_lag_seconds_.Set(l, since > 0 ? std::max<double>(0, static_cast<double>(
                                                                     std::time(nullptr) - since))
                                           : 0);
        repo_lag_versions_.Set(l, it->second.versions);
      }
    }
    if (m == nullptr) continue;
    live_info_.Set({{"index", ic.name}, {"version", m->version_id}}, 1);
    live_created_.Set(l, static_cast<double>(m->created_unix_ms) / 1000);
    vectors_.Set(l, static_cast<double>(m->ntotal));
    delta_rows_since_full_.Set(l, static_cast<double>(m->delta_rows_since_full));
    size_bytes_.Set(l, static_cast<double>(m->file_size));
    recall_.Set(l, m->validation.recall);
    if (const auto& t = m->validation.tune; t && t->chosen)
      (t->param == "nprobe" ? tuned_nprobe_ : tuned_efsearch_).Set(l, *t->chosen);
    if (const auto& h = m->validation.ivf) {
      ivf_imbalance_.Set(l, h->imbalance_factor);
      ivf_empty_ratio_.Set(l, h->empty_lists_ratio);
    }
    prometheus::ClientMetric cm;
    cm.label.push_back({"index", ic.name});
    cm.summary.sample_count = static_cast<uint64_t>(m->validation.latency_queries);
    cm.summary.sample_sum = std::numeric_limits<double>::quiet_NaN();
    cm.summary.quantile = {{0.5, m->validation.p50_ms / 1000}, {0.99, m->validation.p99_ms / 1000}};
    latency.metric.push_back(std::move(cm));
  }
  for (const std::string& path : {config.data_dir, BackupRoot(config)}) {
    auto space = env->GetDiskSpace(path);
    if (space.ok()) disk_free_.Set({{"path", path}}, static_cast<double>(space->free_bytes));
  }
  for (auto* s : sets) s->End();
  auto families = registry_->Collect();
  if (!skipped.metric.empty()) families.push_back(std::move(skipped));
  if (!latency.metric.empty()) families.push_back(std::move(latency));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace frb::rebuildd
