// BackupStore: create, list, verify, restore-file and prune of the backups
// of one index. Files are written temp -> fsync -> rename -> fsync dir, and
// the manifest goes last, so a crash or a full disk never leaves a backup
// that is listed but incomplete.
#include "frb/backup.h"

#include <zstd.h>

#include <algorithm>

#include "backup_internal.h"
#include "frb/sha256.h"

namespace frb {
namespace {

constexpr int64_t kStaleStateTempMs = 60 * 1000;

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string BackupRoot(const Config& config) {
  return config.backup_dir.empty() ? JoinPath(config.data_dir, "backups") : config.backup_dir;
}

Status CheckFreeSpace(Env* env, const std::string& path, uint64_t need, std::string_view what) {
  FRB_ASSIGN_OR_RETURN(DiskSpace ds, env->GetDiskSpace(path));
  if (ds.free_bytes < need)
    return NoSpace(std::string(what) + " needs up to " + std::to_string(need) + " bytes but " +
                   path + " has only " + std::to_string(ds.free_bytes) + " bytes free");
  return Status::Ok();
}

Json BackupManifest::ToJson() const {
  Json j = Json::MakeObject();
  j["format_version"] = kFormatVersion;
  j["index"] = index_name;
  j["version"] = version_id;
  j["created_unix_ms"] = created_unix_ms;
  j["created"] = FormatUtcMillis(created_unix_ms);
  j["version_created_unix_ms"] = version_created_unix_ms;
  j["file"] = file;
  j["size"] = size;
  j["sha256"] = sha256;
  j["compressed_size"] = compressed_size;
  j["compressed_sha256"] = compressed_sha256;
  j["zstd_level"] = zstd_level;
  j["zstd_workers"] = zstd_workers;
  j["shuffle_block"] = shuffle_block;
  j["compress_seconds"] = compress_seconds;
  j["read_mb_per_s"] = read_mb_per_s;
  j["version_manifest"] = version_manifest;
  SealJson(j, "backup_manifest_sha256");
  return j;
}

std::string BackupManifest::Serialize() const { return ToJson().Dump(2) + "\n"; }

Result<BackupManifest> BackupManifest::Parse(std::string_view text, std::string_view origin) {
  std::string o(origin);
  FRB_ASSIGN_OR_RETURN(Json j, OpenSealedJson(text, origin, "backup_manifest_sha256", kFormatVersion));
  BackupManifest m;
  m.index_name = j.GetString("index");
  m.version_id = j.GetString("version");
  m.created_unix_ms = j.GetInt("created_unix_ms");
  m.version_created_unix_ms = j.GetInt("version_created_unix_ms");
  m.file = j.GetString("file");
  m.size = static_cast<uint64_t>(j.GetInt("size"));
  m.sha256 = j.GetString("sha256");
  m.compressed_size = static_cast<uint64_t>(j.GetInt("compressed_size"));
  m.compressed_sha256 = j.GetString("compressed_sha256");
  m.zstd_level = static_cast<int>(j.GetInt("zstd_level"));
  m.zstd_workers = static_cast<int>(j.GetInt("zstd_workers"));
  m.shuffle_block = static_cast<uint64_t>(j.GetInt("shuffle_block"));
  m.compress_seconds = j.GetDouble("compress_seconds");
  m.read_mb_per_s = j.GetDouble("read_mb_per_s");
  if (const Json* vm = j.Find("version_manifest")) m.version_manifest = *vm;
  if (VersionStore::CheckVersionId(m.version_id).ok() == false || m.sha256.size() != 64 ||
      m.compressed_sha256.size() != 64 || m.file != m.version_id + kBackupDataSuffix)
    return Corruption(o + ": missing or malformed version, file or checksums");
  if (m.version_manifest.GetString("version") != m.version_id)
    return Corruption(o + ": embeds the manifest of version '" +
                      m.version_manifest.GetString("version") + "', not '" + m.version_id + "'");
  return m;
}

BackupStore::BackupStore(Env* env, const Config& config, const IndexConfig& index)
    : config_(config), index_(index) {
  std::string root = BackupRoot(config);
  if (IsS3Url(root)) {
    remote_ = true;
    // Config loading has checked the URL; a bad one fails every call.
    auto loc = ParseS3Url(root);
    impl_ = NewS3BackupStore(env, config, index, loc.ok() ? *loc : S3Location{});
  } else {
    impl_ = std::make_unique<LocalBackupStore>(env, config, index);
  }
}
BackupStore::~BackupStore() = default;

std::string BackupStore::Dir() const { return impl_->Dir(); }
std::string BackupStore::DataPath(const std::string& v) const { return impl_->DataPath(v); }
std::string BackupStore::ManifestPath(const std::string& v) const {
  return impl_->ManifestPath(v);
}
Result<BackupInfo> BackupStore::Create(const VersionStore& store, const std::string& version,
                                       JobControl* control, bool* created) {
  return impl_->Create(store, version, control, created);
}
Result<std::vector<BackupInfo>> BackupStore::List(std::vector<VerifyProblem>* broken) const {
  return impl_->List(broken);
}
Result<BackupInfo> BackupStore::Get(const std::string& version) const {
  return impl_->Get(version);
}
Result<VerifyResult> BackupStore::Verify(const std::string& version, JobControl* control) {
  return impl_->Verify(version, control);
}
Result<Manifest> BackupStore::RestoreFile(const std::string& version, const std::string& dst,
                                          JobControl* control) {
  return impl_->RestoreFile(version, dst, control);
}
Result<std::vector<RetentionDecision>> BackupStore::Prune(const VersionStore& store, bool dry_run) {
  FRB_ASSIGN_OR_RETURN(TimeZone tz, Zone());
  return impl_->Prune(store, dry_run, Policy(), tz);
}

LocalBackupStore::LocalBackupStore(Env* env, const Config& config, const IndexConfig& index)
    : env_(env), config_(config), index_(index), dir_(JoinPath(BackupRoot(config), index.name)) {}

std::string LocalBackupStore::DataPath(const std::string& v) const {
  return JoinPath(dir_, v + kBackupDataSuffix);
}
std::string LocalBackupStore::ManifestPath(const std::string& v) const {
  return JoinPath(dir_, v + kBackupManifestSuffix);
}

RetentionPolicy BackupStore::Policy() const {
  return {index_.backups.keep_last, index_.backups.keep_daily, index_.backups.keep_weekly};
}

Result<TimeZone> BackupStore::Zone() const {
  return TimeZone::Load(index_.timezone.empty() ? config_.scheduler.timezone : index_.timezone);
}

Result<BackupInfo> LocalBackupStore::Get(const std::string& version) {
  FRB_RETURN_IF_ERROR(VersionStore::CheckVersionId(version));
  std::string path = ManifestPath(version);
  FRB_ASSIGN_OR_RETURN(FileInfo fi, env_->Stat(path));
  if (!fi.is_regular) return InvalidArgument(path + " is not a regular file (symlink?)");
  FRB_ASSIGN_OR_RETURN(std::string text, ReadFileToString(env_, path));
  BackupInfo info;
  FRB_ASSIGN_OR_RETURN(info.manifest, BackupManifest::Parse(text, path));
  if (info.manifest.version_id != version)
    return Corruption(path + ": describes version '" + info.manifest.version_id + "'");
  // The state file is advisory: a missing or damaged one means "never verified".
  auto st = ReadFileToString(env_, JoinPath(dir_, version + kBackupStateSuffix));
  if (st.ok()) ApplyBackupState(*st, &info);
  return info;
}

Result<std::vector<BackupInfo>> LocalBackupStore::List(std::vector<VerifyProblem>* broken) {
  FRB_RETURN_IF_ERROR(CheckBackupOwner(env_, dir_, config_.data_dir, false));
  auto entries = env_->ListDir(dir_);
  if (!entries.ok()) {
    if (entries.status().code() == Code::kNotFound) return std::vector<BackupInfo>();
    return entries.status();
  }
  std::vector<BackupInfo> out;
  for (const auto& e : *entries) {
    if (!EndsWith(e, kBackupManifestSuffix)) continue;  // data, state and temp files
    std::string version = e.substr(0, e.size() - std::string_view(kBackupManifestSuffix).size());
    auto info = Get(version);
    if (info.ok()) {
      out.push_back(std::move(info).value());
    } else if (broken != nullptr) {
      broken->push_back({JoinPath(dir_, e), "manifest", info.status().message()});
    }
  }
  return out;  // zero-padded version ids: lexical order is age order
}

Result<BackupInfo> LocalBackupStore::Create(const VersionStore& store, const std::string& version,
                                            JobControl* control, bool* created) {
  *created = false;
  FRB_RETURN_IF_ERROR(CheckBackupOwner(env_, dir_, config_.data_dir, false));
  FRB_ASSIGN_OR_RETURN(Manifest vm, store.ReadManifest(version));
  std::string src = store.VersionIndexPath(version);
  FRB_ASSIGN_OR_RETURN(FileInfo fi, env_->Stat(src));
  if (!fi.is_regular) return InvalidArgument(src + " is not a regular file");
  auto existing = Get(version);
  // Identical and not known to be damaged: nothing to do. A backup whose
  // last verify failed is made again.
  if (existing.ok() && existing->manifest.sha256 == vm.file_sha256 &&
      !existing->failed_verify_unix_ms && env_->Exists(DataPath(version))) {
    // Still sweep what a crash or a failed prune left (data or state files
    // whose manifest is gone), or it stays until a backup is really made.
    FRB_RETURN_IF_ERROR(SweepOrphans());
    return existing;
  }

  FRB_RETURN_IF_ERROR(CreateDirsDurable(env_, dir_));  // the first backup creates it
  FRB_RETURN_IF_ERROR(SweepOrphans());
  // zstd's bound is the worst case (incompressible input) plus the manifest.
  FRB_RETURN_IF_ERROR(CheckFreeSpace(env_, dir_, ZSTD_compressBound(fi.size) + (1 << 20),
                                     "backup of " + index_.name + "/" + version));
  // Claimed only by a backup that is about to be written: one refused for
  // space leaves nothing behind.
  FRB_RETURN_IF_ERROR(CheckBackupOwner(env_, dir_, config_.data_dir, true));
  std::string data = DataPath(version);
  std::string tmp = data + ".tmp";
  const BackupConfig& bc = index_.backups;
  uint64_t shuffle = bc.byte_shuffle ? kBackupShuffleBlock : 0;
  auto stats = CompressFile(env_, src, tmp, bc.zstd_level, bc.zstd_workers, shuffle, control);
  if (!stats.ok()) {
    (void)env_->RemoveFile(tmp);
    return stats.status().WithContext("backup of " + index_.name + "/" + version);
  }
  if (stats->raw_bytes != vm.file_size || stats->raw_sha256 != vm.file_sha256) {
    (void)env_->RemoveFile(tmp);
    return Corruption(src + ": content does not match its manifest's size/SHA-256; not backed up");
  }
  // Replacing an older, different backup of the same id: drop its manifest
  // first so no moment shows the old manifest over the new data.
  (void)env_->RemoveFile(ManifestPath(version));
  (void)env_->RemoveFile(JoinPath(dir_, version + kBackupStateSuffix));
  Status s = env_->Rename(tmp, data);
  if (s.ok()) s = env_->SyncDir(dir_);
  BackupInfo info;
  info.manifest = MakeBackupManifest(index_, version, vm, *stats, shuffle);
  const BackupManifest& bm = info.manifest;
  if (s.ok()) s = WriteFileAtomic(env_, ManifestPath(version), bm.Serialize());
  if (!s.ok()) {
    // The manifest may already be in place (only the directory fsync after
    // its rename failed): remove it first, or the backup stays listed
    // without its data.
    (void)env_->RemoveFile(ManifestPath(version));
    (void)env_->RemoveFile(tmp);
    (void)env_->RemoveFile(data);
    return s.WithContext("backup of " + index_.name + "/" + version);
  }
  *created = true;
  if (!bc.verify_after_create) return info;
  FRB_ASSIGN_OR_RETURN(VerifyResult vr, Verify(version, control));
  if (!vr.ok) {
    const VerifyProblem& p = vr.problems.front();
    return Corruption("backup of " + index_.name + "/" + version +
                      " fails verification right after it was written: " + p.file + ": " +
                      p.check + ": " + p.detail);
  }
  return Get(version);
}

Status LocalBackupStore::SweepOrphans() {
  auto entries = env_->ListDir(dir_);
  if (!entries.ok()) return entries.status().code() == Code::kNotFound ? Status::Ok() : entries.status();
  for (const auto& e : *entries) {
    // Our own temp names only: a concurrent Verify's state temp file is not ours.
    bool temp = e.find(std::string(kBackupDataSuffix) + ".tmp") != std::string::npos ||
                e.find(std::string(kBackupManifestSuffix) + ".tmp") != std::string::npos;
    bool orphan = false;
    for (std::string_view suffix : {std::string_view(kBackupDataSuffix), std::string_view(kBackupStateSuffix)})
      if (EndsWith(e, suffix)) {
        std::string v = e.substr(0, e.size() - suffix.size());
        orphan = !env_->Exists(ManifestPath(v));
      }
    // A state temp file untouched for a minute is no concurrent Verify's
    // (its write takes milliseconds): a process was killed while writing it.
    if (e.find(std::string(kBackupStateSuffix) + ".tmp") != std::string::npos) {
      auto fi = env_->Stat(JoinPath(dir_, e));
      if (fi.ok() && NowUnixMillis() - fi->mtime_ns / 1000000 > kStaleStateTempMs) orphan = true;
    }
    if (temp || orphan) FRB_RETURN_IF_ERROR(env_->RemoveFile(JoinPath(dir_, e)));
  }
  return Status::Ok();
}

Status LocalBackupStore::WriteState(const std::string& version, const VerifyResult& r) {
  auto prev = Get(version);
  if (!prev.ok()) return Status::Ok();  // pruned meanwhile, or manifest broken: nothing to record
  return WriteFileAtomic(env_, JoinPath(dir_, version + kBackupStateSuffix),
                         BackupStateText(*prev, r));
}

Result<VerifyResult> LocalBackupStore::Verify(const std::string& version, JobControl* control) {
  FRB_RETURN_IF_ERROR(VersionStore::CheckVersionId(version));
  FRB_RETURN_IF_ERROR(CheckBackupOwner(env_, dir_, config_.data_dir, false));
  VerifyResult r;
  r.version_id = version;
  auto info = Get(version);
  if (!info.ok()) {
    if (info.status().code() == Code::kNotFound && !env_->Exists(DataPath(version)))
      return NotFound("no backup of version '" + version + "' in " + dir_);
    r.problems.push_back({ManifestPath(version), "manifest", info.status().message()});
    return r;
  }
  const BackupManifest& m = info->manifest;
  std::string data = DataPath(version);
  auto add = [&](std::string check, std::string detail) {
    r.problems.push_back({data, std::move(check), std::move(detail)});
  };
  auto fi = env_->Stat(data);
  if (!fi.ok()) {
    add("missing", fi.status().message());
  } else {
    FRB_RETURN_IF_ERROR(CheckCompressedCopy(env_, data, data, m, control, &r));
  }
  r.ok = r.problems.empty();
  // The state file is advisory: a backup dir that is read-only (a snapshot,
  // a restore host's mount) still gets its verification answer.
  Status ws = WriteState(version, r);
  if (!ws.ok() && ws.code() != Code::kPermissionDenied) return ws;
  return r;
}

Json BackupInfo::ToJson(const std::optional<std::string>& live,
                        const std::optional<std::string>& rollback) const {
  const BackupManifest& m = manifest;
  Json j = Json::MakeObject();
  j["version"] = m.version_id;
  j["version_created"] = FormatUtcMillis(m.version_created_unix_ms);
  j["backup_created"] = FormatUtcMillis(m.created_unix_ms);
  j["size"] = m.size;
  j["compressed_size"] = m.compressed_size;
  j["ratio"] = m.ratio();
  j["byte_shuffle"] = m.shuffle_block != 0;
  j["verified_at"] = verified_unix_ms ? Json(FormatUtcMillis(*verified_unix_ms)) : Json();
  if (failed_verify_unix_ms) {
    j["last_verify_failed_at"] = FormatUtcMillis(*failed_verify_unix_ms);
    j["verify_error"] = verify_error;
  }
  j["live"] = live && *live == m.version_id;
  j["rollback"] = rollback && *rollback == m.version_id;
  return j;
}

Result<Manifest> LocalBackupStore::RestoreFile(const std::string& version, const std::string& dst,
                                          JobControl* control) {
  FRB_RETURN_IF_ERROR(CheckBackupOwner(env_, dir_, config_.data_dir, false));
  FRB_ASSIGN_OR_RETURN(BackupInfo info, Get(version));
  const BackupManifest& m = info.manifest;
  std::string data = DataPath(version);
  FRB_ASSIGN_OR_RETURN(FileInfo fi, env_->Stat(data));
  if (!fi.is_regular) return InvalidArgument(data + " is not a regular file (symlink?)");
  // zstd's frame checksum guards the bytes now; the raw SHA-256 is the
  // end-to-end check the caller runs on `dst` (see the header).
  DecompressOptions opts{.shuffle_block = m.shuffle_block, .sync = true, .hash_raw = false,
                         .hash_compressed = false};
  FRB_ASSIGN_OR_RETURN(CodecStats st, DecompressFile(env_, data, dst, opts, control));
  if (st.zst_bytes != m.compressed_size)
    return Corruption(data + ": " + std::to_string(st.zst_bytes) + " bytes, " +
                      ManifestPath(version) + " says " + std::to_string(m.compressed_size));
  if (st.raw_bytes != m.size)
    return Corruption(data + ": decompressed to " + std::to_string(st.raw_bytes) + " bytes, " +
                      ManifestPath(version) + " says " + std::to_string(m.size));
  FRB_ASSIGN_OR_RETURN(Manifest vm, Manifest::Parse(m.version_manifest.Dump(), ManifestPath(version)));
  if (vm.file_sha256 != m.sha256 || vm.file_size != m.size)
    return Corruption(ManifestPath(version) + ": embedded version manifest disagrees with the backup");
  return vm;
}

Result<std::vector<RetentionDecision>> LocalBackupStore::Prune(const VersionStore& store,
                                                               bool dry_run,
                                                               const RetentionPolicy& policy,
                                                               const TimeZone& zone) {
  FRB_RETURN_IF_ERROR(CheckBackupOwner(env_, dir_, config_.data_dir, false));
  if (!dry_run) FRB_RETURN_IF_ERROR(SweepOrphans());
  FRB_ASSIGN_OR_RETURN(auto backups, List(nullptr));
  FRB_ASSIGN_OR_RETURN(auto decisions, DecideBackupRetention(store, backups, policy, zone));
  if (dry_run) return decisions;
  bool removed = false;
  for (const auto& d : decisions) {
    if (d.keep) continue;
    // Manifest first: from then on the backup is no longer listed.
    FRB_RETURN_IF_ERROR(env_->RemoveFile(ManifestPath(d.id)));
    (void)env_->RemoveFile(JoinPath(dir_, d.id + kBackupStateSuffix));
    Status s = env_->RemoveFile(DataPath(d.id));
    if (!s.ok() && s.code() != Code::kNotFound) return s;
    removed = true;
  }
  if (removed) FRB_RETURN_IF_ERROR(env_->SyncDir(dir_));
  return decisions;
}

}  // namespace frb
