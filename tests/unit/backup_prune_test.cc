// Backups: free space, pruning, the outgoing version on rebuild, bit rot
// after creation, and restore refusing what it must.
#include "frb/backup.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "frb/publisher.h"
#include "frb/rebuild.h"
#include "frb/sha256.h"
#include "testutil.h"
#include "backup_test_util.h"

namespace frb {
namespace backup_test {
namespace {

TEST_F(BackupTest, NotEnoughFreeSpaceFailsEarly) {
  std::string v = PublishFake(FakeIndexBytes(20000, 6));
  SmallDiskEnv env(1000);
  bool created;
  auto r = Backups(&env).Create(Store(), v, nullptr, &created);
  EXPECT_EQ(r.status().code(), Code::kNoSpace);
  EXPECT_NE(r.status().message().find("bytes free"), std::string::npos) << r.status().message();
  EXPECT_TRUE(BackupIds().empty());
}

TEST_F(BackupTest, PruneKeepsPinsAndRemovesTheRest) {
  index().backups = {1, 0, 0, 1, 1, false, /*verify_after_create=*/false};
  std::vector<std::string> ids;
  bool created;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(PublishFake(FakeIndexBytes(2000, 10 + i)));
    ASSERT_TRUE(Backups().Create(Store(), ids.back(), nullptr, &created).ok());
  }
  ASSERT_TRUE(Backups().Verify(ids[1])->ok);
  // live = ids[4], rollback = ids[3]; ids[1] is the newest verified.
  auto dry = Backups().Prune(Store(), true);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(BackupIds().size(), 5u);
  auto done = Backups().Prune(Store(), false);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(BackupIds(), (std::vector<std::string>{ids[1], ids[3], ids[4]}));
  EXPECT_FALSE(Env::Default()->Exists(Backups().DataPath(ids[0])));
  index().backups = {0, 0, 0, 1, 1, false};
  EXPECT_EQ(Backups().Prune(Store(), true).status().code(), Code::kInvalidArgument);
}

TEST_F(BackupTest, RebuildBacksUpOutgoingVersionAndRestoreWorksFromBothPlaces) {
  index().keep_versions = 2;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    JobOutcome out = Rebuild();
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
    EXPECT_TRUE(out.stage_seconds.count("backing_up") || i == 0);
    ids.push_back(out.version_id);
  }
  EXPECT_EQ(BackupIds(), (std::vector<std::string>{ids[0], ids[1]}));
  EXPECT_EQ(*Store().ListVersions(), (std::vector<std::string>{ids[1], ids[2]}));
  std::string sha0 = Backups().Get(ids[0])->manifest.sha256;

  JobControl c1;
  auto r = RestoreVersion(Env::Default(), config_, index(), ids[0], c1);  // only in backups
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->location, "backup");
  EXPECT_TRUE(r->full_validation);
  EXPECT_EQ(r->backed_up, ids[2]);
  EXPECT_EQ(*Store().LiveVersion(), r->new_version);
  auto m = Store().ReadManifest(r->new_version);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->restored_from, ids[0]);
  EXPECT_EQ(m->parent_version, ids[2]);
  EXPECT_EQ(*Sha256File(Env::Default(), Store().LivePath()), sha0);
  EXPECT_EQ(*Store().RollbackVersion(), ids[2]);

  JobControl c2;  // the rollback target, still on disk: no decompression
  auto r2 = RestoreVersion(Env::Default(), config_, index(), ids[2], c2);
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->location, "disk");
  EXPECT_TRUE(r2->linked);  // same filesystem: a hard link, no copy
  EXPECT_EQ(Store().ReadManifest(r2->new_version)->restored_from, ids[2]);
  auto entries = Env::Default()->ListDir(Store().StagingRoot());
  EXPECT_TRUE(entries->empty());

  // Where links fail (EXDEV, EPERM), the same restore copies and checks.
  FaultEnv no_links(Env::Default(), [](FsOp op, const std::string&) {
    return op == FsOp::kLink ? EXDEV : 0;
  });
  JobControl c3;
  auto r3 = RestoreVersion(&no_links, config_, index(), r->new_version, c3);
  ASSERT_TRUE(r3.ok()) << r3.status().ToString();
  EXPECT_EQ(r3->location, "disk");
  EXPECT_FALSE(r3->linked);
  EXPECT_EQ(*Sha256File(Env::Default(), Store().LivePath()), sha0);
}

