// Crash loop over the whole cycle through the real CLI: each iteration runs
// one of `rebuild --local`, `backup create`, `restore NAME VERSION` and
// `backup prune` (chosen at random), and kills it with SIGKILL after a random
// delay between 0 and 1.1x that command's un-killed duration. After every
// kill a checker asserts:
//   - live resolves, live.faiss hashes to its manifest's SHA-256, loads with
//     plain faiss::read_index with the full vector count, and passed
//     validation; it is the version live before the kill or a new one (for a
//     restore: one restored from the requested version);
//   - a restore that did not take effect did not lose the version it was
//     restoring (still on disk or in backups);
//   - no process holds the index lock (a non-blocking flock succeeds);
//   - every backup listed by `backup list --json` verifies (`backup verify`),
//     none is listed with an unreadable manifest, and the backups of the
//     live and rollback versions from before the kill are still there.
// Then the same command runs again to completion (the restart); it must
// succeed, pass the same checks, and leave no staging directory, no
// temporary file and no orphaned backup file under the data or backup dir
// (a verify's state temporary, which a locked run may only remove once it
// is a minute old, is aged and must go with the next `backup prune`).
//
// FRB_CRASH_ITERATIONS sets the number of iterations (default 8 here; the
// reliability run uses 300).
#include <faiss/Index.h>
#include <faiss/index_io.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "frb/env.h"
#include "frb/json.h"
#include "frb/sha256.h"
#include "frb/store.h"
#include "testutil.h"

