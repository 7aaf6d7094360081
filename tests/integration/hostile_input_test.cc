// Sources and configs an operator (or an upstream job) gets wrong while the
// system runs: a source rewritten in place during a build, identical
// sources, a factory string that crashed FAISS's parser. The real binaries,
// real files, loopback only.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "daemon_process.h"
#include "frb/env.h"
#include "frb/json.h"
#include "frb/store.h"
#include "http_client.h"
#include "testutil.h"

namespace frb {
namespace {

using Clock = std::chrono::steady_clock;
using test::Http;

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = dir_.Sub("vecs.npy");
    config_ = dir_.Sub("config.yaml");
  }
  // A source big enough that training and adding take seconds (IVF1024 on
  // 300k x 64), so a truncation lands while the builder still reads it.
  void WriteConfig(const std::string& factory, int64_t train_sample) {
    test::WriteText(config_, "data_dir: " + dir_.Sub("data") + "\n"
                             "indexes:\n"
                             "  - name: big\n"
                             "    source: { path: " + source_ + ", format: npy }\n"
                             "    dimension: 64\n"
                             "    factory: \"" + factory + "\"\n"
                             "    train_sample: " + std::to_string(train_sample) + "\n"
                             "    search: { nprobe: 8 }\n"
                             "    validation: { queries: 50, min_recall: 0.3, max_p99_ms: 5000 }\n");
  }
  std::vector<std::string> Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {test::BinPath("cli/faiss-rebuild"), "--config", config_});
    return args;
  }
  std::optional<std::string> Live() {
    return *VersionStore(Env::Default(), dir_.Sub("data"), "big").LiveVersion();
  }
  // What `cp new old` and np.save do first: truncate in place (same inode).
  void TruncateSource() {
    uint64_t size = Env::Default()->Stat(source_)->size;
    ASSERT_EQ(::truncate(source_.c_str(), static_cast<off_t>(size / 3)), 0);
  }

  test::TempDir dir_;
  std::string source_, config_;
};

