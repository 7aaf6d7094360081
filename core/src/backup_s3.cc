// Backups in object storage (backup_dir: s3://BUCKET/PREFIX): the same
// files as a backup directory, as objects under PREFIX/<index>/. A backup
// is compressed into a local spool, its data object uploaded (multipart,
// retried, checked against the SHA-256 of the compressed bytes) and its
// manifest PUT last: a backup without its manifest is not listed and is
// swept by the next Create or Prune. Verify and restore download the data
// object and check every byte, as they do for a file.
#include <unistd.h>

#include <atomic>
#include <set>

#include "backup_internal.h"
#include "frb/sha256.h"

namespace frb {
namespace {

constexpr char kSpoolCreateSuffix[] = ".faiss.zst.tmp";
constexpr char kSpoolVerifyInfix[] = ".verify-";
// A verify download untouched this long belongs to no running verify.
constexpr int64_t kStaleVerifyMs = 6 * 3600 * 1000;

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Removes a local file when it goes out of scope.
struct RemoveOnExit {
  Env* env;
  std::string path;
  ~RemoveOnExit() { (void)env->RemoveFile(path); }
};

class S3BackupStore : public BackupStore::Impl {
 public:
  S3BackupStore(Env* env, const Config& config, const IndexConfig& index, S3Location root)
      : env_(env), config_(config), index_(index), root_(std::move(root)) {}

  std::string Dir() const override { return root_.ToUrl() + "/" + index_.name; }
  std::string DataPath(const std::string& v) const override {
    return Dir() + "/" + v + kBackupDataSuffix;
  }
  std::string ManifestPath(const std::string& v) const override {
    return Dir() + "/" + v + kBackupManifestSuffix;
  }

  Result<BackupInfo> Create(const VersionStore& store, const std::string& version,
                            JobControl* control, bool* created) override;
  Result<std::vector<BackupInfo>> List(std::vector<VerifyProblem>* broken) override;
  Result<BackupInfo> Get(const std::string& version) override {
    FRB_RETURN_IF_ERROR(VersionStore::CheckVersionId(version));
    FRB_RETURN_IF_ERROR(Connect());
    return Fetch(version, /*state=*/true);
  }
  Result<VerifyResult> Verify(const std::string& version, JobControl* control) override;
  Result<Manifest> RestoreFile(const std::string& version, const std::string& dst,
                               JobControl* control) override;
  Result<std::vector<RetentionDecision>> Prune(const VersionStore& store, bool dry_run,
                                               const RetentionPolicy& policy,
                                               const TimeZone& zone) override;

 private:
  std::string Key(const std::string& name) const { return root_.Key(index_.name + "/" + name); }
  std::string SpoolDir() const {
    return JoinPath(JoinPath(config_.data_dir, "backup-spool"), index_.name);
  }
  Status Connect();
  Status CheckOwner(bool claim);
  // Names of the objects under PREFIX/<index>/.
  Result<std::set<std::string>> ListNames();
  // The manifest of `version` (kNotFound when none) and, with `state`,
  // its last verify.
  Result<BackupInfo> Fetch(const std::string& version, bool state);
  // Downloads `key` into the new local file `path`; its size and SHA-256.
  Status Download(const std::string& key, const std::string& path, JobControl* control,
                  uint64_t* bytes, std::string* sha256);
  // Deletes data and state objects without a manifest and the spool's
  // leftovers. Lock held.
  Status SweepOrphans(const std::set<std::string>& names);
  Status WriteState(const std::string& version, const VerifyResult& r);

