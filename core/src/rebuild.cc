#include "frb/rebuild.h"

#include <malloc.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>
#include <random>

#include "frb/admission.h"
#include "frb/backup.h"
#include "frb/memory.h"
#include "dataset.h"
#include "frb/builder.h"
#include "frb/delta_log.h"
#include "frb/publisher.h"
#include "frb/repair.h"
#include "frb/source.h"
#include "frb/store.h"
#include "frb/validator.h"

namespace frb {
namespace {

constexpr char kLastJobFile[] = "last_job.json";

Stage StageFromName(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(Stage::kSkipped); ++i)
    if (StageName(static_cast<Stage>(i)) == name) return static_cast<Stage>(i);
  return Stage::kFailed;
}

Code CodeFromName(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(Code::kInternal); ++i)
    if (CodeName(static_cast<Code>(i)) == name) return static_cast<Code>(i);
  return Code::kInternal;
}

}  // namespace

std::string_view ResultName(const JobOutcome& out) {
  if (out.stage == Stage::kFailed && out.status.code() == Code::kBusy) return "busy";
  return StageName(out.stage);
}

std::string NewJobId() {
  static std::atomic<uint32_t> counter{0};
  thread_local std::mt19937 rng{std::random_device{}()};
  time_t now = std::time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "j-%04d%02d%02dT%02d%02d%02dZ-%06x",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                tm.tm_sec, static_cast<unsigned>((rng() ^ (counter.fetch_add(1) << 20)) & 0xffffff));
  return buf;
}

Json JobOutcome::ToJson() const {
  Json j = Json::MakeObject();
  j["job_id"] = job_id;
  j["index"] = index;
  j["trigger"] = trigger;
  j["state"] = std::string(StageName(stage));
  j["result"] = std::string(ResultName(*this));
  if (stage != Stage::kDone && stage != Stage::kSkipped) j["failed_stage"] = std::string(StageName(failed_stage));
  j["ok"] = status.ok();
  if (!status.ok()) {
    j["error_code"] = std::string(CodeName(status.code()));
    j["error"] = status.message();
  }
  if (!version_id.empty()) j["version"] = version_id;
  if (!parent_version.empty()) j["parent_version"] = parent_version;
  if (validation) j["validation"] = validation->ToJson();
  // The tuned value, where scripts look for it (`rebuild --json`).
  if (validation && validation->tune && validation->tune->chosen)
    j[validation->tune->param] = static_cast<int64_t>(*validation->tune->chosen);
  if (!pruned_backups.empty()) {
    Json pruned = Json::MakeArray();
    for (const auto& v : pruned_backups) pruned.Push(v);
    j["pruned_backups"] = std::move(pruned);
  }
  Json st = Json::MakeObject();
  for (const auto& [k, v] : stage_seconds) st[k] = v;
  j["stage_seconds"] = std::move(st);
  if (!skip_reason.empty()) j["skip_reason"] = skip_reason;
  if (!warnings.empty()) {
    Json w = Json::MakeArray();
    for (const auto& x : warnings) w.Push(x);
    j["warnings"] = std::move(w);
  }
  if (!verify.is_null()) j["verify"] = verify;
  j["started_unix_ms"] = started_unix_ms;
  j["finished_unix_ms"] = finished_unix_ms;
  j["started"] = FormatUtcMillis(started_unix_ms);
  if (finished_unix_ms > 0) j["finished"] = FormatUtcMillis(finished_unix_ms);
  return j;
}