// Through mmap, the builder touching a page past the new end of the file
// was SIGBUS: `rebuild --local` died with exit 135 (the daemon too).
TEST_F(HostileInputTest, SourceTruncatedDuringLocalRebuildFailsTheJobNamingTheSource) {
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 20000, 64, 5).ok());
  WriteConfig("IVF64,Flat", 5000);
  auto first = test::RunProcess(Cli({"rebuild", "big", "--local"}));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::optional<std::string> live = Live();
  ASSERT_TRUE(live);

  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 300000, 64, 6).ok());
  WriteConfig("IVF1024,Flat", 30000);
  test::ChildProcess cli(Cli({"rebuild", "big", "--local", "--json"}), dir_.Sub("cli.log"));
  // The job's staging directory appears just before the source is opened.
  std::string staging = dir_.Sub("data/indexes/big/staging");
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline && cli.Alive()) {
    auto entries = Env::Default()->ListDir(staging);
    if (entries.ok() && !entries->empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(cli.Alive()) << "the build ended before the source could be truncated:\n"
                           << cli.Log();
  TruncateSource();
  ASSERT_TRUE(cli.Exited(120000)) << cli.Log();
  std::string log = cli.Log();
  EXPECT_NE(cli.exit_code(), -SIGBUS) << log;
  EXPECT_NE(cli.exit_code(), 0) << log;
  EXPECT_NE(log.find("source " + source_ + " changed during the build"), std::string::npos) << log;
  EXPECT_EQ(Live(), live);
}

// The daemon survives the same, reports the failed job with the reason,
// and builds again once the source is whole.
TEST_F(HostileInputTest, SourceTruncatedDuringDaemonJobFailsOnlyThatJob) {
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 300000, 64, 5).ok());
  WriteConfig("IVF1024,Flat", 30000);
  test::RebuilddProcess d(config_, dir_.Sub("d.log"));
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();
  auto wait_job = [&](const std::string& id, auto&& done) {
    Json j;
    for (auto end = Clock::now() + std::chrono::seconds(300); Clock::now() < end;) {
      j = Http(port, "GET", "/api/v1/jobs/" + id).json();
      if (done(j)) return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "job " << id << ": " << j.Dump();
    return j;
  };
  auto finished = [](const Json& j) { return j.Find("finished_unix_ms") != nullptr; };

  std::string id = Http(port, "POST", "/api/v1/indexes/big/rebuild").json().GetString("job_id");
  ASSERT_EQ(wait_job(id, finished).GetString("state"), "done") << d.Log();
  std::optional<std::string> live = Live();

  auto r = Http(port, "POST", "/api/v1/indexes/big/rebuild", R"({"force": true})");
  ASSERT_EQ(r.status, 202) << r.body;
  id = r.json().GetString("job_id");
  Json running = wait_job(id, [&](const Json& j) {
    std::string s = j.GetString("state");
    return s == "training" || s == "adding" || finished(j);
  });
  ASSERT_FALSE(finished(running)) << running.Dump();
  TruncateSource();
  Json job = wait_job(id, finished);
  EXPECT_EQ(job.GetString("state"), "failed") << job.Dump();
  EXPECT_NE(job.GetString("error").find("source " + source_ + " changed during the build"),
            std::string::npos)
      << job.Dump();
  ASSERT_TRUE(d.Alive()) << d.Log();
  EXPECT_EQ(Http(port, "GET", "/api/v1/status").status, 200);
  EXPECT_EQ(Live(), live);

  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 300000, 64, 5).ok());
  id = Http(port, "POST", "/api/v1/indexes/big/rebuild").json().GetString("job_id");
  // The same content as live again: nothing to build.
  Json again = wait_job(id, finished);
  EXPECT_EQ(again.GetString("state"), "skipped") << again.Dump();
  EXPECT_EQ(test::Sample(Http(port, "GET", "/metrics").body,
                         "faiss_rebuild_builds_total{index=\"big\",result=\"skipped\"}"),
            1);
}

// A factory of 40,000 characters segfaulted `config validate`, the daemon
// on reload and faiss-searchd at start (std::regex recursion in FAISS).
TEST_F(HostileInputTest, HugeFactoryStringIsRefusedEverywhereWithoutACrash) {
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 20000, 64, 5).ok());
  WriteConfig("IVF64,Flat", 5000);
  std::string good = test::ReadText(config_);
  test::RebuilddProcess d(config_, dir_.Sub("d.log"));
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();

  std::string huge(40000, 'I');
  WriteConfig(huge, 5000);
  auto v = test::RunProcess(Cli({"config", "validate"}));
  EXPECT_NE(v.exit_code, 0);
  EXPECT_GT(v.exit_code, 0) << "killed by signal " << -v.exit_code;
  EXPECT_NE(v.err.find(config_ + ":6:14: factory: the string is 40000 characters long"),
            std::string::npos)
      << v.err.substr(0, 500);

  auto reload = Http(port, "POST", "/api/v1/reload");
  EXPECT_NE(reload.status, 200);
  EXPECT_NE(reload.body.find("characters long"), std::string::npos) << reload.body.substr(0, 500);
  d.Signal(SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(d.Alive()) << d.Log().substr(0, 2000);
  EXPECT_EQ(Http(port, "GET", "/api/v1/status").status, 200);

  auto searchd = test::RunProcess({test::BinPath("daemon/searchd/faiss-searchd"), "--config",
                                   config_, "--listen", "127.0.0.1:0"},
                                  {}, 30);
  EXPECT_GT(searchd.exit_code, 0) << "killed by signal " << -searchd.exit_code;
  EXPECT_NE((searchd.out + searchd.err).find("characters long"), std::string::npos)
      << searchd.err.substr(0, 500);
}

}  // namespace
}  // namespace frb
