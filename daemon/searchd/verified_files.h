// Files whose bytes this process has already hashed against a manifest: the
// follower records each index file it downloaded (SHA-256 computed on the
// bytes as they arrived, then fsynced, made read-only and renamed into its
// locked cache) with the Stat taken after installing it. The registry's load
// of that file skips its own SHA-256 pass while the file's Stat is unchanged
// (frb::LoadVerifiedIndex), which saves a full pass over every downloaded
// version between the pointer moving and the new version being served.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "frb/env.h"
#include "frb/thread_annotations.h"

namespace frb::searchd {

// Thread-safe: the follower records and forgets, the loader thread finds.
class VerifiedFiles {
 public:
  // `info` is a Stat of `path` taken after its bytes were hashed and found
  // to match the manifest, with no writer but this process since.
  void Record(const std::string& path, const FileInfo& info) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    files_[path] = info;
  }
  // Forgets every path under `dir` (a version pruned from the cache).
  void ForgetUnder(const std::string& dir) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    const std::string prefix = dir + "/";
    for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.starts_with(prefix);)
      it = files_.erase(it);
  }
  std::optional<FileInfo> Find(const std::string& path) const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable Mutex mu_;
  std::map<std::string, FileInfo> files_ GUARDED_BY(mu_);
};

}  // namespace frb::searchd
