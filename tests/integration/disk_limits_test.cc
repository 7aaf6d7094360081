// Real limits on the real CLI, no fault injection:
//   - a file-size limit (RLIMIT_FSIZE set in the child before exec): writes
//     past it fail with EFBIG, which must be handled like a full disk; with
//     SIGXFSZ at its default disposition the kernel kills the writer instead,
//     unless the program ignores SIGXFSZ itself;
//   - a real full disk: a size-limited tmpfs mounted in a user+mount
//     namespace (`unshare -rm`), skipped with a message where that is not
//     permitted;
//   - a read-only data dir (read-only bind mount in a namespace);
//   - permission denied: directories chmod 0500 with the CLI running as
//     nobody (root ignores permission bits), skipped where not possible.
// Each expects a clean failure (exit code 1, a one-line reason naming the
// problem), the live version intact, and success once the limit is lifted.
#include <faiss/Index.h>
#include <faiss/index_io.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include "frb/backup.h"
#include "frb/json.h"
#include "frb/rebuild.h"
#include "frb/sha256.h"
#include "frb/store.h"
#include "daemon_process.h"
#include "http_client.h"
#include "notify_socket.h"
#include "testutil.h"

namespace frb {
namespace {

constexpr int64_t kRows = 10000;  // IVF32,Flat at dim 32: a ~1.4 MB index file

struct Limits {
  std::optional<rlim_t> fsize;        // RLIMIT_FSIZE in bytes
  std::optional<bool> ignore_sigxfsz; // set SIGXFSZ to SIG_IGN / SIG_DFL before exec
  std::optional<uid_t> uid;           // run as this user (needs root)
};

// Runs argv with the given limits applied in the child between fork and exec.
test::ProcessResult RunLimited(const std::vector<std::string>& argv, const Limits& lim,
                               const std::string& scratch) {
  std::string out = scratch + "/stdout", err = scratch + "/stderr";
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int n = ::open("/dev/null", O_RDONLY);
    ::dup2(n, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    if (lim.ignore_sigxfsz) ::signal(SIGXFSZ, *lim.ignore_sigxfsz ? SIG_IGN : SIG_DFL);
    if (lim.uid) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(*lim.uid) != 0 || ::setuid(*lim.uid) != 0)
        ::_exit(126);
    }
    if (lim.fsize) {
      struct rlimit no_core{0, 0};
      ::setrlimit(RLIMIT_CORE, &no_core);
      struct rlimit rl{*lim.fsize, *lim.fsize};
      if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) ::_exit(125);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  test::ProcessResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  r.out = test::ReadText(out);
  r.err = test::ReadText(err);
  return r;
}

std::string Describe(const test::ProcessResult& r) {
  std::string s = r.exit_code < 0 ? "killed by signal " + std::to_string(-r.exit_code)
                                  : "exit " + std::to_string(r.exit_code);
  return s + "; stderr: " + r.err;
}

// unshare(1) with a user and mount namespace, or why not.
bool CanUseMountNamespace(const std::string& probe_dir, std::string* why) {
  if (::access("/usr/bin/unshare", X_OK) != 0) {
    *why = "unshare(1) not installed";
    return false;
  }
  auto r = test::RunProcess({"/usr/bin/unshare", "-rm", "sh", "-c",
                             "mount -t tmpfs -o size=1m tmpfs \"$1\"", "sh", probe_dir});
  if (r.exit_code != 0) {
    *why = "cannot mount a tmpfs in a user+mount namespace here: " + r.err;
    return false;
  }
  return true;
}

class DiskLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = dir_.Sub("vecs.npy");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, kRows, 32, 13).ok());
    ASSERT_TRUE(Env::Default()->CreateDirs(dir_.Sub("scratch")).ok());
    WriteConfig(dir_.Sub("data"), dir_.Sub("bk"));
  }
  void WriteConfig(const std::string& data, const std::string& bk) {
    data_ = data;
    bk_ = bk;
    config_ = dir_.Sub("config.yaml");
    test::WriteText(config_, "data_dir: " + data + "\nbackup_dir: " + bk +
                                 "\nindexes:\n"
                                 "  - name: c\n"
                                 "    source: { path: " + source_ + " }\n"
                                 "    dimension: 32\n"
                                 "    factory: \"IVF32,Flat\"\n"
                                 "    train_sample: 2000\n"
                                 "    keep_versions: 2\n"
                                 "    search: { nprobe: 8 }\n"
                                 "    backups: { keep_last: 2, keep_daily: 0, keep_weekly: 0, "
                                 "zstd_workers: 1 }\n"
                                 "    validation: { queries: 100, latency_queries: 20, "
                                 "min_recall: 0.5, max_p99_ms: 1000 }\n");
  }
  std::vector<std::string> Cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {test::BinPath("cli/faiss-rebuild"), "--config", config_});
    return args;
  }
  test::ProcessResult Run(std::vector<std::string> args, const Limits& lim = {}) {
    return RunLimited(Cli(std::move(args)), lim, dir_.Sub("scratch"));
  }
  // Live of the store under `data` is `want`, matches its manifest and loads.
  static void ExpectLive(const std::string& data, const std::string& want) {
    VersionStore store(Env::Default(), data, "c");
    auto live = store.LiveVersion();
    ASSERT_TRUE(live.ok() && *live) << live.status().ToString();
    EXPECT_EQ(**live, want);
    auto m = store.ReadManifest(**live);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(*Sha256File(Env::Default(), store.LivePath()), m->file_sha256);
    std::unique_ptr<faiss::Index> idx(faiss::read_index(store.LivePath().c_str()));
    EXPECT_EQ(idx->ntotal, kRows);
  }
  static std::string Live(const std::string& data) {
    auto live = VersionStore(Env::Default(), data, "c").LiveVersion();
    return live.ok() && *live ? **live : "";
  }
  static void ExpectNoLeftovers(const std::string& data, const std::string& bk) {
    auto staging = Env::Default()->ListDir(VersionStore(Env::Default(), data, "c").StagingRoot());
    ASSERT_TRUE(staging.ok());
    EXPECT_TRUE(staging->empty()) << "staging leftover " << staging->front();
    for (const std::string& root : {data, bk}) {
      std::error_code ec;
      for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
           it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        EXPECT_EQ(it->path().filename().string().find(".tmp"), std::string::npos)
            << "temporary file left: " << it->path();
    }
  }
  static std::optional<JobOutcome> LastJob(const std::string& data) {
    Config c;
    c.data_dir = data;
    auto last = ReadLastJob(Env::Default(), c, "c");
    return last.ok() ? *last : std::nullopt;
  }

  test::TempDir dir_;
  std::string source_, config_, data_, bk_;
};

