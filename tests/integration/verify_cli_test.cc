// verify, repair, rollback and integrity reporting through the real CLI
// (--local) and a real faiss-rebuildd: a flipped byte in the live index
// file is named by `verify` (exit 7), shown by `status`, fails `health`
// while it cannot be repaired, and is repaired by the daemon (new live
// version from the intact one, the corrupt one in quarantine, counted).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "daemon_process.h"
#include "frb/env.h"
#include "frb/json.h"
#include "http_client.h"
#include "testutil.h"

namespace frb {
namespace {

using Clock = std::chrono::steady_clock;

class VerifyCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = dir_.Sub("vecs.npy");
    config_ = dir_.Sub("config.yaml");
    data_ = dir_.Sub("data");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 4000, 16, seed_, 16).ok());
    test::WriteText(config_, "data_dir: " + data_ + "\n"
                             "indexes:\n"
                             "  - name: small\n"
                             "    source: { path: " + source_ + ", format: npy }\n"
                             "    dimension: 16\n"
                             "    factory: \"IVF16,Flat\"\n"
                             "    train_sample: 2000\n"
                             "    search: { nprobe: 8 }\n"
                             "    validation: { queries: 50, min_recall: 0.3, max_p99_ms: 1000 }\n");
  }
  // A rebuild from fresh vectors (new content, so never "unchanged").
  void Rebuild(bool local) {
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 4000, 16, ++seed_, 16).ok());
    auto r = Cli({"rebuild", "small", "--wait"}, local);
    ASSERT_EQ(r.exit_code, 0) << r.err << (daemon_ ? daemon_->Log() : "");
  }
  test::ProcessResult Cli(std::vector<std::string> args, bool local) {
    std::vector<std::string> head = {test::BinPath("cli/faiss-rebuild"), "--config", config_};
    if (local) head.push_back("--local");
    else head.insert(head.end(), {"--daemon", "http://127.0.0.1:" + std::to_string(port_)});
    args.insert(args.begin(), head.begin(), head.end());
    return test::RunProcess(args, {}, 120);
  }
  std::string IndexDir() { return JoinPath(JoinPath(data_, "indexes"), "small"); }
  std::string Pointer(const std::string& name) {
    auto t = Env::Default()->ReadLink(JoinPath(IndexDir(), name));
    return t.ok() ? BaseName(*t) : "";
  }
  std::string LiveFile() { return JoinPath(JoinPath(IndexDir(), "versions/" + Pointer("live")), "index.faiss"); }
  void StartDaemon() {
    daemon_ = std::make_unique<test::RebuilddProcess>(config_, dir_.Sub("d.log"));
    port_ = daemon_->WaitForPort();
    ASSERT_GT(port_, 0) << daemon_->Log();
  }
  // The daemon may be running its own verify (integrity watch): retry
  // while the index is busy (exit 4).
  test::ProcessResult CliWhenIdle(std::vector<std::string> args) {
    test::ProcessResult r;
    for (auto end = Clock::now() + std::chrono::seconds(30); Clock::now() < end;) {
      r = Cli(args, false);
      if (r.exit_code != 4) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return r;
  }
  double Metric(const std::string& series) {
    return test::Sample(test::Http(port_, "GET", "/metrics").body, series);
  }

  test::TempDir dir_;
  std::string source_, config_, data_;
  uint64_t seed_ = 0;
  int port_ = 0;
  std::unique_ptr<test::RebuilddProcess> daemon_;
};

