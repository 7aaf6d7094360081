// The set of served indexes and the hot-reload swap: each configured index
// has a slot holding a std::shared_ptr<const LoadedIndex>. Readers copy the
// pointer (under a short lock) and search without any lock, so a swap never
// waits for queries and in-flight queries finish on the version they
// started with; the old version is freed once its last reader lets go, on
// the loader thread (ReapRetired), never on a request thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/store.h"
#include "loaded_index.h"
#include "metrics.h"

namespace frb::searchd {

// What to do when old + new version would exceed the memory limit.
enum class ReloadPolicy {
  kRefuse,   // keep serving the old version; the new one is counted refused
  kUnready,  // drop the old one first (index unready, 503, for the load)
};

struct RegistryOptions {
  uint64_t memory_limit_bytes = 0;  // 0 = no limit
  ReloadPolicy policy = ReloadPolicy::kRefuse;
  int param_factor = 16;  // overrides up to factor x the configured value
};

// Thread-safe: Get/List/AllLoaded from any thread; Refresh is serialized by
// an internal mutex (normally only the watcher thread calls it).
class IndexRegistry {
 public:
  IndexRegistry(Env* env, const Config& config, RegistryOptions options,
                SearchMetrics* metrics);

  bool IsConfigured(std::string_view name) const;
  // The version currently served, or nullptr (unknown or not loaded yet).
  std::shared_ptr<const LoadedIndex> Get(std::string_view name) const;
  // Every configured index in config order; nullptr entries are unloaded.
  std::vector<std::pair<std::string, std::shared_ptr<const LoadedIndex>>> List() const;
  bool AllLoaded() const;
  // Directories whose entries change when a version is published.
  std::vector<std::string> WatchDirs() const;

  // Reads every index's `live` pointer and loads, verifies and swaps in
  // each version that differs from the one served. Failures are logged and
  // counted and leave the served version in place.
  void Refresh();

 private:
  struct Slot {
    const IndexConfig* cfg;
    VersionStore store;
    std::shared_ptr<const LoadedIndex> current;  // guarded by mu_
    std::string refused;     // version refused last; not retried (refresh_mu_)
    std::string last_error;  // to log a repeating error once (refresh_mu_)
  };
  void RefreshSlot(Slot& slot);
  void Publish(Slot& slot, std::shared_ptr<const LoadedIndex> li);
  uint64_t ServedBytesExcept(const Slot& slot) const;
  // Frees the retired versions no reader holds any more, here, on the
  // refreshing (loader) thread; waits up to `wait` for in-flight queries to
  // let go. Without this, the last query to finish on an old version would
  // free it: hundreds of MB of munmap/free on a request thread, in that
  // request's latency.
  void ReapRetired(std::chrono::milliseconds wait);

  Env* env_;
  Config config_;
  RegistryOptions options_;
  SearchMetrics* metrics_;
  std::mutex refresh_mu_;
  // Versions swapped out: kept referenced so no query thread ever drops the
  // last reference (guarded by refresh_mu_).
  std::vector<std::shared_ptr<const LoadedIndex>> retired_;
  mutable std::mutex mu_;  // guards Slot::current of every slot
  std::vector<Slot> slots_;  // fixed after construction
  std::map<std::string, size_t, std::less<>> by_name_;
};

}  // namespace frb::searchd
