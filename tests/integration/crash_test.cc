// Crash loop: `faiss-rebuild rebuild --local` killed with SIGKILL at random
// instants. After every kill the store must hold a complete, validated live
// version (the old or the new one), the lock must be free, and the next run
// must clean staging and succeed.
//
// FRB_CRASH_ITERATIONS sets the number of kills (default 12 in the normal
// suite; the reliability target runs 300).
#include <faiss/Index.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include "frb/env.h"
#include "frb/sha256.h"
#include "frb/store.h"
#include "testutil.h"

namespace frb {
namespace {

int Iterations() { return test::CrashIterations(12); }

class CrashLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string src = dir_.Sub("vecs.npy");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), src, 30000, 32, 9).ok());
    config_ = dir_.Sub("config.yaml");
    test::WriteText(config_, "data_dir: " + dir_.Sub("data") +
                                 "\nindexes:\n"
                                 "  - name: c\n"
                                 "    source: { path: " + src + " }\n"
                                 "    dimension: 32\n"
                                 "    factory: \"IVF64,Flat\"\n"
                                 "    train_sample: 8000\n"
                                 "    keep_versions: 2\n"
                                 "    search: { nprobe: 8 }\n"
                                 "    validation: { queries: 200, min_recall: 0.5, max_p99_ms: 1000 }\n");
  }
  std::vector<std::string> RebuildArgs() {
    return {test::BinPath("cli/faiss-rebuild"), "--config", config_, "rebuild", "c", "--local", "--force"};
  }

  // The invariants that must hold at any instant after a kill.
  void CheckStore(const std::set<std::string>& published_before) {
    VersionStore store(Env::Default(), dir_.Sub("data"), "c");
    auto live = store.LiveVersion();
    ASSERT_TRUE(live.ok()) << live.status().ToString();
    ASSERT_TRUE(*live) << "live pointer lost";
    auto m = store.ReadManifest(**live);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    // The live file is complete: its checksum matches and plain FAISS loads it.
    EXPECT_EQ(*Sha256File(Env::Default(), store.LivePath()), m->file_sha256);
    std::unique_ptr<faiss::Index> idx(faiss::read_index(store.LivePath().c_str()));
    EXPECT_EQ(idx->ntotal, 30000);
    EXPECT_TRUE(m->validation.passed);
    // It is the version live before the kill or one published by the killed run.
    if (!published_before.count(**live)) {
      EXPECT_GT(**live, *published_before.rbegin());
    }
    // No process holds the lock any more.
    auto lock = store.Lock(false);
    EXPECT_TRUE(lock.ok()) << lock.status().ToString();
  }

  test::TempDir dir_;
  std::string config_;
};

TEST_F(CrashLoopTest, KillNineAtRandomInstantsNeverBreaksLive) {
  auto first = test::RunProcess(RebuildArgs());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  // A full run's duration bounds the random kill instant.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(test::RunProcess(RebuildArgs()).exit_code, 0);
  int full_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - t0).count());
  std::mt19937 rng(20261121);
  // A little past a full run so the publish step at the end is hit too.
  std::uniform_int_distribution<int> delay(0, std::max(1, full_ms * 11 / 10));
  int killed_mid_run = 0, published = 0;
  for (int i = 0; i < Iterations(); ++i) {
    SCOPED_TRACE("iteration " + std::to_string(i));
    VersionStore store(Env::Default(), dir_.Sub("data"), "c");
    auto versions = store.ListVersions();
    ASSERT_TRUE(versions.ok());
    std::set<std::string> before(versions->begin(), versions->end());
    pid_t pid = test::SpawnSilently(RebuildArgs());
    std::this_thread::sleep_for(std::chrono::milliseconds(delay(rng)));
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ++killed_mid_run;
    }
    CheckStore(before);
    if (HasFatalFailure()) return;
    auto live = store.LiveVersion();
    if (live.ok() && *live && !before.count(**live)) ++published;
  }
  // The next run cleans whatever the kills left in staging and succeeds.
  auto after = test::RunProcess(RebuildArgs());
  EXPECT_EQ(after.exit_code, 0) << after.err;
  auto staging = Env::Default()->ListDir(
      VersionStore(Env::Default(), dir_.Sub("data"), "c").StagingRoot());
  ASSERT_TRUE(staging.ok());
  EXPECT_TRUE(staging->empty());
  EXPECT_GT(killed_mid_run, 0);
  std::printf("crash loop: %d iterations, %d killed mid-run, %d published a new version\n",
              Iterations(), killed_mid_run, published);
}

}  // namespace
}  // namespace frb
