// Shared by power_loss_test.cc and fault_matrix_test.cc: the operations of
// the rebuild / backup / restore / retention cycle on a tiny index, the state
// each starts from, and the invariants checked after a fault or a power cut.
#pragma once

#include <faiss/Index.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "frb/backup.h"
#include "frb/rebuild.h"
#include "frb/sha256.h"
#include "frb/store.h"
#include "testutil.h"

namespace frb::test {

enum class Cycle {
  kFirstPublish,       // rebuild into an empty data dir
  kPublish,            // rebuild replacing a live version (backs up the outgoing one, prunes)
  kBackupCreate,       // `backup create` of the live version, then retention
  kRestoreFromBackup,  // `restore` of a version that is only in backups
  kRestoreFromDisk,    // `restore` of the rollback version (hard link into staging)
  kPrune,              // `backup prune` that removes a backup
};

inline const char* CycleName(Cycle c) {
  switch (c) {
    case Cycle::kFirstPublish: return "FirstPublish";
    case Cycle::kPublish: return "Publish";
    case Cycle::kBackupCreate: return "BackupCreate";
    case Cycle::kRestoreFromBackup: return "RestoreFromBackup";
    case Cycle::kRestoreFromDisk: return "RestoreFromDisk";
    case Cycle::kPrune: return "Prune";
  }
  return "?";
}

inline const std::vector<Cycle>& AllCycles() {
  static const std::vector<Cycle> all = {Cycle::kFirstPublish,      Cycle::kPublish,
                                         Cycle::kBackupCreate,      Cycle::kRestoreFromBackup,
                                         Cycle::kRestoreFromDisk,   Cycle::kPrune};
  return all;
}

// Every name under `dir` (recursively) that contains ".tmp".
inline std::vector<std::string> TempLeftovers(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->path().filename().string().find(".tmp") != std::string::npos)
      out.push_back(it->path().string());
  }
  return out;
}

class CycleHarness {
 public:
  explicit CycleHarness(Cycle cycle) : cycle_(cycle) {
    root_ = dir_.Sub("root");
    pristine_ = dir_.Sub("pristine");
    std::string source = dir_.Sub("vecs.npy");  // outside root: never modelled or reset
    Status s = synth::WriteNpy(Env::Default(), source, 3000, 16, 5, 16);
    if (!s.ok()) throw std::runtime_error(s.ToString());
    config_.data_dir = JoinPath(root_, "data");
    config_.backup_dir = JoinPath(root_, "backups");
    IndexConfig ic;
    ic.name = "t";
    ic.source_path = source;
    ic.dimension = 16;
    ic.factory = "IVF8,Flat";
    ic.train_sample = 1000;
    ic.add_batch = 1024;
    ic.threads = 1;
    ic.search = {{"nprobe", 4}};
    ic.keep_versions = 2;
    ic.validation.queries = 40;
    ic.validation.latency_queries = 5;
    ic.validation.min_recall = 0.3;
    ic.validation.max_p99_ms = 1000;
    ic.backups.keep_last = 2;
    ic.backups.keep_daily = 0;
    ic.backups.keep_weekly = 0;
    ic.backups.zstd_workers = 1;
    config_.indexes.push_back(ic);
  }

  Cycle cycle() const { return cycle_; }
  const std::string& root() const { return root_; }
  const Config& config() const { return config_; }
  IndexConfig& index() { return config_.indexes[0]; }
  VersionStore Store(Env* env = Env::Default()) const {
    return VersionStore(env, config_.data_dir, "t");
  }
  BackupStore Backups(Env* env = Env::Default()) const {
    return BackupStore(env, config_, config_.indexes[0]);
  }
  const std::optional<std::string>& live_before() const { return live_before_; }
  // What the last Run reported besides its status (a restore's failed
  // retention after the publish), or "".
  const std::string& warning() const { return warning_; }

