#include "repo_syncer.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

namespace frb::rebuildd {
namespace {

std::string HostName() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

std::string SettingsKey(const RepositoryConfig& r) {
  return r.url + "|" + r.endpoint + "|" + r.region + "|" + (r.path_style ? "1" : "0") + "|" +
         std::to_string(r.part_size) + "|" + std::to_string(r.parallelism) + "|" +
         std::to_string(r.keep_versions) + "|" + std::to_string(r.grace.count());
}

}  // namespace

RepoSyncer::RepoSyncer(Env* env, std::function<std::shared_ptr<const Config>()> config,
                       DaemonMetrics* metrics)
    : env_(env), config_(std::move(config)), metrics_(metrics) {}

RepoSyncer::~RepoSyncer() { Stop(); }

void RepoSyncer::Start() { thread_ = std::thread([this] { Loop(); }); }

void RepoSyncer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RepoSyncer::Trigger(const std::string& index) {
  (void)index;  // a sync visits every index; cheap when in sync
  {
    std::lock_guard<std::mutex> lock(mu_);
    triggered_ = true;
  }
  cv_.notify_all();
}

void RepoSyncer::Loop() {
  for (;;) {
    auto cfg = config_();
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stop_) return;
      triggered_ = false;
    }
    if (cfg && !cfg->repository.url.empty()) SyncAll(*cfg);
    std::unique_lock<std::mutex> lock(mu_);
    auto interval = cfg ? cfg->repository.interval : std::chrono::seconds(60);
    cv_.wait_for(lock, interval, [this] { return stop_ || triggered_; });
    if (stop_) return;
  }
}

void RepoSyncer::SyncAll(const Config& cfg) {
  std::string key = SettingsKey(cfg.repository);
  if (!sync_ || key != sync_key_) {
    auto s = RepositorySync::Create(cfg.repository, env_, HostName());
    if (!s.ok()) {
      spdlog::error("repository {}: {}", cfg.repository.url, s.status().ToString());
      for (const auto& ic : cfg.indexes) metrics_->RecordRepositorySync(ic.name, false, {});
      return;
    }
    sync_ = std::move(s).value();
    sync_key_ = key;
  }
  for (const auto& ic : cfg.indexes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    RepoSyncResult partial;
    auto r = sync_->Sync(cfg.data_dir, ic.name, &partial);
    if (!r.ok()) {
      spdlog::warn("repository {} index={}: upload of {} failed, retrying in {}s: {}",
                   cfg.repository.url, ic.name, partial.local_live,
                   cfg.repository.interval.count(), r.status().ToString());
      metrics_->RecordRepositorySync(ic.name, false, partial);
      continue;
    }
    if (r->uploaded)
      spdlog::info("repository {} index={}: {} published ({} bytes uploaded in {:.1f}s{})",
                   cfg.repository.url, ic.name, r->repo_live, r->bytes_uploaded, r->seconds,
                   r->pruned.empty() ? "" : ", pruned " + std::to_string(r->pruned.size()));
    metrics_->RecordRepositorySync(ic.name, true, *r);
  }
}

}  // namespace frb::rebuildd
