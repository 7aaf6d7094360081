// Backups: codec round trips, create/list/verify/restore, corruption, a
// shared backup_dir, a full disk and crash leftovers.
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

}  // namespace
}  // namespace backup_test
}  // namespace frb
