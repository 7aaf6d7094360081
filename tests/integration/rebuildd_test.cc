// faiss-rebuildd as systemd and operators run it: the real binary on an
// ephemeral port, driven over HTTP and signals, with a datagram socket
// standing in for systemd's NOTIFY_SOCKET.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "frb/env.h"
#include "frb/json.h"
#include "frb/store.h"
#include "daemon_process.h"
#include "http_client.h"
#include "notify_socket.h"
#include "testutil.h"

namespace frb {
namespace {

using Clock = std::chrono::steady_clock;
using test::Http;
using test::RebuilddProcess;
using test::NotifySocket;
using test::Sample;

class RebuilddTest : public ::testing::Test {
 protected:
  void SetUp() override { source_ = dir_.Sub("vecs.npy"); }
  void MakeSource(int64_t rows) {
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, rows, 32, 5).ok());
  }
  void WriteConfig(const std::string& factory, const std::string& extra_top = "",
                   int64_t train_sample = 5000, const std::string& extra_index = "") {
    config_ = dir_.Sub("config.yaml");
    test::WriteText(config_, "data_dir: " + dir_.Sub("data") + "\n" + extra_top +
                                 "indexes:\n"
                                 "  - name: small\n"
                                 "    source: { path: " + source_ + ", format: npy }\n"
                                 "    dimension: 32\n"
                                 "    metric: L2\n"
                                 "    factory: \"" + factory + "\"\n"
                                 "    train_sample: " + std::to_string(train_sample) + "\n"
                                 "    search: { nprobe: 8 }\n"
                                 "    schedule: \"0 3 * * *\"\n"
                                 "    validation: { queries: 100, min_recall: 0.5, max_p99_ms: 1000 }\n" +
                                 extra_index);
  }
  // Polls a job until it reaches `state` (or any terminal state when empty).
  Json WaitJob(int port, const std::string& id, const std::string& state = "",
               int timeout_s = 60) {
    Json j;
    for (auto deadline = Clock::now() + std::chrono::seconds(timeout_s); Clock::now() < deadline;) {
      j = Http(port, "GET", "/api/v1/jobs/" + id).json();
      std::string s = j.GetString("state");
      if (state.empty() ? j.Find("finished_unix_ms") != nullptr : s == state) return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "job " << id << " did not reach '" << state << "': " << j.Dump();
    return j;
  }

  test::TempDir dir_;
  std::string source_, config_;
};

TEST_F(RebuilddTest, RebuildOverHttpFollowedToDoneWithMetricsAndErrors) {
  MakeSource(20000);
  WriteConfig("IVF64,Flat");
  NotifySocket notify(dir_.Sub("notify.sock"));
  RebuilddProcess d(config_, dir_.Sub("d.log"),
                  {"NOTIFY_SOCKET=" + notify.path(), "WATCHDOG_USEC=400000"});
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();
  ASSERT_TRUE(notify.WaitFor("READY=1")) << notify.all();
  EXPECT_TRUE(notify.WaitFor("WATCHDOG=1", 3000)) << notify.all();
  EXPECT_EQ(Http(port, "GET", "/healthz").status, 200);
  EXPECT_EQ(Http(port, "GET", "/readyz").status, 200);

  auto r = Http(port, "POST", "/api/v1/indexes/small/rebuild", "{}");
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id = r.json().GetString("job_id");
  ASSERT_FALSE(id.empty());
  auto again = Http(port, "POST", "/api/v1/indexes/small/rebuild");
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_NE(again.json().GetString("error").find(id), std::string::npos) << again.body;

  auto missing = Http(port, "POST", "/api/v1/indexes/nope/rebuild");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.json().GetString("error").find("nope"), std::string::npos);
  EXPECT_EQ(Http(port, "GET", "/api/v1/indexes/nope").status, 404);
  EXPECT_EQ(Http(port, "GET", "/api/v1/jobs/j-nope").status, 404);
  EXPECT_EQ(Http(port, "DELETE", "/api/v1/jobs/j-nope").status, 404);
  auto bad_body = Http(port, "POST", "/api/v1/indexes/small/rebuild", "{not json");
  EXPECT_EQ(bad_body.status, 400);
  EXPECT_FALSE(bad_body.json().GetString("error").empty()) << bad_body.body;
  auto huge = Http(port, "POST", "/api/v1/indexes/small/rebuild", std::string(200 * 1024, ' '));
  EXPECT_EQ(huge.status, 413);
  EXPECT_EQ(Http(port, "GET", "/api/v1/frobnicate").status, 404);