  // Builds the starting state of the cycle once and keeps a copy of it.
  void Prepare() {
    ASSERT_TRUE(Env::Default()->CreateDirs(root_).ok());
    if (cycle_ != Cycle::kFirstPublish) {
      // v1, v2, v3: versions/ holds v2 (rollback) and v3 (live); backups v1 and v2.
      for (int i = 0; i < 3; ++i) {
        Status s = RebuildWith(Env::Default());
        ASSERT_TRUE(s.ok()) << s.ToString();
      }
      auto versions = *Store().ListVersions();
      ASSERT_EQ(versions.size(), 2u);
      auto backups = BackupIds();
      ASSERT_EQ(backups.size(), 2u);
      if (cycle_ == Cycle::kRestoreFromBackup) {
        target_ = backups.front();
        ASSERT_FALSE(Env::Default()->Exists(Store().VersionDir(target_)));
        target_sha_ = Backups().Get(target_)->manifest.sha256;
      } else if (cycle_ == Cycle::kRestoreFromDisk) {
        target_ = **Store().RollbackVersion();
        target_sha_ = Store().ReadManifest(target_)->file_sha256;
      } else if (cycle_ == Cycle::kPrune) {
        // A backup of the live version too, then a policy that keeps one.
        bool created = false;
        auto info = Backups().Create(Store(), **Store().LiveVersion(), nullptr, &created);
        ASSERT_TRUE(info.ok() && created) << info.status().ToString();
        ASSERT_EQ(BackupIds().size(), 3u);
        index().backups.keep_last = 1;
      }
    }
    live_before_ = *Store().LiveVersion();
    rollback_before_ = *Store().RollbackVersion();
    auto versions = Store().ListVersions();
    versions_before_ = std::set<std::string>(versions->begin(), versions->end());
    auto b = BackupIds();
    backups_before_ = std::set<std::string>(b.begin(), b.end());
    ASSERT_EQ(std::system(("cp -a '" + root_ + "' '" + pristine_ + "'").c_str()), 0);
  }

