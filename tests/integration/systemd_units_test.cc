// The systemd units pass `systemd-analyze verify` and keep their exposure
// score (systemd-analyze security --offline) at or under 2.0: the two
// services and the faiss-rebuild@.service template run by
// faiss-rebuild@.timer (verified with its service; its OnCalendar= parses).
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <sstream>
#include <vector>

#include "testutil.h"

namespace frb {
namespace {

const char* kAnalyze = "/usr/bin/systemd-analyze";

// Copies a unit, pointing its binaries at this build tree so verify can
// check that they exist and are executable.
std::string StageUnit(const test::TempDir& dir, const std::string& name) {
  std::string text = test::ReadText(std::string(FRB_SOURCE_DIR) + "/systemd/" + name);
  text = std::regex_replace(text, std::regex("/usr/bin/faiss-rebuildd"),
                            test::BinPath("daemon/rebuildd/faiss-rebuildd"));
  text = std::regex_replace(text, std::regex("/usr/bin/faiss-searchd"),
                            test::BinPath("daemon/searchd/faiss-searchd"));
  text = std::regex_replace(text, std::regex("/usr/bin/faiss-rebuild "),
                            test::BinPath("cli/faiss-rebuild") + " ");
  std::string path = dir.Sub(name);
  test::WriteText(path, text);
  return path;
}

class SystemdUnitTest : public ::testing::TestWithParam<const char*> {};

TEST_P(SystemdUnitTest, VerifiesClean) {
  if (access(kAnalyze, X_OK) != 0) GTEST_SKIP() << "systemd-analyze not installed";
  test::TempDir dir;
  std::string unit = StageUnit(dir, GetParam());
  auto r = test::RunProcess({kAnalyze, "verify", unit});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "") << r.err;
}

TEST_P(SystemdUnitTest, ExposureAtMostTwo) {
  if (access(kAnalyze, X_OK) != 0) GTEST_SKIP() << "systemd-analyze not installed";
  test::TempDir dir;
  std::string unit = StageUnit(dir, GetParam());
  auto r = test::RunProcess({kAnalyze, "security", "--offline=yes", "--no-pager", unit});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("Overall exposure level for [^:]+: ([0-9.]+)")))
      << r.out << r.err;
  double exposure = std::stod(m[1]);
  EXPECT_LE(exposure, 2.0) << r.out;
  std::printf("%s exposure %.1f\n", GetParam(), exposure);
}

INSTANTIATE_TEST_SUITE_P(Units, SystemdUnitTest,
                         ::testing::Values("faiss-rebuildd.service", "faiss-searchd.service",
                                           "faiss-rebuild@.service"));

// The timer is checked together with the template service it starts (verify
// does not load a timer's service by itself), and its calendar expression
// with `systemd-analyze calendar`.
TEST(SystemdTimerTest, VerifiesCleanWithItsService) {
  if (access(kAnalyze, X_OK) != 0) GTEST_SKIP() << "systemd-analyze not installed";
  test::TempDir dir;
  std::string service = StageUnit(dir, "faiss-rebuild@.service");
  std::string timer = StageUnit(dir, "faiss-rebuild@.timer");
  auto r = test::RunProcess({kAnalyze, "verify", timer, service});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "") << r.err;

  std::smatch m;
  std::string text = test::ReadText(timer);
  ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(\nOnCalendar=(\S[^\n]*))"))) << text;
  auto cal = test::RunProcess({kAnalyze, "calendar", m[1].str()});
  EXPECT_EQ(cal.exit_code, 0) << m[1] << ": " << cal.out << cal.err;
  EXPECT_NE(cal.out.find("Next elapse:"), std::string::npos) << cal.out;
}

// The template's ExecStart=, with %i an index name, runs one whole local
// rebuild that publishes a live version.
TEST(SystemdTimerTest, TemplateExecStartRebuildsTheInstance) {
  std::string text = test::ReadText(std::string(FRB_SOURCE_DIR) + "/systemd/faiss-rebuild@.service");
  EXPECT_NE(text.find("\nType=oneshot\n"), std::string::npos);
  EXPECT_NE(text.find("\nUser=faiss-rebuild\n"), std::string::npos);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(\nExecStart=(\S[^\n]*))"))) << text;
  std::vector<std::string> argv;
  std::istringstream words(m[1].str());
  for (std::string w; words >> w;) argv.push_back(w);
  ASSERT_EQ(argv.at(0), "/usr/bin/faiss-rebuild");

  test::TempDir dir;
  auto gen = test::RunProcess({test::BinPath("tests/tools/frb-gen-vectors"), dir.Sub("v.npy"),
                               "5000", "16", "--seed", "3"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  test::WriteText(dir.Sub("config.yaml"),
                  "data_dir: " + dir.Sub("data") + "\n"
                  "indexes:\n"
                  "  - name: timer-demo\n"
                  "    source: { path: " + dir.Sub("v.npy") + " }\n"
                  "    dimension: 16\n"
                  "    factory: \"IVF16,Flat\"\n"
                  "    train_sample: 2000\n"
                  "    search: { nprobe: 8 }\n"
                  "    validation: { queries: 100, latency_queries: 20, min_recall: 0.5, max_p99_ms: 1000 }\n");
  argv[0] = test::BinPath("cli/faiss-rebuild");
  for (auto& a : argv) {
    if (a == "/etc/faiss-rebuild/config.yaml") a = dir.Sub("config.yaml");
    if (a == "%i") a = "timer-demo";
  }
  auto r = test::RunProcess(argv, {"OMP_NUM_THREADS=2"}, 120);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(access(dir.Sub("data/indexes/timer-demo/live.faiss").c_str(), R_OK), 0) << r.out << r.err;
}

}  // namespace
}  // namespace frb
