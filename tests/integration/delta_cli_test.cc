// Deltas through the real binaries: `faiss-rebuild apply --local`, SIGKILL
// at random instants of an apply, and faiss-rebuildd's POST .../deltas and
// inbox.
#include <faiss/Index.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "daemon_process.h"
#include "frb/env.h"
#include "frb/sha256.h"
#include "frb/store.h"
#include "http_client.h"
#include "synth.h"
#include "testutil.h"

namespace frb {
namespace {

constexpr int kDim = 32;
constexpr int64_t kRows = 30000;

void WriteIds(const std::string& path, const std::vector<int64_t>& ids) {
  std::ofstream f(path, std::ios::binary);
  std::string header = synth::NpyHeader(static_cast<int64_t>(ids.size()), 1, "<i8");
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(ids.data()),
          static_cast<std::streamsize>(ids.size() * sizeof(int64_t)));
}

class DeltaCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string src = dir_.Sub("vecs.npy");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), src, kRows, kDim, 9).ok());
    std::vector<int64_t> ids(kRows);
    for (int64_t r = 0; r < kRows; ++r) ids[r] = 100 + 3 * r;
    WriteIds(dir_.Sub("ids.npy"), ids);
    config_ = dir_.Sub("config.yaml");
    test::WriteText(config_, "data_dir: " + dir_.Sub("data") +
                                 "\n"
                                 "indexes:\n"
                                 "  - name: c\n"
                                 "    source: { path: " + src + ", ids: " + dir_.Sub("ids.npy") +
                                 " }\n"
                                 "    dimension: 32\n"
                                 "    factory: \"IVF64,Flat\"\n"
                                 "    train_sample: 8000\n"
                                 "    keep_versions: 2\n"
                                 "    search: { nprobe: 8 }\n"
                                 "    validation: { queries: 200, min_recall: 0.5, max_p99_ms: 1000 }\n");
  }
  test::ProcessResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {test::BinPath("cli/faiss-rebuild"), "--config", config_});
    return test::RunProcess(args);
  }
  // A delta deleting `deletes` source ids (by row) and upserting new ids.
  void WriteDelta(const std::string& prefix, std::vector<int64_t> delete_rows,
                  std::vector<int64_t> new_ids, uint64_t seed) {
    std::vector<int64_t> del;
    for (int64_t r : delete_rows) del.push_back(100 + 3 * r);
    WriteIds(prefix + ".deletes.npy", del);
    if (!new_ids.empty()) {
      ASSERT_TRUE(synth::WriteNpy(Env::Default(), prefix + ".upserts.npy",
                                  static_cast<int64_t>(new_ids.size()), kDim, seed).ok());
      WriteIds(prefix + ".ids.npy", new_ids);
    }
  }
  VersionStore Store() { return VersionStore(Env::Default(), dir_.Sub("data"), "c"); }
  Manifest Live() { return *Store().ReadManifest(**Store().LiveVersion()); }
  // Live is complete: checksum, loads with plain FAISS, ntotal as its manifest says.
  void CheckLive() {
    Manifest m = Live();
    EXPECT_EQ(*Sha256File(Env::Default(), Store().LivePath()), m.file_sha256);
    std::unique_ptr<faiss::Index> idx(faiss::read_index(Store().LivePath().c_str()));
    EXPECT_EQ(idx->ntotal, m.ntotal);
    EXPECT_TRUE(m.validation.passed);
  }
  int LoggedRecords() {
    auto names = Env::Default()->ListDir(JoinPath(Store().IndexDir(), "deltas"));
    int n = 0;
    if (names.ok())
      for (const auto& x : *names) n += x.size() == 12 && x[0] == '0';
    return n;
  }

  test::TempDir dir_;
  std::string config_;
};

