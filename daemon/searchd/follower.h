// Follows an object-storage repository (frb/repository.h): for every
// configured index, polls its pointer with a conditional GET, downloads a
// new live version into the FollowCache (resumable, SHA-256 verified,
// fsynced, renamed), points the cache's `live` link at it and wakes the
// LiveWatcher, so the registry verifies and swaps it exactly like a version
// published on local disk. On any failure the served version stays, the
// failure is counted, and the next poll retries.
//
// Per index and version the state moves: idle (serving the pointer's
// version) -> downloading -> installed (cache live link moved; the registry
// swaps) -> idle; or -> failed (counted; retried at the next poll, after a
// backoff when the same version keeps failing). A pointer moving back to a
// cached version (rollback) skips the download.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "follow_cache.h"
#include "follow_metrics.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/repository.h"
#include "frb/s3.h"
#include "index_registry.h"
#include "verified_files.h"

namespace frb::searchd {

struct FollowOptions {
  std::string url;        // s3://BUCKET/PREFIX
  std::string cache_dir;  // see FollowCache
  std::chrono::milliseconds interval{2000};
  int cache_versions = 2;
  S3Options s3;  // endpoint, region, path style, credentials
  // Where the follower records the index files it downloaded and hashed, so
  // the registry's load skips a second SHA-256 pass (may be null).
  VerifiedFiles* verified = nullptr;
};

// Thread-safe: Open/Start/Stop from the controlling thread, Reconfigure
// from any; the polling runs on an internal thread.
class Follower {
 public:
  // `on_installed` runs on the follower thread after the cache's live link
  // moved (wake the watcher there); `registry` tells which version is served.
  Follower(Env* env, FollowOptions options, const IndexRegistry* registry,
           FollowMetrics* metrics, std::function<void()> on_installed);
  ~Follower();
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  // Creates the S3 client and the caches of `indexes`. Errors: a bad URL,
  // no credentials, a cache dir in use by another process.
  Status Open(const std::vector<std::string>& indexes);
  void Start();
  // Stops polling. A download in progress cannot be interrupted: waits up
  // to `wait` for it; false when it still runs (its partial files resume at
  // the next start).
  bool Stop(std::chrono::milliseconds wait);
  // Follows exactly `indexes` from the next poll on (configuration reload).
  Status Reconfigure(const std::vector<std::string>& indexes);

 private:
  struct IndexState {
    explicit IndexState(std::unique_ptr<FollowCache> c) : cache(std::move(c)) {}
    std::unique_ptr<FollowCache> cache;
    std::string etag;           // of the pointer as last read
    std::optional<RepoPointer> pointer;
    int64_t moved_unix_ms = 0;  // when the pointer named its live version
    std::string installed;      // version the cache's live link names
    std::string failing;        // version whose install keeps failing
    int failures = 0;           // consecutive failures of `failing`
    std::chrono::steady_clock::time_point retry_at{};
    std::string last_error;     // logged once while it repeats
  };
  void Run();
  void Poll(const std::string& name, IndexState& st);
  // Downloads (or finds cached) and installs the pointer's live version.
  void Install(const std::string& name, IndexState& st);
  void Fail(const std::string& name, IndexState& st, std::string_view stage,
            const Status& why);
  void UpdateLag(const std::string& name, const IndexState& st);
  // Records the installed index file of `version` in options_.verified when
  // it is the file Pull hashed (`pulled`: its Stat in staging) and the
  // repository's checksum Pull verified is the manifest's too.
  void RecordVerified(const std::string& name, IndexState& st, const std::string& version,
                      const RepoVersion& repo_version, const FileInfo& pulled);
  Result<std::unique_ptr<IndexState>> NewState(const std::string& name);

  Env* env_;
  FollowOptions options_;
  const IndexRegistry* registry_;
  FollowMetrics* metrics_;
  std::function<void()> on_installed_;
  std::unique_ptr<S3Client> client_;
  std::unique_ptr<Repository> repo_;
  std::mutex mu_;  // guards states_, stop_ (the follower thread holds it only to copy)
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<IndexState>> states_;
  bool stop_ = false;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// "2s", "500ms", "1m": the poll interval of --follow-interval.
Result<std::chrono::milliseconds> ParseInterval(std::string_view text);

}  // namespace frb::searchd
