#include "frb/store.h"

#include <gtest/gtest.h>

#include "testutil.h"

namespace frb {
namespace {

// Creates an empty committed version directory.
void AddVersion(VersionStore& s, const std::string& id) {
  auto staging = s.CreateStaging("job-" + id);
  ASSERT_TRUE(staging.ok());
  ASSERT_TRUE(s.CommitVersion(*staging, id).ok());
}

TEST(StoreTest, VersionIdsAreMonotonicAndSurviveLostCounter) {
  test::TempDir dir;
  VersionStore s(Env::Default(), dir.path(), "idx");
  ASSERT_TRUE(s.Init().ok());
  auto a = s.NextVersionId(0);
  auto b = s.NextVersionId(0);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, "v000001-19700101T000000Z");
  EXPECT_EQ(*b, "v000002-19700101T000000Z");
  AddVersion(s, *b);
  ASSERT_TRUE(Env::Default()->RemoveFile(JoinPath(s.IndexDir(), "SEQ")).ok());
  EXPECT_EQ(s.NextVersionId(0)->substr(0, 7), "v000003");
}

// atoll("99999999999999999999") saturates and atoll("-5") is negative:
// either used to become a negative or wrapped version id.
TEST(StoreTest, CorruptSeqWithoutVersionsIsRefusedNamingTheFile) {
  for (const char* bad : {"99999999999999999999999\n", "-5\n", "garbage", "12abc\n", ""}) {
    test::TempDir dir;
    VersionStore s(Env::Default(), dir.path(), "idx");
    ASSERT_TRUE(s.Init().ok());
    std::string seq = JoinPath(s.IndexDir(), "SEQ");
    test::WriteText(seq, bad);
    std::string warning;
    auto id = s.NextVersionId(0, &warning);
    ASSERT_FALSE(id.ok()) << "SEQ '" << bad << "' gave " << *id;
    EXPECT_EQ(id.status().code(), Code::kCorruption);
    EXPECT_NE(id.status().message().find(seq), std::string::npos) << id.status().message();
    EXPECT_EQ(test::ReadText(seq), bad) << "a refused SEQ must be left for the operator";
  }
}

TEST(StoreTest, CorruptSeqIsRecoveredFromVersionsOnDiskWithAWarning) {
  test::TempDir dir;
  VersionStore s(Env::Default(), dir.path(), "idx");
  ASSERT_TRUE(s.Init().ok());
  AddVersion(s, "v000004-19700101T000000Z");
  std::string seq = JoinPath(s.IndexDir(), "SEQ");
  test::WriteText(seq, "9223372036854775807999\n");
  std::string warning;
  auto id = s.NextVersionId(0, &warning);
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(*id, "v000005-19700101T000000Z");
  EXPECT_NE(warning.find(seq), std::string::npos) << warning;
  EXPECT_EQ(test::ReadText(seq), "5\n");
  warning.clear();
  EXPECT_EQ(s.NextVersionId(0, &warning)->substr(0, 7), "v000006");
  EXPECT_TRUE(warning.empty()) << warning;
}

TEST(StoreTest, SwapLiveKeepsRollbackAndPruneSparesThem) {
  test::TempDir dir;
  VersionStore s(Env::Default(), dir.path(), "idx");
  ASSERT_TRUE(s.Init().ok());
  for (const char* id : {"v000001-a", "v000002-a", "v000003-a", "v000004-a"}) AddVersion(s, id);
  ASSERT_TRUE(s.SwapLive("v000001-a").ok());
  EXPECT_FALSE(*s.RollbackVersion());
  ASSERT_TRUE(s.SwapLive("v000002-a").ok());
  EXPECT_EQ(*s.LiveVersion(), "v000002-a");
  EXPECT_EQ(*s.RollbackVersion(), "v000001-a");
  // keep=1 keeps the newest plus the pinned live and rollback versions.
  auto removed = s.PruneVersions(1);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, std::vector<std::string>{"v000003-a"});
  EXPECT_EQ(*s.ListVersions(),
            (std::vector<std::string>{"v000001-a", "v000002-a", "v000004-a"}));
}

TEST(StoreTest, CleanStagingRemovesLeftovers) {
  test::TempDir dir;
  VersionStore s(Env::Default(), dir.path(), "idx");
  ASSERT_TRUE(s.Init().ok());
  ASSERT_TRUE(s.CreateStaging("dead-job").ok());
  test::WriteText(JoinPath(s.StagingRoot(), "dead-job/index.faiss"), "partial");
  ASSERT_TRUE(Env::Default()->Symlink("versions/x", JoinPath(s.IndexDir(), "live.tmp.1.2")).ok());
  ASSERT_TRUE(s.CleanStaging().ok());
  EXPECT_TRUE(Env::Default()->ListDir(s.StagingRoot())->empty());
  EXPECT_FALSE(Env::Default()->Exists(JoinPath(s.IndexDir(), "live.tmp.1.2")));
}

TEST(StoreTest, VersionIdentifiersNeverPaths) {
  for (const char* bad : {"", "..", ".", "../x", "/etc/passwd", "a/b", "v1\n", "v 1"})
    EXPECT_FALSE(VersionStore::CheckVersionId(bad).ok()) << bad;
  EXPECT_FALSE(VersionStore::CheckVersionId(std::string("v1\0x", 4)).ok());
  EXPECT_TRUE(VersionStore::CheckVersionId("v000001-20261121T130501Z").ok());
  test::TempDir dir;
  VersionStore s(Env::Default(), dir.path(), "idx");
  EXPECT_EQ(s.ReadManifest("../../etc").status().code(), Code::kInvalidArgument);
}

TEST(StoreTest, ManifestCorruptionDetected) {
  test::TempDir dir;
  VersionStore s(Env::Default(), dir.path(), "idx");
  ASSERT_TRUE(s.Init().ok());
  Manifest m;
  m.index_name = "idx";
  m.version_id = "v000001-a";
  m.file_sha256 = std::string(64, 'a');
  m.source.sha256 = std::string(64, 'b');
  m.source.count = 1;
  m.source.dim = 1;
  m.file_size = 10;
  auto staging = s.CreateStaging("j");
  test::WriteText(JoinPath(*staging, "manifest.json"), m.Serialize());
  ASSERT_TRUE(s.CommitVersion(*staging, "v000001-a").ok());
  auto ok = s.ReadManifest("v000001-a");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->file_size, 10u);
  std::string text = m.Serialize();
  text.replace(text.find("\"size\": 10"), 10, "\"size\": 11");
  test::WriteText(JoinPath(s.VersionDir("v000001-a"), "manifest.json"), text);
  auto bad = s.ReadManifest("v000001-a");
  EXPECT_EQ(bad.status().code(), Code::kCorruption);
  EXPECT_NE(bad.status().message().find("manifest.json"), std::string::npos);
}

}  // namespace
}  // namespace frb
