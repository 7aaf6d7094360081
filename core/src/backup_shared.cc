// What the directory and the object-storage backup stores share: the
// backup manifest, the checks of a compressed copy, retention pins and
// the verify state document.
#include <cstdlib>

#include "backup_internal.h"
#include "frb/repository_sync.h"
#include "frb/sha256.h"

namespace frb {

S3Options BackupS3Options(const Config& config) {
  S3Options o = RepositoryS3Options(config.repository);
  if (o.endpoint.empty())
    if (const char* e = std::getenv("AWS_ENDPOINT_URL"); e != nullptr && *e != '\0') o.endpoint = e;
  return o;
}

BackupManifest MakeBackupManifest(const IndexConfig& index, const std::string& version,
                                  const Manifest& vm, const CodecStats& stats,
                                  uint64_t shuffle_block) {
  const BackupConfig& bc = index.backups;
  BackupManifest bm;
  bm.index_name = index.name;
  bm.version_id = version;
  bm.created_unix_ms = NowUnixMillis();
  bm.version_created_unix_ms = vm.created_unix_ms;
  bm.file = version + kBackupDataSuffix;
  bm.size = stats.raw_bytes;
  bm.sha256 = stats.raw_sha256;
  bm.compressed_size = stats.zst_bytes;
  bm.compressed_sha256 = stats.zst_sha256;
  bm.zstd_level = bc.zstd_level;
  bm.zstd_workers = bc.zstd_workers;
  bm.shuffle_block = shuffle_block;
  bm.compress_seconds = stats.seconds;
  bm.read_mb_per_s = stats.seconds > 0 ? stats.raw_bytes / 1e6 / stats.seconds : 0;
  bm.version_manifest = vm.ToJson();
  return bm;
}

Status CheckCompressedCopy(Env* env, const std::string& path, const std::string& display,
                           const BackupManifest& m, JobControl* control, VerifyResult* r) {
  auto add = [&](std::string check, std::string detail) {
    r->problems.push_back({display, std::move(check), std::move(detail)});
  };
  FRB_ASSIGN_OR_RETURN(FileInfo fi, env->Stat(path));
  if (fi.size != m.compressed_size)
    add("compressed_size",
        std::to_string(fi.size) + " bytes, manifest says " + std::to_string(m.compressed_size));
  auto st = DecompressFile(env, path, "", {.shuffle_block = m.shuffle_block}, control);
  if (!st.ok()) {
    if (st.status().code() != Code::kCorruption) return st.status();
    // zstd names the local file; the problem names `display`.
    std::string detail = st.status().message();
    if (path != display)
      for (size_t at; (at = detail.find(path)) != std::string::npos;)
        detail.replace(at, path.size(), display);
    add("zstd", detail);
    auto sha = Sha256File(env, path);
    if (sha.ok() && *sha != m.compressed_sha256)
      add("compressed_sha256", "SHA-256 of the file does not match the manifest");
    return Status::Ok();
  }
  if (st->zst_sha256 != m.compressed_sha256)
    add("compressed_sha256", "SHA-256 of the file does not match the manifest");
  if (st->raw_bytes != m.size)
    add("size", "decompresses to " + std::to_string(st->raw_bytes) + " bytes, manifest says " +
                    std::to_string(m.size));
  else if (st->raw_sha256 != m.sha256)
    add("sha256", "SHA-256 of the decompressed index does not match the manifest");
  r->seconds = st->seconds;
  return Status::Ok();
}

Result<std::vector<RetentionDecision>> DecideBackupRetention(
    const VersionStore& store, const std::vector<BackupInfo>& backups,
    const RetentionPolicy& policy, const TimeZone& zone) {
  FRB_ASSIGN_OR_RETURN(auto live, store.LiveVersion());
  FRB_ASSIGN_OR_RETURN(auto rollback, store.RollbackVersion());
  std::vector<RetentionItem> items;
  for (const auto& b : backups) {
    const std::string& v = b.manifest.version_id;
    items.push_back({v, b.manifest.version_created_unix_ms / 1000, live && *live == v,
                     rollback && *rollback == v,
                     b.verified_unix_ms.has_value() && !b.failed_verify_unix_ms.has_value()});
  }
  return DecideRetention(std::move(items), policy, zone);
}

void ApplyBackupState(std::string_view text, BackupInfo* info) {
  auto j = Json::Parse(text);
  if (!j.ok() || !j->is_object()) return;
  if (j->Find("verified_unix_ms")) info->verified_unix_ms = j->GetInt("verified_unix_ms");
  if (!j->GetBool("last_ok", true)) {
    info->failed_verify_unix_ms = j->GetInt("last_unix_ms");
    info->verify_error = j->GetString("last_error");
  }
}

std::string BackupStateText(const BackupInfo& prev, const VerifyResult& r) {
  Json j = Json::MakeObject();
  int64_t now = NowUnixMillis();
  j["last_unix_ms"] = now;
  j["last"] = FormatUtcMillis(now);
  j["last_ok"] = r.ok;
  if (r.ok) {
    j["verified_unix_ms"] = now;
  } else {
    if (prev.verified_unix_ms) j["verified_unix_ms"] = *prev.verified_unix_ms;
    std::string err;
    for (const auto& p : r.problems) err += (err.empty() ? "" : "; ") + p.check + ": " + p.detail;
    j["last_error"] = err;
  }
  return j.Dump(2) + "\n";
}

}  // namespace frb