// EFBIG from a file-size limit, with SIGXFSZ ignored (as the programs must
// do in main()): a clean failure, reported as no_space, live intact.
TEST_F(DiskLimitsTest, FileSizeLimitFailsLikeAFullDisk) {
  auto first = Run({"rebuild", "c", "--force", "--local"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::string v1 = Live(data_);
  Limits lim;
  lim.fsize = 512 << 10;  // below the index file and its backup, above every small file
  lim.ignore_sigxfsz = true;
  auto r = Run({"rebuild", "c", "--force", "--local"}, lim);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_NE(r.err.find("File too large"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("live version " + v1 + " unchanged"), std::string::npos) << r.err;
  ExpectLive(data_, v1);
  auto last = LastJob(data_);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->status.code(), Code::kNoSpace) << last->status.ToString();
  EXPECT_EQ(last->failed_stage, Stage::kWritingStaging);

  // Backup create and restore under the same limit: clean failures too.
  auto b = Run({"backup", "create", "c", "--local"}, lim);
  EXPECT_EQ(b.exit_code, 1) << Describe(b);
  EXPECT_NE(b.err.find("File too large"), std::string::npos) << b.err;

  auto again = Run({"rebuild", "c", "--force", "--local"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(Live(data_), v1);
  ExpectNoLeftovers(data_, bk_);
}

// The same limit with SIGXFSZ left at its default disposition: the CLI must
// ignore the signal itself, or the kernel kills it mid-write.
TEST_F(DiskLimitsTest, CliIgnoresSigxfsz) {
  auto first = Run({"rebuild", "c", "--force", "--local"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::string v1 = Live(data_);
  Limits lim;
  lim.fsize = 512 << 10;
  lim.ignore_sigxfsz = false;  // SIG_DFL: terminate (and core) on SIGXFSZ
  auto r = Run({"rebuild", "c", "--force", "--local"}, lim);
  EXPECT_EQ(r.exit_code, 1)
      << Describe(r) << " (expected a clean failure: faiss-rebuild's main() must call "
      << "signal(SIGXFSZ, SIG_IGN) so a file-size limit gives EFBIG instead of a kill)";
  ExpectLive(data_, v1);
}

// A real full disk: an 8 MiB tmpfs holding the data and backup dirs,
// filled up to 500 KiB free with a filler file.
TEST_F(DiskLimitsTest, RealFullDiskOnTmpfs) {
  std::string mnt = dir_.Sub("mnt");
  ASSERT_TRUE(Env::Default()->CreateDirs(mnt).ok());
  std::string why;
  if (!CanUseMountNamespace(mnt, &why)) GTEST_SKIP() << why;
  WriteConfig(JoinPath(mnt, "data"), JoinPath(mnt, "bk"));
  std::string out = dir_.Sub("out");
  ASSERT_TRUE(Env::Default()->CreateDirs(out).ok());
  // Everything that needs the tmpfs happens inside one namespace; the states
  // to check are copied out.
  const char* script = R"(
set -u
D=$1; OUT=$2; FRB=$3; CFG=$4
mount -t tmpfs -o size=8m tmpfs "$D" || exit 90
run() { n=$1; shift; "$FRB" --config "$CFG" "$@" >"$OUT/$n.out" 2>"$OUT/$n.err"; echo $? >"$OUT/$n.rc"; }
run r1 rebuild c --force --local
avail=$(df -k --output=avail "$D" | tail -1)
dd if=/dev/zero of="$D/filler" bs=1k count=$((avail - 500)) 2>/dev/null
df -k --output=avail "$D" | tail -1 | tr -d ' ' >"$OUT/free_kib"
run r2 rebuild c --force --local
run b2 backup create c --local
mkdir -p "$OUT/full"; cp -a "$D/data" "$OUT/full/"; [ ! -d "$D/bk" ] || cp -a "$D/bk" "$OUT/full/"
rm -f "$D/filler"
run r3 rebuild c --force --local
run b3 backup create c --local
mkdir -p "$OUT/recovered"; cp -a "$D/data" "$D/bk" "$OUT/recovered/"
)";
  ASSERT_TRUE(Env::Default()->CreateDirs(JoinPath(out, "full")).ok());
  auto r = test::RunProcess({"/usr/bin/unshare", "-rm", "sh", "-c", script, "sh", mnt, out,
                             test::BinPath("cli/faiss-rebuild"), config_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rc = [&](const std::string& n) { return std::atoi(test::ReadText(JoinPath(out, n + ".rc")).c_str()); };
  auto err = [&](const std::string& n) { return test::ReadText(JoinPath(out, n + ".err")); };
  ASSERT_EQ(rc("r1"), 0) << err("r1");
  std::printf("tmpfs 8 MiB, %d KiB free before the rebuild that does not fit\n",
              std::atoi(test::ReadText(JoinPath(out, "free_kib")).c_str()));

  std::string full = JoinPath(out, "full");
  std::string v1 = Live(JoinPath(full, "data"));
  ASSERT_FALSE(v1.empty());
  // The rebuild that does not fit: refused before training by the index
  // size estimate, naming the free space.
  EXPECT_EQ(rc("r2"), 1) << err("r2");
  EXPECT_NE(err("r2").find("bytes free"), std::string::npos) << err("r2");
  EXPECT_NE(err("r2").find("live version " + v1 + " unchanged"), std::string::npos) << err("r2");
  ExpectLive(JoinPath(full, "data"), v1);
  ExpectNoLeftovers(JoinPath(full, "data"), JoinPath(full, "bk"));
  auto last = LastJob(JoinPath(full, "data"));
  ASSERT_TRUE(last) << "no last_job.json";
  EXPECT_EQ(last->status.code(), Code::kNoSpace) << last->status.ToString();
  // A backup that cannot fit is refused before writing (free-space check).
  EXPECT_EQ(rc("b2"), 1) << err("b2");
  EXPECT_NE(err("b2").find("bytes free"), std::string::npos) << err("b2");
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(JoinPath(full, "bk"), ec))
    if (!e.is_directory()) ADD_FAILURE() << "file left in the backup dir by failed backups: " << e.path();

  // Space freed: the next runs succeed.
  std::string rec = JoinPath(out, "recovered");
  EXPECT_EQ(rc("r3"), 0) << err("r3");
  EXPECT_EQ(rc("b3"), 0) << err("b3");
  std::string v2 = Live(JoinPath(rec, "data"));
  EXPECT_NE(v2, v1);
  ExpectLive(JoinPath(rec, "data"), v2);
  ExpectNoLeftovers(JoinPath(rec, "data"), JoinPath(rec, "bk"));
  Config c;
  c.data_dir = JoinPath(rec, "data");
  c.backup_dir = JoinPath(rec, "bk");
  IndexConfig ic;
  ic.name = "c";
  BackupStore backups(Env::Default(), c, ic);
  auto list = backups.List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);  // v1 (outgoing) and v2 (backup create)
  for (const auto& b : *list) EXPECT_TRUE(backups.Verify(b.manifest.version_id)->ok);
}

// faiss-rebuildd started on a full data disk (a full tmpfs in a user+mount
// namespace): it does not exit into a restart loop; it serves /healthz and
// /metrics, reports not-ready with the reason on /readyz and in STATUS=, and
// is ready by itself once space returns.
TEST_F(DiskLimitsTest, DaemonStartsOnAFullDiskNotReadyUntilSpaceReturns) {
  std::string mnt = dir_.Sub("mnt");
  ASSERT_TRUE(Env::Default()->CreateDirs(mnt).ok());
  std::string why;
  if (!CanUseMountNamespace(mnt, &why)) GTEST_SKIP() << why;
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv(1) not installed";
  WriteConfig(JoinPath(mnt, "data"), JoinPath(mnt, "bk"));
  std::string out = dir_.Sub("out");
  ASSERT_TRUE(Env::Default()->CreateDirs(out).ok());
  // The daemon runs inside the namespace (it dies with the shell); the test
  // talks to it over loopback and frees the space through a flag file.
  const char* script = R"(
set -u
D=$1; OUT=$2; BIN=$3; CFG=$4
mount -t tmpfs -o size=4m tmpfs "$D" || exit 90
mkdir -p "$D/data"
dd if=/dev/zero of="$D/filler" bs=64k 2>/dev/null
df -k --output=avail "$D" | tail -1 | tr -d ' ' >"$OUT/free_kib"
setpriv --pdeathsig KILL "$BIN" --config "$CFG" --listen 127.0.0.1:0 &
pid=$!
i=0; while [ ! -e "$OUT/free" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
rm -f "$D/filler"
i=0; while [ ! -e "$OUT/stop" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
kill -TERM $pid; wait $pid; echo $? >"$OUT/daemon_rc"
)";
  test::NotifySocket notify(dir_.Sub("notify.sock"));
  test::ChildOptions opts;
  opts.env = {"NOTIFY_SOCKET=" + notify.path()};
  test::ChildProcess d({"/usr/bin/unshare", "-rm", "sh", "-c", script, "sh", mnt, out,
                        test::BinPath("daemon/rebuildd/faiss-rebuildd"), config_},
                       dir_.Sub("d.log"), opts);
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();
  EXPECT_EQ(test::ReadText(JoinPath(out, "free_kib")), "0\n");
  EXPECT_EQ(test::Http(port, "GET", "/healthz").status, 200);
  auto metrics = test::Http(port, "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(test::Sample(metrics.body, "faiss_rebuild_disk_free_bytes{path=\"" + data_ + "\"}"), 0)
      << metrics.body;
  auto ready = test::Http(port, "GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.json().GetString("error").find("data dir " + data_ + " is full"),
            std::string::npos)
      << ready.body;
  EXPECT_TRUE(notify.WaitFor("STATUS=not ready: data dir " + data_ + " is full")) << notify.all();
  EXPECT_TRUE(d.Alive()) << d.Log();

  test::WriteText(JoinPath(out, "free"), "");
  auto freed = std::chrono::steady_clock::now();
  int code = 0;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
       code != 200 && std::chrono::steady_clock::now() < deadline;) {
    code = test::Http(port, "GET", "/readyz").status;
    if (code != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(code, 200) << test::Http(port, "GET", "/readyz").body << d.Log();
  std::printf("ready %.2f s after the space was freed (flag file polled every 0.1 s)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - freed).count());
  EXPECT_TRUE(notify.WaitFor("STATUS=1 indexes; idle")) << notify.all();
  // The scheduler state, unsaved while full, is saved once space returns.
  test::WriteText(JoinPath(out, "stop"), "");
  EXPECT_EQ(d.Wait(), 0) << d.Log();
  EXPECT_EQ(test::ReadText(JoinPath(out, "daemon_rc")), "0\n") << d.Log();
}

// A read-only data dir (read-only bind mount): mutating commands fail
// cleanly, read-only ones still work.
TEST_F(DiskLimitsTest, ReadOnlyDataDir) {
  std::string mnt = dir_.Sub("ro");
  ASSERT_TRUE(Env::Default()->CreateDirs(mnt).ok());
  std::string why;
  if (!CanUseMountNamespace(mnt, &why)) GTEST_SKIP() << why;
  WriteConfig(JoinPath(mnt, "data"), JoinPath(mnt, "bk"));
  ASSERT_EQ(Run({"rebuild", "c", "--force", "--local"}).exit_code, 0);
  ASSERT_EQ(Run({"rebuild", "c", "--force", "--local"}).exit_code, 0);  // v1 backed up
  std::string v2 = Live(data_);
  auto v1 = *VersionStore(Env::Default(), data_, "c").RollbackVersion();
  ASSERT_TRUE(v1);
  std::string out = dir_.Sub("out");
  ASSERT_TRUE(Env::Default()->CreateDirs(out).ok());
  const char* script = R"(
set -u
D=$1; OUT=$2; FRB=$3; CFG=$4; V1=$5
mount --bind "$D" "$D" && mount -o remount,ro,bind "$D" || exit 90
run() { n=$1; shift; "$FRB" --config "$CFG" "$@" >"$OUT/$n.out" 2>"$OUT/$n.err"; echo $? >"$OUT/$n.rc"; }
run rebuild rebuild c --local
run create backup create c --local
run restore restore c "$V1" --local
run prune backup prune c
run status status --local
run versions versions c
run list backup list c --local
run verify backup verify c
)";
  auto r = test::RunProcess({"/usr/bin/unshare", "-rm", "sh", "-c", script, "sh", mnt, out,
                             test::BinPath("cli/faiss-rebuild"), config_, *v1});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rc = [&](const std::string& n) { return std::atoi(test::ReadText(JoinPath(out, n + ".rc")).c_str()); };
  auto err = [&](const std::string& n) { return test::ReadText(JoinPath(out, n + ".err")); };
  for (const char* n : {"rebuild", "create", "restore", "prune"}) {
    SCOPED_TRACE(n);
    EXPECT_EQ(rc(n), 1) << err(n);
    EXPECT_NE(err(n).find("Read-only file system"), std::string::npos) << err(n);
    std::string e = err(n);
    EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1) << "not a one-line reason: " << e;
  }
  for (const char* n : {"status", "versions", "list", "verify"}) {
    SCOPED_TRACE(n);
    EXPECT_EQ(rc(n), 0) << err(n);
  }
  ExpectLive(data_, v2);
}

// Permission denied: the CLI runs as nobody over a tree nobody owns, with
// one directory at a time made 0500.
TEST_F(DiskLimitsTest, PermissionDeniedDirectories) {
  std::optional<uid_t> as;
  if (::geteuid() == 0) {
    as = 65534;  // nobody: root would ignore the permission bits
    // nobody must reach the binary and the test tree.
    for (std::string p = test::BinPath("cli/faiss-rebuild"); p != "/" && p != "."; p = DirName(p)) {
      struct stat st;
      if (::stat(p.c_str(), &st) != 0 || !(st.st_mode & S_IXOTH))
        GTEST_SKIP() << "nobody cannot reach " << p << "; cannot drop privileges for this test";
    }
    ASSERT_EQ(std::system(("chown -R 65534:65534 '" + dir_.path() + "'").c_str()), 0);
  }
  Limits lim;
  lim.uid = as;
  auto first = Run({"rebuild", "c", "--force", "--local"}, lim);
  ASSERT_EQ(first.exit_code, 0) << Describe(first);
  std::string v1 = Live(data_);
  VersionStore store(Env::Default(), data_, "c");
  struct Case {
    std::string dir;
    std::vector<std::string> cmd;
  };
  std::vector<Case> cases = {
      {store.IndexDir(), {"rebuild", "c", "--force", "--local"}},                 // SEQ / symlink swap
      {JoinPath(store.IndexDir(), "versions"), {"rebuild", "c", "--force", "--local"}},  // commit rename
      {store.StagingRoot(), {"rebuild", "c", "--force", "--local"}},              // staging mkdir
      {JoinPath(bk_, "c"), {"rebuild", "c", "--force", "--local"}},               // backing up
      {JoinPath(bk_, "c"), {"backup", "create", "c", "--local"}},
  };
  int n = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dir + " 0500, " + c.cmd[0] + " " + c.cmd[1]);
    std::string live = Live(data_);
    ASSERT_TRUE(Env::Default()->CreateDirs(c.dir).ok());
    if (as) {
      ASSERT_EQ(::chown(c.dir.c_str(), *as, *as), 0);
    }
    ASSERT_EQ(::chmod(c.dir.c_str(), 0500), 0);
    auto r = Run(c.cmd, lim);
    ASSERT_EQ(::chmod(c.dir.c_str(), 0755), 0);
    if (r.exit_code == 0) {
      // Only possible if the step this directory guards was not needed
      // (e.g. the live version was already backed up).
      ADD_FAILURE() << "succeeded with " << c.dir << " read-only: " << r.out;
      continue;
    }
    ++n;
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
    ExpectLive(data_, live);
    // The next run, permissions restored, succeeds and cleans up.
    auto again = Run({"rebuild", "c", "--force", "--local"}, lim);
    EXPECT_EQ(again.exit_code, 0) << Describe(again);
    ExpectNoLeftovers(data_, bk_);
  }
  std::printf("permission denied: %d cases failed cleanly and recovered\n", n);
  if (as) (void)std::system(("chown -R 0:0 '" + dir_.path() + "'").c_str());
}

}  // namespace
}  // namespace frb