TEST_F(VerifyCliTest, LocalVerifyNamesFileAndCheckThenRepairs) {
  Rebuild(true);
  Rebuild(true);
  std::string bad = Pointer("live"), good = Pointer("rollback");
  auto ok = Cli({"verify"}, true);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;

  test::FlipByte(LiveFile());
  auto st = Cli({"status", "--json"}, true);
  ASSERT_EQ(st.exit_code, 0) << st.err;
  auto sj = Json::Parse(st.out);
  ASSERT_TRUE(sj.ok()) << st.out;
  EXPECT_EQ(sj->as_array()[0].Find("integrity")->Find("live")->GetString("state"), "modified")
      << st.out;

  auto v = Cli({"verify", "small"}, true);
  EXPECT_EQ(v.exit_code, 7) << v.out << v.err;
  EXPECT_NE(v.out.find("CORRUPT " + LiveFile() + ": sha256 check failed"), std::string::npos) << v.out;
  auto human = Cli({"status", "small"}, true);
  EXPECT_NE(human.out.find("CORRUPT"), std::string::npos) << human.out;
  auto versions = Cli({"versions", "small"}, true);
  size_t line = versions.out.find(bad);
  ASSERT_NE(line, std::string::npos) << versions.out;
  std::string row = versions.out.substr(line, versions.out.find('\n', line) - line);
  EXPECT_NE(row.find("CORRUPT: " + LiveFile() + ": sha256"), std::string::npos) << row;

  auto vj = Cli({"verify", "--json"}, true);
  EXPECT_EQ(vj.exit_code, 7);
  auto parsed = Json::Parse(vj.out);
  ASSERT_TRUE(parsed.ok()) << vj.out;
  EXPECT_FALSE(parsed->as_array()[0].GetBool("ok"));

  auto rep = Cli({"verify", "--repair", "--json"}, true);
  EXPECT_EQ(rep.exit_code, 7) << rep.err;
  auto rj = Json::Parse(rep.out);
  ASSERT_TRUE(rj.ok()) << rep.out;
  const Json* repair = rj->as_array()[0].Find("repair");
  ASSERT_TRUE(repair && repair->GetBool("repaired")) << rep.out;
  EXPECT_EQ(repair->GetString("repaired_from"), good);
  EXPECT_NE(Pointer("live"), bad);
  EXPECT_EQ(Pointer("rollback"), good);
  EXPECT_TRUE(Env::Default()->Exists(JoinPath(IndexDir(), "quarantine/" + bad)));
  auto after = Cli({"verify"}, true);
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err;
  versions = Cli({"versions", "small", "--json"}, true);
  EXPECT_NE(versions.out.find("\"quarantine\""), std::string::npos) << versions.out;

  // Rollback: verified, then made live.
  auto rb = Cli({"rollback", "small"}, true);
  EXPECT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_EQ(Pointer("live"), good);
}

TEST_F(VerifyCliTest, LocalRollbackRefusesCorruptTarget) {
  Rebuild(true);
  auto none = Cli({"rollback", "small"}, true);
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("no rollback target"), std::string::npos) << none.err;
  Rebuild(true);
  std::string live = Pointer("live"), target = Pointer("rollback");
  test::FlipByte(JoinPath(JoinPath(IndexDir(), "versions/" + target), "index.faiss"));
  auto r = Cli({"rollback", "small"}, true);
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_NE(r.err.find("sha256"), std::string::npos) << r.err;
  EXPECT_EQ(Pointer("live"), live);
}

