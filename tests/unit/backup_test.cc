// BackupStore, the zstd codec, restore and the backing-up stage of a
// rebuild, with corruption and injected faults.
#include "frb/backup.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "frb/publisher.h"
#include "frb/rebuild.h"
#include "frb/sha256.h"
#include "testutil.h"

namespace frb {
namespace {

constexpr int kDim = 32;

// Float vectors behind a small odd-sized header, like a FAISS file.
std::string FakeIndexBytes(int64_t rows, uint64_t seed) {
  std::vector<float> x(static_cast<size_t>(rows) * kDim);
  synth::GenerateRows(seed, kDim, 16, 0, rows, x.data());
  std::string s = "IxFlhdr";
  s.append(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float));
  return s;
}

// Reports little free space on every filesystem.
class SmallDiskEnv : public EnvWrapper {
 public:
  explicit SmallDiskEnv(uint64_t free) : EnvWrapper(Env::Default()), free_(free) {}
  Result<DiskSpace> GetDiskSpace(const std::string&) override { return DiskSpace{1 << 30, free_}; }

 private:
  uint64_t free_;
};

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = test::SmallIndexConfig(dir_, kDim);
    source_ = index().source_path;
    index().validation.queries = 100;
    index().validation.latency_queries = 20;
    index().validation.min_recall = 0.5;
    index().backups.zstd_workers = 2;
  }
  IndexConfig& index() { return config_.indexes[0]; }
  VersionStore Store(Env* env = Env::Default()) { return VersionStore(env, config_.data_dir, "t"); }
  BackupStore Backups(Env* env = Env::Default()) { return BackupStore(env, config_, index()); }

  // Publishes `content` as a version without building (no FAISS needed).
  std::string PublishFake(const std::string& content) {
    VersionStore store = Store();
    EXPECT_TRUE(store.Init().ok());
    std::string staging = *store.CreateStaging("j-fake-" + std::to_string(++fakes_));
    test::WriteText(JoinPath(staging, "index.faiss"), content);
    Manifest m;
    m.index_name = "t";
    m.version_id = *store.NextVersionId(NowUnixMillis());
    m.created_unix_ms = NowUnixMillis();
    m.factory = "Flat";
    m.metric = "L2";
    m.dim = kDim;
    m.file_size = content.size();
    m.file_sha256 = Sha256::Hex(content);
    Status s = Publisher(Env::Default()).Publish(store, staging, m, 100, nullptr);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return m.version_id;
  }
  JobOutcome Rebuild(Env* env = Env::Default()) {
    JobControl control;
    return RebuildJob(env, config_, index(), [] { RebuildOptions o; o.force = true; return o; }()).Run(control);
  }
  std::vector<std::string> BackupIds() { return test::BackupIds(Backups()); }

  test::TempDir dir_;
  std::string source_;
  Config config_;
  int fakes_ = 0;
};

// The codec at awkward sizes: empty, shorter than a float, not a multiple of
// 4, of the shuffle block or of the read chunk.
class CodecTest : public ::testing::TestWithParam<std::tuple<uint64_t, size_t>> {};

TEST_P(CodecTest, RoundTripIsByteIdentical) {
  auto [shuffle, size] = GetParam();
  test::TempDir dir;
  std::string data = FakeIndexBytes(static_cast<int64_t>(size / (kDim * 4) + 1), 7).substr(0, size);
  test::WriteText(dir.Sub("in"), data);
  auto c = CompressFile(Env::Default(), dir.Sub("in"), dir.Sub("z"), 3, 2, shuffle, nullptr);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->raw_bytes, size);
  EXPECT_EQ(c->raw_sha256, Sha256::Hex(data));
  EXPECT_EQ(c->zst_sha256, *Sha256File(Env::Default(), dir.Sub("z")));
  auto d = DecompressFile(Env::Default(), dir.Sub("z"), dir.Sub("out"),
                          {.shuffle_block = shuffle, .sync = true}, nullptr);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->raw_sha256, c->raw_sha256);
  EXPECT_EQ(d->zst_bytes, c->zst_bytes);
  EXPECT_TRUE(test::ReadText(dir.Sub("out")) == data);
}

INSTANTIATE_TEST_SUITE_P(Sizes, CodecTest,
                         ::testing::Combine(::testing::Values(0u, 1u << 20),
                                            ::testing::Values(0u, 3u, 4097u, (1u << 20) + 2,
                                                              (4u << 20), (9u << 20) + 5)));

