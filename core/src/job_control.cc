#include "frb/job_control.h"

#include <algorithm>

namespace frb {

std::string_view StageName(Stage s) {
  switch (s) {
    case Stage::kQueued: return "queued";
    case Stage::kWaitingForLock: return "waiting_for_lock";
    case Stage::kLoadingSource: return "loading_source";
    case Stage::kTraining: return "training";
    case Stage::kAdding: return "adding";
    case Stage::kWritingStaging: return "writing_staging";
    case Stage::kValidating: return "validating";
    case Stage::kBackingUp: return "backing_up";
    case Stage::kPublishing: return "publishing";
    case Stage::kDone: return "done";
    case Stage::kFailed: return "failed";
    case Stage::kCancelled: return "cancelled";
    case Stage::kTimedOut: return "timed_out";
    case Stage::kSkipped: return "skipped";
  }
  return "unknown";
}

bool IsTerminal(Stage s) {
  return s == Stage::kDone || s == Stage::kFailed || s == Stage::kCancelled ||
         s == Stage::kTimedOut || s == Stage::kSkipped;
}

void JobControl::SetDeadline(std::chrono::steady_clock::time_point deadline) {
  deadline_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                         deadline.time_since_epoch())
                         .count());
}

Status JobControl::Check() const {
  if (cancelled_.load()) return Cancelled("job cancelled");
  int64_t d = deadline_ns_.load();
  if (d != 0) {
    int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
    if (now >= d) return TimedOut("job exceeded its timeout");
  }
  return Status::Ok();
}

void JobControl::EnterStage(Stage s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = std::chrono::steady_clock::now();
    if (!snap_.stages.empty() && !IsTerminal(snap_.stage)) {
      snap_.stages.back().seconds =
          std::chrono::duration<double>(now - stage_start_).count();
    }
    snap_.stage = s;
    snap_.progress = IsTerminal(s) ? 1.0 : 0.0;
    snap_.done = snap_.total = 0;
    snap_.unit.clear();
    if (!IsTerminal(s)) snap_.stages.push_back({s, 0});
    stage_start_ = now;
  }
  Notify(true);
}

void JobControl::SetProgress(double fraction) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    snap_.progress = std::clamp(fraction, 0.0, 1.0);
  }
  Notify(false);
}

void JobControl::SetWork(double done, double total, std::string_view unit) {
  bool edge;  // a new plan of work, or its end: listeners always see both
  {
    std::lock_guard<std::mutex> lock(mu_);
    edge = unit != snap_.unit || total != snap_.total || (total > 0 && done >= total);
    snap_.done = std::max(done, 0.0);
    snap_.total = std::max(total, 0.0);
    snap_.unit = unit;
    snap_.progress = total > 0 ? std::clamp(done / total, 0.0, 1.0) : 0.0;
  }
  Notify(edge);
}

JobSnapshot JobControl::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  JobSnapshot s = snap_;
  if (!s.stages.empty() && !IsTerminal(s.stage)) {
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - stage_start_)
                         .count();
    s.stages.back().seconds = elapsed;
    // Linear at the pace so far: a plan, not a promise. Too early (under a
    // percent or a tenth of a second) there is no pace to speak of.
    if (s.total > 0) {
      s.rate_unit = s.unit + "/s";
      if (elapsed > 0.1 && s.done > 0) {
        s.rate = s.done / elapsed;
        s.eta_seconds = (s.total - s.done) / s.rate;
      }
    } else {
      s.rate_unit = "%/s";
      if (elapsed > 0.1 && s.progress >= 0.01) {
        s.rate = 100 * s.progress / elapsed;
        s.eta_seconds = elapsed * (1 - s.progress) / s.progress;
      }
    }
  }
  return s;
}

std::map<std::string, double> JobControl::StageSeconds() const {
  std::map<std::string, double> out;
  for (const auto& r : Snapshot().stages) out[std::string(StageName(r.stage))] += r.seconds;
  return out;
}

void JobControl::SetListener(Listener l) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(l);
}

void JobControl::Notify(bool force) {
  Listener l;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!listener_) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_notify_ < std::chrono::milliseconds(100)) return;
    last_notify_ = now;
    l = listener_;
  }
  l(Snapshot());
}

}  // namespace frb
