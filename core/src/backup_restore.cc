// Restore of a version as a new live version, the backing-up stage shared
// with rebuilds, and disk usage. Orchestration only: the work is done by
// BackupStore, Validator and Publisher.
#include <faiss/Index.h>

#include <cstdio>
#include <limits>

#include "frb/backup.h"
#include "frb/index_file.h"
#include "frb/publisher.h"
#include "frb/rebuild.h"
#include "frb/s3.h"
#include "frb/repair.h"
#include "frb/verify.h"
#include "frb/sha256.h"
#include "frb/source.h"
#include "frb/validator.h"

namespace frb {
namespace {

// Copies a version's index file into staging, checking it (the fallback
// where a hard link is not possible).
Status CopyVerified(Env* env, const std::string& src, const std::string& dst,
                    const Manifest& m, JobControl& control) {
  FRB_ASSIGN_OR_RETURN(auto in, env->NewSequentialFile(src));
  FRB_ASSIGN_OR_RETURN(auto out, env->NewWritableFile(dst));
  std::vector<uint8_t> buf(4 << 20);
  Sha256 sha;
  uint64_t total = 0;
  for (;;) {
    size_t got = 0;
    FRB_RETURN_IF_ERROR(in->Read(buf.data(), buf.size(), &got));
    if (got == 0) break;
    sha.Update(buf.data(), got);
    FRB_RETURN_IF_ERROR(out->Append(buf.data(), got));
    total += got;
    FRB_RETURN_IF_ERROR(control.Check());
    if (m.file_size)
      control.SetWork(static_cast<double>(total), static_cast<double>(m.file_size), "bytes");
  }
  FRB_RETURN_IF_ERROR(out->Sync());
  FRB_RETURN_IF_ERROR(out->Close());
  if (total != m.file_size || sha.FinishHex() != m.file_sha256)
    return Corruption(src + ": size/SHA-256 does not match its manifest; not restored");
  return Status::Ok();
}

// Structure checks when the current source cannot serve as ground truth
// (it changed since the version was built): checksum, loads, dim, metric,
// ntotal.
Result<ValidationReport> ValidateStructure(Env* env, const IndexConfig& cfg,
                                           const std::string& path, const Manifest& m) {
  FRB_ASSIGN_OR_RETURN(auto index, LoadVerifiedIndex(env, path, {m.file_size, m.file_sha256}));
  ValidationReport r = m.validation;  // the figures measured when it was built
  r.checksum_ok = true;
  r.failures.clear();
  r.dim = index->d;
  r.ntotal = index->ntotal;
  r.metric = index->metric_type == faiss::METRIC_INNER_PRODUCT ? "IP" : "L2";
  if (r.dim != cfg.dimension)
    r.failures.push_back("dimension " + std::to_string(r.dim) + " != configured " +
                         std::to_string(cfg.dimension));
  if (r.metric != MetricName(cfg.metric))
    r.failures.push_back("metric " + r.metric + " != configured " + std::string(MetricName(cfg.metric)));
  if (r.ntotal != m.ntotal)
    r.failures.push_back("ntotal " + std::to_string(r.ntotal) + " != manifest " + std::to_string(m.ntotal));
  r.passed = r.failures.empty();
  return r;
}

// Puts the index file of `version` from `where` ("disk" or "backup") at
// `staged` and returns its manifest. kCorruption when that copy is damaged.
Result<Manifest> StageCopy(Env* env, const VersionStore& store, BackupStore& backups,
                           const std::string& version, const std::string& where,
                           const std::string& staged, JobControl& control, RestoreOutcome* out) {
  if (where == "backup") {
    FRB_ASSIGN_OR_RETURN(BackupInfo info, backups.Get(version));
    FRB_RETURN_IF_ERROR(CheckFreeSpace(env, DirName(staged), info.manifest.size + (1 << 20),
                                       "restore of " + store.name() + "/" + version));
    return backups.RestoreFile(version, staged, &control);
  }
  FRB_ASSIGN_OR_RETURN(Manifest src, store.ReadManifest(version));
  // Published versions are read-only, so a hard link is as safe as a copy
  // and costs nothing; the validator and publisher re-hash it either way.
  // A copy only where links are not possible (e.g. EPERM on some mounts).
  out->linked = env->LinkFile(store.VersionIndexPath(version), staged).ok();
  if (!out->linked) {
    FRB_RETURN_IF_ERROR(CheckFreeSpace(env, DirName(staged), src.file_size + (1 << 20),
                                       "restore of " + store.name() + "/" + version));
    FRB_RETURN_IF_ERROR(CopyVerified(env, store.VersionIndexPath(version), staged, src, control));
  }
  return src;
}

// Validates the staged copy: fully when the current source still has the
// version's vectors (ground truth for its ids), else structurally. A
// checksum mismatch is kCorruption (the other copy may be intact).
Status ValidateCopy(Env* env, const IndexConfig& index, const std::string& staged,
                    const Manifest& src, JobControl& control, RestoreOutcome* out) {
  control.EnterStage(Stage::kValidating);
  auto source = VectorSource::Open(env, index.source_path, index.source_format, index.dimension);
  if (source.ok() && (*source)->count() == src.ntotal) {
    Validator validator(env);
    FRB_ASSIGN_OR_RETURN(out->validation,
                         validator.Validate(index, **source, staged, {src.file_size, src.file_sha256},
                                            std::nullopt, control));
    out->full_validation = true;
    if (!out->validation.checksum_ok)
      return Corruption(staged + ": " + out->validation.failures.front());
    return Status::Ok();
  }
  out->full_validation = false;
  FRB_ASSIGN_OR_RETURN(out->validation, ValidateStructure(env, index, staged, src));
  return Status::Ok();
}

Result<uint64_t> TreeBytes(Env* env, const std::string& path) {
  auto fi = env->Stat(path);
  if (!fi.ok()) return fi.status().code() == Code::kNotFound ? Result<uint64_t>(0) : fi.status();
  if (fi->is_symlink) return uint64_t{0};
  if (!fi->is_dir) return fi->size;
  FRB_ASSIGN_OR_RETURN(auto entries, env->ListDir(path));
  uint64_t sum = 0;
  for (const auto& e : entries) {
    FRB_ASSIGN_OR_RETURN(uint64_t b, TreeBytes(env, JoinPath(path, e)));
    sum += b;
  }
  return sum;
}

}  // namespace

Status BackupOutgoingVersion(Env* env, const Config& config, const IndexConfig& index,
                             const VersionStore& store, const std::string& version,
                             JobControl& control, bool prune) {
  BackupStore backups(env, config, index);
  bool created = false;
  auto info = backups.Create(store, version, &control, &created);
  if (!info.ok())
    return info.status().WithContext("backing up outgoing live version " + version);
  RetentionPolicy p = backups.Policy();
  if (!prune || !created || (p.keep_last == 0 && p.keep_daily == 0 && p.keep_weekly == 0))
    return Status::Ok();
  auto pruned = backups.Prune(store, false);
  if (!pruned.ok()) return pruned.status().WithContext("backup retention after " + version);
  return Status::Ok();
}

Result<BackupCreated> CreateBackupWithRetention(Env* env, const Config& config,
                                                const IndexConfig& index,
                                                const VersionStore& store,
                                                const std::string& version,
                                                JobControl& control) {
  BackupStore backups(env, config, index);
  BackupCreated out;
  FRB_ASSIGN_OR_RETURN(out.info, backups.Create(store, version, &control, &out.created));
  RetentionPolicy p = backups.Policy();
  if (!out.created || (p.keep_last == 0 && p.keep_daily == 0 && p.keep_weekly == 0)) return out;
  auto pruned = backups.Prune(store, false);
  if (!pruned.ok()) return pruned.status().WithContext("backed up " + version + ", but retention failed");
  out.decisions = std::move(pruned).value();
  for (const auto& d : out.decisions)
    if (!d.keep) out.pruned.push_back(d.id);
  return out;
}

Status CheckRestorable(Env* env, const Config& config, const IndexConfig& index,
                       const std::string& version) {
  FRB_RETURN_IF_ERROR(VersionStore::CheckVersionId(version));
  VersionStore store(env, config.data_dir, index.name);
  auto vdir = env->Stat(store.VersionDir(version));
  if (vdir.ok()) return Status::Ok();
  if (vdir.status().code() != Code::kNotFound) return vdir.status();
  BackupStore backups(env, config, index);
  auto info = backups.Get(version);
  if (info.ok()) return Status::Ok();
  if (info.status().code() != Code::kNotFound) return info.status();
  return NotFound("version '" + version + "' of index '" + index.name + "' not found: it is neither in " +
                  JoinPath(store.IndexDir(), "versions") + " nor in " + backups.Dir() +
                  " (see `faiss-rebuild versions " + index.name + "`)");
}

Result<RestoreOutcome> RestoreVersion(Env* env, const Config& config, const IndexConfig& index,
                                      const std::string& version, JobControl& control,
                                      std::chrono::milliseconds lock_wait) {
  // An identifier, never a path: no '/', "..", NUL (checked before any I/O);
  // an unknown version is refused before any stage runs.
  FRB_RETURN_IF_ERROR(CheckRestorable(env, config, index, version));
  VersionStore store(env, config.data_dir, index.name);
  FRB_RETURN_IF_ERROR(store.Init());
  FRB_ASSIGN_OR_RETURN(auto lock, store.LockWithin(lock_wait, control));
  std::string job_id = NewJobId();
  FRB_ASSIGN_OR_RETURN(StagingDir staging_dir, store.FreshStaging(job_id));
  const std::string& staging = staging_dir.path();

  RestoreOutcome out;
  out.restored_from = version;
  std::string staged = JoinPath(staging, "index.faiss");
  BackupStore backups(env, config, index);
  control.EnterStage(Stage::kLoadingSource);
  // Where copies of `version` are: on disk first (no decompression), then
  // in backups. A copy that fails its checksum gives way to the other.
  std::vector<std::string> locations;
  auto vdir = env->Stat(store.VersionDir(version));
  if (vdir.ok()) {
    // lstat: a symlink planted in versions/ must not lead out of the store.
    auto vfile = env->Stat(store.VersionIndexPath(version));
    if (!vdir->is_dir || vdir->is_symlink || !vfile.ok() || !vfile->is_regular)
      return InvalidArgument(store.VersionDir(version) +
                             " is not a version directory with a regular index file (symlink?)");
    locations.push_back("disk");
  } else if (vdir.status().code() != Code::kNotFound) {
    return vdir.status();
  }
  auto info = backups.Get(version);
  if (info.ok()) {
    locations.push_back("backup");
  } else if (info.status().code() != Code::kNotFound) {
    if (locations.empty() || info.status().code() != Code::kCorruption) return info.status();
  }
  if (locations.empty())
    return NotFound("version '" + version + "' of index '" + index.name + "' is neither in " +
                    JoinPath(store.IndexDir(), "versions") + " nor in " + backups.Dir());

  Manifest src;
  bool disk_corrupt = false;
  Status last;
  for (const std::string& where : locations) {
    (void)env->RemoveFile(staged);
    control.EnterStage(Stage::kLoadingSource);
    auto staged_ok = StageCopy(env, store, backups, version, where, staged, control, &out);
    Status s = staged_ok.ok() ? Status::Ok() : staged_ok.status();
    if (s.ok()) {
      src = std::move(*staged_ok);
      if (src.dim != index.dimension || src.metric != MetricName(index.metric))
        return FailedPrecondition("version '" + version + "' has dimension " +
                                  std::to_string(src.dim) + " and metric " + src.metric +
                                  " but index '" + index.name + "' is configured with " +
                                  std::to_string(index.dimension) + " and " +
                                  std::string(MetricName(index.metric)));
      s = ValidateCopy(env, index, staged, src, control, &out);
    }
    if (s.ok()) {
      out.location = where;
      last = Status::Ok();
      break;
    }
    // Only damage makes the other copy worth trying: a copy that matches
    // its manifest but that FAISS or the gates reject is the version itself.
    if (s.code() != Code::kCorruption) return s;
    if (where == "disk") {
      FRB_ASSIGN_OR_RETURN(VersionCheck vc, VerifyVersion(env, store, version, nullptr, &control));
      if (vc.ok) return s;
      disk_corrupt = true;
    }
    if (out.fallback.empty()) out.fallback = where + ": " + s.message();
    last = s;
  }
  if (!last.ok()) return last.WithContext("no intact copy of " + index.name + "/" + version);
  if (!out.validation.passed)
    return ValidationFailed("restore of '" + version + "': " + out.validation.failures.front());

  FRB_ASSIGN_OR_RETURN(auto live, store.LiveVersion());
  control.EnterStage(Stage::kBackingUp);
  std::string corrupt_outgoing;
  if (live) {
    // No retention yet: it could remove the very backup being restored,
    // and a crash before the publish would then lose that version.
    Status b = BackupOutgoingVersion(env, config, index, store, *live, control, /*prune=*/false);
    if (b.ok()) {
      out.backed_up = *live;
    } else {
      FRB_ASSIGN_OR_RETURN(corrupt_outgoing, CheckOutgoingVersion(env, store, *live, b, control));
      if (corrupt_outgoing.empty()) return b;
      out.warnings.push_back(corrupt_outgoing);
    }
  }

  control.EnterStage(Stage::kPublishing);
  FRB_RETURN_IF_ERROR(control.Check());
  Manifest m = src;
  FRB_ASSIGN_OR_RETURN(m.version_id, store.NextVersionId(NowUnixMillis()));
  m.parent_version = live ? *live : "";
  m.created_unix_ms = NowUnixMillis();
  m.job_id = job_id;
  m.restored_from = version;
  m.validation = out.validation;
  Publisher publisher(env);
  std::vector<std::string> pruned;
  // With corrupt copies about, prune only once they are in quarantine: a
  // pinned corrupt rollback target would push out an intact version.
  bool set_aside = !corrupt_outgoing.empty() || disk_corrupt;
  FRB_RETURN_IF_ERROR(publisher.Publish(store, staging, m,
                                        set_aside ? std::numeric_limits<int>::max()
                                                  : index.keep_versions,
                                        &pruned));
  out.new_version = m.version_id;
  // Corrupt copies go to quarantine now that they are no longer live.
  if (!corrupt_outgoing.empty()) {
    Status q = QuarantineOutgoing(env, store, *live, corrupt_outgoing, &out.quarantined);
    if (!q.ok()) out.warnings.push_back("quarantine of " + *live + " failed: " + q.message());
  }
  if (disk_corrupt && !(live && *live == version)) {
    Status q = QuarantineOutgoing(env, store, version, "corrupt: " + out.fallback, &out.quarantined);
    if (!q.ok()) out.warnings.push_back("quarantine of " + version + " failed: " + q.message());
  }
  if (set_aside) {
    auto p = store.PruneVersions(index.keep_versions);
    if (!p.ok()) out.warnings.push_back("pruning old versions failed: " + p.status().message());
  }
  // The restored bytes are now a version on disk: retention may run.
  if (live && backups.Policy().keep_last + backups.Policy().keep_daily +
                      backups.Policy().keep_weekly > 0) {
    auto pruned_backups = backups.Prune(store, false);
    if (!pruned_backups.ok()) out.retention_error = pruned_backups.status().ToString();
  }
  control.EnterStage(Stage::kDone);
  return out;
}

Result<IndexDiskUsage> MeasureDiskUsage(Env* env, const Config& config, const std::string& index) {
  VersionStore store(env, config.data_dir, index);
  IndexDiskUsage u;
  u.index = index;
  FRB_ASSIGN_OR_RETURN(auto live, store.LiveVersion());
  if (live) {
    FRB_ASSIGN_OR_RETURN(u.live, TreeBytes(env, store.VersionIndexPath(*live)));
  }
  FRB_ASSIGN_OR_RETURN(u.staging, TreeBytes(env, store.StagingRoot()));
  FRB_ASSIGN_OR_RETURN(auto versions, store.ListVersions());
  u.version_count = versions.size();
  FRB_ASSIGN_OR_RETURN(u.versions, TreeBytes(env, JoinPath(store.IndexDir(), "versions")));
  if (IsS3Url(BackupRoot(config))) {
    // Offsite: what the listed backups take in the bucket.
    const IndexConfig* ic = config.FindIndex(index);
    if (ic == nullptr) return u;
    FRB_ASSIGN_OR_RETURN(auto list, BackupStore(env, config, *ic).List());
    for (const auto& b : list) u.backups += b.manifest.compressed_size;
    u.backup_count = list.size();
    return u;
  }
  std::string bdir = JoinPath(BackupRoot(config), index);
  FRB_ASSIGN_OR_RETURN(u.backups, TreeBytes(env, bdir));
  auto entries = env->ListDir(bdir);
  if (entries.ok())
    for (const auto& e : *entries)
      if (e.size() > 12 && e.ends_with(".backup.json")) ++u.backup_count;
  return u;
}

}  // namespace frb