TEST_F(BackupTest, CreateListVerifyRestoreRoundTrip) {
  for (bool shuffle : {false, true}) {
    SCOPED_TRACE(shuffle ? "byte shuffle" : "plain");
    index().backups.byte_shuffle = shuffle;
    index().backups.verify_after_create = shuffle;  // both ways
    std::string content = FakeIndexBytes(30000, shuffle ? 2 : 1);
    std::string v = PublishFake(content);
    BackupStore backups = Backups();
    bool created = false;
    auto info = backups.Create(Store(), v, nullptr, &created);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_TRUE(created);
    EXPECT_EQ(info->manifest.size, content.size());
    EXPECT_EQ(info->manifest.sha256, Sha256::Hex(content));
    EXPECT_EQ(info->manifest.shuffle_block != 0, shuffle);
    EXPECT_EQ(info->manifest.compressed_size, Env::Default()->Stat(backups.DataPath(v))->size);
    EXPECT_EQ(info->manifest.version_manifest.GetString("version"), v);
    EXPECT_EQ(info->verified_unix_ms.has_value(), shuffle);  // verified at once when asked
    // An identical backup is not made twice.
    ASSERT_TRUE(backups.Create(Store(), v, nullptr, &created).ok());
    EXPECT_FALSE(created);

    auto got = backups.Get(v);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->verified_unix_ms.has_value(), shuffle);
    auto vr = backups.Verify(v);
    ASSERT_TRUE(vr.ok()) << vr.status().ToString();
    EXPECT_TRUE(vr->ok);
    EXPECT_TRUE(backups.Get(v)->verified_unix_ms);

    std::string out = dir_.Sub(shuffle ? "restored-s" : "restored");
    auto m = backups.RestoreFile(v, out);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->version_id, v);
    EXPECT_TRUE(test::ReadText(out) == content);
  }
  EXPECT_EQ(BackupIds().size(), 2u);
}

struct Damage {
  const char* name;
  std::function<void(const std::string& data, const std::string& manifest)> apply;
  const char* check;  // a check that must be reported
  bool on_manifest;   // the problem names the manifest file, else the data file
};

class BackupCorruptionTest : public BackupTest, public ::testing::WithParamInterface<Damage> {};

TEST_P(BackupCorruptionTest, VerifyReportsFileAndCheck) {
  std::string v = PublishFake(FakeIndexBytes(20000, 4));
  BackupStore backups = Backups();
  bool created;
  ASSERT_TRUE(backups.Create(Store(), v, nullptr, &created).ok());
  ASSERT_TRUE(backups.Verify(v)->ok);
  GetParam().apply(backups.DataPath(v), backups.ManifestPath(v));
  auto r = backups.Verify(v);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->ok);
  bool found = false;
  for (const auto& p : r->problems) {
    if (p.check == GetParam().check) found = true;
    EXPECT_EQ(p.file, GetParam().on_manifest ? backups.ManifestPath(v) : backups.DataPath(v));
  }
  EXPECT_TRUE(found) << GetParam().check;
  // Restore refuses it too; the failed verify is recorded when readable.
  EXPECT_FALSE(backups.RestoreFile(v, dir_.Sub("out")).ok());
  if (!GetParam().on_manifest) {
    auto info = backups.Get(v);
    ASSERT_TRUE(info.ok());
    EXPECT_TRUE(info->failed_verify_unix_ms);
    EXPECT_FALSE(info->verify_error.empty());
  }
  // The next backup of that version replaces the damaged one.
  ASSERT_TRUE(backups.Create(Store(), v, nullptr, &created).ok());
  EXPECT_TRUE(created);
  EXPECT_TRUE(backups.Verify(v)->ok);
}

void Truncate(const std::string& path, size_t keep) {
  std::string s = test::ReadText(path);
  test::WriteText(path, s.substr(0, keep));
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, BackupCorruptionTest,
    ::testing::Values(
        Damage{"truncated_half", [](const std::string& d, const std::string&) {
                 Truncate(d, test::ReadText(d).size() / 2);
               }, "zstd", false},
        Damage{"truncated_last_byte", [](const std::string& d, const std::string&) {
                 Truncate(d, test::ReadText(d).size() - 1);
               }, "compressed_size", false},
        Damage{"flipped_byte", [](const std::string& d, const std::string&) {
                 std::string s = test::ReadText(d);
                 s[s.size() / 3] ^= 0x10;
                 test::WriteText(d, s);
               }, "compressed_sha256", false},
        Damage{"manifest_edited", [](const std::string&, const std::string& m) {
                 std::string s = test::ReadText(m);
                 size_t at = s.find("\"zstd_level\": 3");
                 ASSERT_NE(at, std::string::npos);
                 s[at + 14] = '4';
                 test::WriteText(m, s);
               }, "manifest", true},
        Damage{"manifest_of_other_content", [](const std::string&, const std::string& m) {
                 // A consistent manifest (valid checksum) that describes other bytes.
                 auto bm = BackupManifest::Parse(test::ReadText(m), m);
                 ASSERT_TRUE(bm.ok());
                 bm->sha256 = std::string(64, 'a');
                 test::WriteText(m, bm->Serialize());
               }, "sha256", false},
        Damage{"data_missing", [](const std::string& d, const std::string&) {
                 ASSERT_EQ(std::remove(d.c_str()), 0);
               }, "missing", false}),
    [](const auto& p) { return std::string(p.param.name); });

