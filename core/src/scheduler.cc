#include "frb/scheduler.h"

#include <algorithm>
#include <chrono>

namespace frb {
namespace {

constexpr char kStateFile[] = "scheduler_state.json";

class RealClock final : public Clock {
 public:
  int64_t NowUnixMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

bool CountsAsFailure(const JobOutcome& out) {
  // A cancel is an operator's decision and kBusy means another process (CLI
  // --local) was building: neither says anything about the index's health.
  if (out.stage == Stage::kTimedOut) return true;
  return out.stage == Stage::kFailed && out.status.code() != Code::kBusy;
}

}  // namespace

Clock* Clock::Real() {
  static RealClock* clock = new RealClock();  // never destroyed: used by threads at exit
  return clock;
}

Json IndexSchedState::ToJson() const {
  Json j = Json::MakeObject();
  j["last_started_unix_ms"] = last_started_unix_ms;
  j["last_finished_unix_ms"] = last_finished_unix_ms;
  j["last_job_id"] = last_job_id;
  j["last_result"] = last_result;
  j["last_error"] = last_error;
  j["last_success_unix_ms"] = last_success_unix_ms;
  j["last_failure_unix_ms"] = last_failure_unix_ms;
  j["consecutive_failures"] = consecutive_failures;
  j["next_run_unix"] = next_run_unix;
  j["due"] = due;
  j["skipped_busy"] = skipped_busy;
  return j;
}

IndexSchedState IndexSchedState::FromJson(const Json& j) {
  IndexSchedState s;
  s.last_started_unix_ms = j.GetInt("last_started_unix_ms");
  s.last_finished_unix_ms = j.GetInt("last_finished_unix_ms");
  s.last_job_id = j.GetString("last_job_id");
  s.last_result = j.GetString("last_result");
  s.last_error = j.GetString("last_error");
  s.last_success_unix_ms = j.GetInt("last_success_unix_ms");
  s.last_failure_unix_ms = j.GetInt("last_failure_unix_ms");
  s.consecutive_failures = static_cast<int>(j.GetInt("consecutive_failures"));
  s.next_run_unix = j.GetInt("next_run_unix");
  s.due = j.GetBool("due");
  s.skipped_busy = j.GetInt("skipped_busy");
  return s;
}

Scheduler::Scheduler(Env* env, Clock* clock, JobRunner* runner)
    : env_(env), clock_(clock), runner_(runner) {}

Scheduler::~Scheduler() { Stop(); }

std::string Scheduler::state_path() const {
  MutexLock lock(&mu_);
  return state_path_;
}

int64_t Scheduler::NextFire(const Entry& e, int64_t after_unix) const {
  if (!e.cron) return 0;
  auto next = e.cron->Next(after_unix, e.tz);
  return next.ok() ? *next : 0;
}

Status Scheduler::Configure(const Config& config) {
  std::map<std::string, Entry> fresh;
  std::string problems;
  for (const auto& ic : config.indexes) {
    Entry e;
    std::string zone = ic.timezone.empty() ? config.scheduler.timezone : ic.timezone;
    auto tz = TimeZone::Load(zone);
    if (!tz.ok()) {
      problems += "index '" + ic.name + "': " + tz.status().message() + "\n";
      continue;
    }
    e.tz = *tz;
    if (!ic.schedule.empty()) {
      auto cron = CronExpr::Parse(ic.schedule);
      if (!cron.ok()) {
        problems += "index '" + ic.name + "': " + cron.status().message() + "\n";
        continue;
      }
      e.cron = *cron;
    }
    fresh.emplace(ic.name, std::move(e));
  }
  if (!problems.empty()) {
    problems.pop_back();
    return InvalidArgument(problems);
  }

  MutexLock lock(&mu_);
  std::string path = JoinPath(config.data_dir, kStateFile);
  bool restoring = !configured_ || path != state_path_;
  std::map<std::string, IndexSchedState> restored;
  if (restoring) {
    // A missing or unreadable state file only costs history, never a start.
    auto text = ReadFileToString(env_, path);
    if (text.ok()) {
      auto j = Json::Parse(*text);
      if (j.ok() && j->Find("indexes") && j->Find("indexes")->is_object())
        for (const auto& [name, sj] : j->Find("indexes")->as_object())
          restored[name] = IndexSchedState::FromJson(sj);
    }
  }
  int64_t now = clock_->NowUnixSeconds();
  for (auto& [name, e] : fresh) {
    const Entry* old = nullptr;
    if (restoring) {
      if (auto it = restored.find(name); it != restored.end()) e.st = it->second;
    } else if (auto it = entries_.find(name); it != entries_.end()) {
      old = &it->second;
      e.st = old->st;
    }
    if (!e.cron) {
      e.st.next_run_unix = 0;
      e.st.due = false;
      continue;
    }
    bool same_schedule = old != nullptr && old->cron &&
                         old->cron->source() == e.cron->source() &&
                         old->tz.name() == e.tz.name();
    if (restoring && e.st.next_run_unix > 0 && e.st.next_run_unix <= now) {
      // Missed at least one run while down: once, never once per miss.
      if (config.scheduler.misfire != "skip") e.st.due = true;
      e.st.next_run_unix = NextFire(e, now);
    } else if (e.st.next_run_unix == 0 || (!restoring && !same_schedule)) {
      e.st.next_run_unix = NextFire(e, now);
    }
  }
  entries_ = std::move(fresh);
  state_path_ = path;
  misfire_ = config.scheduler.misfire;
  cooldown_ = config.scheduler.failure_cooldown;
  configured_ = true;
  // The state lives in memory; a full data disk must not keep the daemon
  // from starting (it would only restart in a loop). Ready() reports it.
  (void)PersistLocked();
  return Status::Ok();
}

Status Scheduler::persist_status() const {
  MutexLock lock(&mu_);
  return persist_status_;
}

int64_t Scheduler::CooldownEndMs(const Entry& e) const {
  if (e.st.consecutive_failures == 0 || e.st.last_failure_unix_ms == 0) return 0;
  return e.st.last_failure_unix_ms +
         std::chrono::duration_cast<std::chrono::milliseconds>(cooldown_).count();
}

void Scheduler::Tick() {
  MutexLock lock(&mu_);
  int64_t now_ms = clock_->NowUnixMillis();
  int64_t now = now_ms / 1000;
  bool changed = false;
  for (auto& [name, e] : entries_) {
    if (!e.cron) continue;
    if (e.st.next_run_unix > 0 && e.st.next_run_unix <= now) {
      e.st.due = true;
      // From now, not from the missed fire time: no catch-up bursts.
      e.st.next_run_unix = NextFire(e, now);
      changed = true;
    }
    if (!e.st.due || now_ms < CooldownEndMs(e)) continue;
    e.st.due = false;
    changed = true;
    auto submitted = runner_->Submit(name, "schedule");
    if (!submitted.ok() && submitted.status().code() == Code::kBusy) ++e.st.skipped_busy;
  }
  if (changed || !persist_status_.ok()) (void)PersistLocked();
}

Result<std::string> Scheduler::Trigger(const std::string& index, const std::string& trigger,
                                       const std::string& kind, const std::string& version,
                                       bool force) {
  {
    MutexLock lock(&mu_);
    if (entries_.find(index) == entries_.end())
      return NotFound("no index named '" + index + "'");
  }
  return runner_->Submit(index, trigger, kind, version, force);
}

void Scheduler::OnJobFinished(const JobOutcome& out) {
  MutexLock lock(&mu_);
  auto it = entries_.find(out.index);
  if (it == entries_.end()) return;
  IndexSchedState& st = it->second.st;
  st.last_job_id = out.job_id;
  st.last_started_unix_ms = out.started_unix_ms;
  st.last_finished_unix_ms = out.finished_unix_ms;
  st.last_result = std::string(ResultName(out));
  st.last_error = out.status.ok() ? "" : out.status.message();
  // A skip means live already is the current source: as fresh as a build.
  if (out.stage == Stage::kDone || out.stage == Stage::kSkipped) {
    st.consecutive_failures = 0;
    st.last_success_unix_ms = clock_->NowUnixMillis();
  } else if (CountsAsFailure(out)) {
    ++st.consecutive_failures;
    st.last_failure_unix_ms = clock_->NowUnixMillis();
  }
  (void)PersistLocked();
}

std::optional<IndexSchedState> Scheduler::State(const std::string& index) const {
  MutexLock lock(&mu_);
  auto it = entries_.find(index);
  if (it == entries_.end()) return std::nullopt;
  return it->second.st;
}

std::optional<int64_t> Scheduler::NextRunLocked(const Entry& e) const {
  if (!e.cron) return std::nullopt;
  int64_t cooldown_end = (CooldownEndMs(e) + 999) / 1000;
  if (e.st.due) return std::max(clock_->NowUnixSeconds(), cooldown_end);
  if (e.st.next_run_unix == 0) return std::nullopt;
  return std::max(e.st.next_run_unix, cooldown_end);
}

std::optional<int64_t> Scheduler::NextRunUnix(const std::string& index) const {
  MutexLock lock(&mu_);
  auto it = entries_.find(index);
  if (it == entries_.end()) return std::nullopt;
  return NextRunLocked(it->second);
}

std::map<std::string, IndexSchedState> Scheduler::AllStates() const {
  MutexLock lock(&mu_);
  std::map<std::string, IndexSchedState> out;
  for (const auto& [name, e] : entries_) out[name] = e.st;
  return out;
}

Status Scheduler::PersistLocked() {
  Json root = Json::MakeObject();
  root["format"] = 1;
  root["saved_unix_ms"] = clock_->NowUnixMillis();
  Json idx = Json::MakeObject();
  for (const auto& [name, e] : entries_) idx[name] = e.st.ToJson();
  root["indexes"] = std::move(idx);
  persist_status_ = env_->CreateDirs(DirName(state_path_));
  if (persist_status_.ok())
    persist_status_ = WriteFileAtomic(env_, state_path_, root.Dump(2) + "\n");
  return persist_status_;
}

void Scheduler::Start(std::chrono::milliseconds period) {
  MutexLock lock(&loop_mu_);
  if (loop_.joinable()) return;
  loop_stop_ = false;
  auto tick = [this] {
    Tick();
    last_tick_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count());
  };
  // The first tick runs here so health checks pass as soon as Start returns.
  tick();
  loop_ = std::thread([this, period, tick] {
    MutexLock lk(&loop_mu_);
    while (!loop_stop_) {
      const auto deadline = std::chrono::steady_clock::now() + period;
      while (!loop_stop_ && loop_cv_.WaitUntil(&loop_mu_, deadline)) {
      }
      if (loop_stop_) break;
      lk.Unlock();
      tick();
      lk.Lock();
    }
  });
}

void Scheduler::Stop() {
  {
    MutexLock lock(&loop_mu_);
    loop_stop_ = true;
  }
  loop_cv_.NotifyAll();
  if (loop_.joinable()) loop_.join();
}

std::chrono::steady_clock::time_point Scheduler::last_tick() const {
  return std::chrono::steady_clock::time_point(
      std::chrono::nanoseconds(last_tick_ns_.load()));
}

}  // namespace frb
