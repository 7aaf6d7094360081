#include "daemon.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "admin_api.h"
#include "frb/host_port.h"
#include "frb/manifest.h"
#include "frb/rebuild.h"
#include "frb/store.h"
#include "frb/timezone.h"
#include "frb/verify.h"

namespace frb::rebuildd {
namespace {

// A stalled loop for this long fails /healthz and withholds the watchdog.
constexpr auto kTickStale = std::chrono::seconds(10);
// Below this much free space on the data dir's filesystem, not ready.
constexpr uint64_t kMinFreeBytes = 1 << 20;

}  // namespace

Daemon::Daemon(Env* env, DaemonOptions options) : env_(env), options_(std::move(options)) {}

Daemon::~Daemon() { Shutdown(); }

std::shared_ptr<const Config> Daemon::config() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_;
}

TokenAuth Daemon::auth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return auth_;
}

Status Daemon::Start() {
  std::vector<ConfigProblem> problems;
  ConfigOptions copt;
  copt.missing_hint = options_.config_is_default ? "the default path; pass --config FILE"
                                                 : "named by --config";
  auto cfg = LoadConfig(env_, options_.config_path, copt, &problems);
  if (!cfg.ok()) return cfg.status();
  std::string listen = options_.listen_override.empty() ? cfg->http_listen
                                                        : options_.listen_override;
  auto address = ParseHostPort(listen, /*allow_port_zero=*/true);
  if (!address.ok()) return InvalidArgument("--listen: " + address.status().message());
  FRB_ASSIGN_OR_RETURN(TokenAuth auth, TokenAuth::Load(cfg->http_token_file,
                                                       !IsLoopbackHost(address->host), listen));
  FRB_ASSIGN_OR_RETURN(auto data_lock, LockDataDir(env_, cfg->data_dir));
  auto shared = std::make_shared<const Config>(std::move(*cfg));
  {
    std::lock_guard<std::mutex> lock(mu_);
    config_ = shared;
    auth_ = auth;
    data_lock_ = std::move(data_lock);
    data_lock_dir_ = shared->data_dir;
  }
  // Every publish (rebuild, restore, repair, rollback) is then uploaded to
  // the repository, if one is configured, by this background stage.
  repo_syncer_ = std::make_unique<RepoSyncer>(env_, [this] { return config(); }, &metrics_);
  runner_ = std::make_unique<JobRunner>(
      shared->scheduler.max_concurrent_builds,
      MakeRebuildJobFn(env_, [this] { return config(); }), Clock::Real());
  scheduler_ = std::make_unique<Scheduler>(env_, Clock::Real(), runner_.get());
  runner_->SetOnFinish(
      [this](const JobRequest& req, const JobOutcome& out) { OnJobFinished(req, out); });
  FRB_RETURN_IF_ERROR(scheduler_->Configure(*shared));

  server_ = std::make_unique<AdminServer>(*this);
  FRB_ASSIGN_OR_RETURN(port_, server_->Bind(*address));
  server_->Serve();
  scheduler_->Start();
  scrubber_ = std::make_unique<Scrubber>(env_, [this] { return config(); }, scheduler_.get());
  scrubber_->Start();
  delta_feeder_ = std::make_unique<DeltaFeeder>(
      env_, [this] { return config(); }, scheduler_.get(),
      [this](const std::string& index) { metrics_.RecordDeltaRejected(index); });
  delta_feeder_->Start();
  repo_syncer_->Start();
  spdlog::info("listening on {}:{}", address->UrlHost(), port_);
  spdlog::info("config {}: {} indexes, data dir {}, max_concurrent_builds {}, auth {}",
               shared->path, shared->indexes.size(), shared->data_dir,
               shared->scheduler.max_concurrent_builds, auth.enabled() ? "token" : "none");
  return Status::Ok();
}

Result<std::unique_ptr<FileLock>> Daemon::LockDataDir(Env* env, const std::string& data_dir) {
  FRB_RETURN_IF_ERROR(env->CreateDirs(data_dir));
  std::string path = JoinPath(data_dir, ".rebuildd.lock");
  auto lock = env->LockFile(path, /*wait=*/false);
  if (lock.ok() || lock.status().code() != Code::kBusy) return lock;
  return Busy("another faiss-rebuildd already serves data dir " + data_dir + " (it holds " + path +
              "); stop it, or give this one its own data_dir");
}