  Env* env_;
  const Config& config_;
  const IndexConfig& index_;
  S3Location root_;
  std::unique_ptr<S3Client> client_;
};

Status S3BackupStore::Connect() {
  if (client_) return Status::Ok();
  if (root_.bucket.empty())
    return InvalidArgument("backup_dir " + config_.backup_dir + ": expected s3://BUCKET[/PREFIX]");
  auto c = S3Client::Create(BackupS3Options(config_), env_);
  if (!c.ok()) return c.status().WithContext("backup_dir " + root_.ToUrl());
  client_ = std::move(c).value();
  return Status::Ok();
}

Status S3BackupStore::CheckOwner(bool claim) {
  std::string key = Key("OWNER");
  std::string where = root_.ToUrl() + "/" + index_.name + "/OWNER";
  auto got = client_->Get(root_.bucket, key);
  if (!got.ok() && got.status().code() != Code::kNotFound) return got.status();
  std::string text;
  if (!got.ok()) {
    if (!claim) return Status::Ok();
    FRB_ASSIGN_OR_RETURN(std::string id, DataDirId(env_, config_.data_dir, true));
    Json j = Json::MakeObject();
    j["data_dir_id"] = id;
    j["data_dir"] = config_.data_dir;
    // Exactly one of two racing data dirs creates it; the other reads it.
    S3PutConditions cond;
    cond.if_none_match_any = true;
    auto put = client_->Put(root_.bucket, key, j.Dump(2) + "\n", cond);
    if (!put.ok() && put.status().code() != Code::kFailedPrecondition) return put.status();
    FRB_ASSIGN_OR_RETURN(S3GetResult again, client_->Get(root_.bucket, key));
    text = std::move(again.body);
  } else {
    text = std::move(got->body);
  }
  return CheckOwnerRecord(env_, text, where, Dir(), config_.data_dir, claim);
}

Result<std::set<std::string>> S3BackupStore::ListNames() {
  std::string prefix = Key("");
  FRB_ASSIGN_OR_RETURN(auto objects, client_->List(root_.bucket, prefix));
  std::set<std::string> names;
  for (const auto& o : objects) names.insert(o.key.substr(prefix.size()));
  return names;
}

Result<BackupInfo> S3BackupStore::Fetch(const std::string& version, bool state) {
  FRB_ASSIGN_OR_RETURN(S3GetResult got,
                       client_->Get(root_.bucket, Key(version + kBackupManifestSuffix)));
  BackupInfo info;
  FRB_ASSIGN_OR_RETURN(info.manifest, BackupManifest::Parse(got.body, ManifestPath(version)));
  if (info.manifest.version_id != version)
    return Corruption(ManifestPath(version) + ": describes version '" +
                      info.manifest.version_id + "'");
  if (state) {
    // Advisory, like the state file: missing or unreadable = never verified.
    auto st = client_->Get(root_.bucket, Key(version + kBackupStateSuffix));
    if (st.ok()) ApplyBackupState(st->body, &info);
  }
  return info;
}

Status S3BackupStore::Download(const std::string& key, const std::string& path,
                               JobControl* control, uint64_t* bytes, std::string* sha256) {
  FRB_ASSIGN_OR_RETURN(auto out, env_->NewWritableFile(path));
  Sha256 sha;
  uint64_t n = 0;
  auto got = client_->GetRange(root_.bucket, key, 0, 0, [&](const char* data, size_t len) {
    sha.Update(reinterpret_cast<const uint8_t*>(data), len);
    n += len;
    FRB_RETURN_IF_ERROR(out->Append(data, len));
    return control != nullptr ? control->Check() : Status::Ok();
  });
  if (!got.ok()) return got.status();
  FRB_RETURN_IF_ERROR(out->Close());
  *bytes = n;
  *sha256 = sha.FinishHex();
  return Status::Ok();
}

Result<std::vector<BackupInfo>> S3BackupStore::List(std::vector<VerifyProblem>* broken) {
  FRB_RETURN_IF_ERROR(Connect());
  FRB_RETURN_IF_ERROR(CheckOwner(false));
  FRB_ASSIGN_OR_RETURN(auto names, ListNames());
  std::vector<BackupInfo> out;
  for (const auto& name : names) {
    if (!EndsWith(name, kBackupManifestSuffix)) continue;
    std::string version =
        name.substr(0, name.size() - std::string_view(kBackupManifestSuffix).size());
    if (!VersionStore::CheckVersionId(version).ok()) continue;  // not ours
    auto info = Fetch(version, names.count(version + kBackupStateSuffix) > 0);
    if (info.ok()) {
      out.push_back(std::move(info).value());
    } else if (info.status().code() == Code::kCorruption) {
      if (broken != nullptr)
        broken->push_back({ManifestPath(version), "manifest", info.status().message()});
    } else if (info.status().code() != Code::kNotFound) {  // kNotFound: pruned meanwhile
      return info.status();
    }
  }
  return out;  // key order = version order = age order
}

Status S3BackupStore::SweepOrphans(const std::set<std::string>& names) {
  for (const auto& name : names)
    for (std::string_view suffix : {std::string_view(kBackupDataSuffix),
                                    std::string_view(kBackupStateSuffix)})
      if (EndsWith(name, suffix)) {
        std::string v = name.substr(0, name.size() - suffix.size());
        if (!names.count(v + kBackupManifestSuffix))
          FRB_RETURN_IF_ERROR(client_->Delete(root_.bucket, Key(name)));
      }
  auto entries = env_->ListDir(SpoolDir());
  if (!entries.ok()) return Status::Ok();  // no spool yet
  for (const auto& e : *entries) {
    std::string path = JoinPath(SpoolDir(), e);
    bool stale = EndsWith(e, kSpoolCreateSuffix);
    if (e.find(kSpoolVerifyInfix) != std::string::npos) {
      auto fi = env_->Stat(path);
      stale = fi.ok() && NowUnixMillis() - fi->mtime_ns / 1000000 > kStaleVerifyMs;
    }
    if (stale) FRB_RETURN_IF_ERROR(env_->RemoveFile(path));
  }
  return Status::Ok();
}

Result<BackupInfo> S3BackupStore::Create(const VersionStore& store, const std::string& version,
                                         JobControl* control, bool* created) {
  *created = false;
  FRB_RETURN_IF_ERROR(Connect());
  FRB_RETURN_IF_ERROR(CheckOwner(false));
  FRB_ASSIGN_OR_RETURN(Manifest vm, store.ReadManifest(version));
  std::string src = store.VersionIndexPath(version);
  FRB_ASSIGN_OR_RETURN(FileInfo fi, env_->Stat(src));
  if (!fi.is_regular) return InvalidArgument(src + " is not a regular file");
  FRB_ASSIGN_OR_RETURN(auto names, ListNames());
  std::string data_name = version + kBackupDataSuffix;
  std::string manifest_name = version + kBackupManifestSuffix;
  if (names.count(manifest_name)) {
    auto existing = Fetch(version, true);
    // Identical and not known to be damaged: nothing to do. A backup whose
    // last verify failed is made again.
    if (existing.ok() && existing->manifest.sha256 == vm.file_sha256 &&
        !existing->failed_verify_unix_ms && names.count(data_name)) {
      FRB_RETURN_IF_ERROR(SweepOrphans(names));
      return existing;
    }
  }
  FRB_RETURN_IF_ERROR(SweepOrphans(names));
  std::string spool = SpoolDir();
  FRB_RETURN_IF_ERROR(CreateDirsDurable(env_, spool));
  FRB_RETURN_IF_ERROR(CheckFreeSpace(env_, spool, fi.size + fi.size / 64 + (1 << 20),
                                     "spooling the backup of " + index_.name + "/" + version));
  FRB_RETURN_IF_ERROR(CheckOwner(true));
  std::string tmp = JoinPath(spool, version + kSpoolCreateSuffix);
  RemoveOnExit cleanup{env_, tmp};
  const BackupConfig& bc = index_.backups;
  uint64_t shuffle = bc.byte_shuffle ? kBackupShuffleBlock : 0;
  std::string what = "backup of " + index_.name + "/" + version + " to " + Dir();
  auto stats = CompressFile(env_, src, tmp, bc.zstd_level, bc.zstd_workers, shuffle, control);
  if (!stats.ok()) return stats.status().WithContext(what);
  if (stats->raw_bytes != vm.file_size || stats->raw_sha256 != vm.file_sha256)
    return Corruption(src + ": content does not match its manifest's size/SHA-256; not backed up");
  // Replacing a damaged backup of the same id: its manifest goes first, so
  // no moment lists the old manifest over new data.
  if (names.count(manifest_name))
    FRB_RETURN_IF_ERROR(client_->Delete(root_.bucket, Key(manifest_name)));
  (void)client_->Delete(root_.bucket, Key(version + kBackupStateSuffix));
  auto put = client_->PutFile(root_.bucket, Key(data_name), tmp, stats->zst_sha256);
  if (!put.ok()) {
    // Not listed without its manifest; the next sweep removes what stays.
    (void)client_->Delete(root_.bucket, Key(data_name));
    return put.status().WithContext(what);
  }
  BackupInfo info;
  info.manifest = MakeBackupManifest(index_, version, vm, *stats, shuffle);
  auto mput = client_->Put(root_.bucket, Key(manifest_name), info.manifest.Serialize());
  if (!mput.ok()) {
    // The PUT may have landed before the connection broke: manifest first.
    (void)client_->Delete(root_.bucket, Key(manifest_name));
    (void)client_->Delete(root_.bucket, Key(data_name));
    return mput.status().WithContext(what);
  }
  *created = true;
  if (!bc.verify_after_create) return info;
  FRB_ASSIGN_OR_RETURN(VerifyResult vr, Verify(version, control));
  if (!vr.ok) {
    const VerifyProblem& p = vr.problems.front();
    return Corruption(what + " fails verification right after it was written: " + p.file + ": " +
                      p.check + ": " + p.detail);
  }
  return Fetch(version, true);
}

Status S3BackupStore::WriteState(const std::string& version, const VerifyResult& r) {
  auto prev = Fetch(version, true);
  if (!prev.ok()) return Status::Ok();  // pruned meanwhile, or manifest broken
  auto put = client_->Put(root_.bucket, Key(version + kBackupStateSuffix),
                          BackupStateText(*prev, r));
  return put.ok() ? Status::Ok() : put.status();
}

Result<VerifyResult> S3BackupStore::Verify(const std::string& version, JobControl* control) {
  FRB_RETURN_IF_ERROR(VersionStore::CheckVersionId(version));
  FRB_RETURN_IF_ERROR(Connect());
  FRB_RETURN_IF_ERROR(CheckOwner(false));
  VerifyResult r;
  r.version_id = version;
  auto info = Fetch(version, false);
  if (!info.ok()) {
    Code code = info.status().code();
    if (code == Code::kNotFound) {
      auto head = client_->Head(root_.bucket, Key(version + kBackupDataSuffix));
      if (!head.ok() && head.status().code() == Code::kNotFound)
        return NotFound("no backup of version '" + version + "' in " + Dir());
    } else if (code != Code::kCorruption) {
      return info.status();  // the store did not answer: no verdict
    }
    r.problems.push_back({ManifestPath(version), "manifest", info.status().message()});
    return r;
  }
  const BackupManifest& m = info->manifest;
  std::string spool = SpoolDir();
  FRB_RETURN_IF_ERROR(CreateDirsDurable(env_, spool));
  FRB_RETURN_IF_ERROR(CheckFreeSpace(env_, spool, m.compressed_size + (1 << 20),
                                     "verifying " + DataPath(version)));
  static std::atomic<uint64_t> seq{0};
  std::string tmp = JoinPath(spool, version + kSpoolVerifyInfix + std::to_string(getpid()) + "-" +
                                        std::to_string(seq.fetch_add(1)));
  RemoveOnExit cleanup{env_, tmp};
  uint64_t bytes = 0;
  std::string sha;
  Status d = Download(Key(version + kBackupDataSuffix), tmp, control, &bytes, &sha);
  if (d.code() == Code::kNotFound) {
    r.problems.push_back({DataPath(version), "missing", d.message()});
  } else if (!d.ok()) {
    return d;
  } else {
    FRB_RETURN_IF_ERROR(CheckCompressedCopy(env_, tmp, DataPath(version), m, control, &r));
  }
  r.ok = r.problems.empty();
  // Advisory: read-only credentials still get the verification answer.
  Status ws = WriteState(version, r);
  if (!ws.ok() && ws.code() != Code::kPermissionDenied) return ws;
  return r;
}

Result<Manifest> S3BackupStore::RestoreFile(const std::string& version, const std::string& dst,
                                            JobControl* control) {
  FRB_RETURN_IF_ERROR(Connect());
  FRB_RETURN_IF_ERROR(CheckOwner(false));
  FRB_ASSIGN_OR_RETURN(BackupInfo info, Fetch(version, false));
  const BackupManifest& m = info.manifest;
  std::string zst = dst + ".zst";
  FRB_RETURN_IF_ERROR(CheckFreeSpace(env_, DirName(dst), m.compressed_size + m.size + (1 << 20),
                                     "restore of " + DataPath(version)));
  RemoveOnExit cleanup{env_, zst};
  uint64_t bytes = 0;
  std::string sha;
  Status d = Download(Key(version + kBackupDataSuffix), zst, control, &bytes, &sha);
  if (d.code() == Code::kNotFound)
    return Corruption(DataPath(version) + ": missing, though " + ManifestPath(version) + " lists it");
  FRB_RETURN_IF_ERROR(d);
  // The bytes came over a network: check them all before decompressing.
  if (bytes != m.compressed_size)
    return Corruption(DataPath(version) + ": " + std::to_string(bytes) + " bytes, " +
                      ManifestPath(version) + " says " + std::to_string(m.compressed_size));
  if (sha != m.compressed_sha256)
    return Corruption(DataPath(version) + ": SHA-256 does not match " + ManifestPath(version));
  DecompressOptions opts{.shuffle_block = m.shuffle_block, .sync = true, .hash_raw = false,
                         .hash_compressed = false};
  FRB_ASSIGN_OR_RETURN(CodecStats st, DecompressFile(env_, zst, dst, opts, control));
  if (st.raw_bytes != m.size)
    return Corruption(DataPath(version) + ": decompressed to " + std::to_string(st.raw_bytes) +
                      " bytes, " + ManifestPath(version) + " says " + std::to_string(m.size));
  FRB_ASSIGN_OR_RETURN(Manifest vm,
                       Manifest::Parse(m.version_manifest.Dump(), ManifestPath(version)));
  if (vm.file_sha256 != m.sha256 || vm.file_size != m.size)
    return Corruption(ManifestPath(version) +
                      ": embedded version manifest disagrees with the backup");
  return vm;
}

Result<std::vector<RetentionDecision>> S3BackupStore::Prune(const VersionStore& store,
                                                            bool dry_run,
                                                            const RetentionPolicy& policy,
                                                            const TimeZone& zone) {
  FRB_RETURN_IF_ERROR(Connect());
  FRB_RETURN_IF_ERROR(CheckOwner(false));
  if (!dry_run) {
    FRB_ASSIGN_OR_RETURN(auto names, ListNames());
    FRB_RETURN_IF_ERROR(SweepOrphans(names));
  }
  FRB_ASSIGN_OR_RETURN(auto backups, List(nullptr));
  FRB_ASSIGN_OR_RETURN(auto decisions, DecideBackupRetention(store, backups, policy, zone));
  if (dry_run) return decisions;
  for (const auto& d : decisions) {
    if (d.keep) continue;
    // Manifest first: from then on the backup is no longer listed.
    FRB_RETURN_IF_ERROR(client_->Delete(root_.bucket, Key(d.id + kBackupManifestSuffix)));
    (void)client_->Delete(root_.bucket, Key(d.id + kBackupStateSuffix));
    FRB_RETURN_IF_ERROR(client_->Delete(root_.bucket, Key(d.id + kBackupDataSuffix)));
  }
  return decisions;
}

}  // namespace

std::unique_ptr<BackupStore::Impl> NewS3BackupStore(Env* env, const Config& config,
                                                    const IndexConfig& index,
                                                    const S3Location& root) {
  return std::make_unique<S3BackupStore>(env, config, index, root);
}

}  // namespace frb
