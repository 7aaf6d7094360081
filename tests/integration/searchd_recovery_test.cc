// faiss-searchd when things go wrong around it, with the real binary: a live
// version that fails verification (at start and while serving), the report
// to faiss-rebuildd, configuration reloads on SIGHUP under load, and memory
// admission from injected MemAvailable / cgroup readings.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mini_http_client.h"
#include "daemon_process.h"
#include "fake_http_server.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/json.h"
#include "frb/rebuild.h"
#include "frb/store.h"
#include "http_client.h"
#include "notify_socket.h"
#include "testutil.h"

namespace frb {
namespace {

using searchd::testing::MiniHttpClient;
using Clock = std::chrono::steady_clock;

constexpr int kDim = 32;
constexpr int kCount = 10000;

// Hammers one index with single searches from `threads` connections and
// counts every answer that is not a 200.
// Thread-safe: Stop from the test thread.
class Hammer {
 public:
  Hammer(int port, const std::string& index, const std::string& body, int threads = 2) {
    for (int t = 0; t < threads; ++t)
      threads_.emplace_back([this, port, index, body] {
        MiniHttpClient c(port);
        while (!stop_) {
          auto r = c.Post("/api/v1/indexes/" + index + "/search", body);
          ++requests_;
          if (r.status != 200) {
            std::lock_guard<std::mutex> lock(mu_);
            if (failures_++ == 0) first_ = std::to_string(r.status) + " " + r.body;
          }
        }
      });
  }
  ~Hammer() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  int requests() const { return requests_; }
  int failures() const { return failures_; }
  std::string first() const {
    std::lock_guard<std::mutex> lock(mu_);
    return first_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0}, failures_{0};
  mutable std::mutex mu_;
  std::string first_;
  std::vector<std::thread> threads_;
};

class SearchdRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = dir_.Sub("vecs.npy");
    other_source_ = dir_.Sub("other.npy");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, kCount, kDim, 1).ok());
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), other_source_, kCount, kDim, 7).ok());
    config_path_ = dir_.Sub("config.yaml");
    WriteConfig({"small"});
    auto both = LoadConfig(Env::Default(), config_path_);
    ASSERT_TRUE(both.ok()) << both.status().ToString();
    // The builder's view: both indexes, whatever searchd is configured with.
    WriteConfig({"small", "other"});
    auto cfg = LoadConfig(Env::Default(), config_path_);
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    config_ = *cfg;
    WriteConfig({"small"});
    query_ = "{\"vector\":[";
    for (int i = 0; i < kDim; ++i) query_ += (i ? ",0." : "0.") + std::to_string(i % 10);
    query_ += "],\"k\":5}";
  }

  // Writes the config file serving `indexes` (of "small" and "other");
  // `extra` goes at the top level, `nprobe` is small's.
  void WriteConfig(const std::vector<std::string>& indexes, const std::string& extra = "",
                   int nprobe = 4) {
    std::string y = "data_dir: " + dir_.Sub("data") + "\n" + extra + "indexes:\n";
    for (const std::string& name : indexes) {
      y += "  - name: " + name + "\n    source: { path: " +
           (name == "small" ? source_ : other_source_) +
           ", format: npy }\n"
           "    dimension: 32\n    metric: L2\n    factory: \"IVF64,Flat\"\n"
           "    train_sample: 2500\n    search: { nprobe: " +
           std::to_string(name == "small" ? nprobe : 4) +
           " }\n    keep_versions: 4\n"
           "    validation: { queries: 100, latency_queries: 20, min_recall: 0.5,"
           " max_p99_ms: 1000, max_size_change: 5, max_count_change: 5 }\n";
    }
    test::WriteText(config_path_, y);
  }

  std::string Publish(uint64_t seed, size_t index = 0) {
    const std::string& src = index == 0 ? source_ : other_source_;
    EXPECT_TRUE(synth::WriteNpy(Env::Default(), src, kCount, kDim, seed).ok());
    JobControl control;
    RebuildJob job(Env::Default(), config_, config_.indexes[index], RebuildOptions{});
    JobOutcome out = job.Run(control);
    EXPECT_TRUE(out.status.ok()) << out.status.ToString();
    return out.version_id;
  }

  // Flips one byte in the middle of `version`'s index file: its manifest's
  // SHA-256 no longer matches (FAISS itself would load it).
  void Corrupt(const std::string& version, const std::string& index = "small") {
    VersionStore store(Env::Default(), config_.data_dir, index);
    const std::string path = store.VersionIndexPath(version);
    ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
    std::string data = test::ReadText(path);
    data[data.size() / 2] ^= 0x01;
    test::WriteText(path, data);
  }

  // Publishes a copy of `from` under the new id `id` (an intact file when
  // `flip` is false) as the live version: what a repair by the daemon (a
  // restore) or a damaged publish looks like to searchd. The builder itself
  // refuses to replace a live version that fails its checksum.
  void PublishCopy(const std::string& from, const std::string& id, bool flip) {
    VersionStore store(Env::Default(), config_.data_dir, "small");
    ASSERT_EQ(::mkdir(store.VersionDir(id).c_str(), 0755), 0);
    auto m = store.ReadManifest(from);
    ASSERT_TRUE(m.ok());
    m->version_id = id;
    test::WriteText(JoinPath(store.VersionDir(id), "manifest.json"), m->Serialize());
    std::string data = test::ReadText(store.VersionIndexPath(from));
    if (flip) data[data.size() / 3] ^= 0x10;
    test::WriteText(store.VersionIndexPath(id), data);
    ASSERT_TRUE(store.SwapLive(id).ok());
  }

  std::unique_ptr<test::ChildProcess> Start(std::vector<std::string> extra = {},
                                            std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {test::BinPath("daemon/searchd/faiss-searchd"), "--config",
                                     config_path_, "--listen", "127.0.0.1:0", "--poll-ms",
                                     "100"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    test::ChildOptions o;
    o.env = std::move(env);
    o.capture_stdout = false;
    o.term_grace_ms = 5000;
    auto p = std::make_unique<test::ChildProcess>(argv, dir_.Sub("searchd.log"), o);
    EXPECT_GT(p->WaitForPort(), 0) << p->Log();
    return p;
  }

  static bool WaitReady(MiniHttpClient& c, double seconds = 20) {
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < until) {
      if (c.Get("/readyz").status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // The version /api/v1/indexes names for `index` ("" when not loaded,
  // "absent" when not configured).
  static std::string Served(MiniHttpClient& c, const std::string& index = "small") {
    auto j = Json::Parse(c.Get("/api/v1/indexes").body);
    if (!j.ok() || j->Find("indexes") == nullptr) return "?";
    for (const Json& e : j->Find("indexes")->as_array())
      if (e.GetString("name") == index) return e.GetString("version");
    return "absent";
  }

  static bool WaitServed(MiniHttpClient& c, const std::string& v, double seconds = 10,
                         const std::string& index = "small") {
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < until) {
      if (Served(c, index) == v) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  static double Metric(MiniHttpClient& c, const std::string& series) {
    return test::Sample(c.Get("/metrics").body, series);
  }

  // Waits until the metric sample equals `want`.
  static bool WaitMetric(MiniHttpClient& c, const std::string& series, double want,
                         double seconds = 10) {
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < until) {
      if (Metric(c, series) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  static Json Readyz(MiniHttpClient& c) {
    auto j = Json::Parse(c.Get("/readyz").body);
    return j.ok() ? *j : Json();
  }

  test::TempDir dir_;
  std::string source_, other_source_, config_path_, query_;
  Config config_;
};

const char* kDegraded = "faiss_search_degraded{index=\"small\"}";
const char* kFailed = "faiss_search_reloads_total{index=\"small\",result=\"failed\"}";

// Live fails its checksum at start: the rollback target is served, ready
// and degraded, the daemon is asked to verify, and a repaired (newly
// published) live version is swapped in and clears the state.
TEST_F(SearchdRecoveryTest, CorruptLiveAtStartServesRollbackAndRecovers) {
  Publish(1);
  const std::string v2 = Publish(2);
  const std::string v3 = Publish(3);
  Corrupt(v3);
  test::FakeHttpServer daemon(202);
  const std::string token = dir_.Sub("token");
  test::WriteText(token, "s3cret\n");
  ASSERT_EQ(::chmod(token.c_str(), 0600), 0);
  WriteConfig({"small"}, "http: { listen: \"127.0.0.1:" + std::to_string(daemon.port()) +
                             "\", token_file: " + token + " }\n");
  const auto started = Clock::now();
  auto srv = Start();
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  std::printf("ready on the rollback version %.2f s after start\n",
              std::chrono::duration<double>(Clock::now() - started).count());
  EXPECT_EQ(Served(c), v2) << srv->Log();  // the rollback target, not an older one

  Json ready = Readyz(c);
  EXPECT_TRUE(ready.Find("ready") && ready.Find("ready")->as_bool()) << ready.Dump();
  const Json* degraded = ready.Find("degraded");
  ASSERT_TRUE(degraded && degraded->size() == 1) << ready.Dump();
  const Json& d = degraded->as_array()[0];
  EXPECT_EQ(d.GetString("index"), "small");
  EXPECT_EQ(d.GetString("serving"), v2);
  EXPECT_EQ(d.GetString("live"), v3);
  EXPECT_NE(d.GetString("reason").find("SHA-256"), std::string::npos) << ready.Dump();
  EXPECT_EQ(Metric(c, kDegraded), 1);
  EXPECT_EQ(Metric(c, kFailed), 1);
  EXPECT_EQ(Metric(c, "faiss_search_reloads_total{index=\"small\",result=\"fallback\"}"), 1);

  // The daemon was asked, with the bearer token.
  ASSERT_TRUE(daemon.WaitRequests(1, 10)) << srv->Log();
  const std::string req = daemon.requests()[0];
  EXPECT_EQ(req.rfind("POST /api/v1/indexes/small/verify HTTP/1.1", 0), 0u) << req;
  EXPECT_NE(req.find("Authorization: Bearer s3cret"), std::string::npos) << req;

  // Queries are answered from v2 all along; the bad live is not retried.
  Hammer hammer(srv->port(), "small", query_);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(Metric(c, kFailed), 1) << srv->Log();
  EXPECT_EQ(daemon.requests().size(), 1u);

  // The daemon repairs by publishing an intact copy as a new live version.
  const std::string v4 = "v800000-20991231T000000Z";
  PublishCopy(v2, v4, false);
  EXPECT_TRUE(WaitServed(c, v4)) << srv->Log();
  EXPECT_TRUE(WaitMetric(c, kDegraded, 0)) << srv->Log();
  EXPECT_EQ(Readyz(c).Find("degraded")->size(), 0u);
  hammer.Stop();
  EXPECT_GT(hammer.requests(), 50);
  EXPECT_EQ(hammer.failures(), 0) << hammer.first();
}

// Live and rollback both fail: the newest other version that verifies is
// served; never a 503 while one exists.
TEST_F(SearchdRecoveryTest, CorruptLiveAndRollbackServeTheNewestIntactVersion) {
  const std::string v1 = Publish(1);
  const std::string v2 = Publish(2);
  const std::string v3 = Publish(3);
  Corrupt(v3);
  Corrupt(v2);
  WriteConfig({"small"}, "search_server: { report_corruption: false }\n");
  auto srv = Start();
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  EXPECT_EQ(Served(c), v1) << srv->Log();
  EXPECT_EQ(Metric(c, kFailed), 2);
  EXPECT_EQ(Metric(c, kDegraded), 1);
  EXPECT_NE(srv->Log().find("report_corruption is off"), std::string::npos) << srv->Log();
  auto r = c.Post("/api/v1/indexes/small/search", query_);
  EXPECT_EQ(r.status, 200) << r.body;
}

// No daemon at http.listen: the report is tried a bounded number of times,
// spaced out, and serving never waits for it.
TEST_F(SearchdRecoveryTest, UnreachableDaemonIsRetriedABoundedNumberOfTimes) {
  const std::string v1 = Publish(1);
  const std::string v2 = Publish(2);
  Corrupt(v2);
  WriteConfig({"small"}, "http: { listen: \"127.0.0.1:" + std::to_string(test::FreePort()) +
                             "\" }\n");
  const auto start = Clock::now();
  auto srv = Start();
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  EXPECT_EQ(Served(c), v1);
  EXPECT_EQ(c.Post("/api/v1/indexes/small/search", query_).status, 200);
  ASSERT_TRUE(srv->WaitForLog("gave up asking faiss-rebuildd", 20)) << srv->Log();
  // Three attempts, 1 s and 2 s apart.
  EXPECT_GE(Clock::now() - start, std::chrono::seconds(3));
  const std::string log = srv->Log();
  size_t attempts = 0;
  for (size_t p = 0; (p = log.find("to verify it failed", p)) != std::string::npos; ++p)
    ++attempts;
  EXPECT_EQ(attempts, 3u) << log;
}

// A corrupt live version published while serving: the old version keeps
// serving with zero failed queries, degraded; the daemon lacking the verify
// endpoint (404) is logged once and changes nothing.
TEST_F(SearchdRecoveryTest, CorruptLivePublishedWhileServingKeepsTheOldOne) {
  Publish(1);
  const std::string v2 = Publish(2);
  test::FakeHttpServer daemon(404);
  WriteConfig({"small"},
              "http: { listen: \"127.0.0.1:" + std::to_string(daemon.port()) + "\" }\n");
  auto srv = Start();
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  ASSERT_EQ(Served(c), v2);
  Hammer hammer(srv->port(), "small", query_);

  // v3 is published and served; then live moves to a copy of v3 under a
  // new id whose file lost a bit on the way (the manifest is intact).
  const std::string v3 = Publish(3);
  ASSERT_TRUE(WaitServed(c, v3)) << srv->Log();
  const std::string bad = "v999999-20991231T000000Z";
  PublishCopy(v3, bad, true);

  ASSERT_TRUE(WaitMetric(c, kDegraded, 1)) << srv->Log();
  EXPECT_EQ(Served(c), v3);
  Json ready = Readyz(c);
  ASSERT_EQ(ready.Find("degraded")->size(), 1u) << ready.Dump();
  EXPECT_EQ(ready.Find("degraded")->as_array()[0].GetString("serving"), v3);
  EXPECT_EQ(ready.Find("degraded")->as_array()[0].GetString("live"), bad);
  EXPECT_EQ(c.Get("/readyz").status, 200);
  ASSERT_TRUE(daemon.WaitRequests(1, 10));
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(daemon.requests().size(), 1u);  // a 404 is not retried
  EXPECT_NE(srv->Log().find("has no verify endpoint"), std::string::npos) << srv->Log();
  EXPECT_EQ(Metric(c, kFailed), 1);

  // Repaired: a good new live version.
  const std::string v4 = "v800000-20991231T000000Z";
  PublishCopy(v3, v4, false);
  EXPECT_TRUE(WaitServed(c, v4)) << srv->Log();
  EXPECT_TRUE(WaitMetric(c, kDegraded, 0));
  hammer.Stop();
  EXPECT_GT(hammer.requests(), 50);
  EXPECT_EQ(hammer.failures(), 0) << hammer.first();
}

// SIGHUP: an added index is loaded and served, a removed one answers 404,
// changed search parameters apply, a config that fails validation is
// refused; a client hammering the unchanged index never sees a non-200,
// and systemd hears RELOADING=1 ... READY=1 each time.
TEST_F(SearchdRecoveryTest, SighupReloadsTheConfigWithZeroFailedQueries) {
  Publish(1);
  const std::string o1 = Publish(1, 1);
  test::NotifySocket notify(dir_.Sub("notify.sock"));
  auto srv = Start({}, {"NOTIFY_SOCKET=" + notify.path()});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  EXPECT_EQ(c.Post("/api/v1/indexes/other/search", query_).status, 404);
  Hammer hammer(srv->port(), "small", query_);

  // Add "other".
  WriteConfig({"small", "other"});
  srv->Signal(SIGHUP);
  ASSERT_TRUE(WaitServed(c, o1, 10, "other")) << srv->Log();
  EXPECT_EQ(c.Post("/api/v1/indexes/other/search", query_).status, 200);
  EXPECT_TRUE(notify.WaitFor("RELOADING=1")) << notify.all();

  // Change small's nprobe.
  WriteConfig({"small", "other"}, "", 9);
  srv->Signal(SIGHUP);
  const auto until = Clock::now() + std::chrono::seconds(10);
  int nprobe = 0;
  while (Clock::now() < until && nprobe != 9) {
    auto j = Json::Parse(c.Get("/api/v1/indexes").body);
    if (j.ok())
      for (const Json& e : j->Find("indexes")->as_array())
        if (e.GetString("name") == "small") nprobe = static_cast<int>(e.GetInt("nprobe"));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(nprobe, 9) << srv->Log();

  // A broken config is refused whole; everything keeps serving.
  test::WriteText(config_path_, "data_dir: [\nindexes: nope\n");
  srv->Signal(SIGHUP);
  EXPECT_TRUE(WaitMetric(c, "faiss_search_config_reloads_total{result=\"failed\"}", 1))
      << srv->Log();
  EXPECT_EQ(c.Post("/api/v1/indexes/other/search", query_).status, 200);
  EXPECT_NE(srv->Log().find("still serving the previous configuration"), std::string::npos);

  // Remove "other": its requests 404 from then on.
  WriteConfig({"small"}, "", 9);
  srv->Signal(SIGHUP);
  EXPECT_TRUE(WaitServed(c, "absent", 10, "other")) << srv->Log();
  EXPECT_EQ(c.Post("/api/v1/indexes/other/search", query_).status, 404);
  EXPECT_TRUE(std::isnan(Metric(c, "faiss_search_degraded{index=\"other\"}")));
  EXPECT_TRUE(WaitMetric(c, "faiss_search_config_reloads_total{result=\"ok\"}", 3));

  hammer.Stop();
  std::printf("%d searches across 4 configuration reloads, %d not 200\n", hammer.requests(),
              hammer.failures());
  EXPECT_GT(hammer.requests(), 100);
  EXPECT_EQ(hammer.failures(), 0) << hammer.first();
  EXPECT_TRUE(srv->Alive()) << srv->Log();
  EXPECT_EQ(notify.Count("RELOADING=1"), 4) << notify.all();
  EXPECT_TRUE(notify.WaitFor("READY=1")) << notify.all();
  EXPECT_EQ(notify.Count("READY=1"), 5) << notify.all();  // start + 4 reloads
}

// Without --memory-limit-bytes a swap must fit in the memory the kernel
// reports: MemAvailable, then the cgroup's memory.max headroom. A swap that
// does not fit is refused and counted, and the old version keeps serving.
TEST_F(SearchdRecoveryTest, MemoryAdmissionFromMemAvailableAndCgroup) {
  const std::string v1 = Publish(1);
  const std::string meminfo = dir_.Sub("meminfo");
  const std::string cg = dir_.Sub("cgroup");
  ASSERT_TRUE(Env::Default()->CreateDirs(cg).ok());
  test::WriteText(meminfo, "MemTotal: 100000 kB\nMemAvailable:    50000 kB\n");  // < reserve
  auto srv = Start({"--meminfo", meminfo, "--cgroup-dir", cg});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();  // the first load is never refused
  ASSERT_EQ(Served(c), v1);
  Hammer hammer(srv->port(), "small", query_);

  const char* kRefused = "faiss_search_reloads_total{index=\"small\",result=\"refused_memory\"}";
  Publish(2);
  EXPECT_TRUE(WaitMetric(c, kRefused, 1)) << srv->Log();
  EXPECT_EQ(Served(c), v1);
  EXPECT_NE(srv->Log().find("MemAvailable"), std::string::npos) << srv->Log();
  EXPECT_EQ(Metric(c, kDegraded), 1);

  // Plenty of MemAvailable, but the cgroup is nearly full.
  test::WriteText(meminfo, "MemAvailable: 100000000 kB\n");
  test::WriteText(cg + "/memory.max", "1000000000\n");
  test::WriteText(cg + "/memory.current", "990000000\n");
  Publish(3);
  EXPECT_TRUE(WaitMetric(c, kRefused, 2)) << srv->Log();
  EXPECT_EQ(Served(c), v1);
  EXPECT_NE(srv->Log().find("cgroup memory.max"), std::string::npos) << srv->Log();

  // Room again: the next version is taken.
  test::WriteText(cg + "/memory.max", "max\n");
  const std::string v4 = Publish(4);
  EXPECT_TRUE(WaitServed(c, v4)) << srv->Log();
  EXPECT_EQ(Metric(c, kDegraded), 0);
  hammer.Stop();
  EXPECT_EQ(hammer.failures(), 0) << hammer.first();
}

// --memory-limit-bytes still wins over the available-memory default.
TEST_F(SearchdRecoveryTest, ManualMemoryLimitWinsOverAvailableMemory) {
  Publish(1);
  const std::string meminfo = dir_.Sub("meminfo");
  test::WriteText(meminfo, "MemAvailable: 1 kB\n");
  auto srv = Start({"--meminfo", meminfo, "--cgroup-dir", dir_.Sub("none"),
                    "--memory-limit-bytes", "100000000000"});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  const std::string v2 = Publish(2);
  EXPECT_TRUE(WaitServed(c, v2)) << srv->Log();
}

}  // namespace
}  // namespace frb