  // Puts the starting state back under root() (in-process: this runs
  // before every injected fault and power cut).
  void Reset() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
    ASSERT_FALSE(ec) << ec.message();
    std::filesystem::copy(pristine_, root_,
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::copy_symlinks,
                          ec);
    ASSERT_FALSE(ec) << ec.message();
  }

  // The operation, through `env`, as the CLI / job runner performs it.
  Status Run(Env* env) {
    JobControl control;
    warning_.clear();
    switch (cycle_) {
      case Cycle::kFirstPublish:
      case Cycle::kPublish:
        return RebuildWith(env);
      case Cycle::kBackupCreate: {  // as `faiss-rebuild backup create t`
        VersionStore store = Store(env);
        FRB_RETURN_IF_ERROR(store.Init());
        FRB_ASSIGN_OR_RETURN(auto lock, store.Lock(false));
        FRB_ASSIGN_OR_RETURN(auto live, store.LiveVersion());
        if (!live) return FailedPrecondition("no live version");
        BackupStore backups = Backups(env);
        bool created = false;
        FRB_ASSIGN_OR_RETURN(BackupInfo info, backups.Create(store, *live, &control, &created));
        if (created) {
          auto pruned = backups.Prune(store, false);
          if (!pruned.ok()) return pruned.status().WithContext("backed up, but retention failed");
        }
        return Status::Ok();
      }
      case Cycle::kRestoreFromBackup:
      case Cycle::kRestoreFromDisk: {
        auto r = RestoreVersion(env, config_, index(), target_, control);
        warning_ = r.ok() ? r->retention_error : "";
        return r.status();
      }
      case Cycle::kPrune: {  // as `faiss-rebuild backup prune t`
        VersionStore store = Store(env);
        FRB_RETURN_IF_ERROR(store.Init());
        FRB_ASSIGN_OR_RETURN(auto lock, store.Lock(false));
        return Backups(env).Prune(store, false).status();
      }
    }
    return Internal("unknown cycle");
  }

  std::vector<std::string> BackupIds() const { return test::BackupIds(Backups()); }

  // A version directory is complete: its manifest passes its own checksum,
  // the index file matches the manifest and plain FAISS loads it.
  void ExpectVersionComplete(const std::string& id, const std::string& what) {
    SCOPED_TRACE(what + " " + id);
    VersionStore store = Store();
    auto m = store.ReadManifest(id);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    auto sha = Sha256File(Env::Default(), store.VersionIndexPath(id));
    ASSERT_TRUE(sha.ok()) << sha.status().ToString();
    EXPECT_EQ(*sha, m->file_sha256);
    std::unique_ptr<faiss::Index> idx(faiss::read_index(store.VersionIndexPath(id).c_str()));
    EXPECT_EQ(idx->ntotal, m->ntotal);
  }

  // What must hold right after a fault or a power cut, before any further
  // run. `completed`: the operation had returned success before the cut.
  void CheckInvariants(bool completed) {
    VersionStore store = Store();
    auto live = store.LiveVersion();
    ASSERT_TRUE(live.ok()) << live.status().ToString();
    if (cycle_ != Cycle::kFirstPublish) {
      ASSERT_TRUE(*live) << "live pointer lost";
    }
    if (*live) {
      ExpectVersionComplete(**live, "live");
      // What a plain FAISS program opening the stable path gets.
      auto m = store.ReadManifest(**live);
      ASSERT_TRUE(m.ok());
      EXPECT_EQ(*Sha256File(Env::Default(), store.LivePath()), m->file_sha256);
      std::unique_ptr<faiss::Index> idx(faiss::read_index(store.LivePath().c_str()));
      EXPECT_EQ(idx->ntotal, 3000);
      bool is_new = !versions_before_.count(**live);
      EXPECT_TRUE(**live == live_before_ || is_new)
          << "live is " << **live << ": neither the old live version nor a new one";
      if (is_new && !target_.empty()) {
        EXPECT_EQ(m->restored_from, target_);
        EXPECT_EQ(m->file_sha256, target_sha_);
      }
      if (!is_new) {
        EXPECT_EQ(**live, live_before_);
      }
      // A restore that did not take effect must not have lost its source.
      if (!is_new && !target_.empty()) {
        auto ids = BackupIds();
        bool on_disk = Env::Default()->Exists(store.VersionDir(target_));
        bool backed_up = std::count(ids.begin(), ids.end(), target_) == 1;
        EXPECT_TRUE(on_disk || backed_up)
            << "restore failed and version " << target_ << " is gone from disk and backups";
      }
    }
    if (completed) {
      switch (cycle_) {
        case Cycle::kFirstPublish:
        case Cycle::kPublish:
        case Cycle::kRestoreFromBackup:
        case Cycle::kRestoreFromDisk:
          EXPECT_TRUE(*live && !versions_before_.count(**live))
              << "the operation reported success but its new live version did not survive";
          break;
        case Cycle::kBackupCreate: {
          auto ids = BackupIds();
          EXPECT_TRUE(std::count(ids.begin(), ids.end(), *live_before_) == 1)
              << "the backup reported as created did not survive";
          break;
        }
        case Cycle::kPrune:
          break;
      }
    }
    auto rollback = store.RollbackVersion();
    ASSERT_TRUE(rollback.ok()) << rollback.status().ToString();
    if (*rollback) ExpectVersionComplete(**rollback, "rollback");
    // Every directory in versions/ is complete (a crash before the swap
    // leaves staging or a complete version, never a partial one).
    auto versions = store.ListVersions();
    ASSERT_TRUE(versions.ok());
    for (const auto& v : *versions) ExpectVersionComplete(v, "versions/");
    CheckBackups(/*pins_from_before=*/true);
  }

  // Every listed backup verifies, none is listed with a broken manifest, and
  // (with `pins_from_before`) the backups of the live and rollback versions
  // from before the operation survive it.
  void CheckBackups(bool pins_from_before = false) {
    std::vector<VerifyProblem> broken;
    BackupStore backups = Backups();
    auto list = backups.List(&broken);
    ASSERT_TRUE(list.ok()) << list.status().ToString();
    for (const auto& p : broken) ADD_FAILURE() << "unreadable backup " << p.file << ": " << p.detail;
    std::set<std::string> ids;
    for (const auto& b : *list) {
      ids.insert(b.manifest.version_id);
      auto r = backups.Verify(b.manifest.version_id);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_TRUE(r->ok) << "listed backup " << b.manifest.version_id << " does not verify: "
                         << (r->problems.empty() ? "" : r->problems[0].check + ": " + r->problems[0].detail);
    }
    if (!pins_from_before) return;
    for (const auto& pin : {live_before_, rollback_before_})
      if (pin && backups_before_.count(*pin)) {
        EXPECT_TRUE(ids.count(*pin)) << "backup of pinned version " << *pin << " was lost";
      }
  }

  // After the next normal run: no staging, no temporary files anywhere under
  // the data and backup dirs, no orphaned backup files, lock free.
  void CheckClean() {
    VersionStore store = Store();
    auto staging = Env::Default()->ListDir(store.StagingRoot());
    ASSERT_TRUE(staging.ok()) << staging.status().ToString();
    EXPECT_TRUE(staging->empty()) << "staging leftover: " << staging->front();
    for (const auto& t : TempLeftovers(root_)) ADD_FAILURE() << "temporary file left: " << t;
    auto entries = Env::Default()->ListDir(Backups().Dir());
    if (entries.ok()) {
      for (const auto& e : *entries) {
        for (std::string suffix : {".faiss.zst", ".state.json"}) {
          if (e.size() > suffix.size() && e.ends_with(suffix)) {
            std::string v = e.substr(0, e.size() - suffix.size());
            EXPECT_TRUE(Env::Default()->Exists(Backups().ManifestPath(v)))
                << "orphaned backup file " << e;
          }
        }
      }
    }
    auto lock = store.Lock(false);
    EXPECT_TRUE(lock.ok()) << lock.status().ToString();
  }

  // The next normal run: a rebuild, as the scheduler would start.
  Status NextRun() { return RebuildWith(Env::Default()); }

 private:
  Status RebuildWith(Env* env) {
    JobControl control;
    JobOutcome out = RebuildJob(env, config_, index(), test::Forced()).Run(control);
    return out.status;
  }

  Cycle cycle_;
  TempDir dir_;
  std::string root_, pristine_;
  Config config_;
  std::string target_, target_sha_, warning_;
  std::optional<std::string> live_before_, rollback_before_;
  std::set<std::string> versions_before_, backups_before_;
};

}  // namespace frb::test
