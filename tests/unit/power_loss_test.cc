// Power-loss simulation: each operation of the cycle (a publish replacing a
// live version, a first publish, backup create, restore from a backup and
// from disk, backup prune) is run through PowerLossEnv with the power cut at
// operation 1, 2, ..., N, and once more after it returned (N + 1). After
// each cut the disk is rewritten to what was durable (unsynced file data and
// unsynced directory changes dropped) and the invariants are checked: live
// loads with plain FAISS and matches its manifest, it is the old or the new
// version, every version directory and every listed backup is complete, a
// reported success survived, and the next normal run (a rebuild) succeeds
// and leaves no staging, temporary or orphaned files.
#include "power_loss_env.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "cycle_harness.h"

namespace frb::test {
namespace {

class PowerLossTest : public ::testing::TestWithParam<Cycle> {};

TEST_P(PowerLossTest, EveryCutPointRecovers) {
  CycleHarness h(GetParam());
  h.Prepare();
  if (HasFatalFailure()) return;

  // Reference run: the operations the cycle performs, in order.
  h.Reset();
  PowerLossEnv ref(h.root());
  ASSERT_TRUE(ref.Snapshot().ok());
  Status s = h.Run(&ref);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const int64_t n = ref.ops();
  const std::vector<std::string> ops = ref.Log();
  ASSERT_GE(n, 3);

  auto t0 = std::chrono::steady_clock::now();
  int64_t reported_ok_before_cut = 0;
  for (int64_t cut = 1; cut <= n + 1; ++cut) {
    std::string at = cut <= n ? "power cut at operation " + ops[cut - 1]
                              : "power cut after the operation returned";
    SCOPED_TRACE(at);
    h.Reset();
    if (HasFatalFailure()) return;
    PowerLossEnv env(h.root());
    ASSERT_TRUE(env.Snapshot().ok());
    if (cut <= n) env.CutPowerAt(cut);
    Status st = h.Run(&env);
    if (cut <= n) {
      EXPECT_TRUE(env.power_lost()) << "the run did not reach operation " << cut;
      // Only best-effort steps after the work is done may fail unnoticed.
      if (st.ok()) ++reported_ok_before_cut;
    } else {
      ASSERT_TRUE(st.ok()) << st.ToString();
      env.PowerOff();
    }
    std::string lost;
    Status rs = env.Recover(&lost);
    ASSERT_TRUE(rs.ok()) << rs.ToString();
    SCOPED_TRACE("dropped by the power cut:\n" + lost);
    h.CheckInvariants(/*completed=*/st.ok());
    if (HasFailure()) return;  // one clear report, not one per later cut

    // Power is back: the next normal run (a rebuild) recovers and cleans up.
    Status next = h.NextRun();
    ASSERT_TRUE(next.ok()) << "next run after the cut: " << next.ToString();
    h.CheckClean();
    if (HasFailure()) return;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("power loss %s: %lld operations, %lld power cuts (incl. one after success), "
              "%lld cuts fell in best-effort steps after the work was done, %.1fs\n",
              CycleName(GetParam()), static_cast<long long>(n), static_cast<long long>(n + 1),
              static_cast<long long>(reported_ok_before_cut), secs);
}

INSTANTIATE_TEST_SUITE_P(Cycles, PowerLossTest, ::testing::ValuesIn(AllCycles()),
                         [](const auto& p) { return std::string(CycleName(p.param)); });

// The model itself: unsynced data and unsynced directory entries are dropped,
// synced ones survive, and a rename is durable once either side is synced.
TEST(PowerLossEnvTest, DropsWhatWasNotSynced) {
  TempDir dir;
  std::string root = dir.Sub("r");
  Env* real = Env::Default();
  ASSERT_TRUE(real->CreateDirs(JoinPath(root, "a")).ok());
  ASSERT_TRUE(real->CreateDirs(JoinPath(root, "b")).ok());
  WriteText(JoinPath(root, "old"), "old content");
  PowerLossEnv env(root);
  ASSERT_TRUE(env.Snapshot().ok());

  auto write = [&](const std::string& path, const std::string& data, bool sync) {
    auto f = env.NewWritableFile(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(data.data(), data.size()).ok());
    if (sync) {
      ASSERT_TRUE((*f)->Sync().ok());
    }
    ASSERT_TRUE((*f)->Close().ok());
  };
  write(JoinPath(root, "a/synced"), "durable", true);
  write(JoinPath(root, "a/unsynced"), "volatile", false);
  ASSERT_TRUE(env.SyncDir(JoinPath(root, "a")).ok());  // both entries durable
  write(JoinPath(root, "b/moved"), "moved", true);
  ASSERT_TRUE(env.SyncDir(JoinPath(root, "b")).ok());
  // Cross-directory rename, only the destination synced: durable as a whole.
  ASSERT_TRUE(env.Rename(JoinPath(root, "b/moved"), JoinPath(root, "a/moved")).ok());
  ASSERT_TRUE(env.SyncDir(JoinPath(root, "a")).ok());
  write(JoinPath(root, "a/late"), "entry never synced", true);
  // Unsynced removal and rename-over: undone.
  ASSERT_TRUE(env.RemoveFile(JoinPath(root, "old")).ok());
  write(JoinPath(root, "a/synced.tmp"), "new version", true);
  ASSERT_TRUE(env.Rename(JoinPath(root, "a/synced.tmp"), JoinPath(root, "a/synced")).ok());
  int64_t before_cut = env.ops();
  env.CutPowerAt(before_cut + 1);
  EXPECT_FALSE(env.SyncDir(JoinPath(root, "a")).ok());
  EXPECT_TRUE(env.power_lost());
  EXPECT_FALSE(env.CreateDirs(JoinPath(root, "c")).ok());
  std::string summary;
  ASSERT_TRUE(env.Recover(&summary).ok());

  EXPECT_EQ(ReadText(JoinPath(root, "a/synced")), "durable") << summary;
  EXPECT_TRUE(real->Exists(JoinPath(root, "a/unsynced")));
  EXPECT_EQ(ReadText(JoinPath(root, "a/unsynced")), "") << "unsynced data must be dropped";
  EXPECT_FALSE(real->Exists(JoinPath(root, "a/late")));
  EXPECT_FALSE(real->Exists(JoinPath(root, "a/synced.tmp")));
  EXPECT_EQ(ReadText(JoinPath(root, "a/moved")), "moved");
  EXPECT_FALSE(real->Exists(JoinPath(root, "b/moved")));
  EXPECT_EQ(ReadText(JoinPath(root, "old")), "old content");
  EXPECT_FALSE(real->Exists(JoinPath(root, "c")));
}

}  // namespace
}  // namespace frb::test
