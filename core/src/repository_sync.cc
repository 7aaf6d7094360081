#include "frb/repository_sync.h"

#include <algorithm>

#include "frb/manifest.h"
#include "frb/store.h"

namespace frb {

S3Options RepositoryS3Options(const RepositoryConfig& cfg) {
  S3Options o;
  o.endpoint = cfg.endpoint;
  o.region = cfg.region;
  o.path_style = cfg.path_style;
  o.part_size = cfg.part_size;
  o.parallelism = cfg.parallelism;
  return o;
}

Result<std::unique_ptr<RepositorySync>> RepositorySync::Create(const RepositoryConfig& cfg,
                                                               Env* env, std::string publisher) {
  FRB_ASSIGN_OR_RETURN(S3Location loc, ParseS3Url(cfg.url));
  FRB_ASSIGN_OR_RETURN(auto client, S3Client::Create(RepositoryS3Options(cfg), env));
  std::unique_ptr<RepositorySync> s(new RepositorySync());
  s->cfg_ = cfg;
  s->env_ = env;
  s->publisher_ = std::move(publisher);
  s->client_ = std::move(client);
  s->repo_ = std::make_unique<Repository>(s->client_.get(), loc, env);
  return s;
}

Result<RepoSyncResult> RepositorySync::Sync(const std::string& data_dir, const std::string& index,
                                            RepoSyncResult* partial) {
  std::lock_guard<std::mutex> lock(mu_);
  RepoSyncResult r;
  RepoSyncResult scratch;
  RepoSyncResult& out = partial ? *partial : scratch;
  VersionStore store(env_, data_dir, index);
  FRB_ASSIGN_OR_RETURN(auto live, store.LiveVersion());
  if (!live) return r;
  r.local_live = *live;
  out.local_live = *live;
  auto read = repo_->ReadPointer(index);
  // The pointer as read now, else as last seen: the lag is known even
  // while the store fails.
  std::optional<std::string> repo_live;
  if (read.ok()) {
    if (*read) last_seen_[index] = (**read).live;
    else last_seen_.erase(index);
  }
  if (auto it = last_seen_.find(index); it != last_seen_.end()) repo_live = it->second;
  if (!repo_live || *repo_live != *live) {
    auto ids = store.ListVersions();
    if (ids.ok()) {
      auto at = repo_live ? std::find(ids->begin(), ids->end(), *repo_live) : ids->end();
      auto first = at == ids->end() ? ids->begin() : at + 1;
      auto end = std::find(ids->begin(), ids->end(), *live);
      if (end != ids->end()) ++end;
      r.lag_versions = static_cast<int>(std::max<std::ptrdiff_t>(1, end - first));
      if (first < end) {
        if (auto m = store.ReadManifest(*first); m.ok())
          r.behind_since_unix = m->created_unix_ms / 1000;
      }
    } else {
      r.lag_versions = 1;
    }
    if (r.behind_since_unix == 0)
      if (auto m = store.ReadManifest(*live); m.ok()) r.behind_since_unix = m->created_unix_ms / 1000;
    out.lag_versions = r.lag_versions;
    out.behind_since_unix = r.behind_since_unix;
  }
  if (!read.ok()) return read.status();
  std::optional<RepoPointer> pointer = std::move(read).value();
  if (pointer && pointer->live == *live) {
    r.repo_live = pointer->live;
    return r;
  }
  if (!probed_) {
    FRB_ASSIGN_OR_RETURN(bool cond, repo_->ProbeConditionalPut());
    (void)cond;
    probed_ = true;
  }
  auto start = std::chrono::steady_clock::now();
  FRB_ASSIGN_OR_RETURN(Manifest m, store.ReadManifest(*live));
  std::optional<std::string> parent;
  if (!m.parent_version.empty()) parent = m.parent_version;
  FRB_ASSIGN_OR_RETURN(RepoVersion v, repo_->UploadVersion(index, *live, store.VersionDir(*live),
                                                           parent, "full", &r.bytes_uploaded));
  (void)v;
  std::unique_ptr<FileLock> index_lock;
  if (!repo_->conditional_put()) {
    // No conditional PUT on this store: the index lock serializes this
    // host's publishers; MovePointer checks and reads back.
    FRB_ASSIGN_OR_RETURN(index_lock, store.Lock(/*wait=*/false));
  }
  FRB_ASSIGN_OR_RETURN(RepoPointer moved, repo_->MovePointer(index, *live, pointer, publisher_));
  index_lock.reset();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.uploaded = true;
  r.repo_live = moved.live;
  r.lag_versions = 0;
  r.behind_since_unix = 0;
  last_seen_[index] = moved.live;
  out = r;
  auto pruned = repo_->Prune(index, cfg_.keep_versions, cfg_.grace);
  if (pruned.ok()) r.pruned = std::move(pruned).value();
  return r;
}

}  // namespace frb