namespace frb {
namespace {

constexpr int64_t kRows = 20000;

int Iterations() { return test::CrashIterations(8); }

enum class Cmd { kRebuild, kBackupCreate, kRestore, kPrune };
const char* CmdName(Cmd c) {
  switch (c) {
    case Cmd::kRebuild: return "rebuild";
    case Cmd::kBackupCreate: return "backup create";
    case Cmd::kRestore: return "restore";
    case Cmd::kPrune: return "backup prune";
  }
  return "?";
}

struct Before {
  std::optional<std::string> live, rollback;
  std::set<std::string> versions, backups;
  std::string target;  // restore
};

class CrashCycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string src = dir_.Sub("vecs.npy");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), src, kRows, 32, 11).ok());
    config_ = dir_.Sub("config.yaml");
    test::WriteText(config_, "data_dir: " + Data() + "\nbackup_dir: " + BackupRoot() +
                                 "\nindexes:\n"
                                 "  - name: c\n"
                                 "    source: { path: " + src + " }\n"
                                 "    dimension: 32\n"
                                 "    factory: \"IVF64,Flat\"\n"
                                 "    train_sample: 5000\n"
                                 "    keep_versions: 2\n"
                                 "    search: { nprobe: 8 }\n"
                                 "    backups: { keep_last: 2, keep_daily: 0, keep_weekly: 0 }\n"
                                 "    validation: { queries: 100, latency_queries: 20, "
                                 "min_recall: 0.5, max_p99_ms: 1000 }\n");
  }
  std::string Data() const { return dir_.Sub("data"); }
  std::string BackupRoot() const { return dir_.Sub("bk"); }
  VersionStore Store() const { return VersionStore(Env::Default(), Data(), "c"); }

  std::vector<std::string> Args(Cmd cmd, const std::string& target) const {
    std::vector<std::string> a = {test::BinPath("cli/faiss-rebuild"), "--config", config_};
    switch (cmd) {
      case Cmd::kRebuild: a.insert(a.end(), {"rebuild", "c", "--force", "--local"}); break;
      case Cmd::kBackupCreate: a.insert(a.end(), {"backup", "create", "c", "--local"}); break;
      case Cmd::kRestore: a.insert(a.end(), {"restore", "c", target, "--local"}); break;
      case Cmd::kPrune: a.insert(a.end(), {"backup", "prune", "c"}); break;
    }
    return a;
  }
  test::ProcessResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {test::BinPath("cli/faiss-rebuild"), "--config", config_});
    return test::RunProcess(args);
  }

  // Backup ids per `backup list --json` (checked for unreadable manifests).
  std::set<std::string> ListedBackups() {
    auto r = Cli({"backup", "list", "c", "--json", "--local"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find("unreadable"), std::string::npos) << r.err;
    auto j = Json::Parse(r.out);
    std::set<std::string> ids;
    EXPECT_TRUE(j.ok() && j->is_array()) << r.out;
    if (j.ok() && j->is_array())
      for (const auto& b : j->as_array()) ids.insert(b.GetString("version"));
    return ids;
  }

  Before Capture() {
    Before b;
    VersionStore store = Store();
    b.live = *store.LiveVersion();
    b.rollback = *store.RollbackVersion();
    auto v = *store.ListVersions();
    b.versions = std::set<std::string>(v.begin(), v.end());
    b.backups = ListedBackups();
    return b;
  }

  // Versions a restore can name: on disk or in backups, other than live.
  std::vector<std::string> RestoreCandidates(const Before& b) {
    std::set<std::string> all = b.versions;
    all.insert(b.backups.begin(), b.backups.end());
    if (b.live) all.erase(*b.live);
    return std::vector<std::string>(all.begin(), all.end());
  }

  // The invariants that must hold at any instant after a kill. Returns
  // false when a restore's source version was lost (counted separately).
  void Check(const Before& b, Cmd cmd, bool* source_lost) {
    VersionStore store = Store();
    auto live = store.LiveVersion();
    ASSERT_TRUE(live.ok()) << live.status().ToString();
    ASSERT_TRUE(*live) << "live pointer lost";
    auto m = store.ReadManifest(**live);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    auto sha = Sha256File(Env::Default(), store.LivePath());
    ASSERT_TRUE(sha.ok()) << sha.status().ToString();
    EXPECT_EQ(*sha, m->file_sha256);
    std::unique_ptr<faiss::Index> idx(faiss::read_index(store.LivePath().c_str()));
    EXPECT_EQ(idx->ntotal, kRows);
    EXPECT_TRUE(m->validation.passed);
    bool is_new = !b.versions.count(**live);
    EXPECT_TRUE(**live == *b.live || is_new) << "live " << **live << " is neither old nor new";
    if (is_new) {
      EXPECT_GT(**live, *b.versions.rbegin());
      if (cmd == Cmd::kRestore) {
        EXPECT_EQ(m->restored_from, b.target);
      }
    }
    auto lock = store.Lock(false);
    EXPECT_TRUE(lock.ok()) << "lock still held: " << lock.status().ToString();

    std::set<std::string> listed = ListedBackups();
    if (!listed.empty()) {
      auto v = Cli({"backup", "verify", "c", "--json"});
      EXPECT_EQ(v.exit_code, 0) << "a listed backup does not verify: " << v.out << v.err;
    }
    for (const auto& pin : {b.live, b.rollback})
      if (pin && b.backups.count(*pin)) {
        EXPECT_TRUE(listed.count(*pin)) << "backup of pinned version " << *pin << " lost";
      }
    if (cmd == Cmd::kRestore && !is_new) {
      bool available = listed.count(b.target) || Env::Default()->Exists(store.VersionDir(b.target));
      if (!available) *source_lost = true;
    }
  }

  // After a completed run: nothing left behind. A `backup verify` writes its
  // state file through a temporary without the index lock, so a locked run
  // removes such a temporary only once it is a minute old (it cannot be a
  // running verify's then): those are aged here and must go with the next
  // `backup prune`. Returns how many there were.
  int CheckClean() {
    int stale_state_temps = 0;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(BackupRoot(), ec);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->path().filename().string().find(".state.json.tmp") == std::string::npos) continue;
      std::filesystem::last_write_time(
          it->path(), std::filesystem::file_time_type::clock::now() - std::chrono::minutes(2), ec);
      ++stale_state_temps;
    }
    if (stale_state_temps > 0) {
      auto r = Cli({"backup", "prune", "c"});
      EXPECT_EQ(r.exit_code, 0) << r.err;
    }
    CheckNoLeftovers();
    return stale_state_temps;
  }
  void CheckNoLeftovers() {
    auto staging = Env::Default()->ListDir(Store().StagingRoot());
    ASSERT_TRUE(staging.ok());
    EXPECT_TRUE(staging->empty()) << "staging leftover " << staging->front();
    for (const std::string& root : {Data(), BackupRoot()}) {
      std::error_code ec;
      for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
           it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        std::string name = it->path().filename().string();
        EXPECT_EQ(name.find(".tmp"), std::string::npos) << "temporary file left: " << it->path();
        for (std::string suffix : {".faiss.zst", ".state.json"})
          if (name.ends_with(suffix)) {
            EXPECT_TRUE(std::filesystem::exists(
                it->path().parent_path() / (name.substr(0, name.size() - suffix.size()) + ".backup.json")))
                << "orphaned backup file " << it->path();
          }
      }
    }
  }

  test::TempDir dir_;
  std::string config_;
};

