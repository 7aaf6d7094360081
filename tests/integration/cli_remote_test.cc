// The faiss-rebuild CLI against a real faiss-rebuildd: the default mode
// without --local (status, rebuild --wait, jobs, jobs show, cancel, health,
// backup list/create, restore), exit codes, the bearer token and the
// unreachable-daemon message.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "frb/env.h"
#include "frb/json.h"
#include "frb/store.h"
#include "daemon_process.h"
#include "http_client.h"
#include "testutil.h"

namespace frb {
namespace {

using Clock = std::chrono::steady_clock;

size_t Lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

class CliRemoteTest : public ::testing::Test {
 protected:
  void SetUp() override { source_ = dir_.Sub("vecs.npy"); }
  void WriteConfig(int64_t rows, const std::string& factory, int64_t train_sample,
                   const std::string& extra_top = "", const std::string& min_recall = "0.5") {
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, rows, 32, 5).ok());
    config_ = dir_.Sub("config.yaml");
    test::WriteText(config_, "data_dir: " + dir_.Sub("data") + "\n" + extra_top +
                                 "indexes:\n"
                                 "  - name: small\n"
                                 "    source: { path: " + source_ + ", format: npy }\n"
                                 "    dimension: 32\n"
                                 "    metric: L2\n"
                                 "    factory: \"" + factory + "\"\n"
                                 "    train_sample: " + std::to_string(train_sample) + "\n"
                                 "    " + search_ + "\n"
                                 "    schedule: \"0 3 * * *\"\n"
                                 "    validation: { queries: 100, min_recall: " + min_recall +
                                 ", max_p99_ms: 1000 }\n");
  }
  void StartDaemon() {
    daemon_ = std::make_unique<test::RebuilddProcess>(config_, dir_.Sub("d.log"));
    int port = daemon_->WaitForPort();
    ASSERT_GT(port, 0) << daemon_->Log();
    url_ = "http://127.0.0.1:" + std::to_string(port);
  }
  // The CLI with --config and --daemon (unless `url` is empty).
  test::ProcessResult Cli(std::vector<std::string> args, const std::string& config = "") {
    std::vector<std::string> head = {test::BinPath("cli/faiss-rebuild"), "--config",
                                      config.empty() ? config_ : config};
    if (!url_.empty()) {
      head.push_back("--daemon");
      head.push_back(url_);
    }
    args.insert(args.begin(), head.begin(), head.end());
    return test::RunProcess(args, {}, 120);
  }
  static Json ParseOut(const test::ProcessResult& r) {
    auto j = Json::Parse(r.out);
    EXPECT_TRUE(j.ok()) << r.out << r.err;
    return j.ok() ? *j : Json();
  }
  // Polls `jobs show ID --json` until `pred` holds.
  Json WaitJob(const std::string& id, const std::function<bool(const Json&)>& pred,
               int timeout_s = 40) {
    Json j;
    for (auto deadline = Clock::now() + std::chrono::seconds(timeout_s); Clock::now() < deadline;) {
      auto r = Cli({"jobs", "show", id, "--json"});
      auto parsed = Json::Parse(r.out);
      if (r.exit_code == 0 && parsed.ok()) {
        j = *parsed;
        if (pred(j)) return j;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "job " << id << " never matched: " << j.Dump();
    return j;
  }

  test::TempDir dir_;
  std::string source_, config_, url_;
  std::string search_ = "search: { nprobe: 8 }";
  std::unique_ptr<test::RebuilddProcess> daemon_;
};

TEST_F(CliRemoteTest, RebuildWaitThenStatusJobsAndHealth) {
  WriteConfig(20000, "IVF64,Flat", 5000);
  StartDaemon();

  auto health = Cli({"health"});
  EXPECT_EQ(health.exit_code, 0) << health.err;
  EXPECT_NE(health.out.find("ready"), std::string::npos) << health.out;
  EXPECT_EQ(ParseOut(Cli({"health", "--json"})).GetString("status"), "ready");

  auto r = Cli({"rebuild", "small", "--force", "--wait", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << daemon_->Log();
  Json job = ParseOut(r);
  EXPECT_EQ(job.GetString("state"), "done") << r.out;
  EXPECT_EQ(job.GetString("trigger"), "cli");
  std::string id = job.GetString("job_id");
  std::string version = job.GetString("version");
  ASSERT_FALSE(id.empty());
  ASSERT_FALSE(version.empty());
  EXPECT_TRUE(job.Find("validation") && job.Find("validation")->GetBool("passed")) << r.out;

  auto st = Cli({"status", "--json"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  Json s = ParseOut(st);
  ASSERT_TRUE(s.Find("indexes") && s.Find("indexes")->size() == 1) << st.out;
  const Json& idx = s.Find("indexes")->as_array()[0];
  ASSERT_TRUE(idx.Find("live") && idx.Find("live")->is_object()) << st.out;
  EXPECT_EQ(idx.Find("live")->GetString("version"), version);
  EXPECT_EQ(idx.Find("last_job")->GetString("job_id"), id);
  auto one = Cli({"status", "small"});
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find(version), std::string::npos) << one.out;
  EXPECT_NE(one.out.find("next run:  20"), std::string::npos) << one.out;

  auto jobs = Cli({"jobs", "--json"});
  ASSERT_EQ(jobs.exit_code, 0) << jobs.err;
  Json jl = ParseOut(jobs);
  ASSERT_TRUE(jl.Find("jobs") && jl.Find("jobs")->size() == 1) << jobs.out;
  EXPECT_EQ(jl.Find("jobs")->as_array()[0].GetString("job_id"), id);
  EXPECT_EQ(jl.Find("jobs")->as_array()[0].GetString("state"), "done");
  auto human = Cli({"jobs"});
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_NE(human.out.find(id), std::string::npos) << human.out;
  EXPECT_NE(human.out.find(version), std::string::npos) << human.out;

  auto show = Cli({"jobs", "show", id});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("job " + id), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("state:     done"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("training"), std::string::npos) << show.out;
  EXPECT_EQ(ParseOut(Cli({"jobs", "show", id, "--json"})).GetString("version"), version);

  // Daemon errors: its message, one line.
  auto missing = Cli({"jobs", "show", "j-nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "faiss-rebuild: no job 'j-nope'\n");
  auto nope = Cli({"rebuild", "nope"});
  EXPECT_EQ(nope.exit_code, 1);
  EXPECT_NE(nope.err.find("no index named 'nope'"), std::string::npos) << nope.err;
  EXPECT_EQ(Lines(nope.err), 1u) << nope.err;
  auto finished = Cli({"cancel", id});
  EXPECT_EQ(finished.exit_code, 1);
  EXPECT_EQ(Lines(finished.err), 1u) << finished.err;

  // Jobs and health only exist in the daemon.
  EXPECT_EQ(Cli({"jobs", "--local"}).exit_code, 2);
  EXPECT_EQ(Cli({"health", "--local"}).exit_code, 2);
}

TEST_F(CliRemoteTest, SecondRebuildIsBusyAndCancelEndsTheWaitingJob) {
  // Big enough that IVF2048 training takes seconds: time to be busy and cancel.
  WriteConfig(150000, "IVF2048,Flat", 120000);
  StartDaemon();

  test::ProcessResult waited;
  std::thread waiter([&] { waited = Cli({"rebuild", "small", "--force", "--wait", "--json"}); });
  // The job the waiter queued, once it trains.
  std::string id;
  for (auto deadline = Clock::now() + std::chrono::seconds(30); id.empty() && Clock::now() < deadline;) {
    auto r = Cli({"jobs", "--json"});
    auto j = Json::Parse(r.out);
    if (j.ok() && j->Find("jobs"))
      for (const auto& job : j->Find("jobs")->as_array())
        if (job.GetString("state") == "training") id = job.GetString("job_id");
    if (id.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (id.empty()) {
    waiter.join();
    FAIL() << "no job reached training: " << waited.err << daemon_->Log();
  }

  // The index has a running job: a second rebuild is refused with exit 4.
  auto busy = Cli({"rebuild", "small", "--force"});
  EXPECT_EQ(busy.exit_code, 4) << busy.out << busy.err;
  EXPECT_NE(busy.err.find("busy"), std::string::npos) << busy.err;
  EXPECT_NE(busy.err.find(id), std::string::npos) << busy.err;
  EXPECT_EQ(Lines(busy.err), 1u) << busy.err;

  auto cancel = Cli({"cancel", id});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_NE(cancel.out.find(id), std::string::npos) << cancel.out;
  waiter.join();
  // The waiting CLI follows the job to its end and exits 5 (cancelled).
  EXPECT_EQ(waited.exit_code, 5) << waited.err;
  Json end = ParseOut(waited);
  EXPECT_EQ(end.GetString("job_id"), id);
  EXPECT_EQ(end.GetString("state"), "cancelled") << waited.out;
  EXPECT_NE(waited.err.find("cancelled"), std::string::npos) << waited.err;
  EXPECT_EQ(WaitJob(id, [](const Json& j) { return j.Find("finished_unix_ms") != nullptr; })
                .GetString("state"),
            "cancelled");
}

TEST_F(CliRemoteTest, RejectedCandidateExitsThreeWithTheGates) {
  search_ = "";  // LSH takes no nprobe
  WriteConfig(20000, "LSH", 1000, "", "0.99");
  StartDaemon();
  auto r = Cli({"rebuild", "small", "--force", "--wait"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("gate failed: recall"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("faiss-rebuild: failed in validating"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(there is no live version yet; nothing was published)"), std::string::npos)
      << r.err;
  auto st = Cli({"status", "small", "--json"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  EXPECT_TRUE(ParseOut(st).Find("live")->is_null()) << st.out;
}

TEST_F(CliRemoteTest, BackupAndRestoreRunAsDaemonJobs) {
  WriteConfig(20000, "IVF64,Flat", 5000);
  StartDaemon();
  auto first = Cli({"rebuild", "small", "--force", "--wait", "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.err << daemon_->Log();
  std::string v1 = ParseOut(first).GetString("version");

  auto made = Cli({"backup", "create", "small", "--json"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  Json job = ParseOut(made);
  EXPECT_EQ(job.GetString("kind"), "backup");
  EXPECT_EQ(job.GetString("state"), "done");
  EXPECT_EQ(job.GetString("version"), v1);
  auto again = Cli({"backup", "create", "small"});  // identical backup exists: still ok
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out.find("backed up " + v1), 0u) << again.out;

  auto second = Cli({"rebuild", "small", "--force", "--wait", "--json"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  std::string v2 = ParseOut(second).GetString("version");
  // The daemon's listing is the local one, marks included.
  auto remote = Cli({"backup", "list", "small", "--json"});
  ASSERT_EQ(remote.exit_code, 0) << remote.err;
  auto local = Cli({"backup", "list", "small", "--json", "--local"});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_EQ(ParseOut(remote).Dump(), ParseOut(local).Dump());
  Json list = ParseOut(remote);
  ASSERT_EQ(list.size(), 1u) << remote.out;
  EXPECT_EQ(list.as_array()[0].GetString("version"), v1);
  EXPECT_TRUE(list.as_array()[0].GetBool("rollback")) << remote.out;
  auto table = Cli({"backup", "list", "small"});
  EXPECT_NE(table.out.find(v1), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("rollback"), std::string::npos) << table.out;

  auto restored = Cli({"restore", "small", v1, "--json"});
  ASSERT_EQ(restored.exit_code, 0) << restored.err << daemon_->Log();
  Json r = ParseOut(restored);
  EXPECT_EQ(r.GetString("kind"), "restore");
  EXPECT_EQ(r.GetString("restore_version"), v1);
  EXPECT_EQ(r.GetString("parent_version"), v2);
  std::string v3 = r.GetString("version");
  EXPECT_NE(v3, v1);
  EXPECT_EQ(ParseOut(Cli({"status", "small", "--json"})).Find("live")->GetString("version"), v3);
  auto human = Cli({"restore", "small", v2});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("restored " + v2 + " as a new live version"), std::string::npos)
      << human.out;

  // Refusals from the daemon: one line, exit 1.
  auto bad = Cli({"restore", "small", "../x"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(Lines(bad.err), 1u) << bad.err;
  // An unknown version is refused as not found before any job runs, not as
  // a job failing in some stage.
  auto unknown = Cli({"restore", "small", "v19990101T000000Z-1"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.err;
  EXPECT_NE(unknown.err.find("'v19990101T000000Z-1' of index 'small' not found"), std::string::npos)
      << unknown.err;
  EXPECT_EQ(unknown.err.find("loading_source"), std::string::npos) << unknown.err;
  EXPECT_EQ(Lines(unknown.err), 1u) << unknown.err;
  EXPECT_EQ(Cli({"backup", "list", "nope"}).exit_code, 1);
}

// A daemon job finding the index locked by a `--local` run (here: this test
// holding the lock) waits for it; when the wait runs out it ends as busy and
// is not counted as a failure.
TEST_F(CliRemoteTest, LockedIndexIsWaitedForThenBusyNotFailed) {
  WriteConfig(20000, "IVF64,Flat", 5000, "scheduler: { lock_wait: \"3s\" }\n");
  StartDaemon();
  VersionStore store(Env::Default(), dir_.Sub("data"), "small");
  ASSERT_TRUE(store.Init().ok());
  auto held = store.Lock(false);
  ASSERT_TRUE(held.ok());

  auto t0 = Clock::now();
  auto busy = Cli({"rebuild", "small", "--wait"});
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(2900));
  EXPECT_EQ(busy.exit_code, 4) << busy.err;
  EXPECT_NE(busy.err.find("faiss-rebuild: busy in waiting_for_lock"), std::string::npos) << busy.err;
  Json st = ParseOut(Cli({"status", "small", "--json"}));
  EXPECT_EQ(st.GetInt("consecutive_failures"), 0) << st.Dump();
  EXPECT_EQ(st.Find("last_job")->GetString("state"), "busy") << st.Dump();
  std::string scrape = test::Http(daemon_->port(), "GET", "/metrics").body;
  EXPECT_EQ(test::Sample(scrape, "faiss_rebuild_builds_total{index=\"small\",result=\"busy\"}"), 1)
      << scrape;
  EXPECT_EQ(test::Sample(scrape, "faiss_rebuild_builds_total{index=\"small\",result=\"failed\"}"), 0);
  EXPECT_EQ(test::Sample(scrape, "faiss_rebuild_consecutive_failures{index=\"small\"}"), 0);

  // Released while the job waits: it builds.
  auto queued = Cli({"rebuild", "small", "--json"});
  ASSERT_EQ(queued.exit_code, 0) << queued.err;
  std::string id = ParseOut(queued).GetString("job_id");
  Json waiting = WaitJob(id, [](const Json& j) { return j.GetString("state") == "waiting_for_lock"; });
  EXPECT_TRUE(waiting.GetBool("running")) << waiting.Dump();
  auto shown = Cli({"jobs"});
  EXPECT_NE(shown.out.find("waiting_for_lock"), std::string::npos) << shown.out;
  held->reset();
  Json done = WaitJob(id, [](const Json& j) { return j.Find("finished_unix_ms") != nullptr; });
  EXPECT_EQ(done.GetString("state"), "done") << done.Dump();
}

// `backup create` through the daemon applies retention like --local does.
TEST_F(CliRemoteTest, DaemonBackupCreateAppliesRetention) {
  WriteConfig(20000, "IVF64,Flat", 5000,
              "defaults: { backups: { keep_last: 1, keep_daily: 0, keep_weekly: 0,"
              " verify_after_create: false } }\n");
  StartDaemon();
  std::vector<std::string> v;
  for (int i = 0; i < 3; ++i) {
    auto r = Cli({"rebuild", "small", "--force", "--wait", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err << daemon_->Log();
    v.push_back(ParseOut(r).GetString("version"));
  }
  auto before = ParseOut(Cli({"backup", "list", "small", "--json"}));
  ASSERT_EQ(before.size(), 2u) << before.Dump();  // v1 (pinned then) and v2
  auto made = Cli({"backup", "create", "small"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_NE(made.out.find("pruned backup " + v[0]), std::string::npos) << made.out;
  auto after = ParseOut(Cli({"backup", "list", "small", "--json"}));
  ASSERT_EQ(after.size(), 2u) << after.Dump();
  EXPECT_EQ(after.as_array()[0].GetString("version"), v[1]);  // rollback target
  EXPECT_EQ(after.as_array()[1].GetString("version"), v[2]);  // live
}

// A running job's JSON and `jobs` show the fraction, the pace with its unit
// and the ETA; adding moves in several steps.
TEST_F(CliRemoteTest, JobJsonAndJobsShowRateAndEta) {
  WriteConfig(150000, "IVF1024,Flat", 20000);
  StartDaemon();
  auto queued = Cli({"rebuild", "small", "--json"});
  ASSERT_EQ(queued.exit_code, 0) << queued.err;
  std::string id = ParseOut(queued).GetString("job_id");
  std::set<double> adding;
  Json sample;
  std::string table;
  for (auto deadline = Clock::now() + std::chrono::seconds(60); Clock::now() < deadline;) {
    auto r = Cli({"jobs", "show", id, "--json"});
    auto j = Json::Parse(r.out);
    if (!j.ok()) continue;
    if (j->Find("finished_unix_ms")) break;
    if (j->GetString("state") == "adding" && j->GetDouble("progress") > 0 &&
        j->GetDouble("progress") < 1) {
      adding.insert(j->GetDouble("progress"));
      if (j->GetDouble("rate") > 0) {
        sample = *j;
        if (table.empty()) table = Cli({"jobs"}).out;
      }
    }
  }
  EXPECT_GE(adding.size(), 2u) << "adding progress seen: " << adding.size();
  ASSERT_TRUE(sample.is_object()) << "no running sample with a rate";
  EXPECT_EQ(sample.GetString("rate_unit"), "vectors/s") << sample.Dump();
  EXPECT_EQ(sample.GetString("unit"), "vectors");
  EXPECT_EQ(sample.GetInt("total"), 150000);
  ASSERT_TRUE(sample.Find("eta_seconds") && sample.Find("eta_seconds")->is_number()) << sample.Dump();
  EXPECT_GE(sample.GetDouble("eta_seconds"), 0);
  EXPECT_NE(table.find("vectors/s ETA "), std::string::npos) << table;
  Json done = WaitJob(id, [](const Json& j) { return j.Find("finished_unix_ms") != nullptr; }, 120);
  EXPECT_EQ(done.GetString("state"), "done") << done.Dump();
}

TEST_F(CliRemoteTest, MutatingCallsSendTheTokenFromTheConfig) {
  std::string token = dir_.Sub("token");
  test::WriteText(token, "s3cret-token\n");
  ::chmod(token.c_str(), 0600);
  WriteConfig(2000, "IVF16,Flat", 1000, "http: { token_file: " + token + " }\n");
  StartDaemon();
  // Same config, another token: the daemon refuses it.
  std::string wrong = dir_.Sub("wrong");
  test::WriteText(wrong, "not-the-token\n");
  ::chmod(wrong.c_str(), 0600);
  std::string wrong_config = dir_.Sub("wrong.yaml");
  std::string text = test::ReadText(config_);
  text.replace(text.find(token), token.size(), wrong);
  test::WriteText(wrong_config, text);
  auto refused = Cli({"rebuild", "small", "--force"}, wrong_config);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.err, "faiss-rebuild: wrong bearer token\n");
  // Reads need no token.
  EXPECT_EQ(Cli({"jobs"}, wrong_config).exit_code, 0);
  // No token at all: the daemon's message, and why none was sent.
  std::string no_token_config = dir_.Sub("no-token.yaml");
  std::string line = "http: { token_file: " + token + " }\n";
  std::string plain = test::ReadText(config_);
  plain.erase(plain.find(line), line.size());
  test::WriteText(no_token_config, plain);
  auto missing = Cli({"cancel", "j-x"}, no_token_config);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "faiss-rebuild: missing bearer token (no bearer token sent: "
                         "http.token_file is not set in " + no_token_config + ")\n");

  auto ok = Cli({"rebuild", "small", "--force", "--wait"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("published v"), std::string::npos) << ok.out;
}

TEST_F(CliRemoteTest, UnreachableDaemonIsOneLineWithTheLocalHint) {
  WriteConfig(2000, "IVF16,Flat", 1000);
  int port = test::FreePort();
  url_ = "http://127.0.0.1:" + std::to_string(port);
  std::string want = "faiss-rebuild: cannot reach the daemon at " + url_ +
                     " (connection refused); is faiss-rebuildd running? use --local to act on "
                     "the data dir directly\n";
  for (std::vector<std::string> args :
       {std::vector<std::string>{"status"}, {"rebuild", "small", "--force", "--wait"}, {"jobs"},
        {"jobs", "show", "j-x"}, {"cancel", "j-x"}, {"health"}, {"backup", "list", "small"},
        {"backup", "create", "small"}, {"restore", "small", "v1"}}) {
    auto r = Cli(args);
    EXPECT_EQ(r.exit_code, 1) << args[0];
    EXPECT_EQ(r.err, want) << args[0];
  }
  // Without --daemon the address comes from http.listen.
  test::WriteText(config_, test::ReadText(config_) + "http: { listen: \"127.0.0.1:" +
                               std::to_string(port) + "\" }\n");
  url_.clear();
  auto r = Cli({"status"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, want);
  // --local still works with no daemon.
  EXPECT_EQ(Cli({"status", "--local"}).exit_code, 0);

  url_ = "ftp://127.0.0.1:1";
  auto bad = Cli({"status"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("bad --daemon URL"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace frb
