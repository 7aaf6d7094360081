// Scheduler with a fake clock: cron firing, no overlap, cooldown, misfire
// after downtime, state restored across restarts.
#include "frb/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "testutil.h"

namespace frb {
namespace {

constexpr int64_t kJan1 = 1767225600;  // 2026-01-01T00:00:00Z

template <typename Pred>
bool WaitFor(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Jobs end with `result` at once, or block while `hold` is set.
struct Jobs {
  std::atomic<bool> hold{false};
  std::atomic<Stage> result{Stage::kDone};
  std::mutex mu;
  std::vector<JobRequest> calls;

  JobFn Fn() {
    return [this](const JobRequest& req, JobControl& control) {
      {
        std::lock_guard<std::mutex> lock(mu);
        calls.push_back(req);
      }
      while (hold.load() && control.Check().ok())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      JobOutcome out;
      out.stage = result.load();
      if (out.stage != Stage::kDone) out.status = Internal("boom");
      return out;
    };
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return calls.size();
  }
};

class SchedulerTest : public ::testing::Test {
 protected:
  Config MakeConfig(const std::string& schedule, const std::string& misfire = "run_once") {
    Config c;
    c.data_dir = dir_.Sub("data");
    c.scheduler.failure_cooldown = std::chrono::minutes(30);
    c.scheduler.misfire = misfire;
    IndexConfig ic;
    ic.name = "idx";
    ic.schedule = schedule;
    c.indexes.push_back(ic);
    IndexConfig manual;
    manual.name = "manual";
    c.indexes.push_back(manual);
    return c;
  }
  // One Tick, then waits until no job is queued or running.
  void TickAndSettle(Scheduler& s, JobRunner& r) {
    s.Tick();
    ASSERT_TRUE(WaitFor([&] { return !r.ActiveJob("idx") || jobs_.hold.load(); }));
  }

  test::TempDir dir_;
  Jobs jobs_;
  FakeClock clock_{kJan1 * 1000};
};

// Builds the runner + scheduler pair wired as the daemon wires them.
struct Rig {
  Rig(Jobs& jobs, Clock* clock, int workers = 1)
      : runner(workers, jobs.Fn(), clock), sched(Env::Default(), clock, &runner) {
    runner.SetOnFinish(
        [this](const JobRequest&, const JobOutcome& o) { sched.OnJobFinished(o); });
  }
  ~Rig() { runner.Shutdown(true); }
  JobRunner runner;
  Scheduler sched;
};

TEST_F(SchedulerTest, FiresOnceAtCronTimeAndComputesNextRun) {
  Rig rig(jobs_, &clock_);
  ASSERT_TRUE(rig.sched.Configure(MakeConfig("0 3 * * *")).ok());
  EXPECT_EQ(rig.sched.NextRunUnix("idx"), kJan1 + 3 * 3600);
  EXPECT_FALSE(rig.sched.NextRunUnix("manual"));
  clock_.SetUnixMillis((kJan1 + 3 * 3600 - 1) * 1000);
  TickAndSettle(rig.sched, rig.runner);
  EXPECT_EQ(jobs_.count(), 0u);
  clock_.AdvanceSeconds(1);
  TickAndSettle(rig.sched, rig.runner);
  ASSERT_EQ(jobs_.count(), 1u);
  EXPECT_EQ(jobs_.calls[0].trigger, "schedule");
  EXPECT_EQ(jobs_.calls[0].index, "idx");
  clock_.AdvanceSeconds(60);
  TickAndSettle(rig.sched, rig.runner);
  EXPECT_EQ(jobs_.count(), 1u);
  EXPECT_EQ(rig.sched.NextRunUnix("idx"), kJan1 + 27 * 3600);
  ASSERT_TRUE(WaitFor([&] { return rig.sched.State("idx")->last_result == "done"; }));
}

TEST_F(SchedulerTest, NoOverlappingRunsOfOneIndex) {
  jobs_.hold = true;
  Rig rig(jobs_, &clock_, /*workers=*/2);
  ASSERT_TRUE(rig.sched.Configure(MakeConfig("*/5 * * * *")).ok());
  clock_.AdvanceSeconds(300);
  rig.sched.Tick();
  ASSERT_TRUE(WaitFor([&] { return jobs_.count() == 1; }));
  EXPECT_EQ(rig.sched.State("idx")->skipped_busy, 0);
  // Due again while the first run is still going: skipped, not queued, and
  // counted (faiss_rebuild_schedule_skipped_total).
  clock_.AdvanceSeconds(300);
  rig.sched.Tick();
  EXPECT_EQ(rig.sched.State("idx")->skipped_busy, 1);
  auto manual = rig.sched.Trigger("idx", "api");
  EXPECT_EQ(manual.status().code(), Code::kBusy);
  EXPECT_EQ(rig.runner.queued(), 0);
  jobs_.hold = false;
  ASSERT_TRUE(WaitFor([&] { return !rig.runner.ActiveJob("idx"); }));
  EXPECT_EQ(jobs_.count(), 1u);
  EXPECT_EQ(rig.sched.Trigger("nope", "api").status().code(), Code::kNotFound);
  EXPECT_TRUE(rig.sched.Trigger("manual", "api").ok());
}

TEST_F(SchedulerTest, FailureCooldownDelaysScheduledRunsAndCountsFailures) {
  jobs_.result = Stage::kFailed;
  Rig rig(jobs_, &clock_);
  ASSERT_TRUE(rig.sched.Configure(MakeConfig("*/5 * * * *")).ok());
  clock_.AdvanceSeconds(300);  // 00:05 fires and fails
  TickAndSettle(rig.sched, rig.runner);
  ASSERT_TRUE(WaitFor([&] { return rig.sched.State("idx")->consecutive_failures == 1; }));
  EXPECT_EQ(rig.sched.NextRunUnix("idx"), kJan1 + 300 + 1800);
  // 00:10 ... 00:30 fall inside the 30-minute cooldown.
  for (int i = 0; i < 5; ++i) {
    clock_.AdvanceSeconds(300);
    TickAndSettle(rig.sched, rig.runner);
  }
  EXPECT_EQ(jobs_.count(), 1u);
  clock_.AdvanceSeconds(300);  // 00:35: cooldown over, one coalesced run
  TickAndSettle(rig.sched, rig.runner);
  ASSERT_TRUE(WaitFor([&] { return rig.sched.State("idx")->consecutive_failures == 2; }));
  EXPECT_EQ(jobs_.count(), 2u);
  EXPECT_EQ(rig.sched.State("idx")->last_result, "failed");
  EXPECT_EQ(rig.sched.State("idx")->last_error, "boom");
  // A manual trigger ignores cooldown; a success resets the count.
  jobs_.result = Stage::kDone;
  ASSERT_TRUE(rig.sched.Trigger("idx", "api").ok());
  ASSERT_TRUE(WaitFor([&] { return rig.sched.State("idx")->consecutive_failures == 0; }));
  EXPECT_EQ(rig.sched.State("idx")->last_result, "done");
}

TEST_F(SchedulerTest, CancelledJobIsNotAFailure) {
  jobs_.hold = true;
  Rig rig(jobs_, &clock_);
  ASSERT_TRUE(rig.sched.Configure(MakeConfig("")).ok());
  auto id = rig.sched.Trigger("idx", "api");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(WaitFor([&] { return jobs_.count() == 1; }));
  jobs_.result = Stage::kCancelled;
  ASSERT_TRUE(rig.runner.Cancel(*id).ok());
  ASSERT_TRUE(WaitFor([&] { return rig.sched.State("idx")->last_result == "cancelled"; }));
  EXPECT_EQ(rig.sched.State("idx")->consecutive_failures, 0);
}

TEST_F(SchedulerTest, MisfireAfterDowntimeRunsOnceNotPerMissedRun) {
  {
    Rig rig(jobs_, &clock_);
    ASSERT_TRUE(rig.sched.Configure(MakeConfig("0 * * * *")).ok());
    EXPECT_EQ(rig.sched.NextRunUnix("idx"), kJan1 + 3600);
  }
  // Down for five hours: five hourly runs missed.
  clock_.AdvanceSeconds(5 * 3600 + 600);
  Rig rig(jobs_, &clock_);
  ASSERT_TRUE(rig.sched.Configure(MakeConfig("0 * * * *")).ok());
  for (int i = 0; i < 3; ++i) TickAndSettle(rig.sched, rig.runner);
  EXPECT_EQ(jobs_.count(), 1u);
  EXPECT_EQ(rig.sched.NextRunUnix("idx"), kJan1 + 6 * 3600);
}

TEST_F(SchedulerTest, MisfireSkipWaitsForNextFireTime) {
  {
    Rig rig(jobs_, &clock_);
    ASSERT_TRUE(rig.sched.Configure(MakeConfig("0 * * * *", "skip")).ok());
  }
  clock_.AdvanceSeconds(5 * 3600 + 600);
  Rig rig(jobs_, &clock_);
  ASSERT_TRUE(rig.sched.Configure(MakeConfig("0 * * * *", "skip")).ok());
  TickAndSettle(rig.sched, rig.runner);
  EXPECT_EQ(jobs_.count(), 0u);
  EXPECT_EQ(rig.sched.NextRunUnix("idx"), kJan1 + 6 * 3600);
}

TEST_F(SchedulerTest, RestartRestoresFailuresAndCooldown) {
  jobs_.result = Stage::kFailed;
  {
    Rig rig(jobs_, &clock_);
    ASSERT_TRUE(rig.sched.Configure(MakeConfig("*/10 * * * *")).ok());
    ASSERT_TRUE(rig.sched.Trigger("idx", "api").ok());
    ASSERT_TRUE(WaitFor([&] { return rig.sched.State("idx")->consecutive_failures == 1; }));
  }
  EXPECT_TRUE(Env::Default()->Exists(dir_.Sub("data/scheduler_state.json")));
  clock_.AdvanceSeconds(600);  // 00:10: a scheduled time, still in cooldown
  Rig rig(jobs_, &clock_);
  ASSERT_TRUE(rig.sched.Configure(MakeConfig("*/10 * * * *")).ok());
  auto st = rig.sched.State("idx");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->consecutive_failures, 1);
  EXPECT_EQ(st->last_result, "failed");
  EXPECT_FALSE(st->last_job_id.empty());
  TickAndSettle(rig.sched, rig.runner);
  EXPECT_EQ(jobs_.count(), 1u);  // cooldown survived the restart
  clock_.AdvanceSeconds(1200);   // 00:30: cooldown over
  TickAndSettle(rig.sched, rig.runner);
  EXPECT_EQ(jobs_.count(), 2u);
}

TEST_F(SchedulerTest, BadConfigIsRejectedAndOldScheduleKept) {
  Rig rig(jobs_, &clock_);
  ASSERT_TRUE(rig.sched.Configure(MakeConfig("0 3 * * *")).ok());
  Config bad = MakeConfig("0 25 * * *");
  bad.indexes[1].timezone = "Mars/Olympus";
  Status s = rig.sched.Configure(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("hour"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("Mars/Olympus"), std::string::npos) << s.message();
  EXPECT_EQ(rig.sched.NextRunUnix("idx"), kJan1 + 3 * 3600);
  // A valid reload with a changed schedule recomputes the next run.
  ASSERT_TRUE(rig.sched.Configure(MakeConfig("0 5 * * *")).ok());
  EXPECT_EQ(rig.sched.NextRunUnix("idx"), kJan1 + 5 * 3600);
}

TEST_F(SchedulerTest, LoopThreadTicks) {
  Rig rig(jobs_, &clock_);
  ASSERT_TRUE(rig.sched.Configure(MakeConfig("* * * * *")).ok());
  EXPECT_EQ(rig.sched.last_tick().time_since_epoch().count(), 0);
  clock_.AdvanceSeconds(60);
  rig.sched.Start(std::chrono::milliseconds(5));
  ASSERT_TRUE(WaitFor([&] { return jobs_.count() == 1; }));
  EXPECT_TRUE(WaitFor([&] { return rig.sched.last_tick().time_since_epoch().count() > 0; }));
  rig.sched.Stop();
}

}  // namespace
}  // namespace frb
