#include "frb/job_runner.h"

#include <algorithm>

#include "frb/backup.h"
#include "frb/delta_job.h"
#include "frb/repair.h"
#include "frb/verify.h"
#include "frb/store.h"

namespace frb {

namespace {

// Backup and restore jobs end like RebuildJob::Run ends a rebuild.
void Finish(JobControl& control, Status status, JobOutcome& out) {
  out.status = std::move(status);
  out.failed_stage = control.Snapshot().stage;
  out.stage = out.status.ok()                              ? Stage::kDone
              : out.status.code() == Code::kCancelled ? Stage::kCancelled
              : out.status.code() == Code::kTimedOut  ? Stage::kTimedOut
                                                           : Stage::kFailed;
  control.EnterStage(out.stage);
  out.stage_seconds = control.StageSeconds();
  out.finished_unix_ms = NowUnixMillis();
}

std::chrono::milliseconds LockWait(const Config& cfg, const IndexConfig& index) {
  return index.lock_wait.value_or(cfg.scheduler.lock_wait);
}

Status RunBackup(Env* env, const Config& cfg, const IndexConfig& index, JobControl& control,
                 JobOutcome& out) {
  VersionStore store(env, cfg.data_dir, index.name);
  FRB_RETURN_IF_ERROR(store.Init());
  FRB_ASSIGN_OR_RETURN(auto lock, store.LockWithin(LockWait(cfg, index), control));
  FRB_ASSIGN_OR_RETURN(auto live, store.LiveVersion());
  if (!live) return FailedPrecondition("index '" + index.name + "' has no live version to back up");
  control.EnterStage(Stage::kBackingUp);
  FRB_ASSIGN_OR_RETURN(BackupCreated made, CreateBackupWithRetention(env, cfg, index, store,
                                                                     *live, control));
  out.version_id = made.info.manifest.version_id;
  out.pruned_backups = std::move(made.pruned);
  return Status::Ok();
}

Status RunRestore(Env* env, const Config& cfg, const IndexConfig& index,
                  const std::string& version, JobControl& control, JobOutcome& out) {
  VersionStore store(env, cfg.data_dir, index.name);
  if (auto live = store.LiveVersion(); live.ok() && *live) out.parent_version = **live;
  FRB_ASSIGN_OR_RETURN(RestoreOutcome r,
                       RestoreVersion(env, cfg, index, version, control, LockWait(cfg, index)));
  out.version_id = r.new_version;
  out.validation = r.validation;
  out.warnings = r.warnings;
  if (!r.fallback.empty())
    out.warnings.insert(out.warnings.begin(), "restored from the " + r.location +
                                                  " copy; the other failed: " + r.fallback);
  return Status::Ok();
}

// Verify ("verify": at full speed, e.g. asked for by a search server that
// found live damaged) or scrub (scheduled, at the configured read rate);
// both repair when scrub.repair is on. Corruption is the job's result, not
// its failure.
Status RunVerify(Env* env, const Config& cfg, const IndexConfig& index, const JobRequest& req,
                 JobControl& control, JobOutcome& out) {
  VerifyOptions opts;
  if (req.kind == "scrub") opts.max_bytes_per_second = index.scrub.max_bytes_per_second;
  FRB_ASSIGN_OR_RETURN(IndexVerifyReport report, VerifyIndex(env, cfg, index, opts, &control));
  out.verify = Json::MakeObject();
  out.verify["verify"] = report.ToJson();
  out.warnings = report.ProblemLines();
  if (report.live) out.parent_version = *report.live;
  bool disk_corrupt = false;
  for (const auto& v : report.versions) disk_corrupt = disk_corrupt || !v.ok;
  if (!disk_corrupt || !index.scrub.repair) return Status::Ok();
  control.EnterStage(Stage::kPublishing);
  FRB_ASSIGN_OR_RETURN(RepairOutcome r, RepairIndex(env, cfg, index, report, req.job_id, control));
  out.verify["repair"] = r.ToJson();
  if (r.repaired) out.version_id = r.new_version;
  if (!r.error.empty()) out.warnings.push_back(r.error);
  return Status::Ok();
}

Status RunRollback(Env* env, const Config& cfg, const IndexConfig& index, JobControl& control,
                   JobOutcome& out) {
  VersionStore store(env, cfg.data_dir, index.name);
  if (auto live = store.LiveVersion(); live.ok() && *live) out.parent_version = **live;
  FRB_ASSIGN_OR_RETURN(out.version_id, RollbackIndex(env, cfg, index, control));
  return Status::Ok();
}

}  // namespace

JobFn MakeRebuildJobFn(Env* env,
                       std::function<std::shared_ptr<const Config>()> config) {
  return [env, config = std::move(config)](const JobRequest& req, JobControl& control) {
    // Hold the snapshot for the whole job: the jobs keep references.
    std::shared_ptr<const Config> cfg = config();
    const IndexConfig* index = cfg ? cfg->FindIndex(req.index) : nullptr;
    JobOutcome out;
    out.started_unix_ms = NowUnixMillis();
    if (index == nullptr) {
      Finish(control, NotFound("no index named '" + req.index + "' in the current config"), out);
      return out;
    }
    if (req.kind == "rebuild") {
      RebuildOptions opts;
      opts.job_id = req.job_id;
      opts.trigger = req.trigger;
      opts.lock_wait = LockWait(*cfg, *index);
      opts.force = req.force;
      RebuildJob job(env, *cfg, *index, opts);
      return job.Run(control);
    }
    if (req.kind == "delta") {
      RebuildOptions opts;
      opts.job_id = req.job_id;
      opts.trigger = req.trigger;
      opts.lock_wait = LockWait(*cfg, *index);
      DeltaJob job(env, *cfg, *index, opts);
      return job.Run(control);
    }
    control.SetDeadline(std::chrono::steady_clock::now() + index->timeout);
    Status s = req.kind == "backup"    ? RunBackup(env, *cfg, *index, control, out)
               : req.kind == "restore" ? RunRestore(env, *cfg, *index, req.version, control, out)
               : req.kind == "verify" || req.kind == "scrub"
                   ? RunVerify(env, *cfg, *index, req, control, out)
               : req.kind == "rollback" ? RunRollback(env, *cfg, *index, control, out)
                                       : InvalidArgument("unknown job kind '" + req.kind + "'");
    Finish(control, std::move(s), out);
    return out;
  };
}

Json JobInfo::ToJson() const {
  Json j = outcome ? outcome->ToJson() : Json::MakeObject();
  j["job_id"] = job_id;
  j["index"] = index;
  j["trigger"] = trigger;
  j["kind"] = kind;
  if (!version.empty()) j["restore_version"] = version;
  if (force) j["force"] = true;
  j["state"] = std::string(StageName(stage));
  j["queued_unix_ms"] = queued_unix_ms;
  j["cancel_requested"] = cancel_requested;
  j["running"] = started && !outcome;
  if (!outcome) {
    j["progress"] = live.progress;
    j["rate"] = live.rate;
    j["rate_unit"] = live.rate_unit;
    j["eta_seconds"] = live.eta_seconds >= 0 ? Json(live.eta_seconds) : Json();
    if (live.total > 0) {
      j["done"] = live.done;
      j["total"] = live.total;
      j["unit"] = live.unit;
    }
    Json stages = Json::MakeArray();
    for (const auto& s : live.stages) {
      Json sj = Json::MakeObject();
      sj["stage"] = std::string(StageName(s.stage));
      sj["seconds"] = s.seconds;
      stages.Push(std::move(sj));
    }
    j["stages"] = std::move(stages);
  }
  return j;
}

JobRunner::JobRunner(int workers, JobFn fn, Clock* clock, size_t history)
    : fn_(std::move(fn)), clock_(clock), history_(std::max<size_t>(history, 1)) {
  for (int i = 0; i < std::max(workers, 1); ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

JobRunner::~JobRunner() { Shutdown(true); }

void JobRunner::SetOnFinish(FinishFn fn) {
  MutexLock lock(&mu_);
  on_finish_ = std::move(fn);
}

Result<std::string> JobRunner::Submit(const std::string& index, const std::string& trigger,
                                      const std::string& kind, const std::string& version,
                                      bool force) {
  MutexLock lock(&mu_);
  if (stopping_) return FailedPrecondition("shutting down; not accepting jobs");
  if (auto it = active_.find(index); it != active_.end()) {
    const Record& rec = jobs_[it->second];
    // The stage of a running job lives in its control, not in info.
    bool queued = std::find(queue_.begin(), queue_.end(), it->second) != queue_.end();
    std::string state = queued ? "queued" : "running, " + std::string(StageName(rec.control->Snapshot().stage));
    if (!queued && rec.control->Snapshot().stage == Stage::kQueued) state = "running, starting";
    return Busy("index '" + index + "' already has " + rec.info.kind + " job " + it->second +
                " (" + state + ")");
  }
  Record rec;
  rec.info.job_id = NewJobId();
  rec.info.index = index;
  rec.info.trigger = trigger;
  rec.info.kind = kind;
  rec.info.version = version;
  rec.info.force = force;
  rec.info.queued_unix_ms = clock_->NowUnixMillis();
  rec.control = std::make_shared<JobControl>();
  std::string id = rec.info.job_id;
  jobs_.emplace(id, std::move(rec));
  active_[index] = id;
  queue_.push_back(id);
  cv_.NotifyOne();
  return id;
}

void JobRunner::FinishLocked(Record& rec, JobOutcome out) {
  if (out.job_id.empty()) out.job_id = rec.info.job_id;
  if (out.index.empty()) out.index = rec.info.index;
  if (out.trigger.empty()) out.trigger = rec.info.trigger;
  rec.info.stage = out.stage;
  rec.info.live = rec.control->Snapshot();
  rec.info.outcome = std::move(out);
  active_.erase(rec.info.index);
  finished_.push_back(rec.info.job_id);
  Trim();
}

void JobRunner::Trim() {
  while (finished_.size() > history_) {
    jobs_.erase(finished_.front());
    finished_.pop_front();
  }
}

Status JobRunner::Cancel(const std::string& job_id) {
  JobOutcome done;
  JobRequest req;
  FinishFn cb;
  {
    MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return NotFound("no job '" + job_id + "'");
    Record& rec = it->second;
    if (rec.info.outcome)
      return FailedPrecondition("job " + job_id + " already ended (" +
                                std::string(StageName(rec.info.stage)) + ")");
    rec.info.cancel_requested = true;
    rec.control->Cancel();
    auto q = std::find(queue_.begin(), queue_.end(), job_id);
    if (q == queue_.end()) return Status::Ok();  // running: stops at its next check
    queue_.erase(q);  // no worker can pick it up now
    done.job_id = rec.info.job_id;
    done.index = rec.info.index;
    done.trigger = rec.info.trigger;
    done.stage = Stage::kCancelled;
    done.failed_stage = Stage::kQueued;
    done.status = Cancelled("job cancelled while queued");
    done.started_unix_ms = done.finished_unix_ms = clock_->NowUnixMillis();
    req = {rec.info.job_id, rec.info.index, rec.info.trigger, rec.info.kind, rec.info.version,
           rec.info.force};
    cb = on_finish_;
  }
  // Same order as a worker: callbacks first, then the job shows as finished.
  if (cb) cb(req, done);
  MutexLock lock(&mu_);
  FinishLocked(jobs_.at(job_id), std::move(done));
  return Status::Ok();
}

void JobRunner::WorkerLoop() {
  for (;;) {
    JobRequest req;
    std::shared_ptr<JobControl> control;
    {
      MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty()) cv_.Wait(&mu_);
      if (queue_.empty()) return;  // stopping with nothing left
      std::string id = queue_.front();
      queue_.pop_front();
      Record& rec = jobs_.at(id);
      req = {rec.info.job_id, rec.info.index, rec.info.trigger, rec.info.kind, rec.info.version,
           rec.info.force};
      control = rec.control;
      rec.info.started = true;
      ++running_;
    }
    JobOutcome out = fn_(req, *control);
    if (out.job_id.empty()) out.job_id = req.job_id;
    if (out.index.empty()) out.index = req.index;
    if (out.trigger.empty()) out.trigger = req.trigger;
    FinishFn cb;
    {
      MutexLock lock(&mu_);
      cb = on_finish_;
    }
    // Before the job shows as finished: whoever sees it done (API clients)
    // then also sees its effect on scheduler state and metrics.
    if (cb) cb(req, out);
    {
      MutexLock lock(&mu_);
      --running_;
      FinishLocked(jobs_.at(req.job_id), std::move(out));
    }
    cv_.NotifyAll();
  }
}

std::optional<JobInfo> JobRunner::Get(const std::string& job_id) const {
  MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return std::nullopt;
  JobInfo info = it->second.info;
  if (!info.outcome) {
    info.live = it->second.control->Snapshot();
    info.stage = info.live.stage;
  }
  return info;
}

std::vector<JobInfo> JobRunner::List() const {
  std::vector<JobInfo> active, done;
  {
    MutexLock lock(&mu_);
    for (const auto& [id, rec] : jobs_) {
      JobInfo info = rec.info;
      if (!info.outcome) {
        info.live = rec.control->Snapshot();
        info.stage = info.live.stage;
        active.push_back(std::move(info));
      }
    }
    for (auto it = finished_.rbegin(); it != finished_.rend(); ++it)
      done.push_back(jobs_.at(*it).info);
  }
  std::sort(active.begin(), active.end(), [](const JobInfo& a, const JobInfo& b) {
    return a.queued_unix_ms != b.queued_unix_ms ? a.queued_unix_ms < b.queued_unix_ms
                                                : a.job_id < b.job_id;
  });
  active.insert(active.end(), done.begin(), done.end());
  return active;
}

std::optional<std::string> JobRunner::ActiveJob(const std::string& index) const {
  MutexLock lock(&mu_);
  auto it = active_.find(index);
  if (it == active_.end()) return std::nullopt;
  return it->second;
}

int JobRunner::running() const {
  MutexLock lock(&mu_);
  return running_;
}

int JobRunner::queued() const {
  MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

void JobRunner::Shutdown(bool cancel_running) {
  std::vector<std::string> queued;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    queued.assign(queue_.begin(), queue_.end());
    if (cancel_running)
      for (auto& [id, rec] : jobs_)
        if (!rec.info.outcome) rec.control->Cancel();
  }
  for (const auto& id : queued) (void)Cancel(id);
  cv_.NotifyAll();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
}

}  // namespace frb