// A disk that silently flips a bit in what it stores for compressed
// backups (the data is accepted, fsync succeeds).
class BitRotEnv : public EnvWrapper {
 public:
  BitRotEnv() : EnvWrapper(Env::Default()) {}
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    FRB_ASSIGN_OR_RETURN(auto f, target()->NewWritableFile(p));
    if (p.find(".faiss.zst") == std::string::npos) return f;
    return std::unique_ptr<WritableFile>(new Rotting(std::move(f)));
  }

 private:
  class Rotting : public WritableFile {
   public:
    explicit Rotting(std::unique_ptr<WritableFile> f) : f_(std::move(f)) {}
    Status Append(const void* data, size_t n) override {
      std::string copy(static_cast<const char*>(data), n);
      if (written_ < 5000 && written_ + n > 5000) copy[5000 - written_] ^= 0x04;
      written_ += n;
      return f_->Append(copy.data(), n);
    }
    Status Sync() override { return f_->Sync(); }
    Status Close() override { return f_->Close(); }
    const std::string& path() const override { return f_->path(); }

   private:
    std::unique_ptr<WritableFile> f_;
    size_t written_ = 0;
  };
};

TEST_F(BackupTest, VerifyAfterCreateCatchesWhatTheDiskCorrupted) {
  std::string v = PublishFake(FakeIndexBytes(20000, 8));
  BitRotEnv rot;
  bool created = false;
  auto info = Backups(&rot).Create(Store(), v, nullptr, &created);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("fails verification right after it was written"),
            std::string::npos)
      << info.status().ToString();
  auto got = Backups().Get(v);  // listed, but marked failed: never the newest verified
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->verified_unix_ms);
  EXPECT_TRUE(got->failed_verify_unix_ms);
  // Without the check the same corruption would go unnoticed until restore.
  index().backups.verify_after_create = false;
  std::string v2 = PublishFake(FakeIndexBytes(20000, 9));
  EXPECT_TRUE(Backups(&rot).Create(Store(), v2, nullptr, &created).ok());
  EXPECT_FALSE(Backups().Verify(v2)->ok);
}

// RestoreFile leaves the SHA-256 to the caller: a backup whose zstd frame is
// intact but holds other bytes than its manifest says (here another
// version's data with the sizes patched to match) must still be refused.
TEST_F(BackupTest, RestoreRefusesBackupHoldingOtherBytesThanItsManifest) {
  // Two versions with different bytes (builds are deterministic: change the
  // source in between), both backed up, the first one gone from disk.
  index().keep_versions = 1;
  std::vector<std::string> ids;
  JobOutcome first = Rebuild();
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();
  ids.push_back(first.version_id);
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 20000, kDim, 77).ok());
  JobOutcome second = Rebuild();  // backs up ids[0]
  ASSERT_TRUE(second.status.ok()) << second.status.ToString();
  ids.push_back(second.version_id);
  bool created = false;
  ASSERT_TRUE(Backups().Create(Store(), ids[1], nullptr, &created).ok());
  ASSERT_TRUE(Env::Default()->RemoveAll(Store().VersionDir(ids[0])).ok());
  ASSERT_EQ(BackupIds(), (std::vector<std::string>{ids[0], ids[1]}));
  ASSERT_NE(Backups().Get(ids[0])->manifest.sha256, Backups().Get(ids[1])->manifest.sha256);
  BackupStore backups = Backups();
  test::WriteText(backups.DataPath(ids[0]), test::ReadText(backups.DataPath(ids[1])));
  auto bm = BackupManifest::Parse(test::ReadText(backups.ManifestPath(ids[0])), "m");
  auto other = backups.Get(ids[1]);
  ASSERT_TRUE(bm.ok() && other.ok());
  bm->compressed_size = other->manifest.compressed_size;
  bm->compressed_sha256 = other->manifest.compressed_sha256;
  test::WriteText(backups.ManifestPath(ids[0]), bm->Serialize());
  std::string live_sha = *Sha256File(Env::Default(), Store().LivePath());

  JobControl c;
  auto r = RestoreVersion(Env::Default(), config_, index(), ids[0], c);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().message().find("SHA-256") != std::string::npos ||
              r.status().message().find("bytes") != std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(*Store().LiveVersion(), ids[1]);
  EXPECT_EQ(*Sha256File(Env::Default(), Store().LivePath()), live_sha);
  EXPECT_TRUE(Env::Default()->ListDir(Store().StagingRoot())->empty());
}

