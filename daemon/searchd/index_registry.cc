#include "index_registry.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

namespace frb::searchd {

IndexRegistry::IndexRegistry(Env* env, const Config& config, RegistryOptions options,
                             SearchMetrics* metrics)
    : env_(env), config_(config), options_(options), metrics_(metrics) {
  slots_.reserve(config_.indexes.size());
  for (const IndexConfig& ic : config_.indexes) {
    by_name_[ic.name] = slots_.size();
    if (metrics_ != nullptr) metrics_->RegisterIndex(ic.name);
    slots_.push_back(Slot{&ic, VersionStore(env_, config_.data_dir, ic.name), nullptr, "", ""});
  }
}

bool IndexRegistry::IsConfigured(std::string_view name) const {
  return by_name_.find(name) != by_name_.end();
}

std::shared_ptr<const LoadedIndex> IndexRegistry::Get(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  return slots_[it->second].current;
}

std::vector<std::pair<std::string, std::shared_ptr<const LoadedIndex>>>
IndexRegistry::List() const {
  std::vector<std::pair<std::string, std::shared_ptr<const LoadedIndex>>> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const Slot& s : slots_) out.emplace_back(s.cfg->name, s.current);
  return out;
}

bool IndexRegistry::AllLoaded() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Slot& s : slots_)
    if (!s.current) return false;
  return true;
}

std::vector<std::string> IndexRegistry::WatchDirs() const {
  std::vector<std::string> dirs;
  for (const Slot& s : slots_) dirs.push_back(s.store.IndexDir());
  return dirs;
}

void IndexRegistry::Refresh() {
  std::lock_guard<std::mutex> lock(refresh_mu_);
  ReapRetired(std::chrono::milliseconds(0));  // stragglers of earlier swaps
  for (Slot& s : slots_) RefreshSlot(s);
}

void IndexRegistry::ReapRetired(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    for (auto it = retired_.begin(); it != retired_.end();) {
      // use_count() == 1: only this list holds it. A retired version is in
      // no slot, so no reader can take a new reference: the count cannot
      // rise again, and the destructor runs here.
      if (it->use_count() != 1) {
        ++it;
        continue;
      }
      const auto t0 = std::chrono::steady_clock::now();
      const std::string what = (*it)->name + " version " + (*it)->version;
      it->reset();
      it = retired_.erase(it);
      const auto t1 = std::chrono::steady_clock::now();
      // glibc keeps the freed inverted lists in its heap; hand the pages
      // back to the kernel, so the process holds one copy of each index
      // between swaps instead of two.
      malloc_trim(0);
      spdlog::info("index {}: freed in {:.3f}s (+{:.3f}s returning the memory)", what,
                   std::chrono::duration<double>(t1 - t0).count(),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count());
    }
    if (retired_.empty() || std::chrono::steady_clock::now() >= deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

uint64_t IndexRegistry::ServedBytesExcept(const Slot& slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t total = 0;
  for (const Slot& s : slots_)
    if (&s != &slot && s.current) total += s.current->file_size;
  return total;
}

void IndexRegistry::Publish(Slot& slot, std::shared_ptr<const LoadedIndex> li) {
  std::shared_ptr<const LoadedIndex> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = std::move(slot.current);
    slot.current = li;
  }
  metrics_->SetLoaded(li->name, li->version, li->loaded_unix_ms / 1000.0);
  metrics_->CountReload(li->name, "ok");
  spdlog::info("index {}: serving version {} ({} vectors, dim {}, params {}, loaded in {:.3f}s){}",
               li->name, li->version, li->ntotal, li->dim, ParamKindName(li->kind),
               li->load_seconds, old ? ", replacing " + old->version : std::string());
  // In-flight queries finish on `old`; it is freed here once they have
  // (normally within milliseconds), or at a later Refresh.
  if (old) {
    retired_.push_back(std::move(old));
    ReapRetired(std::chrono::seconds(2));
  }
}

void IndexRegistry::RefreshSlot(Slot& slot) {
  const std::string& name = slot.cfg->name;
  auto live = slot.store.LiveVersion();
  if (!live.ok()) {
    if (live.status().message() != slot.last_error) {
      spdlog::warn("index {}: cannot read the live pointer: {}", name,
                   live.status().ToString());
      slot.last_error = live.status().message();
    }
    return;
  }
  slot.last_error.clear();
  if (!*live) return;  // never built yet; readiness says so
  const std::string& id = **live;
  std::shared_ptr<const LoadedIndex> cur = Get(name);
  if ((cur && cur->version == id) || slot.refused == id) return;

  // Memory check: the new version is loaded beside the old one, so both
  // count until the swap.
  auto manifest = slot.store.ReadManifest(id);
  const uint64_t new_bytes = manifest.ok() ? manifest->file_size : 0;
  uint64_t others = ServedBytesExcept(slot);
  for (const auto& r : retired_) others += r->file_size;  // still held by a query
  const uint64_t old_bytes = cur ? cur->file_size : 0;
  std::string previous;  // version to fall back to after an unready swap
  if (options_.memory_limit_bytes > 0 && cur &&
      others + old_bytes + new_bytes > options_.memory_limit_bytes) {
    if (options_.policy == ReloadPolicy::kRefuse ||
        others + new_bytes > options_.memory_limit_bytes) {
      spdlog::error("index {}: refusing version {}: {} + {} bytes would exceed the "
                    "memory limit of {} bytes; still serving {}",
                    name, id, others + old_bytes, new_bytes,
                    options_.memory_limit_bytes, cur->version);
      metrics_->CountReload(name, "refused_memory");
      slot.refused = id;
      return;
    }
    spdlog::warn("index {}: old + new version exceed the memory limit; unloading {} "
                 "first (index unready until {} is loaded)", name, cur->version, id);
    previous = cur->version;
    {
      std::lock_guard<std::mutex> lock(mu_);
      retired_.push_back(std::move(slot.current));
    }
    cur.reset();
    metrics_->ClearLoaded(name);
    // In-flight queries still hold the old index; wait (bounded) for them so
    // the memory is really free, here, before the new one is read.
    ReapRetired(std::chrono::seconds(5));
  }

  auto loaded = LoadedIndex::Load(env_, slot.store, *slot.cfg, id, options_.param_factor);
  if (loaded.ok()) {
    cur.reset();  // this reference would keep Publish from freeing the old version
    Publish(slot, std::move(loaded).value());
    slot.refused.clear();
    return;
  }
  // A version pruned while we loaded it because newer ones were published
  // is not a bad version: the next refresh picks up the newest.
  auto now_live = slot.store.LiveVersion();
  if (now_live.ok() && *now_live && **now_live != id) {
    spdlog::info("index {}: version {} was superseded while loading ({})", name, id,
                 loaded.status().ToString());
    metrics_->CountReload(name, "superseded");
  } else {
    spdlog::error("index {}: refusing version {}: {}{}", name, id,
                  loaded.status().ToString(),
                  cur ? "; still serving " + cur->version : std::string());
    metrics_->CountReload(name, "failed");
    slot.refused = id;
  }
  if (!previous.empty()) {
    // The unready policy dropped the old version: bring it back.
    auto back = LoadedIndex::Load(env_, slot.store, *slot.cfg, previous,
                                  options_.param_factor);
    if (back.ok()) {
      Publish(slot, std::move(back).value());
    } else {
      spdlog::error("index {}: cannot reload previous version {}: {}", name, previous,
                    back.status().ToString());
    }
  }
}

}  // namespace frb::searchd
