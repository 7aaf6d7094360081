// faiss-searchd --follow against a real S3-protocol server on loopback:
// loading the pointer's version, following publishes, refusing a damaged
// object, resuming a cut download, rollback through the pointer, serving
// from the cache while the repository is down.
#include <cmath>
#include <string>

#include "fleet_fixture.h"

namespace frb::fleet {
namespace {

std::string VersionSeries(const std::string& v) {
  return "faiss_search_follow_version_info{index=\"small\",version=\"" + v + "\"}";
}
std::string FailureSeries(const std::string& stage) {
  return "faiss_search_follow_failures_total{index=\"small\",stage=\"" + stage + "\"}";
}
const char kBytes[] = "faiss_search_follow_bytes_total{index=\"small\"}";
const char kLag[] = "faiss_search_follow_lag_seconds{index=\"small\"}";

TEST_F(FleetTest, FollowerServesThePointersVersionThenEachPublish) {
  const std::string v1 = Publish(1);
  Follower f = StartFollower("f1");
  ASSERT_GE(WaitServed(f.port, v1), 0) << f.Log();
  MiniHttpClient c(f.port);
  EXPECT_EQ(c.Get("/readyz").status, 200);
  EXPECT_EQ(Search(c, 1), 200);
  // The cache has the local layout the registry loads from.
  EXPECT_TRUE(Env::Default()->Exists(
      JoinPath(f.cache_dir, "indexes/small/versions/" + v1 + "/index.faiss")));

  const std::string v2 = Build(2);
  Upload(v2);
  // Uploaded but not named by the pointer: invisible to the follower.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(Served(f.port), v1);
  const auto t0 = Clock::now();
  Point(v2);
  ASSERT_GE(WaitServed(f.port, v2, 20), 0) << f.Log();
  const double lag = std::chrono::duration<double>(Clock::now() - t0).count();
  // Poll interval (0.2 s) + a ~1 MB transfer + load; generous for a
  // loaded machine, far below a missed poll loop.
  EXPECT_LT(lag, 5.0) << f.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // a poll updates the lag
  const std::string m = Metrics(f.port);
  EXPECT_EQ(test::Sample(m, VersionSeries(v2)), 1) << m;
  EXPECT_TRUE(std::isnan(test::Sample(m, VersionSeries(v1)))) << m;
  EXPECT_EQ(test::Sample(m, kLag), 0) << m;
  EXPECT_GE(test::Sample(m, kBytes), static_cast<double>(IndexBytes(v1) + IndexBytes(v2)));
  EXPECT_EQ(test::Sample(m, "faiss_search_follow_installs_total{how=\"download\",index=\"small\"}"),
            2)
      << m;
  EXPECT_EQ(Search(c, 2), 200);
}

TEST_F(FleetTest, ABitFlippedObjectIsRefusedAndTheOldVersionKeepsServing) {
  const std::string v1 = Publish(1);
  Follower f = StartFollower("f1");
  ASSERT_GE(WaitServed(f.port, v1), 0) << f.Log();

  const std::string v2 = Build(2);
  Upload(v2);
  // Damage v2's index object in the store (one bit, same size) before the
  // pointer names it.
  auto sha = Manifest::Parse(test::ReadText(JoinPath(VersionDir(v2), "manifest.json")), "m");
  ASSERT_TRUE(sha.ok());
  std::string bytes = test::ReadText(JoinPath(VersionDir(v2), "index.faiss"));
  bytes[bytes.size() / 2] ^= 0x01;
  ASSERT_TRUE(client_->Put(server_->bucket(), repo_->ObjectKey("small", sha->file_sha256), bytes)
                  .ok());
  Point(v2);

  MiniHttpClient c(f.port);
  const auto until = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < until && !(Metric(f.port, FailureSeries("verify")) >= 1))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GE(Metric(f.port, FailureSeries("verify")), 1) << f.Log();
  EXPECT_EQ(Served(f.port), v1);
  EXPECT_EQ(Search(c, 3), 200);
  EXPECT_EQ(c.Get("/readyz").status, 200);
  // Nothing of v2 reached the cache's versions.
  EXPECT_FALSE(Env::Default()->Exists(JoinPath(f.cache_dir, "indexes/small/versions/" + v2)));
  // The lag grows while the pointer's version cannot be served.
  EXPECT_GT(Metric(f.port, kLag), 0);