void Daemon::OnJobFinished(const JobRequest& req, const JobOutcome& out) {
  // Backups and restores are not rebuild results: no effect on cooldown.
  if (req.kind == "rebuild") scheduler_->OnJobFinished(out);
  metrics_.RecordOutcome(req.kind, out);
  for (const auto& w : out.warnings)
    spdlog::warn("job {} {} index={}: {}", out.job_id, req.kind, out.index, w);
  if (out.stage == Stage::kSkipped) {
    spdlog::info("job {} {} index={} trigger={} skipped: {}", out.job_id, req.kind, out.index,
                 out.trigger, out.skip_reason);
  } else if (out.status.ok()) {
    std::string what = req.kind == "backup"     ? "backed up " + out.version_id
                       : req.kind == "rollback" ? out.version_id + " is live again"
                       : (req.kind == "verify" || req.kind == "scrub")
                           ? (out.warnings.empty() ? std::string("all intact")
                                                   : std::to_string(out.warnings.size()) +
                                                         " problem(s)") +
                                 (out.version_id.empty() ? "" : "; repaired as " + out.version_id)
                           : "published " + out.version_id;
    spdlog::info("job {} {} index={} trigger={} done: {}", out.job_id, req.kind, out.index,
                 out.trigger, what);
  } else {
    spdlog::warn("job {} {} index={} trigger={} {} in {}: {} (live version unchanged)",
                 out.job_id, req.kind, out.index, out.trigger, StageName(out.stage),
                 StageName(out.failed_stage), out.status.message());
  }
  if (out.status.ok() && !out.version_id.empty() && repo_syncer_) repo_syncer_->Trigger(out.index);
  if (!shutting_down_) notifier_.Status(StatusLine());
}

Status Daemon::Reload(std::vector<std::string>* problems) {
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  std::vector<ConfigProblem> found;
  auto cfg = LoadConfig(env_, options_.config_path, {}, &found);
  Status result;
  if (!cfg.ok()) {
    if (problems) {
      for (const auto& p : found) problems->push_back(p.ToString());
      if (found.empty()) problems->push_back(cfg.status().message());
    }
    result = cfg.status();
  } else {
    auto old = config();
    std::string listen = options_.listen_override.empty() ? cfg->http_listen
                                                          : options_.listen_override;
    auto address = ParseHostPort(listen, /*allow_port_zero=*/true);
    auto auth = address.ok() ? TokenAuth::Load(cfg->http_token_file,
                                               !IsLoopbackHost(address->host), listen)
                             : Result<TokenAuth>(address.status());
    // A new data dir is locked before anything uses it; the old lock is
    // released only once the new config is in place.
    std::unique_ptr<FileLock> new_lock;
    if (!auth.ok()) {
      result = auth.status();
    } else if (cfg->data_dir != old->data_dir) {
      auto l = LockDataDir(env_, cfg->data_dir);
      if (l.ok()) new_lock = std::move(*l);
      else result = l.status();
    }
    if (result.ok()) result = scheduler_->Configure(*cfg);
    if (!result.ok() && problems) problems->push_back(result.message());
    if (result.ok()) {
      if (cfg->http_listen != old->http_listen && options_.listen_override.empty())
        spdlog::warn("http.listen changed to {}: takes effect at restart", cfg->http_listen);
      if (cfg->scheduler.max_concurrent_builds != old->scheduler.max_concurrent_builds)
        spdlog::warn("scheduler.max_concurrent_builds changed: takes effect at restart");
      if (cfg->data_dir != old->data_dir)
        spdlog::warn("data_dir changed to {}: jobs from now on use it", cfg->data_dir);
      std::lock_guard<std::mutex> lock(mu_);
      if (new_lock) {
        data_lock_ = std::move(new_lock);
        data_lock_dir_ = cfg->data_dir;
      }
      config_ = std::make_shared<const Config>(std::move(*cfg));
      auth_ = *auth;
    }
  }
  if (result.ok()) {
    spdlog::info("config reloaded from {}", options_.config_path);
  } else {
    spdlog::error("config reload rejected, keeping the running config: {}", result.message());
  }
  return result;
}

void Daemon::Shutdown() {
  if (shutting_down_.exchange(true)) return;
  notifier_.StopThreads();
  if (scrubber_) scrubber_->Stop();
  if (delta_feeder_) delta_feeder_->Stop();
  if (repo_syncer_) repo_syncer_->Stop();
  if (scheduler_) scheduler_->Stop();
  if (runner_) {
    int active = runner_->running() + runner_->queued();
    if (active > 0) spdlog::info("cancelling {} job(s)", active);
    runner_->Shutdown(/*cancel_running=*/true);
  }
  if (server_) server_->Stop();
}

bool Daemon::Alive(std::string* why) const {
  if (!scheduler_) {
    *why = "not started";
    return false;
  }
  auto last = scheduler_->last_tick();
  if (std::chrono::steady_clock::now() - last > kTickStale) {
    *why = "scheduler loop has not ticked for over 10s";
    return false;
  }
  return true;
}

