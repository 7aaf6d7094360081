// JobRunner: one queue, one job per index, bounded workers, cancel, history.
#include "frb/job_runner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "frb/backup.h"
#include "frb/scheduler.h"
#include "frb/store.h"
#include "testutil.h"

namespace frb {
namespace {

// Waits for a condition driven by worker threads (not for scheduler time).
template <typename Pred>
bool WaitFor(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// A job that runs until released or cancelled, tracking concurrency.
struct FakeJobs {
  std::atomic<bool> release{false};
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> started{0};

  JobFn Fn() {
    return [this](const JobRequest&, JobControl& control) {
      int now = ++running;
      int prev = max_running.load();
      while (now > prev && !max_running.compare_exchange_weak(prev, now)) {
      }
      ++started;
      control.EnterStage(Stage::kTraining);
      JobOutcome out;
      while (!release.load()) {
        if (!control.Check().ok()) {
          out.stage = Stage::kCancelled;
          out.status = control.Check();
          --running;
          return out;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      out.stage = Stage::kDone;
      --running;
      return out;
    };
  }
};

TEST(JobRunnerTest, SecondJobForSameIndexIsBusyOtherIndexIsNot) {
  FakeJobs jobs;
  FakeClock clock(1'700'000'000'000);
  JobRunner runner(2, jobs.Fn(), &clock);
  auto a = runner.Submit("a", "api");
  ASSERT_TRUE(a.ok());
  auto again = runner.Submit("a", "api");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::kBusy);
  EXPECT_NE(again.status().message().find(*a), std::string::npos);
  EXPECT_TRUE(runner.Submit("b", "api").ok());
  EXPECT_EQ(runner.ActiveJob("a"), *a);
  jobs.release = true;
  ASSERT_TRUE(WaitFor([&] { return !runner.ActiveJob("a") && !runner.ActiveJob("b"); }));
  // Once finished, the index accepts a new job.
  EXPECT_TRUE(runner.Submit("a", "api").ok());
}

TEST(JobRunnerTest, MaxConcurrentBuildsIsRespected) {
  FakeJobs jobs;
  FakeClock clock(1'700'000'000'000);
  JobRunner runner(2, jobs.Fn(), &clock);
  for (const char* name : {"a", "b", "c", "d"}) ASSERT_TRUE(runner.Submit(name, "api").ok());
  ASSERT_TRUE(WaitFor([&] { return runner.running() == 2; }));
  // Give a third worker (if one wrongly existed) the chance to start.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(runner.running(), 2);
  EXPECT_EQ(runner.queued(), 2);
  EXPECT_EQ(jobs.started.load(), 2);
  jobs.release = true;
  ASSERT_TRUE(WaitFor([&] { return jobs.started == 4 && runner.running() == 0; }));
  EXPECT_EQ(jobs.max_running.load(), 2);
}

TEST(JobRunnerTest, CancelQueuedAndRunningJobs) {
  FakeJobs jobs;
  FakeClock clock(1'700'000'000'000);
  JobRunner runner(1, jobs.Fn(), &clock);
  std::vector<JobOutcome> finished;
  std::mutex mu;
  runner.SetOnFinish([&](const JobRequest&, const JobOutcome& o) {
    std::lock_guard<std::mutex> lock(mu);
    finished.push_back(o);
  });
  auto a = runner.Submit("a", "api");
  auto b = runner.Submit("b", "schedule");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(WaitFor([&] { return runner.running() == 1; }));
  auto info = runner.Get(*a);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->stage, Stage::kTraining);

  // Queued: ends at once, never runs.
  ASSERT_TRUE(runner.Cancel(*b).ok());
  auto bi = runner.Get(*b);
  ASSERT_TRUE(bi && bi->outcome);
  EXPECT_EQ(bi->stage, Stage::kCancelled);
  EXPECT_EQ(bi->outcome->trigger, "schedule");
  EXPECT_FALSE(runner.ActiveJob("b"));

  // Running: the job sees the request at its next check.
  ASSERT_TRUE(runner.Cancel(*a).ok());
  ASSERT_TRUE(WaitFor([&] { return !runner.ActiveJob("a"); }));
  EXPECT_EQ(runner.Get(*a)->stage, Stage::kCancelled);
  EXPECT_EQ(runner.Get(*a)->outcome->status.code(), Code::kCancelled);
  EXPECT_EQ(jobs.started.load(), 1);
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(finished.size(), 2u);
    EXPECT_EQ(finished[0].job_id, *b);
    EXPECT_EQ(finished[1].job_id, *a);
  }
  EXPECT_EQ(runner.Cancel(*a).code(), Code::kFailedPrecondition);
  EXPECT_EQ(runner.Cancel("j-nope").code(), Code::kNotFound);
}

TEST(JobRunnerTest, HistoryIsBoundedAndListedNewestFirst) {
  FakeJobs jobs;
  jobs.release = true;
  FakeClock clock(1'700'000'000'000);
  JobRunner runner(1, jobs.Fn(), &clock, /*history=*/3);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto id = runner.Submit("a", "api");
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
    ASSERT_TRUE(WaitFor([&] { return !runner.ActiveJob("a"); }));
  }
  auto list = runner.List();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].job_id, ids[4]);
  EXPECT_EQ(list[2].job_id, ids[2]);
  EXPECT_FALSE(runner.Get(ids[0]));
  Json j = list[0].ToJson();
  EXPECT_EQ(j.GetString("state"), "done");
  EXPECT_EQ(j.GetString("index"), "a");
}

