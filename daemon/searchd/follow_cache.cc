#include "follow_cache.h"

#include <algorithm>

namespace frb::searchd {
namespace {
// The file names of a version directory (VersionStore's layout).
constexpr char kIndexFile[] = "index.faiss";
constexpr char kManifestFile[] = "manifest.json";
}  // namespace

FollowCache::FollowCache(Env* env, const std::string& cache_dir, const std::string& index)
    : env_(env), store_(env, cache_dir, index) {}

Status FollowCache::Open() {
  FRB_RETURN_IF_ERROR(store_.Init());
  auto lock = store_.Lock(/*wait=*/false);
  if (!lock.ok()) {
    if (lock.status().code() == Code::kBusy)
      return Status(Code::kBusy, store_.IndexDir() +
                                     ": the cache is in use by another faiss-searchd "
                                     "(each follower needs its own --cache-dir)");
    return lock.status();
  }
  lock_ = std::move(lock).value();
  return Status::Ok();
}

bool FollowCache::Has(const std::string& version) const {
  if (!VersionStore::CheckVersionId(version).ok()) return false;
  return env_->Exists(store_.VersionIndexPath(version)) &&
         env_->Exists(JoinPath(store_.VersionDir(version), kManifestFile));
}

Result<std::string> FollowCache::StagingFor(const std::string& version) {
  FRB_RETURN_IF_ERROR(VersionStore::CheckVersionId(version));
  const std::string dir = JoinPath(store_.StagingRoot(), version);
  FRB_RETURN_IF_ERROR(env_->CreateDirs(dir));
  return dir;
}

Status FollowCache::Install(const std::string& version) {
  FRB_RETURN_IF_ERROR(VersionStore::CheckVersionId(version));
  const std::string staging = JoinPath(store_.StagingRoot(), version);
  if (env_->Exists(store_.VersionDir(version))) {
    // Installed before a crash that left the staging copy behind.
    if (env_->Exists(staging)) FRB_RETURN_IF_ERROR(env_->RemoveAll(staging));
    return Status::Ok();
  }
  // Immutable like a published version: a stray write cannot change what
  // the registry verified.
  for (const char* f : {kIndexFile, kManifestFile})
    FRB_RETURN_IF_ERROR(env_->MakeReadOnly(JoinPath(staging, f)));
  return store_.CommitVersion(staging, version);
}

Status FollowCache::Point(const std::string& live, const std::string& previous) {
  FRB_RETURN_IF_ERROR(VersionStore::CheckVersionId(live));
  // Rollback first, as VersionStore::SwapLive does: a crash between the two
  // leaves an older rollback target, never a lost one.
  if (!previous.empty() && previous != live && Has(previous))
    FRB_RETURN_IF_ERROR(ReplaceSymlink(env_, "versions/" + previous,
                                       JoinPath(store_.IndexDir(), "rollback")));
  return ReplaceSymlink(env_, "versions/" + live, JoinPath(store_.IndexDir(), "live"));
}

std::optional<std::string> FollowCache::LocalLive() const {
  auto live = store_.LiveVersion();
  if (!live.ok()) return std::nullopt;
  return *live;
}

Result<std::vector<std::string>> FollowCache::Prune(const std::set<std::string>& keep,
                                                    int max_versions,
                                                    const std::string& downloading) {
  FRB_ASSIGN_OR_RETURN(auto versions, store_.ListVersions());
  std::set<std::string> pinned = keep;
  if (auto live = store_.LiveVersion(); live.ok() && *live) pinned.insert(**live);
  if (auto rb = store_.RollbackVersion(); rb.ok() && *rb) pinned.insert(**rb);
  // The pinned ones count against the bound first; then the newest others.
  int kept = static_cast<int>(std::count_if(versions.begin(), versions.end(),
                                            [&](const auto& v) { return pinned.count(v); }));
  std::vector<std::string> removed;
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (pinned.count(*it)) continue;
    if (kept < max_versions) {
      ++kept;
      continue;
    }
    FRB_RETURN_IF_ERROR(env_->RemoveAll(store_.VersionDir(*it)));
    removed.push_back(*it);
  }
  if (!removed.empty())
    FRB_RETURN_IF_ERROR(env_->SyncDir(JoinPath(store_.IndexDir(), "versions")));
  auto staged = env_->ListDir(store_.StagingRoot());
  if (staged.ok()) {
    for (const std::string& s : *staged)
      if (s != downloading) FRB_RETURN_IF_ERROR(env_->RemoveAll(JoinPath(store_.StagingRoot(), s)));
  }
  return removed;
}

}  // namespace frb::searchd
