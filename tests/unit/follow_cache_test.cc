// The follower's cache: the data_dir layout the registry loads from, one
// process per cache, and a bound that never deletes live, previous or the
// version being served.
#include "../../daemon/searchd/follow_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "frb/env.h"
#include "testutil.h"

namespace frb::searchd {
namespace {

// Stages a fake version (the cache does not parse the files).
void Stage(FollowCache& cache, const std::string& v) {
  auto dir = cache.StagingFor(v);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  test::WriteText(JoinPath(*dir, "index.faiss"), "index " + v);
  test::WriteText(JoinPath(*dir, "manifest.json"), "{}");
}

std::vector<std::string> Cached(const FollowCache& cache) {
  auto v = cache.store().ListVersions();
  EXPECT_TRUE(v.ok());
  return v.ok() ? *v : std::vector<std::string>{};
}

TEST(FollowCacheTest, InstallAndPointGiveTheLocalLayout) {
  test::TempDir dir;
  FollowCache cache(Env::Default(), dir.path(), "t");
  ASSERT_TRUE(cache.Open().ok());
  EXPECT_FALSE(cache.Has("v000001-a"));
  Stage(cache, "v000001-a");
  EXPECT_FALSE(cache.Has("v000001-a"));  // staged is not installed
  ASSERT_TRUE(cache.Install("v000001-a").ok());
  EXPECT_TRUE(cache.Has("v000001-a"));
  ASSERT_TRUE(cache.Point("v000001-a", "v000000-missing").ok());
  EXPECT_EQ(cache.LocalLive(), "v000001-a");
  // A previous version not in the cache is not linked.
  auto rb = cache.store().RollbackVersion();
  ASSERT_TRUE(rb.ok());
  EXPECT_FALSE(rb->has_value());
  Stage(cache, "v000002-b");
  ASSERT_TRUE(cache.Install("v000002-b").ok());
  ASSERT_TRUE(cache.Point("v000002-b", "v000001-a").ok());
  EXPECT_EQ(*cache.store().LiveVersion(), "v000002-b");
  EXPECT_EQ(*cache.store().RollbackVersion(), "v000001-a");
  // Installing again (a restart after the rename) is a no-op.
  Stage(cache, "v000002-b");
  EXPECT_TRUE(cache.Install("v000002-b").ok());
  EXPECT_EQ(test::ReadText(cache.store().VersionIndexPath("v000002-b")), "index v000002-b");
}

TEST(FollowCacheTest, OneProcessPerCache) {
  test::TempDir dir;
  FollowCache a(Env::Default(), dir.path(), "t");
  ASSERT_TRUE(a.Open().ok());
  FollowCache b(Env::Default(), dir.path(), "t");
  Status st = b.Open();
  EXPECT_EQ(st.code(), Code::kBusy) << st.ToString();
  EXPECT_NE(st.message().find("another faiss-searchd"), std::string::npos);
}

TEST(FollowCacheTest, PruneKeepsLivePreviousAndServedBeyondTheBound) {
  test::TempDir dir;
  FollowCache cache(Env::Default(), dir.path(), "t");
  ASSERT_TRUE(cache.Open().ok());
  for (const char* v : {"v000001-a", "v000002-b", "v000003-c", "v000004-d", "v000005-e"}) {
    Stage(cache, v);
    ASSERT_TRUE(cache.Install(v).ok());
  }
  // Pointer rolled back: live is old, previous the newest.
  ASSERT_TRUE(cache.Point("v000002-b", "v000005-e").ok());
  Stage(cache, "v000006-partial");  // a download of another version
  // The server still serves v000001-a (its swap has not happened yet).
  auto removed = cache.Prune({"v000002-b", "v000005-e", "v000001-a"}, 2, "");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, (std::vector<std::string>{"v000004-d", "v000003-c"}));
  EXPECT_EQ(Cached(cache), (std::vector<std::string>{"v000001-a", "v000002-b", "v000005-e"}));
  EXPECT_FALSE(Env::Default()->Exists(JoinPath(cache.store().StagingRoot(), "v000006-partial")));
  // A larger bound keeps the newest others too; the download in progress stays.
  Stage(cache, "v000007-dl");
  for (const char* v : {"v000008-f", "v000009-g"}) {
    Stage(cache, v);
    ASSERT_TRUE(cache.Install(v).ok());
  }
  removed = cache.Prune({"v000002-b"}, 4, "v000007-dl");
  ASSERT_TRUE(removed.ok());
  // Pinned: v000002-b (keep, live), v000005-e (rollback); then the newest
  // two others: v000009-g, v000008-f.
  EXPECT_EQ(Cached(cache),
            (std::vector<std::string>{"v000002-b", "v000005-e", "v000008-f", "v000009-g"}));
  EXPECT_TRUE(Env::Default()->Exists(JoinPath(cache.store().StagingRoot(), "v000007-dl")));
}

}  // namespace
}  // namespace frb::searchd