TEST_F(VerifyCliTest, DaemonRepairsCorruptLiveAndCountsIt) {
  StartDaemon();
  Rebuild(false);
  Rebuild(false);
  std::string bad = Pointer("live"), good = Pointer("rollback");
  EXPECT_EQ(Metric("faiss_rebuild_quarantined_versions{index=\"small\"}"), 0);
  test::FlipByte(LiveFile());
  // The integrity watch sees the write, verifies and repairs.
  for (auto end = Clock::now() + std::chrono::seconds(30);
       Clock::now() < end && Pointer("live") == bad;)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_NE(Pointer("live"), bad) << daemon_->Log();
  EXPECT_TRUE(Env::Default()->Exists(JoinPath(IndexDir(), "quarantine/" + bad)));
  EXPECT_EQ(Pointer("rollback"), good);
  for (auto end = Clock::now() + std::chrono::seconds(10);
       Clock::now() < end && Metric("faiss_rebuild_repairs_total{index=\"small\",result=\"done\"}") != 1;)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Metric("faiss_rebuild_repairs_total{index=\"small\",result=\"done\"}"), 1);
  EXPECT_EQ(Metric("faiss_rebuild_quarantined_versions{index=\"small\"}"), 1);
  EXPECT_EQ(Metric("faiss_rebuild_corrupt_versions{index=\"small\"}"), 0);
  EXPECT_GT(Metric("faiss_rebuild_scrub_bytes_total{index=\"small\"}"), 0);
  EXPECT_GT(Metric("faiss_rebuild_scrub_last_timestamp_seconds{index=\"small\"}"), 0);

  // What a search server calls; the CLI's verify goes the same way.
  test::HttpResponse post;
  for (auto end = Clock::now() + std::chrono::seconds(30); Clock::now() < end;) {
    post = test::Http(port_, "POST", "/api/v1/indexes/small/verify", R"({"reason": "test"})");
    if (post.status != 409) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(post.status, 202) << post.body;
  auto v = CliWhenIdle({"verify", "small"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  auto h = Cli({"health"}, false);
  EXPECT_EQ(h.exit_code, 0) << h.err;

  auto rb = CliWhenIdle({"rollback", "small"});
  EXPECT_EQ(rb.exit_code, 0) << rb.err << daemon_->Log();
  EXPECT_EQ(Pointer("live"), good);
}

TEST_F(VerifyCliTest, HealthFailsWhileLiveIsCorruptAndUnrepairable) {
  StartDaemon();
  Rebuild(false);  // one version, no rollback, no backup: nothing to repair from
  test::FlipByte(LiveFile());
  test::ProcessResult h;
  for (auto end = Clock::now() + std::chrono::seconds(20); Clock::now() < end;) {
    h = Cli({"health"}, false);
    if (h.exit_code != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(h.exit_code, 6) << h.err;
  EXPECT_NE(h.err.find("live version"), std::string::npos) << h.err;
  auto v = CliWhenIdle({"verify", "small"});
  EXPECT_EQ(v.exit_code, 7) << v.out << v.err;
  EXPECT_NE(v.out.find("NOT repaired"), std::string::npos) << v.out;
  for (auto end = Clock::now() + std::chrono::seconds(10);
       Clock::now() < end && Metric("faiss_rebuild_corrupt_versions{index=\"small\"}") != 1;)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Metric("faiss_rebuild_corrupt_versions{index=\"small\"}"), 1);
  EXPECT_GE(Metric("faiss_rebuild_repairs_total{index=\"small\",result=\"failed\"}"), 1);
}

TEST_F(VerifyCliTest, ScheduledScrubRunsAtTheConfiguredRate) {
  Rebuild(true);
  Rebuild(true);
  std::string text = test::ReadText(config_);
  test::WriteText(config_, "scrub: { schedule: \"* * * * * *\", max_bytes_per_second: 256KiB }\n" + text);
  StartDaemon();
  Json scrub;
  for (auto end = Clock::now() + std::chrono::seconds(30); Clock::now() < end && scrub.is_null();) {
    auto jobs = Json::Parse(test::Http(port_, "GET", "/api/v1/jobs").body);
    if (jobs.ok() && jobs->Find("jobs"))
      for (const auto& j : jobs->Find("jobs")->as_array())
        if (j.GetString("kind") == "scrub" && j.GetString("state") == "done") scrub = j;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_FALSE(scrub.is_null()) << daemon_->Log();
  EXPECT_EQ(scrub.GetString("trigger"), "schedule");
  const Json* report = scrub.Find("verify")->Find("verify");
  ASSERT_NE(report, nullptr) << scrub.Dump();
  EXPECT_TRUE(report->GetBool("ok")) << scrub.Dump();
  double bytes = report->GetDouble("bytes_read"), secs = report->GetDouble("seconds");
  ASSERT_GT(bytes, 256 * 1024) << scrub.Dump();  // two versions and a backup
  EXPECT_LE(bytes / secs, 256 * 1024 * 1.1) << bytes << " bytes in " << secs << " s";
  EXPECT_GT(Metric("faiss_rebuild_scrub_bytes_total{index=\"small\"}"), 0);
}

}  // namespace
}  // namespace frb
