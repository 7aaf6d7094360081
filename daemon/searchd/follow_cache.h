// The follower's cache of one index: versions downloaded from the
// repository, kept in the same layout as a data_dir (see frb/store.h), so
// the registry loads, verifies and swaps them exactly like local versions:
//
//   <cache_dir>/indexes/<name>/
//     .lock                     held by the one faiss-searchd using the cache
//     staging/<version>/        a download in progress (*.partial files resume)
//     versions/<version>/       complete and verified: index.faiss + manifest.json
//     live     -> versions/<v>  the repository pointer's live version
//     rollback -> versions/<v>  its previous version, when cached
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "frb/env.h"
#include "frb/status.h"
#include "frb/store.h"

namespace frb::searchd {

// Thread-compatible: one follower thread uses it.
class FollowCache {
 public:
  FollowCache(Env* env, const std::string& cache_dir, const std::string& index);

  // Creates the directories and takes the cache's lock for the life of this
  // object; kBusy when another process follows into the same cache.
  Status Open();

  // True when versions/<version> holds a complete version.
  bool Has(const std::string& version) const;
  // The staging directory a download of `version` goes to (created; kept
  // across attempts and restarts so partial files resume).
  Result<std::string> StagingFor(const std::string& version);
  // Moves staging/<version> into versions/ (fsynced); a no-op when the
  // version is already there.
  Status Install(const std::string& version);
  // Points `live` at `live` and, when `previous` is cached, `rollback` at
  // it. Both must name cached versions (previous may be empty).
  Status Point(const std::string& live, const std::string& previous);
  // Version the local live link names, if any.
  std::optional<std::string> LocalLive() const;

  // Deletes cached versions beyond the newest `max_versions`, never one in
  // `keep` nor the local live and rollback; deletes staging directories
  // other than `downloading`'s. Returns the versions deleted.
  Result<std::vector<std::string>> Prune(const std::set<std::string>& keep, int max_versions,
                                         const std::string& downloading);

  const VersionStore& store() const { return store_; }

 private:
  Env* env_;
  VersionStore store_;
  std::unique_ptr<FileLock> lock_;
};

}  // namespace frb::searchd