TEST_F(CrashCycleTest, KillNineDuringRebuildBackupRestoreAndPrune) {
  // Starting state: three versions, backups of the first two.
  for (int i = 0; i < 3; ++i) {
    auto r = Cli({"rebuild", "c", "--force", "--local"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // Un-killed duration of each command bounds its random kill instant.
  std::map<Cmd, int> full_ms;
  auto timed = [&](Cmd cmd, const std::string& target) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = test::RunProcess(Args(cmd, target));
    EXPECT_EQ(r.exit_code, 0) << CmdName(cmd) << ": " << r.err;
    full_ms[cmd] = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - t0).count());
  };
  timed(Cmd::kBackupCreate, "");
  timed(Cmd::kPrune, "");
  timed(Cmd::kRestore, RestoreCandidates(Capture()).front());
  timed(Cmd::kRebuild, "");
  if (HasFailure()) return;

  std::mt19937 rng(20261122);
  const std::vector<Cmd> cmds = {Cmd::kRebuild, Cmd::kBackupCreate, Cmd::kRestore, Cmd::kPrune};
  struct Count { int runs = 0, killed = 0, changed_live = 0, source_lost = 0, stale_state_temps = 0; };
  std::map<Cmd, Count> counts;
  for (int i = 0; i < Iterations(); ++i) {
    Cmd cmd = cmds[std::uniform_int_distribution<size_t>(0, cmds.size() - 1)(rng)];
    Before b = Capture();
    if (cmd == Cmd::kRestore) {
      auto cands = RestoreCandidates(b);
      ASSERT_FALSE(cands.empty());
      b.target = cands[std::uniform_int_distribution<size_t>(0, cands.size() - 1)(rng)];
    }
    SCOPED_TRACE("iteration " + std::to_string(i) + ": " + CmdName(cmd) + " " + b.target);
    int delay = std::uniform_int_distribution<int>(0, std::max(1, full_ms[cmd] * 11 / 10))(rng);
    Count& c = counts[cmd];
    ++c.runs;
    pid_t pid = test::SpawnSilently(Args(cmd, b.target));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ++c.killed;
    } else {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "un-killed run failed, status " << status;
    }
    bool lost = false;
    Check(b, cmd, &lost);
    if (HasFatalFailure()) return;
    if (lost) {
      ++c.source_lost;
      ADD_FAILURE() << "interrupted restore lost its source version " << b.target
                    << " (no longer on disk nor in backups)";
    }
    if (*Store().LiveVersion() != b.live) ++c.changed_live;

    // Restart: the same command again, to completion (a restore whose source
    // is gone, because it was published and then pruned, restarts as a rebuild).
    Before b2 = Capture();
    Cmd again = cmd;
    b2.target = b.target;
    if (cmd == Cmd::kRestore && !b2.backups.count(b.target) &&
        !Env::Default()->Exists(Store().VersionDir(b.target)))
      again = Cmd::kRebuild;
    auto r = test::RunProcess(Args(again, b2.target));
    ASSERT_EQ(r.exit_code, 0) << "restart " << CmdName(again) << ": " << r.err;
    bool lost2 = false;
    Check(b2, again, &lost2);
    EXPECT_FALSE(lost2);
    c.stale_state_temps += CheckClean();
    if (HasFailure()) return;
  }
  int total_killed = 0;
  for (const auto& [cmd, c] : counts) {
    std::printf("crash loop %-13s: %d iterations, %d killed mid-run, %d changed live, "
                "%d lost the restore source, %d verify state temp files left (swept once stale)\n",
                CmdName(cmd), c.runs, c.killed, c.changed_live, c.source_lost, c.stale_state_temps);
    total_killed += c.killed;
  }
  std::printf("crash loop (cycle): %d iterations, %d SIGKILLs mid-run\n", Iterations(), total_killed);
  EXPECT_GT(total_killed, 0);
}

}  // namespace
}  // namespace frb
