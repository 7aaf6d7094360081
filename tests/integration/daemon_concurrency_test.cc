// Concurrency across processes: two daemons on one data dir, the CLI's
// --local mode while the daemon builds, and cron, API and CLI triggers
// arriving at the same instant. The real binaries on ephemeral ports.
#include <faiss/Index.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "daemon_process.h"
#include "frb/env.h"
#include "frb/json.h"
#include "frb/sha256.h"
#include "frb/store.h"
#include "http_client.h"
#include "testutil.h"

namespace frb {
namespace {

using Clock = std::chrono::steady_clock;
using test::Http;

class DaemonConcurrencyTest : public ::testing::Test {
 protected:
  void WriteConfig(int64_t rows, const std::string& factory, int64_t train_sample,
                   const std::string& schedule) {
    std::string source = dir_.Sub("vecs.npy");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source, rows, 32, 5).ok());
    config_ = dir_.Sub("config.yaml");
    test::WriteText(config_, "data_dir: " + dir_.Sub("data") +
                                 "\nscheduler: { failure_cooldown: 0s }\n"
                                 "indexes:\n"
                                 "  - name: small\n"
                                 "    source: { path: " + source + ", format: npy }\n"
                                 "    dimension: 32\n"
                                 "    metric: L2\n"
                                 "    factory: \"" + factory + "\"\n"
                                 "    train_sample: " + std::to_string(train_sample) + "\n"
                                 "    keep_versions: 1000\n"
                                 "    search: { nprobe: 8 }\n"
                                 "    schedule: \"" + schedule + "\"\n"
                                 "    validation: { queries: 50, min_recall: 0.5, max_p99_ms: 1000 }\n");
  }
  test::ProcessResult Cli(std::vector<std::string> args, int port = 0) {
    std::vector<std::string> head = {test::BinPath("cli/faiss-rebuild"), "--config", config_};
    if (port > 0) head.insert(head.end(), {"--daemon", "http://127.0.0.1:" + std::to_string(port)});
    args.insert(args.begin(), head.begin(), head.end());
    return test::RunProcess(args, {}, 120);
  }
  VersionStore Store() { return VersionStore(Env::Default(), dir_.Sub("data"), "small"); }

  test::TempDir dir_;
  std::string config_;
};

TEST_F(DaemonConcurrencyTest, SecondDaemonOnTheSameDataDirRefusesToStart) {
  WriteConfig(2000, "IVF16,Flat", 1000, "0 3 * * *");
  auto first = std::make_unique<test::RebuilddProcess>(config_, dir_.Sub("d1.log"));
  int port = first->WaitForPort();
  ASSERT_GT(port, 0) << first->Log();

  test::RebuilddProcess second(config_, dir_.Sub("d2.log"));
  ASSERT_TRUE(second.Exited(20000)) << second.Log();
  EXPECT_EQ(second.exit_code(), 1);
  EXPECT_NE(second.Log().find("another faiss-rebuildd already serves data dir " +
                              dir_.Sub("data")),
            std::string::npos)
      << second.Log();
  EXPECT_EQ(Http(port, "GET", "/readyz").status, 200);  // the first one is unaffected

  // SIGKILL releases the lock with the process: a restart comes up.
  first.reset();
  test::RebuilddProcess third(config_, dir_.Sub("d3.log"));
  int port3 = third.WaitForPort();
  ASSERT_GT(port3, 0) << third.Log();
  EXPECT_EQ(Http(port3, "GET", "/readyz").status, 200);
}

