// The systemd units pass `systemd-analyze verify` and keep their exposure
// score (systemd-analyze security --offline) at or under 2.0.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

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
                         ::testing::Values("faiss-rebuildd.service", "faiss-searchd.service"));

}  // namespace
}  // namespace frb
