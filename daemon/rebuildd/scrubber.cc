#include "scrubber.h"

#include <spdlog/spdlog.h>

#include <ctime>

#include "frb/cron.h"
#include "frb/store.h"
#include "frb/timezone.h"
#include "frb/verify.h"

namespace frb::rebuildd {

Scrubber::Scrubber(Env* env, std::function<std::shared_ptr<const Config>()> config,
                   Scheduler* scheduler)
    : env_(env),
      config_(std::move(config)),
      scheduler_(scheduler),
      started_unix_(static_cast<int64_t>(std::time(nullptr))) {}

Scrubber::~Scrubber() { Stop(); }

void Scrubber::Tick() {
  auto cfg = config_();
  if (!cfg) return;
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::map<std::string, int64_t> next;
  for (const auto& ic : cfg->indexes) {
    VersionStore store(env_, cfg->data_dir, ic.name);
    auto state = ReadVerifyState(env_, store);
    std::optional<VerifyState> st = state.ok() ? std::move(*state) : std::nullopt;

    // Live damaged or written since it was published: verify (and repair)
    // now, once per state seen, instead of waiting for the scrub.
    if (auto live = store.LiveVersion(); live.ok() && *live) {
      VersionIntegrity li = QuickIntegrity(env_, store, **live, st);
      std::string key = **live + " " + li.state + " " + li.detail;
      std::lock_guard<std::mutex> lock(mu_);
      if (li.bad() && flagged_[ic.name] != key) {
        auto id = scheduler_->Trigger(ic.name, "integrity", "verify");
        if (id.ok()) {
          flagged_[ic.name] = key;
          spdlog::warn("index {}: live version {} is {}: {}; queued verify job {}", ic.name, **live,
                       li.state, li.detail, *id);
        }
      }
    }

    if (ic.scrub.schedule.empty()) continue;
    auto cron = CronExpr::Parse(ic.scrub.schedule);
    auto tz = TimeZone::Load(ic.timezone.empty() ? cfg->scheduler.timezone : ic.timezone);
    if (!cron.ok() || !tz.ok()) continue;
    int64_t base = st ? st->finished_unix_ms / 1000 : started_unix_;
    auto due = cron->Next(base, *tz);
    if (!due.ok()) continue;
    next[ic.name] = *due;
    if (*due > now) continue;
    auto id = scheduler_->Trigger(ic.name, "schedule", "scrub");
    if (id.ok()) spdlog::info("index {}: scrub due, queued job {}", ic.name, *id);
  }
  std::lock_guard<std::mutex> lock(mu_);
  next_ = std::move(next);
}

void Scrubber::Start(std::chrono::milliseconds period) {
  loop_.Start([this] { Tick(); }, period);
}

void Scrubber::Stop() { loop_.Stop(); }

int64_t Scrubber::NextScrubUnix(const std::string& index) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = next_.find(index);
  return it == next_.end() ? 0 : it->second;
}

}  // namespace frb::rebuildd
