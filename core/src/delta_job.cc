// DeltaJob: the stage order of a delta version (frb/delta_job.h).
#include "frb/delta_job.h"

#include <malloc.h>

#include <limits>

#include "dataset.h"
#include "frb/publisher.h"
#include "frb/store.h"
#include "frb/validator.h"

namespace frb {

DeltaJob::DeltaJob(Env* env, const Config& config, const IndexConfig& index,
                   RebuildOptions options)
    : env_(env), config_(config), index_(index), options_(std::move(options)) {
  if (options_.job_id.empty()) options_.job_id = NewJobId();
}

JobOutcome DeltaJob::Run(JobControl& control) {
  JobOutcome out = RunIndexJob(env_, config_, index_, options_, control,
                               [this](JobControl& c, JobOutcome& o) { return RunStages(c, o); });
  if (out.status.code() != Code::kFailedPrecondition || index_.deltas_on_unsupported != "rebuild" ||
      out.failed_stage != Stage::kAdding)
    return out;
  // The index cannot take the delta (HNSW removals): a full build replays
  // the log instead, under the same job id.
  RebuildOptions rebuild = options_;
  rebuild.force = true;
  JobOutcome full = RebuildJob(env_, config_, index_, rebuild).Run(control);
  full.warnings.insert(full.warnings.begin(), "delta not applicable, rebuilt in full instead: " +
                                                  out.status.message());
  return full;
}

Status DeltaJob::RunStages(JobControl& control, JobOutcome& out) {
  VersionStore store(env_, config_.data_dir, index_.name);
  FRB_RETURN_IF_ERROR(store.Init());
  FRB_ASSIGN_OR_RETURN(auto lock, store.LockWithin(options_.lock_wait, control));
  FRB_ASSIGN_OR_RETURN(StagingDir staging_dir, store.FreshStaging(out.job_id));
  const std::string& staging = staging_dir.path();

  control.EnterStage(Stage::kLoadingSource);
  FRB_ASSIGN_OR_RETURN(auto live_id, store.LiveVersion());
  if (!live_id)
    return FailedPrecondition("index '" + index_.name +
                              "' has no live version to apply deltas to; the logged deltas are "
                              "applied by its first full build (`faiss-rebuild rebuild " +
                              index_.name + "`)");
  out.parent_version = *live_id;
  FRB_ASSIGN_OR_RETURN(Manifest lm, store.ReadManifest(*live_id));
  // Live plus the deltas is only the source plus the deltas while the
  // source is the file live was built from.
  FRB_ASSIGN_OR_RETURN(FileInfo src, env_->Stat(index_.source_path));
  if (src.size != lm.source.size || src.mtime_ns != lm.source.mtime_ns ||
      index_.source_path != lm.source.path)
    return FailedPrecondition("index '" + index_.name + "': the source " + index_.source_path +
                              " is not the file live version " + *live_id +
                              " was built from (size or mtime changed); run a full rebuild, "
                              "which replays the logged deltas");
  FRB_ASSIGN_OR_RETURN(int64_t source_contains, SourceDeltasThrough(env_, index_));
  DeltaLog log(env_, store.IndexDir());
  FRB_ASSIGN_OR_RETURN(auto pending,
                       log.List(std::max(lm.delta_through, source_contains), &out.warnings));
  if (pending.empty()) {
    out.skip_reason = "no logged delta after sequence " +
                      std::to_string(std::max(lm.delta_through, source_contains)) +
                      ", which live version " + *live_id + " contains";
    return Status::Ok();
  }
  std::vector<DeltaData> deltas;
  int64_t upserts = 0, deletes = 0;
  std::vector<int64_t> seqs;
  for (const DeltaRecord& r : pending) {
    FRB_ASSIGN_OR_RETURN(DeltaData d, log.Load(r));
    upserts += r.upserts;
    deletes += r.deletes;
    seqs.push_back(r.seq);
    deltas.push_back(std::move(d));
  }
  FRB_RETURN_IF_ERROR(control.Check());

  control.EnterStage(Stage::kAdding);
  const std::string index_path = JoinPath(staging, "index.faiss");
  DeltaApplier applier(env_);
  FRB_ASSIGN_OR_RETURN(ApplyResult applied,
                       applier.Apply(index_, store.VersionIndexPath(*live_id),
                                     FileDigest{lm.file_size, lm.file_sha256}, deltas, index_path,
                                     control));
  deltas.clear();
  ::malloc_trim(0);

  control.EnterStage(Stage::kValidating);
  FRB_RETURN_IF_ERROR(env_->MakeReadOnly(index_path));
  FRB_ASSIGN_OR_RETURN(FileInfo staged_info, env_->Stat(index_path));
  // The data the new version must hold: the source overlaid with every
  // logged delta up to the last one applied.
  FRB_ASSIGN_OR_RETURN(Dataset data, OpenDataset(env_, index_, log, seqs.back()));
  for (auto& w : data.warnings) out.warnings.push_back(std::move(w));
  std::optional<LiveVersionInfo> live =
      LiveVersionInfo{lm, store.VersionIndexPath(*live_id)};
  Validator validator(env_);
  FRB_ASSIGN_OR_RETURN(ValidationReport report,
                       validator.Validate(index_, data.view(), index_path, applied.file, live,
                                          control, data.ids()));
  out.validation = report;
  ::malloc_trim(0);
  if (!report.passed) {
    std::string why = report.failures.front();
    if (report.failures.size() > 1)
      why += " (and " + std::to_string(report.failures.size() - 1) + " more)";
    return ValidationFailed("index '" + index_.name + "': " + why);
  }

  control.EnterStage(Stage::kPublishing);
  FRB_RETURN_IF_ERROR(control.Check());
  Manifest m;
  m.index_name = index_.name;
  std::string seq_warning;
  FRB_ASSIGN_OR_RETURN(m.version_id, store.NextVersionId(NowUnixMillis(), &seq_warning));
  if (!seq_warning.empty()) out.warnings.push_back(seq_warning);
  m.parent_version = *live_id;
  m.created_unix_ms = NowUnixMillis();
  m.job_id = out.job_id;
  m.source = lm.source;
  m.factory = lm.factory;
  m.metric = lm.metric;
  m.dim = lm.dim;
  m.ntotal = applied.ntotal;
  m.file_size = applied.file.size;
  m.file_sha256 = applied.file.sha256;
  m.train_vectors = lm.train_vectors;
  m.train_sample = lm.train_sample;
  m.threads = lm.threads;
  m.stage_seconds = control.StageSeconds();
  m.validation = report;
  m.kind = "delta";
  m.delta_seqs = seqs;
  m.delta_through = seqs.back();
  m.delta_upserts = upserts;
  m.delta_deletes = deletes;
  m.full_version = lm.kind == "full" || lm.full_version.empty() ? lm.version_id : lm.full_version;
  m.deltas_since_full = lm.deltas_since_full + static_cast<int64_t>(seqs.size());
  m.delta_rows_since_full = lm.delta_rows_since_full + upserts + deletes;
  Publisher publisher(env_);
  std::vector<std::string> pruned;
  FRB_RETURN_IF_ERROR(
      publisher.Publish(store, staging, m, index_.keep_versions, &pruned, &staged_info));
  out.version_id = m.version_id;
  return Status::Ok();
}

}  // namespace frb
