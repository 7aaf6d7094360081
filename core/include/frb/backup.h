// The backup store of one index: zstd-compressed copies of versions, each
// with a checksummed manifest, plus retention, verify and restore.
//
//   <backup_dir>/<index>/
//     <version>.faiss.zst     zstd frame(s), content checksum on
//     <version>.backup.json   BackupManifest (written last: a backup exists
//                             only once its manifest does)
//     <version>.state.json    mutable: last verify time and result
//     OWNER                   the data dir these backups belong to
//
// With backup_dir: s3://BUCKET/PREFIX the same names are objects under
// PREFIX/<index>/, compressed in a local spool (<data_dir>/backup-spool)
// first and uploaded data first, manifest last.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/job_control.h"
#include "frb/json.h"
#include "frb/manifest.h"
#include "frb/retention.h"
#include "frb/status.h"
#include "frb/store.h"

namespace frb {

struct BackupManifest {
  static constexpr int kFormatVersion = 1;

  std::string index_name;
  std::string version_id;
  int64_t created_unix_ms = 0;          // when the backup was made
  int64_t version_created_unix_ms = 0;  // when the version was built
  std::string file;                     // "<version>.faiss.zst"
  uint64_t size = 0;                    // uncompressed (the index file)
  std::string sha256;                   // uncompressed
  uint64_t compressed_size = 0;
  std::string compressed_sha256;
  int zstd_level = 3;
  int zstd_workers = 0;
  // Byte shuffle of float32 lanes applied before compression, undone on
  // restore; `shuffle_block` is the block it was applied over (0 = off).
  uint64_t shuffle_block = 0;
  double compress_seconds = 0;
  double read_mb_per_s = 0;             // uncompressed MB/s of the compression
  Json version_manifest;                // the version's manifest.json document

  Json ToJson() const;  // includes "backup_manifest_sha256"
  std::string Serialize() const;
  // kCorruption naming `origin` when the checksum or a field is wrong.
  static Result<BackupManifest> Parse(std::string_view text, std::string_view origin);
  double ratio() const {
    return compressed_size ? static_cast<double>(size) / static_cast<double>(compressed_size) : 0;
  }
};

struct BackupInfo {
  BackupManifest manifest;
  std::optional<int64_t> verified_unix_ms;  // last successful verify
  std::optional<int64_t> failed_verify_unix_ms;  // last verify, when it failed
  std::string verify_error;

  // The listing shape shared by `backup list --json` and the daemon's
  // GET /api/v1/indexes/{name}/backups; live/rollback mark the pins.
  Json ToJson(const std::optional<std::string>& live,
              const std::optional<std::string>& rollback) const;
};

// One failed check of a verify: which file and which check.
struct VerifyProblem {
  std::string file;
  std::string check;  // "manifest", "zstd", "compressed_size", "compressed_sha256", "size", "sha256"
  std::string detail;
};

struct VerifyResult {
  std::string version_id;
  bool ok = false;
  std::vector<VerifyProblem> problems;
  double seconds = 0;
};

// Low-level codec, exposed for the benchmark. Thread-safe (no shared state). Streams `src` through zstd
// (ZSTD_c_nbWorkers, content checksum) into a new `dst`, hashing both sides,
// fsyncs and closes. Does not rename or fsync the directory.
struct CodecStats {
  uint64_t raw_bytes = 0;   // uncompressed
  std::string raw_sha256;
  uint64_t zst_bytes = 0;   // compressed
  std::string zst_sha256;
  double seconds = 0;
};
Result<CodecStats> CompressFile(Env* env, const std::string& src, const std::string& dst,
                                int level, int workers, uint64_t shuffle_block,
                                JobControl* control);
struct DecompressOptions {
  uint64_t shuffle_block = 0;  // from the backup manifest; 0 = none
  bool sync = false;           // fsync the output
  bool hash_raw = true;        // SHA-256 of the decompressed bytes
  bool hash_compressed = true; // SHA-256 of the compressed file
};
// Decompresses `src` into `dst` (or nowhere when `dst` is empty), undoing the
// shuffle and hashing what `opts` asks for: verify needs both hashes; a
// restore needs neither here, because zstd checks its own frame checksum as
// it goes and the restored file is SHA-256-checked by the validator before
// it is used (hashing here too would read every byte twice). Errors from
// zstd (bad frame, checksum) are kCorruption naming `src`.
Result<CodecStats> DecompressFile(Env* env, const std::string& src, const std::string& dst,
                                  const DecompressOptions& opts, JobControl* control);

// The backups of one index, in a directory or, when backup_dir is an
// s3://BUCKET/PREFIX URL, in object storage (same layout, one object per
// file; docs/architecture.md). Thread-compatible; callers hold the index's
// VersionStore lock for Create, Prune and restores. List and Verify are
// safe without it.
class BackupStore {
 public:
  BackupStore(Env* env, const Config& config, const IndexConfig& index);
  ~BackupStore();
  BackupStore(const BackupStore&) = delete;
  BackupStore& operator=(const BackupStore&) = delete;

  // The directory, or s3://BUCKET/PREFIX/<index>; the data and manifest
  // "paths" are object URLs then (for messages).
  std::string Dir() const;
  std::string DataPath(const std::string& version) const;
  std::string ManifestPath(const std::string& version) const;
  // True when the backups are in object storage.
  bool remote() const { return remote_; }