Result<JobOutcome> JobOutcome::FromJson(const Json& j) {
  if (!j.is_object()) return Corruption("job record is not an object");
  JobOutcome o;
  o.job_id = j.GetString("job_id");
  o.index = j.GetString("index");
  o.trigger = j.GetString("trigger");
  o.stage = StageFromName(j.GetString("state"));
  o.failed_stage = StageFromName(j.GetString("failed_stage", "queued"));
  if (!j.GetBool("ok"))
    o.status = Status(CodeFromName(j.GetString("error_code")), j.GetString("error"));
  o.version_id = j.GetString("version");
  o.parent_version = j.GetString("parent_version");
  if (const Json* v = j.Find("validation")) {
    FRB_ASSIGN_OR_RETURN(ValidationReport r, ValidationReport::FromJson(*v));
    o.validation = r;
  }
  if (const Json* p = j.Find("pruned_backups"); p && p->is_array())
    for (const auto& v : p->as_array())
      if (v.is_string()) o.pruned_backups.push_back(v.as_string());
  if (const Json* st = j.Find("stage_seconds"); st && st->is_object())
    for (const auto& [k, v] : st->as_object())
      if (v.is_number()) o.stage_seconds[k] = v.as_double();
  o.skip_reason = j.GetString("skip_reason");
  if (const Json* w = j.Find("warnings"); w && w->is_array())
    for (const auto& x : w->as_array())
      if (x.is_string()) o.warnings.push_back(x.as_string());
  if (const Json* v = j.Find("verify")) o.verify = *v;
  o.started_unix_ms = j.GetInt("started_unix_ms");
  o.finished_unix_ms = j.GetInt("finished_unix_ms");
  return o;
}

RebuildJob::RebuildJob(Env* env, const Config& config, const IndexConfig& index,
                       RebuildOptions options)
    : env_(env), config_(config), index_(index), options_(std::move(options)) {
  if (options_.job_id.empty()) options_.job_id = NewJobId();
}

JobOutcome RunIndexJob(Env* env, const Config& config, const IndexConfig& index,
                       const RebuildOptions& options, JobControl& control,
                       const std::function<Status(JobControl&, JobOutcome&)>& stages) {
  JobOutcome out;
  out.job_id = options.job_id;
  out.index = index.name;
  out.trigger = options.trigger;
  out.started_unix_ms = NowUnixMillis();
  control.SetDeadline(std::chrono::steady_clock::now() + index.timeout);
  out.status = stages(control, out);
  out.failed_stage = control.Snapshot().stage;
  if (out.status.ok()) {
    out.stage = out.skip_reason.empty() ? Stage::kDone : Stage::kSkipped;
  } else if (out.status.code() == Code::kCancelled) {
    out.stage = Stage::kCancelled;
  } else if (out.status.code() == Code::kTimedOut) {
    out.stage = Stage::kTimedOut;
  } else {
    out.stage = Stage::kFailed;
  }
  control.EnterStage(out.stage);
  out.stage_seconds = control.StageSeconds();
  out.finished_unix_ms = NowUnixMillis();
  // Best effort: the outcome is also returned to the caller.
  VersionStore store(env, config.data_dir, index.name);
  if (out.status.code() != Code::kBusy)
    (void)WriteFileAtomic(env, JoinPath(store.IndexDir(), kLastJobFile),
                          out.ToJson().Dump(2) + "\n");
  return out;
}

JobOutcome RebuildJob::Run(JobControl& control) {
  return RunIndexJob(env_, config_, index_, options_, control,
                     [this](JobControl& c, JobOutcome& o) { return RunStages(c, o); });
}