TEST(JobRunnerTest, ShutdownCancelsRunningAndQueuedAndRefusesNewJobs) {
  FakeJobs jobs;
  FakeClock clock(1'700'000'000'000);
  JobRunner runner(1, jobs.Fn(), &clock);
  auto a = runner.Submit("a", "api");
  auto b = runner.Submit("b", "api");
  ASSERT_TRUE(WaitFor([&] { return runner.running() == 1; }));
  runner.Shutdown(true);
  EXPECT_EQ(runner.Get(*a)->stage, Stage::kCancelled);
  EXPECT_EQ(runner.Get(*b)->stage, Stage::kCancelled);
  EXPECT_EQ(jobs.started.load(), 1);
  EXPECT_EQ(runner.Submit("c", "api").status().code(), Code::kFailedPrecondition);
}

TEST(JobRunnerTest, RebuildJobFnReportsUnknownIndex) {
  auto cfg = std::make_shared<Config>();
  JobFn fn = MakeRebuildJobFn(Env::Default(), [cfg] { return cfg; });
  JobControl control;
  JobOutcome out = fn({"j-1", "missing", "api", "rebuild", ""}, control);
  EXPECT_EQ(out.stage, Stage::kFailed);
  EXPECT_EQ(out.status.code(), Code::kNotFound);

  // A backup job with nothing live fails with a reason, as a value.
  test::TempDir dir;
  cfg->data_dir = dir.Sub("data");
  IndexConfig ic;
  ic.name = "a";
  cfg->indexes.push_back(ic);
  JobControl c2;
  out = fn({"j-2", "a", "api", "backup", ""}, c2);
  EXPECT_EQ(out.stage, Stage::kFailed);
  EXPECT_EQ(out.status.code(), Code::kFailedPrecondition);
  EXPECT_NE(out.status.message().find("no live version"), std::string::npos);
  JobControl c3;
  out = fn({"j-3", "a", "api", "frobnicate", ""}, c3);
  EXPECT_EQ(out.status.code(), Code::kInvalidArgument);
}