  // Backs up `version` from `store` unless a backup of it with the same
  // checksum exists (then returns that one, *created = false). Checks free
  // space first (kNoSpace). On any error nothing is left behind.
  Result<BackupInfo> Create(const VersionStore& store, const std::string& version,
                            JobControl* control, bool* created);
  // Backups, oldest first. Unreadable manifests are reported in `broken`.
  Result<std::vector<BackupInfo>> List(std::vector<VerifyProblem>* broken = nullptr) const;
  Result<BackupInfo> Get(const std::string& version) const;
  // Decompresses and checks every byte against both checksums; records the
  // outcome in the state file. Corruption is a result, not an error.
  Result<VerifyResult> Verify(const std::string& version, JobControl* control = nullptr);
  // Decompresses `version` into `dst`, checking zstd's frame checksum and
  // the size; returns the version's original manifest, whose file_sha256
  // the caller MUST check before using `dst` (RestoreVersion's validator
  // does, checksum first).
  Result<Manifest> RestoreFile(const std::string& version, const std::string& dst,
                               JobControl* control = nullptr);
  // Applies the index's retention policy (pins from `store`). With dry_run
  // nothing is removed.
  Result<std::vector<RetentionDecision>> Prune(const VersionStore& store, bool dry_run);
  RetentionPolicy Policy() const;
  // Days and weeks of retention: the index's zone, else scheduler.timezone.
  Result<TimeZone> Zone() const;

  class Impl;  // a directory or an object-storage prefix (backup_internal.h)

 private:
  const Config& config_;
  const IndexConfig& index_;
  bool remote_ = false;
  std::unique_ptr<Impl> impl_;
};

// <config.backup_dir or data_dir/backups>.
std::string BackupRoot(const Config& config);

// The random id of a data dir, in <data_dir>/ID (created once when
// `create`; else kNotFound when missing).
Result<std::string> DataDirId(Env* env, const std::string& data_dir, bool create);

// A backup directory (<backup_dir>/<index>) belongs to the data dir that
// first wrote a backup into it (its id in <dir>/OWNER). kFailedPrecondition
// naming both data dirs when `data_dir` is not the owner; with `claim`, an
// unowned directory becomes this data dir's. Without an OWNER file (older
// stores) reading is allowed.
Status CheckBackupOwner(Env* env, const std::string& backup_index_dir, const std::string& data_dir,
                        bool claim);

// Fails with kNoSpace naming `path` when its filesystem has less than
// `need` bytes free.
Status CheckFreeSpace(Env* env, const std::string& path, uint64_t need, std::string_view what);

// The kBackingUp stage of a rebuild or restore: backs up `version` (the
// outgoing live one) unless an identical backup exists, then, with `prune`,
// applies retention when one was made (an all-zero policy keeps everything
// here; only `backup prune` refuses it). Caller holds the lock.
Status BackupOutgoingVersion(Env* env, const Config& config, const IndexConfig& index,
                             const VersionStore& store, const std::string& version,
                             JobControl& control, bool prune = true);

struct BackupCreated {
  BackupInfo info;
  bool created = false;  // false: an identical backup already existed
  std::vector<RetentionDecision> decisions;  // empty when retention did not run
  std::vector<std::string> pruned;           // backups retention removed
};

// `backup create`, local or as a daemon job: backs up `version` unless an
// identical backup exists, then applies retention when one was made (an
// all-zero policy keeps everything). Caller holds the lock.
Result<BackupCreated> CreateBackupWithRetention(Env* env, const Config& config,
                                                const IndexConfig& index,
                                                const VersionStore& store,
                                                const std::string& version,
                                                JobControl& control);

// kNotFound, before any work, when `version` of `index` is neither a
// version directory on disk nor a backup (so a restore of it is refused as
// "not found" rather than failing in some stage).
Status CheckRestorable(Env* env, const Config& config, const IndexConfig& index,
                       const std::string& version);

struct RestoreOutcome {
  std::string restored_from;
  std::string location;     // "disk" or "backup"
  bool linked = false;      // disk: hard-linked into staging, not copied
  std::string retention_error;  // retention after the publish failed (restore done)
  std::string new_version;
  std::string backed_up;    // outgoing live version backed up first (if any)
  bool full_validation = false;  // recall/latency measured (else structural)
  ValidationReport validation;
  // Why the first copy tried (disk, then backup) was not used, when the
  // other one was: "<location>: <what failed>".
  std::string fallback;
  std::vector<std::string> warnings;    // e.g. a corrupt outgoing live version skipped
  std::vector<std::string> quarantined; // corrupt on-disk copies moved aside
};

// Restores `version` of `index` (from versions/ on disk, else from backups)
// as a NEW live version: stage, verify, validate, publish. A copy that fails
// its checksum is skipped for the other one (disk <-> backup); a corrupt
// on-disk copy is quarantined, and a corrupt outgoing live version is not
// backed up but quarantined (a warning, not a failure). Holds the lock.
Result<RestoreOutcome> RestoreVersion(Env* env, const Config& config, const IndexConfig& index,
                                      const std::string& version, JobControl& control,
                                      std::chrono::milliseconds lock_wait = {});

struct IndexDiskUsage {
  std::string index;
  uint64_t live = 0, staging = 0, versions = 0, backups = 0;
  uint64_t backup_count = 0, version_count = 0;
};
Result<IndexDiskUsage> MeasureDiskUsage(Env* env, const Config& config, const std::string& index);

}  // namespace frb