TEST_F(DeltaCliTest, ApplyLocalPublishesDeltaVersion) {
  ASSERT_EQ(Cli({"rebuild", "c", "--local"}).exit_code, 0);
  std::string p = dir_.Sub("d1");
  WriteDelta(p, {0, 1, 2, 3, 4}, {7'000'000, 7'000'001}, 77);
  auto r = Cli({"apply", "c", "--upserts", p + ".upserts.npy", "--ids", p + ".ids.npy",
                "--deletes", p + ".deletes.npy", "--local", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json out = *Json::Parse(r.out);
  EXPECT_EQ(out.GetString("state"), "done");
  EXPECT_EQ(out.Find("delta")->GetInt("seq"), 1);
  Manifest m = Live();
  EXPECT_EQ(m.kind, "delta");
  EXPECT_EQ(m.version_id, out.GetString("version"));
  EXPECT_EQ(m.ntotal, kRows - 5 + 2);
  CheckLive();
}

TEST_F(DeltaCliTest, ApplyRefusesDuplicateIdsNamingTheFile) {
  std::string p = dir_.Sub("dup");
  WriteDelta(p, {}, {5, 6, 5}, 3);
  auto r = Cli({"apply", "c", "--upserts", p + ".upserts.npy", "--ids", p + ".ids.npy",
                "--local"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(p + ".ids.npy"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("duplicate id 5 at rows 0 and 2"), std::string::npos) << r.err;
  EXPECT_EQ(LoggedRecords(), 0);
}

// SIGKILL anywhere in an apply: live stays the old or the new version and
// loadable, and every delta that reached the log is applied in the end.
TEST_F(DeltaCliTest, KillNineDuringApplyLosesNothing) {
  ASSERT_EQ(Cli({"rebuild", "c", "--local"}).exit_code, 0);
  auto run = [&](int i) {
    std::string p = dir_.Sub("k" + std::to_string(i));
    WriteDelta(p, {2 * i, 2 * i + 1}, {}, 0);
    return std::vector<std::string>{test::BinPath("cli/faiss-rebuild"), "--config", config_,
                                    "apply", "c", "--deletes", p + ".deletes.npy", "--local"};
  };
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(test::RunProcess(run(0)).exit_code, 0);
  int full_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - t0).count());
  std::mt19937 rng(20261206);
  std::uniform_int_distribution<int> delay(0, std::max(1, full_ms * 11 / 10));
  int killed = 0;
  const int n = test::CrashIterations(10);
  for (int i = 1; i <= n; ++i) {
    SCOPED_TRACE("iteration " + std::to_string(i));
    int64_t before = Live().ntotal;
    pid_t pid = test::SpawnSilently(run(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay(rng)));
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ++killed;
    }
    CheckLive();
    if (HasFatalFailure()) return;
    int64_t after = Live().ntotal;
    EXPECT_LE(after, before);  // old or newer, never a torn in-between
    EXPECT_TRUE(Store().Lock(false).ok());
  }
  // One more apply takes every logged delta the kills left unapplied.
  auto last = test::RunProcess(run(n + 1));
  ASSERT_EQ(last.exit_code, 0) << last.err;
  CheckLive();
  EXPECT_EQ(Live().ntotal, kRows - 2 * LoggedRecords());
  EXPECT_GT(killed, 0);
  std::printf("delta crash loop: %d iterations, %d killed mid-run, %d deltas logged\n", n,
              killed, LoggedRecords());
}

TEST_F(DeltaCliTest, DaemonAppliesPostedAndInboxDeltasInOrder) {
  ASSERT_EQ(Cli({"rebuild", "c", "--local"}).exit_code, 0);
  test::RebuilddProcess d(config_, dir_.Sub("rebuildd.log"));
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();

  std::string p = dir_.Sub("api");
  WriteDelta(p, {10, 11}, {8'000'000}, 5);
  Json body = Json::MakeObject();
  body["upserts"] = p + ".upserts.npy";
  body["ids"] = p + ".ids.npy";
  body["deletes"] = p + ".deletes.npy";
  auto r = test::Http(port, "POST", "/api/v1/indexes/c/deltas", body.Dump());
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.json().GetInt("seq"), 1);
  std::string job = r.json().GetString("job_id");
  ASSERT_FALSE(job.empty()) << r.body;
  Json done;
  for (int i = 0; i < 600; ++i) {
    done = test::Http(port, "GET", "/api/v1/jobs/" + job).json();
    if (done.Find("finished_unix_ms") != nullptr) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(done.GetString("state"), "done") << done.Dump();
  EXPECT_EQ(done.GetString("kind"), "delta");
  EXPECT_EQ(Live().kind, "delta");
  EXPECT_EQ(Live().ntotal, kRows - 2 + 1);

  // Bad input: 400 naming the problem, nothing logged.
  body["ids"] = p + ".deletes.npy";
  auto bad = test::Http(port, "POST", "/api/v1/indexes/c/deltas", body.Dump());
  EXPECT_EQ(bad.status, 400) << bad.body;

  // The inbox, in name order: a upserts id 9000000, b deletes it again.
  std::string inbox = JoinPath(Store().IndexDir(), "inbox");
  ASSERT_TRUE(Env::Default()->CreateDirs(inbox).ok());
  WriteDelta(JoinPath(inbox, "b"), {}, {}, 0);
  WriteIds(JoinPath(inbox, "b.deletes.npy"), {9'000'000});
  WriteDelta(JoinPath(inbox, "a"), {20}, {9'000'000}, 6);
  test::WriteText(JoinPath(inbox, "a.ready"), "");
  test::WriteText(JoinPath(inbox, "b.ready"), "");
  bool applied = false;
  for (int i = 0; i < 1200 && !applied; ++i) {
    applied = Live().delta_through >= 3;
    if (!applied) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(applied) << d.Log();
  // a then b: 9000000 added then deleted; row 20 deleted.
  EXPECT_EQ(Live().ntotal, kRows - 2 + 1 - 1);
  EXPECT_FALSE(Env::Default()->Exists(JoinPath(inbox, "a.ready")));
  CheckLive();
  std::string metrics = test::Http(port, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("faiss_rebuild_deltas_total{index=\"c\",result=\"done\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("faiss_rebuild_delta_rows_since_full{index=\"c\"} 6"),
            std::string::npos)
      << metrics.substr(0, 200);
}

// `retrain: { max_delta_fraction }`: once a live delta version carries more
// delta rows than that share of the index, the daemon queues one forced full
// rebuild (new centroids), which replays the logged deltas.
TEST_F(DeltaCliTest, DaemonQueuesFullRebuildWhenDeltasPassTheRetrainFraction) {
  std::string text = test::ReadText(config_);
  test::WriteText(config_, text + "    retrain: { max_delta_fraction: 0.00005 }\n");
  ASSERT_EQ(Cli({"rebuild", "c", "--local"}).exit_code, 0);
  const std::string first = **Store().LiveVersion();
  test::RebuilddProcess d(config_, dir_.Sub("rebuildd.log"));
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();

  std::string p = dir_.Sub("api");
  WriteDelta(p, {10, 11}, {8'000'000}, 5);  // 3 rows = 0.0001 of 30000
  Json body = Json::MakeObject();
  body["upserts"] = p + ".upserts.npy";
  body["ids"] = p + ".ids.npy";
  body["deletes"] = p + ".deletes.npy";
  auto r = test::Http(port, "POST", "/api/v1/indexes/c/deltas", body.Dump());
  ASSERT_EQ(r.status, 202) << r.body;
  // The delta version, then a full build after it.
  bool retrained = false;
  for (int i = 0; i < 1200 && !retrained; ++i) {
    Manifest m = Live();
    retrained = m.kind == "full" && m.version_id != first;
    if (!retrained) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(retrained) << d.Log();
  Manifest full = Live();
  EXPECT_EQ(full.delta_rows_since_full, 0);
  EXPECT_EQ(full.ntotal, kRows - 2 + 1);  // the logged delta replayed
  const Manifest parent = *Store().ReadManifest(full.parent_version);
  EXPECT_EQ(parent.kind, "delta");
  EXPECT_NE(d.Log().find("due for a full rebuild"), std::string::npos) << d.Log();
  CheckLive();
  // Once per delta version: the full build is not rebuilt again.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(Live().version_id, full.version_id);
}

}  // namespace
}  // namespace frb