TEST_F(DaemonConcurrencyTest, LocalCommandsWhileTheDaemonBuildsAreBusy) {
  // Training IVF2048 on 120k vectors takes seconds: time to collide.
  WriteConfig(150000, "IVF2048,Flat", 120000, "0 3 * * *");
  test::RebuilddProcess d(config_, dir_.Sub("d.log"));
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();
  auto r = Http(port, "POST", "/api/v1/indexes/small/rebuild", "{}");
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id = r.json().GetString("job_id");
  for (auto deadline = Clock::now() + std::chrono::seconds(30);
       Http(port, "GET", "/api/v1/jobs/" + id).json().GetString("state") != "training";) {
    ASSERT_LT(Clock::now(), deadline) << "job never reached training";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (std::vector<std::string> args :
       {std::vector<std::string>{"rebuild", "small", "--force", "--force", "--local"},
        {"backup", "prune", "small"}}) {
    auto busy = Cli(args);
    EXPECT_EQ(busy.exit_code, 4) << args[0] << ": " << busy.err;
    EXPECT_NE(busy.err.find("busy"), std::string::npos) << busy.err;
  }
  EXPECT_EQ(Http(port, "DELETE", "/api/v1/jobs/" + id).status, 202);
  for (auto deadline = Clock::now() + std::chrono::seconds(60);
       Http(port, "GET", "/api/v1/jobs/" + id).json().Find("finished_unix_ms") == nullptr;) {
    ASSERT_LT(Clock::now(), deadline) << "cancelled job never finished";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The lock is free again: the local rebuild now runs.
  auto ok = Cli({"rebuild", "small", "--force", "--local"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

// Cron firing every second, API requests, remote and --local CLI rebuilds,
// all at once for a few seconds. Invariants: one build at a time per index,
// every trigger either accepted or refused as busy (never another error),
// and exactly one published, intact version per successful build.
TEST_F(DaemonConcurrencyTest, CronApiAndCliTriggersAtTheSameInstant) {
  WriteConfig(20000, "IVF64,Flat", 5000, "* * * * * *");
  test::RebuilddProcess d(config_, dir_.Sub("d.log"));
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();

  std::mutex mu;
  std::map<std::string, int> outcomes;  // "api 202", "local exit 4", ...
  int local_published = 0;
  auto note = [&](const std::string& what) {
    std::lock_guard<std::mutex> l(mu);
    ++outcomes[what];
  };
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      while (!stop) note("api " + std::to_string(
                                      Http(port, "POST", "/api/v1/indexes/small/rebuild", R"({"force": true})").status));
    });
  threads.emplace_back([&] {
    while (!stop) note("remote exit " + std::to_string(Cli({"rebuild", "small", "--force"}, port).exit_code));
  });
  threads.emplace_back([&] {
    while (!stop) {
      int rc = Cli({"rebuild", "small", "--force", "--local"}).exit_code;
      note("local exit " + std::to_string(rc));
      if (rc == 0) {
        std::lock_guard<std::mutex> l(mu);
        ++local_published;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(6));
  stop = true;
  for (auto& t : threads) t.join();

  // Let the daemon's queue drain, then stop the cron by stopping the daemon.
  Json jobs;
  for (auto deadline = Clock::now() + std::chrono::seconds(60);;) {
    jobs = *Http(port, "GET", "/api/v1/jobs").json().Find("jobs");
    bool running = false;
    for (const auto& j : jobs.as_array()) running |= j.Find("finished_unix_ms") == nullptr;
    if (!running) break;
    ASSERT_LT(Clock::now(), deadline) << jobs.Dump();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Firings that met a queued or running job are counted, not lost silently.
  // The job list keeps only recent jobs; the counters count them all.
  std::string metrics = Http(port, "GET", "/metrics").body;
  double skipped = test::Sample(metrics, R"(faiss_rebuild_schedule_skipped_total{index="small"})");
  double daemon_published =
      test::Sample(metrics, R"(faiss_rebuild_builds_total{index="small",result="done"})");
  d.Signal(SIGTERM);
  ASSERT_TRUE(d.Exited(30000));
  std::string all_outcomes;
  for (const auto& [k, n] : outcomes) all_outcomes += k + "=" + std::to_string(n) + " ";
  SCOPED_TRACE(all_outcomes + "\njobs: " + jobs.Dump());

  for (const auto& [what, n] : outcomes) {
    bool allowed = what == "api 202" || what == "api 409" || what == "remote exit 0" ||
                   what == "remote exit 4" || what == "local exit 0" || what == "local exit 4";
    EXPECT_TRUE(allowed) << what << " x" << n;
  }
  EXPECT_GT(outcomes["api 202"] + outcomes["remote exit 0"], 0);
  EXPECT_GT(outcomes["api 409"] + outcomes["remote exit 4"] + outcomes["local exit 4"], 0);

  // The daemon never ran two jobs on the index at once; a daemon job that
  // met a local build's lock failed as busy, nothing else.
  std::vector<std::pair<int64_t, int64_t>> spans;
  int cron_jobs = 0;
  for (const auto& j : jobs.as_array()) {
    spans.push_back({j.GetInt("started_unix_ms"), j.GetInt("finished_unix_ms")});
    cron_jobs += j.GetString("trigger") == "schedule";
    if (j.GetString("state") != "done") {
      EXPECT_EQ(j.GetString("error_code"), "busy") << j.Dump();
    }
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    EXPECT_LE(spans[i - 1].second, spans[i].first) << "jobs overlap";
  // The cron fired every second: each firing either started a job or met
  // one already queued or running (the API threads rarely leave a gap).
  ASSERT_FALSE(std::isnan(skipped) || std::isnan(daemon_published)) << metrics;
  EXPECT_GE(cron_jobs + skipped, 4) << "cron jobs " << cron_jobs << ", skipped " << skipped;

  // One intact version per successful build, none lost or half-made.
  VersionStore store = Store();
  auto versions = store.ListVersions();
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(static_cast<double>(versions->size()), daemon_published + local_published);
  for (const auto& v : *versions) {
    auto m = store.ReadManifest(v);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(*Sha256File(Env::Default(), store.VersionIndexPath(v)), m->file_sha256) << v;
  }
  std::unique_ptr<faiss::Index> live(faiss::read_index(store.LivePath().c_str()));
  EXPECT_EQ(live->ntotal, 20000);
  EXPECT_TRUE(Env::Default()->ListDir(store.StagingRoot())->empty());
}

}  // namespace
}  // namespace frb
