// The repository stage of a publish: after a version goes live locally,
// upload it to the object-storage repository, move the pointer, prune.
// faiss-rebuildd runs it after every publish and retries it in the
// background; the local publish never depends on it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/repository.h"
#include "frb/s3.h"
#include "frb/status.h"

namespace frb {

struct RepoSyncResult {
  std::string local_live;   // "" when the index has no live version
  std::string repo_live;    // the pointer's live version after the sync
  bool uploaded = false;    // this call moved the pointer
  uint64_t bytes_uploaded = 0;
  double seconds = 0;       // upload + pointer move
  std::vector<std::string> pruned;
  // Local versions newer than the repository's live (0 when in sync).
  int lag_versions = 0;
  // Unix time the oldest local version the repository lacks was created
  // (0 when in sync).
  int64_t behind_since_unix = 0;
};

// Thread-safe: syncs are serialized by an internal mutex.
class RepositorySync {
 public:
  // kInvalidArgument for a bad URL/endpoint, kNotFound without credentials.
  static Result<std::unique_ptr<RepositorySync>> Create(const RepositoryConfig& cfg, Env* env,
                                                        std::string publisher);
  // Makes the repository's pointer of `index` name the local live version
  // of `data_dir`: uploads it (skipping objects already there), moves the
  // pointer (conditional PUT; without store support, under the index lock
  // with read-back), prunes. On failure (network, another publisher moved
  // the pointer) nothing local changes; call again later. `lag_versions`
  // and `behind_since_unix` are filled on failure too when known.
  Result<RepoSyncResult> Sync(const std::string& data_dir, const std::string& index,
                              RepoSyncResult* partial = nullptr);
  Repository& repository() { return *repo_; }
  S3Client& client() { return *client_; }

 private:
  RepositorySync() = default;
  RepositoryConfig cfg_;
  Env* env_ = nullptr;
  std::string publisher_;
  std::unique_ptr<S3Client> client_;
  std::unique_ptr<Repository> repo_;
  std::mutex mu_;
  bool probed_ = false;
  std::map<std::string, std::string> last_seen_;  // index -> pointer's live
};

// S3 client options of a repository section.
S3Options RepositoryS3Options(const RepositoryConfig& cfg);

}  // namespace frb