// A daemon job that finds the index lock held (a `--local` run) waits for
// it, shown as waiting_for_lock, and builds once the lock is released.
TEST(JobRunnerTest, RebuildWaitsForAHeldIndexLockThenBuilds) {
  test::TempDir dir;
  auto cfg = std::make_shared<Config>(test::SmallIndexConfig(dir, 16));
  cfg->scheduler.lock_wait = std::chrono::seconds(60);
  VersionStore store(Env::Default(), cfg->data_dir, "t");
  ASSERT_TRUE(store.Init().ok());
  auto held = store.Lock(false);
  ASSERT_TRUE(held.ok());
  JobFn fn = MakeRebuildJobFn(Env::Default(), [cfg] { return cfg; });
  JobControl control;
  JobOutcome out;
  std::thread job([&] { out = fn({"j-1", "t", "schedule", "rebuild", ""}, control); });
  EXPECT_TRUE(WaitFor([&] { return control.Snapshot().stage == Stage::kWaitingForLock; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(control.Snapshot().stage, Stage::kWaitingForLock);  // still waiting
  held->reset();  // the other process is done
  job.join();
  EXPECT_EQ(out.stage, Stage::kDone) << out.status.ToString();
  EXPECT_GT(out.stage_seconds["waiting_for_lock"], 0.2);
}

// When the wait runs out the job ends as busy: not a build failure, so no
// consecutive failure and no cooldown.
TEST(JobRunnerTest, LockWaitRunningOutIsBusyNotAFailure) {
  test::TempDir dir;
  auto cfg = std::make_shared<Config>(test::SmallIndexConfig(dir, 16));
  cfg->scheduler.lock_wait = std::chrono::seconds(30);
  cfg->indexes[0].lock_wait = std::chrono::seconds(1);  // the index's own wait wins
  VersionStore store(Env::Default(), cfg->data_dir, "t");
  ASSERT_TRUE(store.Init().ok());
  auto held = store.Lock(false);
  ASSERT_TRUE(held.ok());
  JobFn fn = MakeRebuildJobFn(Env::Default(), [cfg] { return cfg; });
  JobControl control;
  auto t0 = std::chrono::steady_clock::now();
  JobOutcome out = fn({"j-1", "t", "schedule", "rebuild", ""}, control);
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(waited, 0.9);
  EXPECT_LT(waited, 10);
  EXPECT_EQ(out.status.code(), Code::kBusy) << out.status.ToString();
  EXPECT_EQ(ResultName(out), "busy");
  EXPECT_EQ(out.ToJson().GetString("result"), "busy");
  EXPECT_NE(out.status.message().find("lock wait"), std::string::npos) << out.status.message();

  // The scheduler does not count it against the index.
  test::TempDir sdir;
  Config scfg = *cfg;
  scfg.data_dir = sdir.Sub("data");
  scfg.indexes[0].schedule = "0 3 * * *";
  JobRunner runner(1, [](const JobRequest&, JobControl&) { return JobOutcome{}; }, Clock::Real());
  Scheduler sched(Env::Default(), Clock::Real(), &runner);
  ASSERT_TRUE(sched.Configure(scfg).ok());
  sched.OnJobFinished(out);
  ASSERT_TRUE(sched.State("t").has_value());
  EXPECT_EQ(sched.State("t")->consecutive_failures, 0);
  EXPECT_EQ(sched.State("t")->last_result, "busy");

  // Cancel ends a wait at once.
  cfg->indexes[0].lock_wait = std::chrono::seconds(60);
  JobControl c2;
  std::thread canceller([&] {
    WaitFor([&] { return c2.Snapshot().stage == Stage::kWaitingForLock; });
    c2.Cancel();
  });
  t0 = std::chrono::steady_clock::now();
  out = fn({"j-2", "t", "api", "backup", ""}, c2);
  canceller.join();
  EXPECT_EQ(out.stage, Stage::kCancelled) << out.status.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

// A job a worker has picked up is never reported as "queued", even before
// it enters its first stage.
TEST(JobRunnerTest, StartedJobIsNotReportedAsQueued) {
  std::atomic<bool> release{false};
  JobRunner runner(1, [&](const JobRequest&, JobControl&) {
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    JobOutcome out;
    out.stage = Stage::kDone;
    return out;
  }, Clock::Real());
  auto id = runner.Submit("a", "api");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(WaitFor([&] { return runner.running() == 1; }));
  auto busy = runner.Submit("a", "api");
  EXPECT_EQ(busy.status().code(), Code::kBusy);
  EXPECT_EQ(busy.status().message().find("(queued)"), std::string::npos) << busy.status().message();
  EXPECT_NE(busy.status().message().find("running"), std::string::npos) << busy.status().message();
  EXPECT_TRUE(runner.Get(*id)->ToJson().GetBool("running"));
  release = true;
  ASSERT_TRUE(WaitFor([&] { return runner.Get(*id)->outcome.has_value(); }));
  EXPECT_FALSE(runner.Get(*id)->ToJson().GetBool("running"));
}

// The daemon's backup job applies retention like `backup create --local`.
TEST(JobRunnerTest, BackupJobAppliesRetention) {
  test::TempDir dir;
  auto cfg = std::make_shared<Config>(test::SmallIndexConfig(dir, 16));
  BackupConfig& b = cfg->indexes[0].backups;
  b.keep_last = 1;
  b.keep_daily = 0;
  b.keep_weekly = 0;
  b.verify_after_create = false;  // no newest-verified pin: keep_last decides
  JobFn fn = MakeRebuildJobFn(Env::Default(), [cfg] { return cfg; });
  std::vector<std::string> versions;
  for (int i = 0; i < 3; ++i) {
    JobControl c;
    JobOutcome out = fn({"j-r" + std::to_string(i), "t", "api", "rebuild", "", /*force=*/true}, c);
    ASSERT_EQ(out.stage, Stage::kDone) << out.status.ToString();
    versions.push_back(out.version_id);
  }
  BackupStore backups(Env::Default(), *cfg, cfg->indexes[0]);
  // Rebuilds backed up v1 and v2 (v1 was the rollback target when v3's
  // build pruned, so it stayed).
  ASSERT_EQ(test::BackupIds(backups), (std::vector<std::string>{versions[0], versions[1]}));
  JobControl c;
  JobOutcome out = fn({"j-b", "t", "api", "backup", ""}, c);
  ASSERT_EQ(out.stage, Stage::kDone) << out.status.ToString();
  EXPECT_EQ(out.version_id, versions[2]);
  // v1 is no longer pinned: keep_last 1 keeps v3, the rollback pin keeps v2.
  EXPECT_EQ(test::BackupIds(backups), (std::vector<std::string>{versions[1], versions[2]}));
  EXPECT_EQ(out.pruned_backups, std::vector<std::string>{versions[0]});
  EXPECT_EQ(out.ToJson().Find("pruned_backups")->size(), 1u);
}
}  // namespace
}  // namespace frb