  Json job = WaitJob(port, id);
  ASSERT_EQ(job.GetString("state"), "done") << job.Dump();
  std::string version = job.GetString("version");
  ASSERT_FALSE(version.empty());
  EXPECT_EQ(job.GetString("trigger"), "api");
  EXPECT_GT(job.Find("stage_seconds")->GetDouble("training"), 0);
  EXPECT_TRUE(job.Find("validation")->GetBool("passed"));
  EXPECT_EQ(Http(port, "DELETE", "/api/v1/jobs/" + id).status, 409);

  Json jobs = Http(port, "GET", "/api/v1/jobs").json();
  ASSERT_EQ(jobs.Find("jobs")->size(), 1u);
  Json idx = Http(port, "GET", "/api/v1/indexes/small").json();
  EXPECT_EQ(idx.Find("live")->GetString("version"), version);
  EXPECT_EQ(idx.Find("last_job")->GetString("state"), "done");
  EXPECT_EQ(idx.GetString("next_run").substr(11), "03:00:00+00:00");
  Json status = Http(port, "GET", "/api/v1/status").json();
  ASSERT_EQ(status.Find("indexes")->size(), 1u);

  auto m = Http(port, "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  const std::string& s = m.body;
  EXPECT_EQ(Sample(s, R"(faiss_rebuild_builds_total{index="small",result="done"})"), 1) << s;
  EXPECT_EQ(Sample(s, R"(faiss_rebuild_index_vectors{index="small"})"), 20000);
  EXPECT_EQ(Sample(s, R"(faiss_rebuild_consecutive_failures{index="small"})"), 0);
  EXPECT_EQ(Sample(s, "faiss_rebuild_live_version_info{index=\"small\",version=\"" + version +
                          "\"}"),
            1);
  EXPECT_GT(Sample(s, R"(faiss_rebuild_validation_recall{index="small"})"), 0.5);
  EXPECT_GT(Sample(s, R"(faiss_rebuild_index_size_bytes{index="small"})"), 20000 * 32 * 4);
  EXPECT_EQ(Sample(s, R"(faiss_rebuild_next_run_timestamp_seconds{index="small"})"),
            static_cast<double>(idx.GetInt("next_run_unix")));
  EXPECT_EQ(Sample(s, R"(faiss_rebuild_build_duration_seconds_count{index="small",stage="training"})"),
            1);
  EXPECT_GT(Sample(s, "faiss_rebuild_disk_free_bytes{path=\"" + dir_.Sub("data") + "\"}"), 0);
  EXPECT_NE(s.find(R"(faiss_rebuild_validation_latency_seconds{index="small",quantile="0.99"})"),
            std::string::npos);
  EXPECT_NE(s.find("# HELP faiss_rebuild_last_success_timestamp_seconds "), std::string::npos);

  d.Signal(SIGTERM);
  ASSERT_TRUE(d.Exited(15000)) << d.Log();
  EXPECT_EQ(d.exit_code(), 0) << d.Log();
  EXPECT_TRUE(notify.WaitFor("STOPPING=1", 1000)) << notify.all();
}

TEST_F(RebuilddTest, MetricsPassPromtool) {
  if (::access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool not installed";
  MakeSource(20000);
  WriteConfig("IVF64,Flat");
  RebuilddProcess d(config_, dir_.Sub("d.log"));
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();
  std::string id = Http(port, "POST", "/api/v1/indexes/small/rebuild").json().GetString("job_id");
  ASSERT_EQ(WaitJob(port, id).GetString("state"), "done");
  std::string scrape = dir_.Sub("scrape.txt");
  test::WriteText(scrape, Http(port, "GET", "/metrics").body);
  auto r = test::RunProcess({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + scrape});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(RebuilddTest, ReloadWithBadConfigKeepsTheRunningOne) {
  MakeSource(20000);
  WriteConfig("IVF64,Flat");
  NotifySocket notify(dir_.Sub("notify.sock"));
  RebuilddProcess d(config_, dir_.Sub("d.log"), {"NOTIFY_SOCKET=" + notify.path()});
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();
  std::string before = Http(port, "GET", "/api/v1/status").json().Find("indexes")->Dump();

  test::WriteText(config_, "data_dir: [unclosed\n");
  d.Signal(SIGHUP);
  ASSERT_TRUE(d.WaitForLog("config reload rejected")) << d.Log();
  EXPECT_TRUE(notify.WaitFor("RELOADING=1")) << notify.all();
  EXPECT_EQ(Http(port, "GET", "/api/v1/status").json().Find("indexes")->Dump(), before);
  EXPECT_EQ(Http(port, "GET", "/readyz").status, 200);

  auto api = Http(port, "POST", "/api/v1/reload");
  EXPECT_EQ(api.status, 400) << api.body;
  ASSERT_TRUE(api.json().Find("problems") != nullptr) << api.body;
  EXPECT_NE(api.json().Find("problems")->Dump().find("config.yaml"), std::string::npos)
      << api.body;

  // A good config with a second index is taken.
  WriteConfig("IVF64,Flat", "", 5000,
              "  - name: second\n"
              "    source: { path: " + source_ + ", format: npy }\n"
              "    dimension: 32\n"
              "    factory: \"Flat\"\n");
  auto ok = Http(port, "POST", "/api/v1/reload");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Http(port, "GET", "/api/v1/status").json().Find("indexes")->size(), 2u);
  EXPECT_EQ(Http(port, "GET", "/api/v1/indexes/second").status, 200);
  d.Signal(SIGTERM);
  ASSERT_TRUE(d.Exited(10000));
  EXPECT_EQ(d.exit_code(), 0);
}

TEST_F(RebuilddTest, MutatingEndpointsNeedTheBearerToken) {
  MakeSource(2000);
  std::string token = dir_.Sub("token");
  test::WriteText(token, "s3cret-token\n");
  ::chmod(token.c_str(), 0640);
  WriteConfig("IVF16,Flat", "http: { token_file: " + token + " }\n", 1000);
  {
    // A group-readable token file is refused at start.
    RebuilddProcess d(config_, dir_.Sub("d0.log"));
    ASSERT_TRUE(d.Exited(10000));
    EXPECT_EQ(d.exit_code(), 1);
    EXPECT_NE(d.Log().find("group- or world-readable"), std::string::npos) << d.Log();
  }
  ::chmod(token.c_str(), 0600);
  RebuilddProcess d(config_, dir_.Sub("d.log"));
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();
  EXPECT_EQ(Http(port, "GET", "/api/v1/status").status, 200);  // reads stay open
  auto none = Http(port, "POST", "/api/v1/indexes/small/rebuild");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.json().GetString("error"), "missing bearer token");
  EXPECT_EQ(Http(port, "POST", "/api/v1/indexes/small/rebuild", "",
                 "Authorization: Bearer s3cret-tokem\r\n").status, 401);
  EXPECT_EQ(Http(port, "POST", "/api/v1/reload").status, 401);
  EXPECT_EQ(Http(port, "DELETE", "/api/v1/jobs/x").status, 401);
  EXPECT_TRUE(Http(port, "GET", "/api/v1/jobs").json().Find("jobs")->size() == 0);
  auto good = Http(port, "POST", "/api/v1/indexes/small/rebuild", "",
                   "Authorization: Bearer s3cret-token\r\n");
  EXPECT_EQ(good.status, 202) << good.body;
}

TEST_F(RebuilddTest, BackupAndRestoreRunAsJobsThroughTheApi) {
  MakeSource(20000);
  WriteConfig("IVF64,Flat");
  RebuilddProcess d(config_, dir_.Sub("d.log"));
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();
  auto run = [&](const std::string& path, const std::string& body) {
    auto r = Http(port, "POST", path, body);
    EXPECT_EQ(r.status, 202) << path << " " << r.body;
    return WaitJob(port, r.json().GetString("job_id"));
  };
  Json first = run("/api/v1/indexes/small/rebuild", "");
  ASSERT_EQ(first.GetString("state"), "done") << first.Dump();
  std::string v1 = first.GetString("version");
  Json backup = run("/api/v1/indexes/small/backups", "");
  ASSERT_EQ(backup.GetString("state"), "done") << backup.Dump();
  EXPECT_EQ(backup.GetString("kind"), "backup");
  EXPECT_EQ(backup.GetString("version"), v1);
  Json second = run("/api/v1/indexes/small/rebuild", R"({"force": true})");
  ASSERT_EQ(second.GetString("state"), "done") << second.Dump();
  std::string v2 = second.GetString("version");

  Json list = Http(port, "GET", "/api/v1/indexes/small/backups").json();
  ASSERT_TRUE(list.Find("backups") != nullptr) << list.Dump();
  ASSERT_GE(list.Find("backups")->size(), 1u) << list.Dump();
  EXPECT_EQ(list.Find("backups")->as_array()[0].GetString("version"), v1);

  EXPECT_EQ(Http(port, "POST", "/api/v1/indexes/small/restore", "").status, 400);
  EXPECT_EQ(Http(port, "POST", "/api/v1/indexes/small/restore", R"({"version":"../x"})").status,
            400);
  EXPECT_EQ(Http(port, "POST", "/api/v1/indexes/nope/restore", R"({"version":"v1"})").status, 404);
  EXPECT_EQ(Http(port, "GET", "/api/v1/indexes/nope/backups").status, 404);

  Json restored = run("/api/v1/indexes/small/restore", "{\"version\":\"" + v1 + "\"}");
  ASSERT_EQ(restored.GetString("state"), "done") << restored.Dump();
  std::string v3 = restored.GetString("version");
  EXPECT_NE(v3, v1);
  EXPECT_NE(v3, v2);
  EXPECT_EQ(restored.GetString("parent_version"), v2);
  VersionStore store(Env::Default(), dir_.Sub("data"), "small");
  auto m = store.ReadManifest(v3);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->restored_from, v1);
  EXPECT_EQ(Http(port, "GET", "/api/v1/indexes/small").json().Find("live")->GetString("version"),
            v3);
  std::string s = Http(port, "GET", "/metrics").body;
  EXPECT_EQ(Sample(s, R"(faiss_rebuild_rollbacks_total{index="small"})"), 1) << s;
  EXPECT_EQ(Sample(s, R"(faiss_rebuild_builds_total{index="small",result="done"})"), 2);
  EXPECT_GE(Sample(s, R"(faiss_rebuild_backups{index="small"})"), 1);
  EXPECT_GT(Sample(s, R"(faiss_rebuild_backup_bytes{index="small"})"), 0);
}

