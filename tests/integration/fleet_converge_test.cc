// Three faiss-searchd followers on one machine follow ten publishes while
// clients search each of them throughout: every follower converges on each
// version and no query fails.
#include <atomic>
#include <cstdio>
#include <string>

#include "fleet_fixture.h"

namespace frb::fleet {
namespace {

TEST_F(FleetTest, ThreeFollowersConvergeWithZeroFailedQueriesAcrossTenPublishes) {
  const std::string v0 = Publish(100);
  std::vector<Follower> fs;
  for (int i = 0; i < 3; ++i) fs.push_back(StartFollower("f" + std::to_string(i)));
  for (auto& f : fs) ASSERT_GE(WaitServed(f.port, v0), 0) << f.Log();

  std::atomic<bool> stop{false};
  std::atomic<int64_t> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (auto& f : fs) {
    clients.emplace_back([&, port = f.port] {
      MiniHttpClient c(port);
      for (int i = 0; !stop; ++i) {
        if (Search(c, i) == 200) {
          ++ok;
        } else {
          ++failed;
        }
        // Steady traffic, not saturation: on a small test machine the
        // followers' loader threads (nice 10) would starve behind three
        // spinning clients and measure the CPU, not the follower.
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  std::vector<double> lags;
  for (int p = 1; p <= 10; ++p) {
    const std::string v = Build(100 + p);
    Upload(v);
    const auto t0 = Clock::now();
    Point(v);
    for (auto& f : fs) {
      const double waited = WaitServed(f.port, v, 30);
      ASSERT_GE(waited, 0) << "publish " << p << "\n" << f.Log();
    }
    lags.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 100);
  double worst = 0;
  std::string each;
  for (double l : lags) {
    worst = std::max(worst, l);
    char buf[32];
    std::snprintf(buf, sizeof(buf), " %.2f", l);
    each += buf;
  }
  std::printf("fleet: publish-to-served at all three (s):%s\n", each.c_str());
  std::printf("fleet: 3 followers, 10 publishes, %lld queries, %lld failed, worst "
              "publish-to-served-at-all-three %.3f s\n",
              static_cast<long long>(ok.load()), static_cast<long long>(failed.load()), worst);
  for (auto& f : fs) {
    EXPECT_EQ(Metric(f.port, "faiss_search_follow_failures_total{index=\"small\",stage=\"download\"}"),
              0);
    EXPECT_EQ(Metric(f.port, "faiss_search_reloads_total{index=\"small\",result=\"failed\"}"), 0);
  }
}

}  // namespace
}  // namespace frb::fleet
