// The faiss-rebuild CLI as a user runs it: real binary, real files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "frb/env.h"
#include "frb/json.h"
#include "frb/store.h"
#include "testutil.h"

namespace frb {
namespace {

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = dir_.Sub("vecs.npy");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 20000, 32, 5).ok());
    WriteConfig("IVF64,Flat", 0.5, "search: { nprobe: 8 }");
  }
  void WriteConfig(const std::string& factory, double min_recall,
                   const std::string& search) {
    config_ = dir_.Sub("config.yaml");
    test::WriteText(config_, "data_dir: " + dir_.Sub("data") +
                                 "\n"
                                 "indexes:\n"
                                 "  - name: small\n"
                                 "    source: { path: " + source_ + ", format: npy }\n"
                                 "    dimension: 32\n"
                                 "    metric: L2\n"
                                 "    factory: \"" + factory + "\"\n"
                                 "    train_sample: 5000\n"
                                 "    " + search + "\n"
                                 "    validation: { queries: 100, min_recall: " +
                                 std::to_string(min_recall) + ", max_p99_ms: 1000 }\n");
  }
  test::ProcessResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {test::BinPath("cli/faiss-rebuild"), "--config", config_});
    return test::RunProcess(args);
  }
  static Json ParseOut(const test::ProcessResult& r) {
    auto j = Json::Parse(r.out);
    EXPECT_TRUE(j.ok()) << r.out << r.err;
    return j.ok() ? *j : Json();
  }

  test::TempDir dir_;
  std::string source_, config_;
};