TEST_F(BackupTest, BackupFailureFailsRebuildAndKeepsLive) {
  JobOutcome first = Rebuild();
  ASSERT_TRUE(first.status.ok());
  FaultEnv env(Env::Default(), [](FsOp op, const std::string& path) {
    return op == FsOp::kAppend && path.find("/backups/") != std::string::npos ? ENOSPC : 0;
  });
  JobOutcome out = Rebuild(&env);
  EXPECT_EQ(out.status.code(), Code::kNoSpace) << out.status.ToString();
  EXPECT_EQ(out.failed_stage, Stage::kBackingUp);
  EXPECT_NE(out.status.message().find("backing up outgoing live version " + first.version_id),
            std::string::npos) << out.status.message();
  EXPECT_EQ(*Store().LiveVersion(), first.version_id);
  EXPECT_TRUE(BackupIds().empty());
  EXPECT_TRUE(Env::Default()->ListDir(Store().StagingRoot())->empty());
  JobOutcome again = Rebuild();
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  EXPECT_EQ(BackupIds(), (std::vector<std::string>{first.version_id}));
}

TEST_F(BackupTest, RestoreRejectsPathsAndUnknownVersions) {
  JobOutcome first = Rebuild();
  ASSERT_TRUE(first.status.ok());
  // A symlink planted in versions/ pointing out of the store.
  ASSERT_TRUE(Env::Default()->CreateDirs(dir_.Sub("outside")).ok());
  ASSERT_TRUE(Env::Default()->Symlink(dir_.Sub("outside"), Store().VersionDir("v999999-evil")).ok());
  std::vector<std::string> bads = {"../versions/" + first.version_id, "/etc", std::string("v1\0x", 4),
                                   "", "..", "v999999-evil", "v000077-nonexistent"};
  for (const std::string& bad : bads) {
    JobControl c;
    auto r = RestoreVersion(Env::Default(), config_, index(), bad, c);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().code() == Code::kInvalidArgument || r.status().code() == Code::kNotFound)
        << r.status().ToString();
  }
  EXPECT_EQ(*Store().LiveVersion(), first.version_id);
  EXPECT_EQ(Store().ReadManifest(first.version_id)->restored_from, "");
}

TEST_F(BackupTest, RestoreChecksFreeSpace) {
  JobOutcome first = Rebuild();
  ASSERT_TRUE(Rebuild().status.ok());
  SmallDiskEnv env(4096);
  JobControl c;
  auto r = RestoreVersion(&env, config_, index(), first.version_id, c);
  EXPECT_EQ(r.status().code(), Code::kNoSpace) << r.status().ToString();
  EXPECT_NE(*Store().LiveVersion(), first.version_id);
}

}  // namespace
}  // namespace backup_test
}  // namespace frb
