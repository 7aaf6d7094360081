// The versioned store of one index on disk:
//
//   <data_dir>/indexes/<name>/
//     .lock                    flock held by the one job working on the index
//     SEQ                      last issued version sequence number
//     versions/<id>/           immutable: index.faiss + manifest.json (0444)
//     staging/<job>/           work area of a running job
//     live      -> versions/<id>        swapped atomically (rename)
//     rollback  -> versions/<id>        the previous live version
//     live.faiss -> live/index.faiss    stable path a plain FAISS program opens
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "frb/env.h"
#include "frb/job_control.h"
#include "frb/manifest.h"
#include "frb/status.h"

namespace frb {

// A job's staging directory, removed with its contents on destruction (a
// failed or cancelled job leaves nothing behind). Move-only.
class StagingDir {
 public:
  StagingDir(Env* env, std::string path) : env_(env), path_(std::move(path)) {}
  StagingDir(StagingDir&& other) noexcept
      : env_(other.env_), path_(std::exchange(other.path_, std::string())) {}
  StagingDir& operator=(StagingDir&&) = delete;
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;
  ~StagingDir() {
    if (!path_.empty()) (void)env_->RemoveAll(path_);
  }
  const std::string& path() const { return path_; }

 private:
  Env* env_;
  std::string path_;
};

// Thread-compatible; cross-thread and cross-process exclusion of jobs comes
// from Lock(). Read-only methods are safe without the lock.
class VersionStore {
 public:
  VersionStore(Env* env, std::string data_dir, std::string index_name);

  // Creates the directories. Idempotent.
  Status Init();
  // Takes the per-index job lock. With wait=false, kBusy names the holder's
  // lock file when another job (in any process) holds it.
  Result<std::unique_ptr<FileLock>> Lock(bool wait);
  // Takes the lock, waiting up to `wait` while another job or process
  // holds it: the job shows as waiting_for_lock, polls the lock and
  // `control` (cancel and the job's deadline end the wait). kBusy when the
  // wait runs out.
  Result<std::unique_ptr<FileLock>> LockWithin(std::chrono::milliseconds wait,
                                               JobControl& control);

  // Removes every staging directory and stray temporary link. Call with the
  // lock held: no job can be using them then.
  Status CleanStaging();
  // Creates a fresh staging directory for `job_id` and returns its path.
  Result<std::string> CreateStaging(const std::string& job_id);
  // With the lock held: CleanStaging, then a fresh staging directory for
  // `job_id`, removed with whatever is left in it when the result goes.
  Result<StagingDir> FreshStaging(const std::string& job_id);

  // Issues the next version id, e.g. "v000007-20261121T130501Z", persisting
  // the sequence so ids are never reused. Call with the lock held. A SEQ
  // file that is not a plain number is kCorruption naming it, unless the
  // versions on disk give the next number: then it is rewritten and
  // `warning` (if given) says so.
  Result<std::string> NextVersionId(int64_t now_unix_ms, std::string* warning = nullptr);

  // The live / rollback version id, or nullopt when none.
  Result<std::optional<std::string>> LiveVersion() const;
  Result<std::optional<std::string>> RollbackVersion() const;
  // Version ids on disk, oldest first.
  Result<std::vector<std::string>> ListVersions() const;
  Result<Manifest> ReadManifest(const std::string& version_id) const;

  // Moves a complete staging directory into versions/<id> (one rename) and
  // fsyncs. The version is not live yet.
  Status CommitVersion(const std::string& staging_dir,
                       const std::string& version_id);
  // Atomically points `live` at `version_id` and the previous live version
  // becomes the rollback target.
  Status SwapLive(const std::string& version_id);
  // Removes versions beyond the newest `keep` (never live or rollback).
  // Returns the ids removed.
  Result<std::vector<std::string>> PruneVersions(int keep);

  // Checks that `id` is a plain version identifier (no '/', "..", NUL).
  static Status CheckVersionId(const std::string& id);

  const std::string& name() const { return name_; }
  std::string IndexDir() const { return index_dir_; }
  std::string VersionDir(const std::string& id) const;
  std::string VersionIndexPath(const std::string& id) const;
  std::string StagingRoot() const;
  std::string LivePath() const;  // <index>/live.faiss

 private:
  Result<std::optional<std::string>> ReadPointer(const std::string& link) const;
  Env* env_;
  std::string name_;
  std::string index_dir_;
};

}  // namespace frb
