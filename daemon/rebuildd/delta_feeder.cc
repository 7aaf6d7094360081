#include "delta_feeder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "frb/delta_log.h"
#include "frb/retrain.h"
#include "frb/store.h"

namespace frb::rebuildd {

DeltaFeeder::DeltaFeeder(Env* env, std::function<std::shared_ptr<const Config>()> config,
                         Scheduler* scheduler, FailedFn on_bad_input)
    : env_(env),
      config_(std::move(config)),
      scheduler_(scheduler),
      on_bad_input_(std::move(on_bad_input)) {}

DeltaFeeder::~DeltaFeeder() { Stop(); }

void DeltaFeeder::Tick() {
  auto cfg = config_();
  if (!cfg) return;
  for (const auto& ic : cfg->indexes) {
    ConsumeInbox(*cfg, ic);
    QueuePending(*cfg, ic);
    QueueRetrain(*cfg, ic);
  }
}

void DeltaFeeder::ConsumeInbox(const Config& cfg, const IndexConfig& ic) {
  VersionStore store(env_, cfg.data_dir, ic.name);
  const std::string inbox = JoinPath(store.IndexDir(), "inbox");
  auto names = env_->ListDir(inbox);  // sorted: name order
  if (!names.ok()) return;            // no inbox yet
  DeltaLog log(env_, store.IndexDir());
  for (const auto& entry : *names) {
    if (!entry.ends_with(".ready")) continue;
    const std::string base = JoinPath(inbox, entry.substr(0, entry.size() - 6));
    auto part = [&](const char* suffix) {
      std::string p = base + suffix;
      return env_->Exists(p) ? p : std::string();
    };
    const std::string upserts = part(".upserts.npy"), ids = part(".ids.npy"),
                      deletes = part(".deletes.npy");
    auto data = ReadDeltaInput(env_, ic, upserts, ids, deletes);
    Result<DeltaRecord> rec = data.ok() ? log.Append(std::move(*data)) : data.status();
    if (rec.ok()) {
      spdlog::info("index {}: inbox delta {} logged as delta {} ({} upserts, {} deletes)",
                   ic.name, base, rec->seq, rec->upserts, rec->deletes);
    } else if (rec.status().code() == Code::kInvalidArgument ||
               rec.status().code() == Code::kCorruption) {
      // Bad input: set aside with the reason, never retried.
      const std::string failed = JoinPath(inbox, "failed");
      (void)CreateDirsDurable(env_, failed);
      for (const std::string& p : {upserts, ids, deletes, base + ".ready"})
        if (!p.empty()) (void)env_->Rename(p, JoinPath(failed, BaseName(p)));
      (void)WriteFileAtomic(env_, JoinPath(failed, BaseName(base) + ".error"),
                            rec.status().message() + "\n");
      spdlog::error("index {}: inbox delta {} rejected: {}", ic.name, base,
                    rec.status().message());
      if (on_bad_input_) on_bad_input_(ic.name);
      continue;
    } else {
      spdlog::warn("index {}: inbox delta {} not logged yet: {}", ic.name, base,
                   rec.status().message());
      return;  // keep the order: retry this one first next tick
    }
    // Logged durably: the inputs can go. A crash before this point logs the
    // same delta twice, which is harmless (upserts by id and deletes are
    // idempotent).
    (void)env_->RemoveFile(base + ".ready");
    for (const std::string& p : {upserts, ids, deletes})
      if (!p.empty()) (void)env_->RemoveFile(p);
  }
}

void DeltaFeeder::QueuePending(const Config& cfg, const IndexConfig& ic) {
  VersionStore store(env_, cfg.data_dir, ic.name);
  DeltaLog log(env_, store.IndexDir());
  if (!env_->Exists(log.dir())) return;
  auto last = log.LastSeq();
  if (!last.ok() || *last == 0) return;
  auto live = store.LiveVersion();
  if (!live.ok() || !*live) return;  // the first full build takes the log
  auto m = store.ReadManifest(**live);
  if (!m.ok() || m->delta_through >= *last) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queued_through_[ic.name] >= *last) return;
  }
  // Records may all be retired or quarantined: only a real one is pending.
  std::vector<std::string> warnings;
  auto pending = log.List(m->delta_through, &warnings);
  for (const auto& w : warnings) spdlog::warn("index {}: {}", ic.name, w);
  if (!pending.ok() || pending->empty()) return;
  auto id = scheduler_->Trigger(ic.name, "delta", "delta");
  if (!id.ok()) return;  // busy: next tick
  spdlog::info("index {}: deltas through {} pending, queued job {}", ic.name, *last, *id);
  std::lock_guard<std::mutex> lock(mu_);
  queued_through_[ic.name] = *last;
}

void DeltaFeeder::QueueRetrain(const Config& cfg, const IndexConfig& ic) {
  const RetrainPolicy& policy = ic.retrain;
  if (policy.max_delta_fraction <= 0 && policy.max_imbalance_factor <= 0 &&
      policy.max_empty_lists_ratio <= 0)
    return;
  VersionStore store(env_, cfg.data_dir, ic.name);
  auto live = store.LiveVersion();
  if (!live.ok() || !*live) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (retrain_queued_for_[ic.name] == **live) return;
  }
  auto m = store.ReadManifest(**live);
  if (!m.ok() || m->kind != "delta") return;  // a full build is freshly trained
  const IvfHealth health = m->validation.ivf.value_or(IvfHealth{});
  auto why = AdviseRetrain(policy, health.imbalance_factor, health.empty_lists_ratio,
                           static_cast<uint64_t>(std::max<int64_t>(m->delta_rows_since_full, 0)),
                           static_cast<uint64_t>(std::max<int64_t>(m->ntotal, 0)));
  if (!why) return;
  // Forced: the source may be unchanged; the point is new centroids.
  auto id = scheduler_->Trigger(ic.name, "retrain", "rebuild", "", /*force=*/true);
  if (!id.ok()) return;  // busy (e.g. a delta job): next tick
  spdlog::info("index {}: live delta version {} is due for a full rebuild ({}); queued job {}",
               ic.name, **live, *why, *id);
  std::lock_guard<std::mutex> lock(mu_);
  retrain_queued_for_[ic.name] = **live;
}

void DeltaFeeder::Start(std::chrono::milliseconds period) {
  loop_.Start([this] { Tick(); }, period);
}

void DeltaFeeder::Stop() { loop_.Stop(); }

}  // namespace frb::rebuildd