bool Daemon::Ready(std::string* why) const {
  if (shutting_down_) {
    *why = "shutting down";
    return false;
  }
  if (!Alive(why)) return false;
  auto cfg = config();
  if (!cfg) {
    *why = "config not loaded";
    return false;
  }
  if (::access(cfg->data_dir.c_str(), W_OK) != 0) {
    *why = "data dir " + cfg->data_dir + " is not writable";
    return false;
  }
  // A full disk: the daemon keeps serving /metrics and /healthz, and is
  // ready again by itself once space returns (no restart loop).
  if (auto space = env_->GetDiskSpace(cfg->data_dir);
      space.ok() && space->free_bytes < kMinFreeBytes) {
    *why = "data dir " + cfg->data_dir + " is full: " + std::to_string(space->free_bytes) +
           " bytes free, under the " + std::to_string(kMinFreeBytes) +
           " needed to save state and stage builds";
    return false;
  }
  if (Status p = scheduler_->persist_status(); !p.ok()) {
    *why = "cannot save scheduler state: " + p.message();
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!data_lock_ || data_lock_dir_ != cfg->data_dir) {
      *why = "the lock on data dir " + cfg->data_dir + " is not held";
      return false;
    }
  }
  // A corrupt live version is being served: not fine until repaired.
  for (const auto& ic : cfg->indexes) {
    VersionStore store(env_, cfg->data_dir, ic.name);
    bool bad = false;
    Json in = IntegritySummary(env_, store, &bad);
    if (bad) {
      const Json* live = in.Find("live");
      *why = "index '" + ic.name + "': live version " + live->GetString("version") + " is " +
             live->GetString("state") + ": " + live->GetString("detail");
      return false;
    }
  }
  return true;
}

Json Daemon::IndexJsonLocked(const Config& cfg, const IndexConfig& ic) const {
  Json j = Json::MakeObject();
  j["name"] = ic.name;
  j["schedule"] = ic.schedule;
  j["timezone"] = ic.timezone.empty() ? cfg.scheduler.timezone : ic.timezone;
  VersionStore store(env_, cfg.data_dir, ic.name);
  auto live = store.LiveVersion();
  j["live"] = nullptr;
  if (!live.ok()) {
    j["live_error"] = live.status().message();
  } else if (*live) {
    auto m = store.ReadManifest(**live);
    if (!m.ok()) {
      j["live_error"] = m.status().message();
    } else {
      j["live"] = m->LiveSummary(store.LivePath(), NowUnixMillis());
    }
  }
  j["integrity"] = IntegritySummary(env_, store);
  if (auto st = scheduler_->State(ic.name)) {
    j["consecutive_failures"] = st->consecutive_failures;
    if (!st->last_job_id.empty()) {
      Json last = Json::MakeObject();
      last["job_id"] = st->last_job_id;
      last["state"] = st->last_result;
      if (!st->last_error.empty()) last["error"] = st->last_error;
      last["started"] = FormatUtcMillis(st->last_started_unix_ms);
      last["finished"] = FormatUtcMillis(st->last_finished_unix_ms);
      j["last_job"] = std::move(last);
    }
  }
  if (auto next = scheduler_->NextRunUnix(ic.name)) {
    auto tz = TimeZone::Load(j.GetString("timezone"));
    j["next_run"] = FormatIso8601(*next, tz.ok() ? *tz : TimeZone::Utc());
    j["next_run_unix"] = *next;
  } else {
    j["next_run"] = nullptr;
  }
  if (auto id = runner_->ActiveJob(ic.name)) {
    if (auto info = runner_->Get(*id)) {
      Json a = Json::MakeObject();
      a["job_id"] = info->job_id;
      a["state"] = std::string(StageName(info->stage));
      a["progress"] = info->live.progress;
      j["active_job"] = std::move(a);
    }
  }
  return j;
}

Result<Json> Daemon::IndexJson(const std::string& name) const {
  auto cfg = config();
  const IndexConfig* ic = cfg->FindIndex(name);
  if (ic == nullptr) return NotFound("no index named '" + name + "'");
  return IndexJsonLocked(*cfg, *ic);
}

Json Daemon::StatusJson() const {
  auto cfg = config();
  Json j = Json::MakeObject();
  j["config"] = cfg->path;
  j["data_dir"] = cfg->data_dir;
  j["uptime_seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  j["jobs_running"] = runner_->running();
  j["jobs_queued"] = runner_->queued();
  j["max_concurrent_builds"] = cfg->scheduler.max_concurrent_builds;
  Json all = Json::MakeArray();
  for (const auto& ic : cfg->indexes) all.Push(IndexJsonLocked(*cfg, ic));
  j["indexes"] = std::move(all);
  return j;
}

std::string Daemon::StatusLine() const {
  auto cfg = config();
  std::string line = std::to_string(cfg ? cfg->indexes.size() : 0) + " indexes; ";
  if (!runner_) return line + "starting";
  if (std::string why; !Ready(&why)) line = "not ready: " + why + "; " + line;
  std::string building;
  int queued = 0;
  for (const auto& info : runner_->List()) {
    if (info.outcome) break;  // List puts active jobs first
    if (info.stage == Stage::kQueued) {
      ++queued;
      continue;
    }
    if (!building.empty()) building += ", ";
    building += info.index + " (" + std::string(StageName(info.stage)) + " " +
                std::to_string(static_cast<int>(info.live.progress * 100)) + "%)";
  }
  line += building.empty() ? "idle" : "building " + building;
  if (queued > 0) line += "; " + std::to_string(queued) + " queued";
  return line;
}

}  // namespace frb::rebuildd