// Two data dirs configured with one backup_dir used to list each other's
// backups as their own and prune them under their own retention.
TEST_F(BackupTest, ASecondDataDirSharingTheBackupDirIsRefused) {
  config_.backup_dir = dir_.Sub("shared-backups");
  std::string v = PublishFake(FakeIndexBytes(3000, 1));
  bool created = false;
  ASSERT_TRUE(Backups().Create(Store(), v, nullptr, &created).ok());
  ASSERT_TRUE(created);
  EXPECT_EQ(BackupIds(), std::vector<std::string>{v});

  // Another data dir (another host, or a copy of this one) with the same
  // backup_dir and the same index name.
  Config other = config_;
  other.data_dir = dir_.Sub("other-data");
  IndexConfig& oi = other.indexes[0];
  BackupStore theirs(Env::Default(), other, oi);
  VersionStore their_store(Env::Default(), other.data_dir, "t");
  ASSERT_TRUE(their_store.Init().ok());
  std::string owner = *DataDirId(Env::Default(), config_.data_dir, false);
  auto expect_refused = [&](const Status& s, const char* what) {
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << what << ": " << s.ToString();
    EXPECT_NE(s.message().find(config_.data_dir), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(other.data_dir), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(owner), std::string::npos) << s.message();
  };
  expect_refused(theirs.List().status(), "list");
  expect_refused(theirs.Verify(v).status(), "verify");
  expect_refused(theirs.Prune(their_store, false).status(), "prune");
  expect_refused(theirs.RestoreFile(v, dir_.Sub("x")).status(), "restore");
  expect_refused(theirs.Create(Store(), v, nullptr, &created).status(), "create");
  // Nothing of ours was touched, and we still own and list it.
  EXPECT_EQ(BackupIds(), std::vector<std::string>{v});
  auto verified = Backups().Verify(v);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_TRUE(verified->ok);

  // The id is stable; a backup_dir of their own works for them.
  EXPECT_EQ(*DataDirId(Env::Default(), config_.data_dir, true), owner);
  other.backup_dir = dir_.Sub("their-backups");
  EXPECT_TRUE(BackupStore(Env::Default(), other, oi).List().ok());
}

TEST_F(BackupTest, DiskFullDuringCompressionLeavesNoBackup) {
  std::string v = PublishFake(FakeIndexBytes(40000, 5));
  std::string before = *Sha256File(Env::Default(), Store().VersionIndexPath(v));
  int appends = 0;
  FaultEnv env(Env::Default(), [&](FsOp op, const std::string& path) {
    // Let a few MB through, then the disk is full.
    if (op == FsOp::kAppend && path.find(".faiss.zst") != std::string::npos && ++appends > 2)
      return ENOSPC;
    return 0;
  });
  bool created = true;
  auto r = Backups(&env).Create(Store(), v, nullptr, &created);
  EXPECT_EQ(r.status().code(), Code::kNoSpace) << r.status().ToString();
  EXPECT_NE(r.status().message().find(".faiss.zst"), std::string::npos) << r.status().message();
  EXPECT_FALSE(created);
  EXPECT_GT(appends, 2);
  EXPECT_TRUE(BackupIds().empty());
  // Only the ownership record stays.
  EXPECT_EQ(*Env::Default()->ListDir(Backups().Dir()), std::vector<std::string>{"OWNER"})
      << "temp file left behind";
  EXPECT_EQ(*Sha256File(Env::Default(), Store().VersionIndexPath(v)), before);
  EXPECT_EQ(*Store().LiveVersion(), v);
}

TEST_F(BackupTest, LeftoversOfACrashAreSweptAndNeverListed) {
  std::string v = PublishFake(FakeIndexBytes(2000, 8));
  BackupStore backups = Backups();
  ASSERT_TRUE(Env::Default()->CreateDirs(backups.Dir()).ok());
  // A crash mid-compression, and one between the data rename and the manifest.
  test::WriteText(backups.DataPath(v) + ".tmp", "partial");
  test::WriteText(backups.DataPath("v000099-crashed"), "orphan");
  test::WriteText(backups.ManifestPath("v000098-x") + ".tmp.1.2", "{");
  EXPECT_TRUE(BackupIds().empty());
  bool created;
  ASSERT_TRUE(backups.Create(Store(), v, nullptr, &created).ok());
  // The backup, its manifest and its verify state (verified on creation),
  // and whose backups these are.
  std::vector<std::string> want = {"OWNER", v + ".backup.json", v + ".faiss.zst",
                                   v + ".state.json"};
  EXPECT_EQ(*Env::Default()->ListDir(backups.Dir()), want);
}

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
}  // namespace frb
