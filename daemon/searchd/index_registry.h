// The set of served indexes and the hot-reload swap: each configured index
// has a slot holding a std::shared_ptr<const LoadedIndex>. Readers copy the
// pointer (under a short lock) and search without any lock, so a swap never
// waits for queries and in-flight queries finish on the version they
// started with; the old version is freed once its last reader lets go, on
// the loader thread (ReapRetired), never on a request thread.
//
// Degraded serving: when an index's live version fails verification, the
// slot keeps the version it serves or, with nothing served yet, falls back
// to the newest version on disk that verifies (rollback target first), and
// reports itself degraded until a good live version is swapped in.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/store.h"
#include "frb/thread_annotations.h"
#include "loaded_index.h"
#include "metrics.h"
#include "verified_files.h"

namespace frb::searchd {

struct RegistryOptions {
  AdmissionOptions admission;
  int param_factor = 16;  // overrides up to factor x the configured value
  // Called on the loader thread when an index's live version fails
  // verification (checksum, size, manifest, FAISS load); must not block.
  std::function<void(const std::string& index, const std::string& version,
                     const Status& why)>
      on_bad_live;
  // Index files this process hashed already (a follower's downloads): their
  // load skips the SHA-256 pass while their Stat is unchanged. May be null.
  const VerifiedFiles* verified = nullptr;
};

// Why an index serves another version than its live one.
struct DegradedInfo {
  std::string index;
  std::string serving;  // the version served
  std::string live;     // the version the live pointer names
  std::string reason;
};

// Thread-safe: Get/List/AllLoaded/Degraded from any thread; Refresh and
// Reconfigure are serialized by an internal mutex (normally the watcher
// thread calls Refresh, the signal thread Reconfigure).
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
  // The indexes served from another version than live, in config order.
  std::vector<DegradedInfo> Degraded() const;
  // Directories whose entries change when a version is published.
  std::vector<std::string> WatchDirs() const;

  // Reads every index's `live` pointer and loads, verifies and swaps in
  // each version that differs from the one served. Failures are logged and
  // counted and leave the served version in place (see Degraded).
  void Refresh();

  // Applies a reloaded configuration: new indexes get a slot (loaded by the
  // next Refresh), removed ones are dropped at once (their requests 404),
  // and an index whose dimension, metric or search parameters changed is
  // reloaded by the next Refresh, beside the version it serves. A version
  // refused for memory is tried again. data_dir cannot change without a
  // restart (logged, the old one is kept).
  void Reconfigure(const Config& config);

 private:
  struct Slot {
    Slot(Env* env, const std::string& data_dir, const IndexConfig& c)
        : cfg(c), store(env, data_dir, c.name) {}
    IndexConfig cfg;            // refresh_mu_
    const VersionStore store;   // immutable
    std::shared_ptr<const LoadedIndex> current;  // mu_
    std::optional<DegradedInfo> degraded;        // mu_
    // Identities (see Identity) of versions that failed to load, with the
    // reason: versions are immutable, so they are not retried (refresh_mu_).
    std::map<std::string, std::string> bad;
    std::string memory_refused;  // version refused for memory (refresh_mu_)
    std::string last_error;      // to log a repeating error once (refresh_mu_)
    bool none_intact_logged = false;  // (refresh_mu_)
    bool reload = false;         // config changed: reload the served version too
  };
  using SlotPtr = std::shared_ptr<Slot>;

  std::vector<SlotPtr> Slots() const EXCLUDES(mu_);
  void RefreshSlot(Slot& slot) REQUIRES(refresh_mu_);
  // Loads `id` for `slot`; on success swaps it in, counting `result`, and
  // sets the slot's degraded state to `degraded` with the same swap.
  Status LoadAndPublish(Slot& slot, const std::string& id, std::string_view result,
                        std::optional<DegradedInfo> degraded) REQUIRES(refresh_mu_);
  // After live failed (or cannot be read) and nothing is served: serves
  // the rollback target or else the newest other version that verifies.
  void FallBack(Slot& slot, const std::string& live, const std::string& reason)
      REQUIRES(refresh_mu_);
  // Identity of a version's files: id plus size and mtime of the index file
  // and manifest, so a version repaired in place is tried again.
  std::string Identity(const Slot& slot, const std::string& id) const;
  void SetDegraded(Slot& slot, std::optional<DegradedInfo> info) EXCLUDES(mu_);
  // Swaps `li` in; readers never see the new version with the old
  // degraded state (the gauge is set before, the slot's record with it).
  void Publish(Slot& slot, std::shared_ptr<const LoadedIndex> li, std::string_view result,
               std::optional<DegradedInfo> degraded) REQUIRES(refresh_mu_) EXCLUDES(mu_);
  uint64_t ServedBytesExcept(const Slot& slot) const EXCLUDES(mu_);
  // Frees the retired versions no reader holds any more, here, on the
  // refreshing (loader) thread; waits up to `wait` for in-flight queries to
  // let go. Without this, the last query to finish on an old version would
  // free it: hundreds of MB of munmap/free on a request thread, in that
  // request's latency.
  void ReapRetired(std::chrono::milliseconds wait) REQUIRES(refresh_mu_);

  Env* env_;
  std::string data_dir_;  // fixed for the life of the process
  RegistryOptions options_;
  MemoryAdmission admission_;
  SearchMetrics* metrics_;
  // Serializes refreshes and reconfiguration; taken before mu_.
  Mutex refresh_mu_ ACQUIRED_BEFORE(mu_);
  // Versions swapped out: kept referenced so no query thread ever drops the
  // last reference.
  std::vector<std::shared_ptr<const LoadedIndex>> retired_ GUARDED_BY(refresh_mu_);
  mutable Mutex mu_;  // also guards Slot::current/degraded
  std::vector<SlotPtr> slots_ GUARDED_BY(mu_);  // config order
  std::map<std::string, SlotPtr, std::less<>> by_name_ GUARDED_BY(mu_);
};

}  // namespace frb::searchd
