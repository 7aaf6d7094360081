// The two places a BackupStore keeps its backups: a directory
// (backup.cc) or an object-storage prefix (backup_s3.cc). BackupStore
// forwards to one of them; retention, manifests and the checks of a
// compressed copy are shared.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "frb/backup.h"
#include "frb/s3.h"

namespace frb {

inline constexpr char kBackupDataSuffix[] = ".faiss.zst";
inline constexpr char kBackupManifestSuffix[] = ".backup.json";
inline constexpr char kBackupStateSuffix[] = ".state.json";
inline constexpr uint64_t kBackupShuffleBlock = 1 << 20;

// One backend of BackupStore; same contracts as BackupStore's methods.
// Thread-compatible, like BackupStore.
class BackupStore::Impl {
 public:
  virtual ~Impl() = default;
  virtual std::string Dir() const = 0;
  virtual std::string DataPath(const std::string& version) const = 0;
  virtual std::string ManifestPath(const std::string& version) const = 0;
  virtual Result<BackupInfo> Create(const VersionStore& store, const std::string& version,
                                    JobControl* control, bool* created) = 0;
  virtual Result<std::vector<BackupInfo>> List(std::vector<VerifyProblem>* broken) = 0;
  virtual Result<BackupInfo> Get(const std::string& version) = 0;
  virtual Result<VerifyResult> Verify(const std::string& version, JobControl* control) = 0;
  virtual Result<Manifest> RestoreFile(const std::string& version, const std::string& dst,
                                       JobControl* control) = 0;
  virtual Result<std::vector<RetentionDecision>> Prune(const VersionStore& store, bool dry_run,
                                                       const RetentionPolicy& policy,
                                                       const TimeZone& zone) = 0;
};

// Backups in <backup_dir>/<index>/ on a filesystem.
class LocalBackupStore : public BackupStore::Impl {
 public:
  LocalBackupStore(Env* env, const Config& config, const IndexConfig& index);
  std::string Dir() const override { return dir_; }
  std::string DataPath(const std::string& version) const override;
  std::string ManifestPath(const std::string& version) const override;
  Result<BackupInfo> Create(const VersionStore& store, const std::string& version,
                            JobControl* control, bool* created) override;
  Result<std::vector<BackupInfo>> List(std::vector<VerifyProblem>* broken) override;
  Result<BackupInfo> Get(const std::string& version) override;
  Result<VerifyResult> Verify(const std::string& version, JobControl* control) override;
  Result<Manifest> RestoreFile(const std::string& version, const std::string& dst,
                               JobControl* control) override;
  Result<std::vector<RetentionDecision>> Prune(const VersionStore& store, bool dry_run,
                                               const RetentionPolicy& policy,
                                               const TimeZone& zone) override;

 private:
  Status WriteState(const std::string& version, const VerifyResult& r);
  // Removes what a crash or a full disk left: temp files and data files
  // whose manifest was never written. Lock held.
  Status SweepOrphans();
  Env* env_;
  const Config& config_;
  const IndexConfig& index_;
  std::string dir_;
};

// Backups under s3://BUCKET/PREFIX/<index>/ (backup_s3.cc); the S3 client
// is made on first use, so construction never fails.
std::unique_ptr<BackupStore::Impl> NewS3BackupStore(Env* env, const Config& config,
                                                    const IndexConfig& index,
                                                    const S3Location& root);

// The client settings of an s3:// backup_dir: endpoint, region, path
// style, part size and parallelism of `repository:`; without an endpoint
// there, AWS_ENDPOINT_URL.
S3Options BackupS3Options(const Config& config);

// The backup manifest of `version` compressed with `stats`.
BackupManifest MakeBackupManifest(const IndexConfig& index, const std::string& version,
                                  const Manifest& vm, const CodecStats& stats,
                                  uint64_t shuffle_block);

// Decompresses the local copy `path` of a backup (named `display` in
// problems) and checks size, both SHA-256s and the zstd frames against `m`;
// appends what fails to r->problems. Errors other than damage are returned.
Status CheckCompressedCopy(Env* env, const std::string& path, const std::string& display,
                           const BackupManifest& m, JobControl* control, VerifyResult* r);

// The owner check of a backup directory or prefix whose OWNER record
// (at `owner_path`) reads `text` (see CheckBackupOwner).
Status CheckOwnerRecord(Env* env, std::string_view text, const std::string& owner_path,
                        const std::string& backup_index_dir, const std::string& data_dir,
                        bool claim);

// Pins from `store` applied to `backups` with `policy` in `zone`.
Result<std::vector<RetentionDecision>> DecideBackupRetention(
    const VersionStore& store, const std::vector<BackupInfo>& backups,
    const RetentionPolicy& policy, const TimeZone& zone);

// Parses the state document of a backup (last verify) into `info`; a
// missing or damaged one means "never verified".
void ApplyBackupState(std::string_view text, BackupInfo* info);
// The state document recording `r` after `prev` (the previous state).
std::string BackupStateText(const BackupInfo& prev, const VerifyResult& r);

}  // namespace frb