Status RebuildJob::RunStages(JobControl& control, JobOutcome& out) {
  VersionStore store(env_, config_.data_dir, index_.name);
  FRB_RETURN_IF_ERROR(store.Init());
  FRB_ASSIGN_OR_RETURN(auto lock, store.LockWithin(options_.lock_wait, control));
  // Holding the lock, nothing else can be using staging: clear what a
  // crashed or killed job left behind.
  FRB_ASSIGN_OR_RETURN(StagingDir staging_dir, store.FreshStaging(out.job_id));
  const std::string& staging = staging_dir.path();

  control.EnterStage(Stage::kLoadingSource);
  // The source, its ids and every logged delta it does not contain: a full
  // build never drops an update applied since the source was exported.
  DeltaLog log(env_, store.IndexDir());
  FRB_ASSIGN_OR_RETURN(Dataset data, OpenDataset(env_, index_, log, -1));
  for (auto& w : data.warnings) out.warnings.push_back(std::move(w));
  const VectorSource& source = data.view();
  FRB_ASSIGN_OR_RETURN(SourceFingerprint fp, data.source->Fingerprint([&](double f) {
    control.SetProgress(f);
  }));
  if (!index_.source_ids_path.empty()) {
    fp.ids_path = index_.source_ids_path;
    fp.ids_sha256 = data.ids_sha256;
  }
  FRB_RETURN_IF_ERROR(control.Check());

  std::optional<LiveVersionInfo> live;
  FRB_ASSIGN_OR_RETURN(auto live_id, store.LiveVersion());
  if (live_id) {
    out.parent_version = *live_id;
    auto lm = store.ReadManifest(*live_id);
    // A damaged live manifest must not stop the rebuild that replaces it:
    // no drift guards then (the backing-up stage quarantines the version).
    if (lm.ok()) live = LiveVersionInfo{std::move(*lm), store.VersionIndexPath(*live_id)};
    else if (lm.status().code() == Code::kCorruption)
      out.warnings.push_back("no drift guards: " + lm.status().message());
    else return lm.status();
    // Identical inputs would publish a copy of live and push the last
    // different version out of retention.
    if (!options_.force && live && live->manifest.delta_seqs == data.replayed &&
        live->manifest.delta_through == data.delta_through) {
      out.skip_reason = LiveMatches(live->manifest, fp, index_);
      if (!out.skip_reason.empty()) return Status::Ok();
    }
  }

  // Before training: a build that cannot fit fails now, not hours later.
  BuildEstimate estimate = EstimateBuild(index_, source.count(), source.dim());
  AvailableMemoryFn available = options_.available_memory;
  if (!available) available = [env = env_] { return AvailableMemoryBytes(env); };
  FRB_RETURN_IF_ERROR(AdmitBuild(env_, index_, estimate, staging, available));

  Builder builder(env_);
  std::string index_path = JoinPath(staging, "index.faiss");
  FRB_ASSIGN_OR_RETURN(BuildResult built, builder.Build(index_, source, index_path, control,
                                                        data.ids()));
  // The freed index sits in malloc's free lists; give it back before the
  // validator loads the staged copy, so peak RSS is one index, not two.
  ::malloc_trim(0);

  // A source rewritten while we read it would give an index of neither the
  // old nor the new data.
  FRB_RETURN_IF_ERROR(data.source->CheckUnchanged());

  control.EnterStage(Stage::kValidating);
  // Read-only from here on, and its stat taken before the validator hashes
  // it: if nothing about the file changes until publish, the publisher need
  // not hash it a third time (the validator's pass is the proof).
  FRB_RETURN_IF_ERROR(env_->MakeReadOnly(index_path));
  FRB_ASSIGN_OR_RETURN(FileInfo staged_info, env_->Stat(index_path));
  Validator validator(env_);
  FRB_ASSIGN_OR_RETURN(ValidationReport report,
                       validator.Validate(index_, source, index_path, built.file, live, control,
                                          data.ids()));
  out.validation = report;
  ::malloc_trim(0);
  if (!report.passed) {
    std::string why = report.failures.front();
    if (report.failures.size() > 1)
      why += " (and " + std::to_string(report.failures.size() - 1) + " more)";
    return ValidationFailed("index '" + index_.name + "': " + why);
  }

  // The outgoing live version is backed up before anything replaces it; a
  // disk that cannot hold the backup fails the job with live untouched.
  control.EnterStage(Stage::kBackingUp);
  FRB_RETURN_IF_ERROR(control.Check());
  std::string corrupt_outgoing;  // warning; the version is quarantined after the publish
  if (live_id) {
    Status b = BackupOutgoingVersion(env_, config_, index_, store, *live_id, control);
    if (!b.ok()) {
      FRB_ASSIGN_OR_RETURN(corrupt_outgoing, CheckOutgoingVersion(env_, store, *live_id, b, control));
      if (corrupt_outgoing.empty()) return b;
      out.warnings.push_back(corrupt_outgoing);
    }
  }

  control.EnterStage(Stage::kPublishing);
  FRB_RETURN_IF_ERROR(control.Check());
  Manifest m;
  m.index_name = index_.name;
  std::string seq_warning;
  FRB_ASSIGN_OR_RETURN(m.version_id, store.NextVersionId(NowUnixMillis(), &seq_warning));
  if (!seq_warning.empty()) out.warnings.push_back(seq_warning);
  m.parent_version = out.parent_version;
  m.created_unix_ms = NowUnixMillis();
  m.job_id = out.job_id;
  m.source = fp;
  m.factory = index_.factory;
  m.metric = std::string(MetricName(index_.metric));
  m.dim = index_.dimension;
  m.ntotal = built.ntotal;
  m.file_size = built.file.size;
  m.file_sha256 = built.file.sha256;
  m.train_vectors = built.train_vectors;
  m.train_sample = index_.train_sample;
  m.threads = built.threads;
  m.stage_seconds = control.StageSeconds();
  m.validation = report;
  m.kind = "full";
  m.delta_seqs = data.replayed;
  m.delta_through = data.delta_through;
  m.full_version = m.version_id;
  Publisher publisher(env_);
  std::vector<std::string> pruned;
  // Over a corrupt live version, prune only once it is in quarantine: as
  // the rollback target it is pinned and would push out an intact version.
  int keep = corrupt_outgoing.empty() ? index_.keep_versions : std::numeric_limits<int>::max();
  FRB_RETURN_IF_ERROR(publisher.Publish(store, staging, m, keep, &pruned, &staged_info));
  out.version_id = m.version_id;
  if (!corrupt_outgoing.empty()) {
    Status q = QuarantineOutgoing(env_, store, *live_id, corrupt_outgoing, nullptr);
    if (q.ok()) q = store.PruneVersions(index_.keep_versions).status();
    if (!q.ok()) out.warnings.push_back("quarantine of " + *live_id + " failed: " + q.message());
  }
  // Deltas the source now contains are in the version just published.
  if (auto retired = log.Retire(data.source_contains); !retired.ok())
    out.warnings.push_back("retiring deltas through " + std::to_string(data.source_contains) +
                           " failed: " + retired.status().message());
  return Status::Ok();
}