TEST_F(CliTest, RebuildLocalPublishesAndStatusShowsIt) {
  auto r = Cli({"rebuild", "small", "--force", "--local", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json out = ParseOut(r);
  EXPECT_EQ(out.GetString("state"), "done");
  std::string version = out.GetString("version");
  ASSERT_FALSE(version.empty());
  EXPECT_TRUE(out.Find("validation")->GetBool("passed"));

  auto st = Cli({"status", "--local", "--json"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  Json s = ParseOut(st);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s.as_array()[0].Find("live")->GetString("version"), version);
  EXPECT_EQ(s.as_array()[0].Find("live")->GetInt("ntotal"), 20000);
  EXPECT_EQ(s.as_array()[0].Find("last_job")->GetString("state"), "done");

  auto v = Cli({"versions", "small", "--json"});
  ASSERT_EQ(v.exit_code, 0) << v.err;
  Json vs = ParseOut(v);
  ASSERT_EQ(vs.size(), 1u);
  EXPECT_TRUE(vs.as_array()[0].GetBool("live"));

  // Human output too.
  auto human = Cli({"status", "--local"});
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_NE(human.out.find(version), std::string::npos) << human.out;
}

TEST_F(CliTest, FailedValidationExitsThreeAndKeepsLive) {
  ASSERT_EQ(Cli({"rebuild", "small", "--force", "--local"}).exit_code, 0);
  auto before = Cli({"versions", "small", "--json"});
  WriteConfig("LSH", 0.99, "");
  auto r = Cli({"rebuild", "small", "--force", "--local"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("min_recall"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unchanged"), std::string::npos) << r.err;
  EXPECT_EQ(Cli({"versions", "small", "--json"}).out, before.out);
}

TEST_F(CliTest, SecondConcurrentRebuildIsRefusedWithClearMessage) {
  // Another process (this test) holds the index lock, as a running job would.
  VersionStore store(Env::Default(), dir_.Sub("data"), "small");
  ASSERT_TRUE(store.Init().ok());
  auto lock = store.Lock(false);
  ASSERT_TRUE(lock.ok());
  auto r = Cli({"rebuild", "small", "--force", "--local"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("busy"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  lock.value().reset();
  EXPECT_EQ(Cli({"rebuild", "small", "--force", "--local"}).exit_code, 0);
}

TEST_F(CliTest, TwoProcessesAtOnceNeverBothBuild) {
  // Both start together; whichever loses the lock must say so, and the store
  // ends with one consistent live version either way.
  std::vector<std::string> args = {test::BinPath("cli/faiss-rebuild"), "--config", config_,
                                   "rebuild", "small", "--local"};
  test::ProcessResult a, b;
  std::thread ta([&] { a = test::RunProcess(args); });
  std::thread tb([&] { b = test::RunProcess(args); });
  ta.join();
  tb.join();
  for (const auto* r : {&a, &b}) {
    EXPECT_TRUE(r->exit_code == 0 || r->exit_code == 4) << r->exit_code << r->err;
    if (r->exit_code == 4) {
      EXPECT_NE(r->err.find("busy"), std::string::npos);
    }
  }
  EXPECT_TRUE(a.exit_code == 0 || b.exit_code == 0);
  auto live = VersionStore(Env::Default(), dir_.Sub("data"), "small").LiveVersion();
  ASSERT_TRUE(live.ok() && *live);
}

TEST_F(CliTest, NanInSourceIsOneLineErrorNamingFileAndRow) {
  // Overwrite one float of row 7 with NaN.
  std::string data = test::ReadText(source_);
  float nan = std::nanf("");
  size_t header = data.size() - 20000 * 32 * 4;
  std::memcpy(&data[header + (7 * 32 + 3) * 4], &nan, 4);
  test::WriteText(source_, data);
  auto r = Cli({"rebuild", "small", "--force", "--local"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(source_), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("row 7"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("NaN"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(CliTest, UnknownIndexAndUsageErrors) {
  auto r = Cli({"rebuild", "nope", "--local"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no index named 'nope'"), std::string::npos) << r.err;
  EXPECT_EQ(Cli({"frobnicate"}).exit_code, 2);
}

TEST_F(CliTest, ConfigValidateReportsEveryProblemWithLineAndColumn) {
  std::string bad = dir_.Sub("bad.yaml");
  test::WriteText(bad,
                  "data_dir: /tmp/x\n"
                  "indexes:\n"
                  "  - name: a\n"
                  "    source: { path: /nonexistent/a.npy, format: npy }\n"
                  "    dimension: 128\n"
                  "    metric: L3\n"
                  "    factory: \"IVF64,Flat\"\n"
                  "    timeout: \"30x\"\n"
                  "    min_recal: 0.9\n");
  auto r = Cli({"config", "validate", bad});
  EXPECT_EQ(r.exit_code, 1);
  for (const char* want : {"bad.yaml:4:", "bad.yaml:6:", "bad.yaml:8:", "bad.yaml:9:"})
    EXPECT_NE(r.err.find(want), std::string::npos) << want << "\n" << r.err;
  auto ok = Cli({"config", "validate", config_});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST_F(CliTest, GeneratedConfigValidatesExceptForMissingSources) {
  auto gen = Cli({"config", "generate"});
  ASSERT_EQ(gen.exit_code, 0);
  EXPECT_NE(gen.out.find("indexes:"), std::string::npos);
  std::string path = dir_.Sub("gen.yaml");
  test::WriteText(path, gen.out);
  // The example's source files do not exist here; every other check passes.
  auto r = Cli({"config", "validate", path, "--json"});
  Json j = ParseOut(r);
  ASSERT_TRUE(j.Find("problems") != nullptr);
  for (const auto& p : j.Find("problems")->as_array())
    EXPECT_NE(p.GetString("message").find("source"), std::string::npos)
        << p.GetString("message");
}

TEST_F(CliTest, ScheduleNextPrintsIsoTimesAcrossDst) {
  auto r = Cli({"schedule", "next", "30 2 * * *", "--tz", "America/New_York", "--from",
                "2026-03-07T00:00:00", "--count", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 02:30 does not exist on 2026-03-08: it runs once right after the jump.
  EXPECT_EQ(r.out,
            "2026-03-07T02:30:00-05:00\n"
            "2026-03-08T03:00:00-04:00\n"
            "2026-03-09T02:30:00-04:00\n");
  auto bad = Cli({"schedule", "next", "0 25 * * *"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("hour"), std::string::npos) << bad.err;
  auto tz = Cli({"schedule", "next", "@daily", "--tz", "Mars/Olympus"});
  EXPECT_EQ(tz.exit_code, 2);
  EXPECT_NE(tz.err.find("unknown timezone"), std::string::npos) << tz.err;
}


// On a terminal (a pseudo-terminal from script(1)) a local rebuild draws
// each stage with a bar, its pace and an ETA, redrawn in place.
TEST_F(CliTest, TerminalShowsBarsWithRateAndEta) {
  if (::access("/usr/bin/script", X_OK) != 0) GTEST_SKIP() << "script(1) not installed";
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 200000, 32, 5).ok());
  // Enough lists that adding takes long enough to draw its pace.
  WriteConfig("IVF1024,Flat", 0.3, "search: { nprobe: 64 }");
  std::string cmd = test::BinPath("cli/faiss-rebuild") + " --config " + config_ +
                    " rebuild small --local";
  auto r = test::RunProcess({"/usr/bin/script", "-qfec", cmd, "/dev/null"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\r  adding           ["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("vectors/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ETA "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("published v"), std::string::npos) << r.out;
}
}  // namespace
}  // namespace frb
