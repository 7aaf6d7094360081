// --version of the three programs, the version line each logs at start and
// the build-info gauges; and the message for a missing default config.
#include <gtest/gtest.h>

#include <unistd.h>

#include "daemon_process.h"
#include "frb/build_info.h"
#include "frb/env.h"
#include "http_client.h"
#include "testutil.h"

namespace frb {
namespace {

const char* const kPrograms[][2] = {{"cli/faiss-rebuild", "faiss-rebuild"},
                                    {"daemon/rebuildd/faiss-rebuildd", "faiss-rebuildd"},
                                    {"daemon/searchd/faiss-searchd", "faiss-searchd"}};

TEST(BuildInfoTest, EveryProgramPrintsItsVersionFaissAndKernels) {
  EXPECT_EQ(FaissVersion(), "1.7.3");  // Debian bookworm's libfaiss
  // Which one is faiss_kernels_test.cc's subject; here: the same in all.
  const std::string kernels = FaissKernels();
  EXPECT_TRUE(kernels == "generic" || kernels == "avx2") << kernels;
  for (const auto& [path, name] : kPrograms) {
    auto r = test::RunProcess({test::BinPath(path), "--version"}, {}, 30);
    EXPECT_EQ(r.exit_code, 0) << name << r.err;
    EXPECT_EQ(r.out, VersionText(name) + "\n") << name;
    EXPECT_EQ(r.out.rfind(std::string(name) + " 0.", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("\nFAISS 1.7.3\nFAISS kernels: " + kernels + "\n"), std::string::npos)
        << r.out;
  }
}

TEST(BuildInfoTest, DaemonLogsItsVersionAndExportsBuildInfo) {
  test::TempDir dir;
  std::string config = dir.Sub("config.yaml");
  test::WriteText(config, "data_dir: " + dir.Sub("data") + "\nindexes: []\n");
  test::RebuilddProcess d(config, dir.Sub("d.log"));
  ASSERT_GT(d.WaitForPort(), 0) << d.Log();
  EXPECT_NE(d.Log().find("faiss-rebuildd " + ProgramVersion() + ", FAISS 1.7.3, FAISS kernels " + FaissKernels()),
            std::string::npos)
      << d.Log();
  std::string scrape = test::Http(d.port(), "GET", "/metrics").body;
  EXPECT_EQ(test::Sample(scrape, "faiss_rebuild_build_info{faiss_version=\"1.7.3\",kernels=\"" + FaissKernels() + "\""
                                 ",version=\"" + ProgramVersion() + "\"}"),
            1)
      << scrape;
}

// Without --config (and $FAISS_REBUILD_CONFIG) a missing default file is
// named, as the default, with how to pass another.
TEST(BuildInfoTest, MissingDefaultConfigSaysWhichFileAndHowToPassOne) {
  if (::access("/etc/faiss-rebuild/config.yaml", F_OK) == 0)
    GTEST_SKIP() << "/etc/faiss-rebuild/config.yaml exists on this machine";
  ASSERT_EQ(std::getenv("FAISS_REBUILD_CONFIG"), nullptr);
  auto cli = test::RunProcess({test::BinPath("cli/faiss-rebuild"), "status", "--local"}, {}, 30);
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_EQ(cli.err,
            "faiss-rebuild: /etc/faiss-rebuild/config.yaml: no config file here (the default path; "
            "pass --config FILE or set $FAISS_REBUILD_CONFIG)\n");
  auto daemon = test::RunProcess({test::BinPath("daemon/rebuildd/faiss-rebuildd")}, {}, 30);
  EXPECT_EQ(daemon.exit_code, 1);
  EXPECT_NE(daemon.err.find("/etc/faiss-rebuild/config.yaml: no config file here (the default "
                            "path; pass --config FILE)"),
            std::string::npos)
      << daemon.err;
  auto searchd = test::RunProcess({test::BinPath("daemon/searchd/faiss-searchd")}, {}, 30);
  EXPECT_EQ(searchd.exit_code, 1);
  EXPECT_NE(searchd.err.find("/etc/faiss-rebuild/config.yaml: no config file here (the default "
                             "path; pass --config FILE)"),
            std::string::npos)
      << searchd.err;
  // Named by --config: says so.
  auto named = test::RunProcess(
      {test::BinPath("cli/faiss-rebuild"), "--config", "/nonexistent/c.yaml", "status", "--local"},
      {}, 30);
  EXPECT_EQ(named.err, "faiss-rebuild: /nonexistent/c.yaml: no config file here (named by --config)\n");
}

}  // namespace
}  // namespace frb
