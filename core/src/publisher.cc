#include "frb/publisher.h"

#include "frb/index_file.h"
#include "frb/sha256.h"

namespace frb {

Status Publisher::VerifyFile(const std::string& path, const Manifest& m,
                             const FileInfo* verified_as) {
  FRB_ASSIGN_OR_RETURN(FileInfo info, env_->Stat(path));
  if (info.size != m.file_size)
    return Corruption(path + ": size " + std::to_string(info.size) +
                      " does not match the manifest's " + std::to_string(m.file_size));
  if (verified_as != nullptr && FileUnchanged(*verified_as, info)) return Status::Ok();
  FRB_ASSIGN_OR_RETURN(std::string digest, Sha256File(env_, path));
  if (digest != m.file_sha256)
    return Corruption(path + ": SHA-256 does not match the manifest (file changed after validation)");
  return Status::Ok();
}

Status Publisher::Publish(VersionStore& store, const std::string& staging_dir,
                          const Manifest& manifest, int keep_versions,
                          std::vector<std::string>* pruned, const FileInfo* verified_as) {
  std::string index_path = JoinPath(staging_dir, manifest.index_file);
  FRB_RETURN_IF_ERROR(VerifyFile(index_path, manifest, verified_as));
  std::string manifest_path = JoinPath(staging_dir, "manifest.json");
  FRB_RETURN_IF_ERROR(WriteFileAtomic(env_, manifest_path, manifest.Serialize()));
  FRB_RETURN_IF_ERROR(env_->MakeReadOnly(index_path));
  FRB_RETURN_IF_ERROR(env_->MakeReadOnly(manifest_path));
  FRB_RETURN_IF_ERROR(store.CommitVersion(staging_dir, manifest.version_id));
  Status swapped = store.SwapLive(manifest.version_id);
  if (!swapped.ok()) {
    // `live` changes with one rename; when what fails is the directory
    // fsync after it, the new version is live already (but the swap may not
    // be durable): say so rather than imply the old one still serves.
    auto now = store.LiveVersion();
    if (now.ok() && *now && **now == manifest.version_id)
      return swapped.WithContext("published " + manifest.version_id +
                                 " (it is live), but the swap may not survive a power cut");
    return swapped;
  }
  auto removed = store.PruneVersions(keep_versions);
  if (!removed.ok()) return removed.status().WithContext("published, but pruning old versions failed");
  if (pruned != nullptr) pruned->insert(pruned->end(), removed->begin(), removed->end());
  return Status::Ok();
}

Result<std::string> Publisher::Rollback(VersionStore& store) {
  FRB_ASSIGN_OR_RETURN(auto target, store.RollbackVersion());
  if (!target) return FailedPrecondition("index '" + store.name() + "' has no rollback target");
  FRB_ASSIGN_OR_RETURN(Manifest m, store.ReadManifest(*target));
  FRB_RETURN_IF_ERROR(VerifyFile(store.VersionIndexPath(*target), m));
  FRB_RETURN_IF_ERROR(store.SwapLive(*target));
  return *target;
}

}  // namespace frb
