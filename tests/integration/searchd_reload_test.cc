// faiss-searchd as users run it: coalesced searches, refused versions,
// memory admission, following publishes, rate limit, metrics.
#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "searchd_fixture.h"

namespace frb {
namespace searchd_test {
namespace {
// Concurrent single queries share FAISS calls (one lane: OMP_NUM_THREADS=1),
// yet every answer is that query's own, for its own k and nprobe: a batch
// never mixes parameters or rows. --coalesce-max 1 turns sharing off.
TEST_F(SearchdTest, ConcurrentSingleQueriesShareFaissCallsWithTheirOwnAnswers) {
  const std::string v1 = Publish(1);
  const Answer a10 = InProcess(v1, 4, 10, kQueries, queries_.data());
  const Answer a3 = InProcess(v1, 4, 3, kQueries, queries_.data());
  const Answer a10p16 = InProcess(v1, 16, 10, kQueries, queries_.data());
  auto batch_sizes = [](MiniHttpClient& c) {
    std::string m = c.Get("/metrics").body;
    auto value = [&](const std::string& series) {
      size_t at = m.find("\n" + series + " ");
      return at == std::string::npos ? -1.0 : std::atof(m.c_str() + at + series.size() + 2);
    };
    return std::make_pair(value("faiss_search_batch_size_count{index=\"small\"}"),
                          value("faiss_search_batch_size_bucket{index=\"small\",le=\"1\"}"));
  };
  for (bool coalesce : {true, false}) {
    SCOPED_TRACE(coalesce ? "coalescing" : "--coalesce-max 1");
    std::vector<std::string> extra;
    if (!coalesce) extra = {"--coalesce-max", "1"};
    SearchdProcess srv(config_path_, dir_.path(), extra, {"OMP_NUM_THREADS=1"});
    ASSERT_GT(srv.port(), 0) << srv.Log();
    MiniHttpClient c(srv.port());
    ASSERT_TRUE(WaitReady(c)) << srv.Log();
    constexpr int kClients = 12, kEach = 150;
    std::atomic<int> wrong{0};
    std::mutex mu;
    std::string first_wrong;
    std::vector<std::thread> clients;
    for (int t = 0; t < kClients; ++t) {
      clients.emplace_back([&, t] {
        MiniHttpClient cl(srv.port());
        for (int i = 0; i < kEach; ++i) {
          const int q = (t * 7 + i) % kQueries, kind = (t + i) % 3;
          const int k = kind == 1 ? 3 : 10;
          const Answer& want = kind == 0 ? a10 : kind == 1 ? a3 : a10p16;
          std::string body = "{\"k\":" + std::to_string(k) +
                             (kind == 2 ? ",\"nprobe\":16" : "") +
                             ",\"vector\":" + VectorJson(&queries_[q * kDim]) + "}";
          auto r = cl.Post(kSearchPath, body);
          auto j = Json::Parse(r.body);
          bool same = r.status == 200 && j.ok() && j->Find("ids") != nullptr &&
                      j->Find("ids")->size() == static_cast<size_t>(k);
          for (int x = 0; same && x < k; ++x) {
            same = j->Find("ids")->as_array()[x].as_int() == want.l[q * k + x] &&
                   static_cast<float>(j->Find("distances")->as_array()[x].as_double()) ==
                       want.d[q * k + x];
          }
          if (!same && wrong++ == 0) {
            std::lock_guard<std::mutex> lock(mu);
            first_wrong = "query " + std::to_string(q) + " k " + std::to_string(k) + ": " +
                          std::to_string(r.status) + " " + r.body;
          }
        }
      });
    }
    for (auto& th : clients) th.join();
    EXPECT_EQ(wrong.load(), 0) << first_wrong;
    auto [count, alone] = batch_sizes(c);
    EXPECT_EQ(count, kClients * kEach);
    if (coalesce) {
      // 12 clients on one lane: queries that find it busy leave together.
      // How many depends on how long a search takes against the HTTP work
      // around it (few with AVX2 kernels on a fast machine), so only the
      // sharing itself is required; the unit test pins the batching.
      EXPECT_LT(alone, count) << "batch sizes: " << alone << " of " << count << " alone";
    } else {
      EXPECT_EQ(alone, count);
    }
  }
}

TEST_F(SearchdTest, CorruptNewVersionIsRefusedAndOldKeepsServing) {
  const std::string v1 = Publish(1);
  auto srv = Start();
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();

  // A version whose index file no longer matches its manifest's SHA-256: a
  // byte flipped after publishing. FAISS itself would load it happily.
  VersionStore store(Env::Default(), config_.data_dir, "small");
  const std::string bad = "v999999-20991231T000000Z";
  const std::string bad_dir = store.VersionDir(bad);
  ASSERT_EQ(::mkdir(bad_dir.c_str(), 0755), 0);
  std::string manifest = test::ReadText(JoinPath(store.VersionDir(v1), "manifest.json"));
  auto m = Manifest::Parse(manifest, "manifest.json");
  ASSERT_TRUE(m.ok());
  m->version_id = bad;
  test::WriteText(JoinPath(bad_dir, "manifest.json"), m->Serialize());
  std::string data = test::ReadText(store.VersionIndexPath(v1));
  data[data.size() / 2] ^= 0x01;
  test::WriteText(JoinPath(bad_dir, "index.faiss"), data);
  ASSERT_TRUE(ReplaceSymlink(Env::Default(), "versions/" + bad,
                             JoinPath(store.IndexDir(), "live")).ok());

  const auto until = Clock::now() + std::chrono::seconds(5);
  std::string metrics;
  const std::string refused =
      "faiss_search_reloads_total{index=\"small\",result=\"failed\"} 1";
  while (Clock::now() < until && metrics.find(refused) == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = c.Get("/metrics").body;
  }
  EXPECT_NE(metrics.find(refused), std::string::npos) << metrics << srv->Log();
  EXPECT_EQ(ServedVersion(c), v1);
  auto r = c.Post(kSearchPath, "{\"vector\":" + VectorJson(queries_.data()) + "}");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(ParseBody(r).GetString("version"), v1);
  EXPECT_NE(srv->Log().find("SHA-256"), std::string::npos) << srv->Log();
  EXPECT_EQ(c.Get("/readyz").status, 200);

  // Not retried every poll, and the next good version is taken.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_NE(c.Get("/metrics").body.find(refused), std::string::npos);
  ASSERT_TRUE(ReplaceSymlink(Env::Default(), "versions/" + v1,
                             JoinPath(store.IndexDir(), "live")).ok());
  const std::string v2 = Publish(2);
  EXPECT_TRUE(WaitVersion(c, v2, 5)) << srv->Log();
}

TEST_F(SearchdTest, MemoryLimitRefusesSecondCopyAndKeepsOld) {
  const std::string v1 = Publish(1);
  VersionStore store(Env::Default(), config_.data_dir, "small");
  const uint64_t size = store.ReadManifest(v1)->file_size;
  // Room for one copy, not for old + new side by side.
  auto srv = Start({"--memory-limit-bytes", std::to_string(size * 3 / 2)});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  Publish(2);
  const auto until = Clock::now() + std::chrono::seconds(5);
  const std::string refused =
      "faiss_search_reloads_total{index=\"small\",result=\"refused_memory\"} 1";
  std::string metrics;
  while (Clock::now() < until && metrics.find(refused) == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = c.Get("/metrics").body;
  }
  EXPECT_NE(metrics.find(refused), std::string::npos) << metrics;
  EXPECT_EQ(ServedVersion(c), v1);
  EXPECT_NE(srv->Log().find("memory limit"), std::string::npos) << srv->Log();
}

TEST_F(SearchdTest, UnreadyPolicySwapsOverTheMemoryLimit) {
  const std::string v1 = Publish(1);
  VersionStore store(Env::Default(), config_.data_dir, "small");
  const uint64_t size = store.ReadManifest(v1)->file_size;
  auto srv = Start({"--memory-limit-bytes", std::to_string(size * 3 / 2),
                    "--reload-policy", "unready"});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  const std::string v2 = Publish(2);
  EXPECT_TRUE(WaitVersion(c, v2, 5)) << srv->Log();
  EXPECT_EQ(c.Get("/readyz").status, 200);
}

// inotify alone (polling every minute) notices a publish at once.
TEST_F(SearchdTest, InotifyNoticesANewVersionWithinASecond) {
  Publish(1);
  auto srv = Start({"--poll-ms", "60000"});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  const std::string v2 = Publish(2);
  EXPECT_TRUE(WaitVersion(c, v2, 1.5)) << srv->Log();
}

// Without inotify the polling fallback still follows publishes.
TEST_F(SearchdTest, PollingFallbackFollowsPublishes) {
  Publish(1);
  auto srv = Start({"--no-inotify", "--poll-ms", "200"});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  const std::string v2 = Publish(2);
  EXPECT_TRUE(WaitVersion(c, v2, 1.5)) << srv->Log();
  EXPECT_NE(srv->Log().find("no inotify"), std::string::npos) << srv->Log();
}

TEST_F(SearchdTest, RateLimitAnswers429) {
  Publish(1);
  auto srv = Start({"--rate-limit", "5"});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  const std::string body = "{\"vector\":" + VectorJson(queries_.data()) + "}";
  int ok = 0, limited = 0;
  for (int i = 0; i < 40; ++i) {
    auto r = c.Post(kSearchPath, body);
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++limited;
      EXPECT_NE(ParseBody(r).GetString("error").find("rate limit"), std::string::npos);
    }
  }
  EXPECT_EQ(ok + limited, 40);
  EXPECT_GE(ok, 4);   // the one-second burst
  EXPECT_LE(ok, 15);  // plus at most a few seconds of refill on a slow box
  EXPECT_GE(limited, 25);
}

// A rate under one request per second still admits one request per period
// (a burst of one), not none.
TEST_F(SearchdTest, FractionalRateLimitAdmitsOneRequestPerPeriod) {
  Publish(1);
  auto srv = Start({"--rate-limit", "0.5"});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  const std::string body = "{\"vector\":" + VectorJson(queries_.data()) + "}";
  EXPECT_EQ(c.Post(kSearchPath, body).status, 200);
  EXPECT_EQ(c.Post(kSearchPath, body).status, 429);
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  EXPECT_EQ(c.Post(kSearchPath, body).status, 200);
  EXPECT_EQ(c.Post(kSearchPath, body).status, 429);
}

TEST_F(SearchdTest, MetricsPassPromtool) {
  Publish(1);
  auto srv = Start();
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  c.Post(kSearchPath, "{\"vector\":" + VectorJson(queries_.data()) + "}");
  c.Post(kSearchPath, "{}");
  std::string metrics = c.Get("/metrics").body;
  for (const char* name :
       {"# HELP faiss_search_requests_total", "# HELP faiss_search_request_duration_seconds",
        "faiss_search_request_duration_seconds_bucket{index=\"small\",le=\"0.0001\"}",
        "faiss_search_request_duration_seconds_bucket{index=\"small\",le=\"10\"}",
        "faiss_search_reloads_total{index=\"small\",result=\"ok\"} 1",
        "faiss_search_index_version_info{index=\"small\",version=\"v",
        "faiss_search_index_loaded_timestamp_seconds{index=\"small\"} 1"})
    EXPECT_NE(metrics.find(name), std::string::npos) << name << "\n" << metrics;
  if (::access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool not installed";
  const std::string file = dir_.Sub("metrics.txt");
  test::WriteText(file, metrics);
  auto r = test::RunProcess({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + file});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace searchd_test
}  // namespace frb
