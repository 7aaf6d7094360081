// The repository's reader side: Pull (resumable, verified downloads),
// Verify (every byte) and Prune (retention with a grace period).
#include <ctime>
#include <set>

#include "frb/repository.h"
#include "frb/sha256.h"
#include "repository_internal.h"

namespace frb {
namespace {

// Copies the verified-so-far prefix of an earlier partial download into a
// fresh file (Env writers truncate), hashing it; returns its size.
Result<uint64_t> ResumePartial(Env* env, const std::string& partial, uint64_t max_size,
                               WritableFile* out, Sha256* hash) {
  auto info = env->Stat(partial + ".old");
  if (!info.ok() || !info->is_regular || info->size > max_size) return uint64_t{0};
  FRB_ASSIGN_OR_RETURN(auto in, env->NewSequentialFile(partial + ".old"));
  std::string buf(1 << 20, '\0');
  uint64_t total = 0;
  for (;;) {
    size_t got = 0;
    FRB_RETURN_IF_ERROR(in->Read(buf.data(), buf.size(), &got));
    if (got == 0) break;
    hash->Update(buf.data(), got);
    FRB_RETURN_IF_ERROR(out->Append(buf.data(), got));
    total += got;
  }
  return total;
}

}  // namespace

Status Repository::Pull(const std::string& index, const std::string& version,
                        const std::string& dest_dir, const RepoPullOptions& opts) {
  FRB_ASSIGN_OR_RETURN(RepoVersion v, ReadVersion(index, version));
  FRB_RETURN_IF_ERROR(env_->CreateDirs(dest_dir));
  for (const RepoFile& f : v.files) {
    const std::string final_path = JoinPath(dest_dir, f.name);
    if (auto st = env_->Stat(final_path); st.ok() && st->size == f.size) {
      auto sha = Sha256File(env_, final_path);
      if (sha.ok() && *sha == f.sha256) continue;  // pulled before
    }
    const std::string partial = final_path + ".partial";
    const std::string key = ObjectKey(index, f.sha256);
    const std::string origin = "s3://" + loc_.bucket + "/" + key;
    Sha256 hash;
    uint64_t have = 0;
    if (env_->Exists(partial)) FRB_RETURN_IF_ERROR(env_->Rename(partial, partial + ".old"));
    FRB_ASSIGN_OR_RETURN(auto out, env_->NewWritableFile(partial));
    auto resumed = ResumePartial(env_, partial, f.size, out.get(), &hash);
    (void)env_->RemoveFile(partial + ".old");
    if (resumed.ok()) have = *resumed;
    if (opts.on_bytes) opts.on_bytes(have);
    uint64_t received = have;
    if (have < f.size) {
      auto got = client_->GetRange(loc_.bucket, key, have, f.size - have,
                                   [&](const char* d, size_t n) -> Status {
                                     if (received + n > f.size)
                                       return Corruption(origin + ": longer than " +
                                                         std::to_string(f.size) + " bytes");
                                     hash.Update(d, n);
                                     received += n;
                                     if (opts.on_bytes) opts.on_bytes(received);
                                     return out->Append(d, n);
                                   });
      if (!got.ok()) {
        (void)out->Close();  // the partial stays: the next pull resumes it
        if (got.status().code() == Code::kCorruption) (void)env_->RemoveFile(partial);
        return got.status().WithContext("pull " + f.name);
      }
    }
    std::string sha = hash.FinishHex();
    if (received != f.size || sha != f.sha256) {
      (void)out->Close();
      (void)env_->RemoveFile(partial);
      return Corruption(origin + ": " + std::to_string(received) + " bytes with SHA-256 " + sha +
                        ", the version manifest says " + std::to_string(f.size) + " bytes, " +
                        f.sha256);
    }
    FRB_RETURN_IF_ERROR(out->Sync());
    FRB_RETURN_IF_ERROR(out->Close());
    FRB_RETURN_IF_ERROR(env_->Rename(partial, final_path));
  }
  return env_->SyncDir(dest_dir);
}

Status Repository::Verify(const std::string& index, const std::string& version) {
  FRB_ASSIGN_OR_RETURN(RepoVersion v, ReadVersion(index, version));
  for (const RepoFile& f : v.files) {
    const std::string key = ObjectKey(index, f.sha256);
    const std::string origin = "s3://" + loc_.bucket + "/" + key;
    FRB_ASSIGN_OR_RETURN(S3ObjectInfo info, client_->Head(loc_.bucket, key));
    if (info.size != f.size)
      return Corruption(origin + " (" + f.name + "): " + std::to_string(info.size) +
                        " bytes, the version manifest says " + std::to_string(f.size));
    Sha256 hash;
    uint64_t n = 0;
    if (f.size > 0) {
      FRB_ASSIGN_OR_RETURN(n, client_->GetRange(loc_.bucket, key, 0, f.size,
                                                [&](const char* d, size_t len) {
                                                  hash.Update(d, len);
                                                  return Status::Ok();
                                                }));
    }
    std::string sha = hash.FinishHex();
    if (n != f.size || sha != f.sha256)
      return Corruption(origin + " (" + f.name + "): SHA-256 " + sha +
                        ", the version manifest says " + f.sha256);
  }
  return Status::Ok();
}

Result<std::vector<std::string>> Repository::Prune(const std::string& index, int keep,
                                                   std::chrono::seconds grace) {
  FRB_ASSIGN_OR_RETURN(auto versions, ListVersions(index));
  FRB_ASSIGN_OR_RETURN(auto pointer, ReadPointer(index));
  const int64_t now = std::time(nullptr);
  std::set<std::string> kept;
  for (size_t i = versions.size() > static_cast<size_t>(std::max(keep, 0))
                      ? versions.size() - static_cast<size_t>(std::max(keep, 0))
                      : 0;
       i < versions.size(); ++i)
    kept.insert(versions[i]);
  if (pointer) {
    kept.insert(pointer->live);
    if (pointer->previous) kept.insert(*pointer->previous);
  }
  std::set<std::string> referenced;
  std::vector<std::string> removed;
  for (const auto& id : versions) {
    // A manifest that cannot be read could name any object: stop rather
    // than delete what a kept version may need.
    FRB_ASSIGN_OR_RETURN(RepoVersion v, ReadVersion(index, id));
    bool young = now - ParseRfc3339Utc(v.created_at) < grace.count();
    if (kept.count(id) || young) {
      for (const auto& f : v.files) referenced.insert(f.sha256);
      continue;
    }
    FRB_RETURN_IF_ERROR(client_->Delete(loc_.bucket, VersionKey(index, id)));
    removed.push_back(id);
  }
  // Objects no kept version names, unless young (an upload in progress of
  // a version whose manifest is not written yet).
  const std::string prefix = loc_.Key(index + "/objects/sha256/");
  FRB_ASSIGN_OR_RETURN(auto objects, client_->List(loc_.bucket, prefix));
  for (const auto& o : objects) {
    std::string sha = o.key.substr(prefix.size());
    if (referenced.count(sha)) continue;
    if (o.last_modified_unix == 0 || now - o.last_modified_unix < grace.count()) continue;
    FRB_RETURN_IF_ERROR(client_->Delete(loc_.bucket, o.key));
  }
  return removed;
}

}  // namespace frb
