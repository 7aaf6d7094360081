#include "index_registry.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <utility>
#include <chrono>
#include <thread>

namespace frb::searchd {

IndexRegistry::IndexRegistry(Env* env, const Config& config, RegistryOptions options,
                             SearchMetrics* metrics)
    : env_(env),
      data_dir_(config.data_dir),
      options_(std::move(options)),
      admission_(env, options_.admission),
      metrics_(metrics) {
  for (const IndexConfig& ic : config.indexes) {
    auto slot = std::make_shared<Slot>(env_, data_dir_, ic);
    if (metrics_ != nullptr) metrics_->RegisterIndex(ic.name);
    slots_.push_back(slot);
    by_name_[ic.name] = slot;
  }
}

bool IndexRegistry::IsConfigured(std::string_view name) const {
  MutexLock lock(&mu_);
  return by_name_.find(name) != by_name_.end();
}

std::shared_ptr<const LoadedIndex> IndexRegistry::Get(std::string_view name) const {
  MutexLock lock(&mu_);
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return nullptr;
  return it->second->current;
}

std::vector<std::pair<std::string, std::shared_ptr<const LoadedIndex>>>
IndexRegistry::List() const {
  std::vector<std::pair<std::string, std::shared_ptr<const LoadedIndex>>> out;
  MutexLock lock(&mu_);
  for (const SlotPtr& s : slots_) out.emplace_back(s->store.name(), s->current);
  return out;
}

bool IndexRegistry::AllLoaded() const {
  MutexLock lock(&mu_);
  for (const SlotPtr& s : slots_)
    if (!s->current) return false;
  return true;
}

std::vector<DegradedInfo> IndexRegistry::Degraded() const {
  std::vector<DegradedInfo> out;
  MutexLock lock(&mu_);
  for (const SlotPtr& s : slots_)
    if (s->degraded && s->current) out.push_back(*s->degraded);
  return out;
}

std::vector<std::string> IndexRegistry::WatchDirs() const {
  std::vector<std::string> dirs;
  for (const SlotPtr& s : Slots()) dirs.push_back(s->store.IndexDir());
  return dirs;
}

std::vector<IndexRegistry::SlotPtr> IndexRegistry::Slots() const {
  MutexLock lock(&mu_);
  return slots_;
}

void IndexRegistry::Refresh() {
  MutexLock lock(&refresh_mu_);
  ReapRetired(std::chrono::milliseconds(0));  // stragglers of earlier swaps
  for (const SlotPtr& s : Slots()) RefreshSlot(*s);
}

void IndexRegistry::Reconfigure(const Config& config) {
  MutexLock lock(&refresh_mu_);
  if (config.data_dir != data_dir_)
    spdlog::warn("reload: data_dir changed to {}; that takes a restart, still reading {}",
                 config.data_dir, data_dir_);
  std::vector<SlotPtr> next;
  std::map<std::string, SlotPtr, std::less<>> next_by_name;
  for (const IndexConfig& ic : config.indexes) {
    SlotPtr slot;
    {
      MutexLock l(&mu_);
      auto it = by_name_.find(ic.name);
      if (it != by_name_.end()) slot = it->second;
    }
    if (!slot) {
      slot = std::make_shared<Slot>(env_, data_dir_, ic);
      metrics_->RegisterIndex(ic.name);
      spdlog::info("reload: index {} added", ic.name);
    } else if (slot->cfg.dimension != ic.dimension || slot->cfg.metric != ic.metric ||
               slot->cfg.search != ic.search) {
      // What LoadedIndex::Load checks and applies changed: load the served
      // version again under the new settings (beside the old copy), and give
      // versions refused under the old ones another chance.
      slot->cfg = ic;
      slot->reload = true;
      slot->bad.clear();
      slot->memory_refused.clear();
      spdlog::info("reload: index {}: dimension, metric or search parameters changed; "
                   "reloading it", ic.name);
    } else {
      slot->cfg = ic;
      slot->memory_refused.clear();  // an operator's reload retries it
    }
    next.push_back(slot);
    next_by_name[ic.name] = slot;
  }
  std::vector<SlotPtr> removed;
  {
    MutexLock l(&mu_);
    for (const SlotPtr& s : slots_)
      if (next_by_name.find(s->store.name()) == next_by_name.end()) removed.push_back(s);
    slots_ = std::move(next);
    by_name_ = std::move(next_by_name);
  }
  for (const SlotPtr& s : removed) {
    spdlog::info("reload: index {} removed", s->store.name());
    metrics_->RemoveIndex(s->store.name());
    MutexLock l(&mu_);
    if (s->current) retired_.push_back(std::move(s->current));
  }
  ReapRetired(std::chrono::milliseconds(0));
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
  MutexLock lock(&mu_);
  uint64_t total = 0;
  for (const SlotPtr& s : slots_)
    if (s.get() != &slot && s->current) total += s->current->file_size;
  return total;
}

void IndexRegistry::SetDegraded(Slot& slot, std::optional<DegradedInfo> info) {
  const bool on = info.has_value();
  {
    MutexLock lock(&mu_);
    if (!on && !slot.degraded) return;
    slot.degraded = std::move(info);
  }
  metrics_->SetDegraded(slot.store.name(), on);
}

void IndexRegistry::Publish(Slot& slot, std::shared_ptr<const LoadedIndex> li,
                            std::string_view result, std::optional<DegradedInfo> degraded) {
  std::shared_ptr<const LoadedIndex> old;
  metrics_->SetDegraded(li->name, degraded.has_value());
  {
    MutexLock lock(&mu_);
    old = std::move(slot.current);
    slot.current = li;
    slot.degraded = std::move(degraded);
  }
  metrics_->SetLoaded(li->name, li->version, li->loaded_unix_ms / 1000.0);
  metrics_->SetDefaultParams(li->name, li->nprobe, li->ef_search);
  metrics_->CountReload(li->name, result);
  spdlog::info("index {}: serving version {} ({} vectors, dim {}, params {}, loaded in {:.3f}s: "
               "checksum {:.3f}s ({}), read {:.3f}s, warm-up {:.3f}s){}",
               li->name, li->version, li->ntotal, li->dim, ParamKindName(li->kind),
               li->load_seconds, li->verify_seconds,
               li->hashed ? "SHA-256" : "hashed at download, stat unchanged", li->read_seconds,
               li->warmup_seconds, old ? ", replacing " + old->version : std::string());
  // In-flight queries finish on `old`; it is freed here once they have
  // (normally within milliseconds), or at a later Refresh.
  if (old) {
    retired_.push_back(std::move(old));
    ReapRetired(std::chrono::seconds(2));
  }
}

std::string IndexRegistry::Identity(const Slot& slot, const std::string& id) const {
  std::string out = id;
  for (const std::string& f : {slot.store.VersionIndexPath(id),
                               JoinPath(slot.store.VersionDir(id), "manifest.json")}) {
    auto st = env_->Stat(f);
    out += st.ok() ? "|" + std::to_string(st->size) + "@" + std::to_string(st->mtime_ns)
                   : std::string("|-");
  }
  return out;
}

Status IndexRegistry::LoadAndPublish(Slot& slot, const std::string& id,
                                     std::string_view result,
                                     std::optional<DegradedInfo> degraded) {
  std::optional<FileInfo> verified_as;
  if (options_.verified != nullptr)
    verified_as = options_.verified->Find(slot.store.VersionIndexPath(id));
  auto loaded = LoadedIndex::Load(env_, slot.store, slot.cfg, id, options_.param_factor,
                                  verified_as ? &*verified_as : nullptr);
  if (!loaded.ok()) return loaded.status();
  Publish(slot, std::move(loaded).value(), result, std::move(degraded));
  return Status::Ok();
}

void IndexRegistry::FallBack(Slot& slot, const std::string& live, const std::string& reason) {
  const std::string& name = slot.store.name();
  std::vector<std::string> candidates;
  if (auto rb = slot.store.RollbackVersion(); rb.ok() && *rb) candidates.push_back(**rb);
  if (auto all = slot.store.ListVersions(); all.ok())
    candidates.insert(candidates.end(), all->rbegin(), all->rend());  // newest first
  std::set<std::string> tried;
  for (const std::string& id : candidates) {
    if (id == live || !tried.insert(id).second) continue;
    const std::string identity = Identity(slot, id);
    if (slot.bad.count(identity)) continue;
    Status st = LoadAndPublish(slot, id, "fallback", DegradedInfo{name, id, live, reason});
    if (st.ok()) {
      spdlog::warn("index {}: DEGRADED: serving version {} because the live version {} "
                   "failed: {}", name, id, live.empty() ? "(unreadable)" : live, reason);
      slot.none_intact_logged = false;
      return;
    }
    spdlog::error("index {}: fallback version {} fails too: {}", name, id, st.ToString());
    metrics_->CountReload(name, "failed");
    slot.bad[identity] = st.ToString();
  }
  if (!slot.none_intact_logged) {
    spdlog::error("index {}: no intact version on disk; not serving it until one is "
                  "published", name);
    slot.none_intact_logged = true;
  }
}

void IndexRegistry::RefreshSlot(Slot& slot) {
  const std::string& name = slot.store.name();
  std::shared_ptr<const LoadedIndex> cur = Get(name);
  auto live = slot.store.LiveVersion();
  if (!live.ok()) {
    if (live.status().message() != slot.last_error) {
      spdlog::warn("index {}: cannot read the live pointer: {}", name,
                   live.status().ToString());
      slot.last_error = live.status().message();
    }
    if (!cur) FallBack(slot, "", live.status().ToString());
    return;
  }
  if (!*live) return;  // never built yet; readiness says so
  const std::string& id = **live;
  const bool reload = std::exchange(slot.reload, false);
  if (cur && cur->version == id && !reload) {
    SetDegraded(slot, std::nullopt);  // e.g. live was pointed back at it
    return;
  }
  if (auto bad = slot.bad.find(Identity(slot, id)); bad != slot.bad.end()) {
    // Refused before, unchanged since: serve something else, do not retry.
    if (!cur) FallBack(slot, id, bad->second);
    return;
  }
  if (slot.memory_refused == id) return;

  // Memory admission: the new version is loaded beside the old one, so
  // both count until the swap.
  std::string previous;  // version to fall back to after an unready swap
  const std::string serving = cur ? cur->version : std::string();
  if (cur) {
    auto manifest = slot.store.ReadManifest(id);
    const uint64_t new_bytes = manifest.ok() ? manifest->file_size : 0;
    uint64_t others = ServedBytesExcept(slot);
    for (const auto& r : retired_) others += r->file_size;  // still held by a query
    AdmissionDecision d = admission_.Decide(new_bytes, cur->file_size, others);
    if (d.admit == Admit::kRefuse) {
      spdlog::error("index {}: refusing version {}: {}; still serving {}", name, id, d.why,
                    cur->version);
      metrics_->CountReload(name, "refused_memory");
      slot.memory_refused = id;
      if (cur->version != id)
        SetDegraded(slot, DegradedInfo{name, cur->version, id, "memory: " + d.why});
      return;
    }
    if (d.admit == Admit::kReplace) {
      spdlog::warn("index {}: {}; unloading {} first (index unready until {} is loaded)", name,
                   d.why, cur->version, id);
      previous = cur->version;
      {
        MutexLock lock(&mu_);
        retired_.push_back(std::move(slot.current));
      }
      cur.reset();
      metrics_->ClearLoaded(name);
      // In-flight queries still hold the old index; wait (bounded) for them
      // so the memory is really free, here, before the new one is read.
      ReapRetired(std::chrono::seconds(5));
    }
  }

  const std::string identity = Identity(slot, id);
  cur.reset();  // this reference would keep Publish from freeing the old version
  Status st = LoadAndPublish(slot, id, "ok", std::nullopt);
  if (st.ok()) {
    slot.memory_refused.clear();
    slot.last_error.clear();
    return;
  }
  // A version pruned while we loaded it because newer ones were published
  // is not a bad version: the next refresh picks up the newest.
  auto now_live = slot.store.LiveVersion();
  const bool superseded = now_live.ok() && *now_live && **now_live != id;
  if (superseded) {
    spdlog::info("index {}: version {} was superseded while loading ({})", name, id,
                 st.ToString());
    metrics_->CountReload(name, "superseded");
  } else if (serving == id) {
    // Only the settings changed (Reconfigure): the file is not at fault.
    spdlog::error("index {}: cannot apply the new settings to version {}: {}; keeping "
                  "it with the previous ones", name, id, st.ToString());
    metrics_->CountReload(name, "failed");
  } else {
    spdlog::error("index {}: refusing version {}: {}{}", name, id, st.ToString(),
                  serving.empty() ? std::string() : "; still serving " + serving);
    metrics_->CountReload(name, "failed");
    slot.bad[identity] = st.ToString();
    // A file that does not verify is the daemon's to repair; a version that
    // disagrees with this process's config (kInvalidArgument) is not.
    if (options_.on_bad_live && st.code() != Code::kInvalidArgument)
      options_.on_bad_live(name, id, st);
  }
  if (!previous.empty()) {
    // The unready policy dropped the old version: bring it back.
    std::optional<DegradedInfo> degraded;
    if (!superseded) degraded = DegradedInfo{name, previous, id, st.ToString()};
    Status back = LoadAndPublish(slot, previous, "ok", std::move(degraded));
    if (!back.ok())
      spdlog::error("index {}: cannot reload previous version {}: {}", name, previous,
                    back.ToString());
  }
  if (superseded) return;
  cur = Get(name);
  if (!cur) {
    FallBack(slot, id, st.ToString());
  } else if (cur->version != id) {
    SetDegraded(slot, DegradedInfo{name, cur->version, id, st.ToString()});
  }
}

}  // namespace frb::searchd