std::string LiveMatches(const Manifest& live, const SourceFingerprint& source,
                        const IndexConfig& index) {
  const SourceFingerprint& was = live.source;
  if (was.sha256.empty() || was.sha256 != source.sha256 || was.count != source.count ||
      was.dim != source.dim)
    return "";
  if (live.kind != "full" || live.source.ids_sha256 != source.ids_sha256) return "";
  if (live.factory != index.factory || live.metric != MetricName(index.metric) ||
      live.dim != index.dimension || live.train_sample != index.train_sample)
    return "";
  return "live version " + live.version_id + " was built from the same source content (sha256 " +
         source.sha256.substr(0, 12) + "..., " + std::to_string(source.count) +
         " vectors) with the same factory, metric, dimension and train_sample; "
         "use --force (API: {\"force\": true}) to build anyway";
}

Result<std::optional<JobOutcome>> ReadLastJob(Env* env, const Config& config,
                                              const std::string& index) {
  VersionStore store(env, config.data_dir, index);
  auto text = ReadFileToString(env, JoinPath(store.IndexDir(), kLastJobFile));
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return std::optional<JobOutcome>();
    return text.status();
  }
  FRB_ASSIGN_OR_RETURN(Json j, Json::Parse(*text));
  FRB_ASSIGN_OR_RETURN(JobOutcome o, JobOutcome::FromJson(j));
  return std::optional<JobOutcome>(std::move(o));
}

}  // namespace frb