  // A good next version is followed at once (not held up by v2's backoff).
  const std::string v3 = Publish(3);
  EXPECT_GE(WaitServed(f.port, v3, 20), 0) << f.Log();
}

TEST_F(FleetTest, ACutDownloadResumesWhereItStopped) {
  // ~13 MB index: big enough that the cut lands mid-object.
  const std::string v1 = Publish(1, 100000);
  const uint64_t size = IndexBytes(v1);
  ASSERT_GT(size, 8u << 20);
  // A long interval: only the first poll's requests reach the proxy. The
  // next five connections (pointer, version manifest, the objects and their
  // retries) are cut after 4 MB server->client; only the index object's
  // body gets that far, and each retry must go on from the byte it got to.
  proxy_->CutAfter(4u << 20, 5, /*upstream=*/false);
  Follower f = StartFollower("f1", "60s");
  ASSERT_GE(WaitServed(f.port, v1, 60), 0) << f.Log();
  EXPECT_GE(proxy_->cuts(), 1);
  // Resumed, not restarted: well under the object plus what was cut.
  const double got = Metric(f.port, kBytes);
  EXPECT_GE(got, static_cast<double>(size));
  EXPECT_LT(got, static_cast<double>(size) + (3u << 20)) << f.Log();
}

TEST_F(FleetTest, SlowDownAndServerErrorsAreRetriedWithinAPoll) {
  const std::string v1 = Publish(1);
  Follower f = StartFollower("f1");
  ASSERT_GE(WaitServed(f.port, v1), 0) << f.Log();
  const std::string v2 = Build(2);
  Upload(v2);
  // The next requests through the proxy (polls, the manifest, objects)
  // get 503 SlowDown, then 500: the client retries them with backoff.
  proxy_->FailNext(2, 503);
  Point(v2);
  ASSERT_GE(WaitServed(f.port, v2, 20), 0) << f.Log();
  proxy_->FailNext(2, 500);
  const std::string v3 = Publish(3);
  ASSERT_GE(WaitServed(f.port, v3, 20), 0) << f.Log();
  EXPECT_GE(proxy_->injected_errors(), 4);
  for (const char* stage : {"pointer", "manifest", "download", "verify", "install"})
    EXPECT_EQ(Metric(f.port, FailureSeries(stage)), 0) << stage;
}

TEST_F(FleetTest, RollbackThroughThePointerSwapsWithoutADownload) {
  const std::string v1 = Publish(1);
  const std::string v2 = Publish(2);
  Follower f = StartFollower("f1");
  ASSERT_GE(WaitServed(f.port, v2), 0) << f.Log();
  // The previous version is cached too (first poll installs v2 and, as the
  // pointer's previous... only once it was downloaded): publish v3 so v2
  // becomes previous and is surely cached.
  const std::string v3 = Publish(3);
  ASSERT_GE(WaitServed(f.port, v3), 0) << f.Log();
  const double bytes = Metric(f.port, kBytes);
  Point(v2);  // rollback: live = v2, previous = v3
  ASSERT_GE(WaitServed(f.port, v2, 10), 0) << f.Log();
  const std::string m = Metrics(f.port);
  EXPECT_EQ(test::Sample(m, kBytes), bytes) << "a rollback must not download";
  EXPECT_EQ(test::Sample(m, "faiss_search_follow_installs_total{how=\"cache\",index=\"small\"}"),
            1)
      << m;
  // And forward again, from the cache as well.
  Point(v3);
  ASSERT_GE(WaitServed(f.port, v3, 10), 0) << f.Log();
  EXPECT_EQ(Metric(f.port, kBytes), bytes);
  (void)v1;
}

TEST_F(FleetTest, TheCacheIsBoundedAndKeepsLiveAndPrevious) {
  Follower f = StartFollower("f1");
  std::vector<std::string> vs;
  for (int i = 0; i < 4; ++i) {
    vs.push_back(Publish(10 + i));
    ASSERT_GE(WaitServed(f.port, vs.back(), 20), 0) << f.Log();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto cached = VersionStore(Env::Default(), f.cache_dir, "small").ListVersions();
  ASSERT_TRUE(cached.ok());
  // Default bound: 2 (live and previous).
  EXPECT_EQ(*cached, (std::vector<std::string>{vs[2], vs[3]}));
}

TEST_F(FleetTest, ARestartedFollowerServesItsCacheWhileTheRepositoryIsDown) {
  const std::string v1 = Publish(1);
  std::string cache;
  {
    Follower f = StartFollower("f1");
    ASSERT_GE(WaitServed(f.port, v1), 0) << f.Log();
    cache = f.cache_dir;
  }
  // Same cache, a repository endpoint where nothing listens.
  Follower f = StartFollower("f1-restarted", "200ms", test::FreePort(), "f1");
  ASSERT_GE(WaitServed(f.port, v1, 10), 0) << f.Log();
  MiniHttpClient c(f.port);
  EXPECT_EQ(Search(c, 4), 200);
  EXPECT_EQ(c.Get("/readyz").status, 200);
  const auto until = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < until && !(Metric(f.port, FailureSeries("pointer")) >= 1))
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_GE(Metric(f.port, FailureSeries("pointer")), 1) << f.Log();
}

TEST_F(FleetTest, TwoFollowersCannotShareACacheDir) {
  Publish(1);
  Follower a = StartFollower("f1");
  ASSERT_GT(a.port, 0);
  const std::string config = FollowerConfig("f2", proxy_->port());
  std::vector<std::string> env = server_->ChildEnv();
  auto r = test::RunProcess({test::BinPath("daemon/searchd/faiss-searchd"), "--config", config,
                             "--listen", "127.0.0.1:0", "--follow",
                             "s3://" + server_->bucket() + "/" + kPrefix, "--cache-dir",
                             a.cache_dir},
                            env, 30);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("in use by another faiss-searchd"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace frb::fleet