TEST_F(RebuilddTest, SigtermMidBuildCancelsCleanlyAndKeepsLive) {
  // Big enough that IVF1024 training takes several seconds on 2 cores.
  MakeSource(150000);
  WriteConfig("IVF64,Flat", "", 20000);
  RebuilddProcess d(config_, dir_.Sub("d.log"));
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();
  std::string first = Http(port, "POST", "/api/v1/indexes/small/rebuild").json().GetString("job_id");
  Json done = WaitJob(port, first);
  ASSERT_EQ(done.GetString("state"), "done") << done.Dump();
  std::string live = done.GetString("version");

  WriteConfig("IVF2048,Flat", "", 120000);
  ASSERT_EQ(Http(port, "POST", "/api/v1/reload").status, 200);
  std::string id = Http(port, "POST", "/api/v1/indexes/small/rebuild").json().GetString("job_id");
  ASSERT_FALSE(id.empty());
  WaitJob(port, id, "training");
  auto t0 = Clock::now();
  d.Signal(SIGTERM);
  ASSERT_TRUE(d.Exited(20000)) << d.Log();
  double stop_s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(d.exit_code(), 0) << d.Log();
  EXPECT_LT(stop_s, 10) << "stop took " << stop_s << " s";
  EXPECT_NE(d.Log().find("cancelled in training"), std::string::npos) << d.Log();

  VersionStore store(Env::Default(), dir_.Sub("data"), "small");
  auto now_live = store.LiveVersion();
  ASSERT_TRUE(now_live.ok() && *now_live);
  EXPECT_EQ(**now_live, live);
  auto staging = Env::Default()->ListDir(store.StagingRoot());
  EXPECT_TRUE(!staging.ok() || staging->empty());
  auto versions = store.ListVersions();
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), 1u);
}

}  // namespace
}  // namespace frb
