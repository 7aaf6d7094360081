// The rebuild cycle end to end in-process: builder, validator, publisher and
// store driven by RebuildJob, including failures and injected faults.
#include "frb/rebuild.h"

#include <faiss/Index.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "frb/index_file.h"
#include "frb/sha256.h"
#include "frb/store.h"
#include "testutil.h"

namespace frb {
namespace {

constexpr int kDim = 32;

class RebuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = test::SmallIndexConfig(dir_, kDim);
    source_ = index().source_path;
  }
  IndexConfig& index() { return config_.indexes[0]; }
  // Forced by default: most tests rebuild the same source on purpose.
  JobOutcome Run(Env* env = Env::Default(), bool force = true) {
    JobControl control;
    RebuildOptions opts;
    opts.force = force;
    RebuildJob job(env, config_, index(), opts);
    return job.Run(control);
  }
  VersionStore Store() { return VersionStore(Env::Default(), config_.data_dir, "t"); }
  std::optional<std::string> Live() { return *Store().LiveVersion(); }
  // Staging must be empty after every job, successful or not.
  void ExpectStagingClean() {
    auto entries = Env::Default()->ListDir(Store().StagingRoot());
    ASSERT_TRUE(entries.ok());
    EXPECT_TRUE(entries->empty()) << entries->front();
  }
  // The live path opens with plain FAISS and matches its manifest.
  void ExpectLiveConsistent(const std::string& want_version) {
    ASSERT_EQ(Live(), want_version);
    auto m = Store().ReadManifest(want_version);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(*Sha256File(Env::Default(), Store().LivePath()), m->file_sha256);
    std::unique_ptr<faiss::Index> idx(faiss::read_index(Store().LivePath().c_str()));
    EXPECT_EQ(idx->ntotal, m->ntotal);
  }

  test::TempDir dir_;
  std::string source_;
  Config config_;
};

TEST_F(RebuildTest, PublishesValidatedVersionWithManifest) {
  JobOutcome out = Run();
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(out.stage, Stage::kDone);
  ExpectLiveConsistent(out.version_id);
  ExpectStagingClean();
  auto m = *Store().ReadManifest(out.version_id);
  EXPECT_EQ(m.ntotal, 20000);
  EXPECT_EQ(m.dim, kDim);
  EXPECT_EQ(m.factory, "IVF64,Flat");
  EXPECT_EQ(m.source.count, 20000);
  EXPECT_EQ(m.source.sha256, *Sha256File(Env::Default(), source_));
  EXPECT_TRUE(m.validation.passed);
  EXPECT_GE(m.validation.recall, 0.8);
  EXPECT_LE(m.validation.recall_ci_low, m.validation.recall);
  EXPECT_GE(m.validation.recall_ci_high, m.validation.recall);
  EXPECT_GT(m.validation.p99_ms, 0);
  EXPECT_EQ(m.train_vectors, 5000);
  for (const char* stage : {"loading_source", "training", "adding", "writing_staging", "validating"})
    EXPECT_TRUE(m.stage_seconds.count(stage)) << stage;
  // The recorded last job says the same.
  auto last = ReadLastJob(Env::Default(), config_, "t");
  ASSERT_TRUE(last.ok() && *last);
  EXPECT_EQ((*last)->version_id, out.version_id);
}

TEST_F(RebuildTest, SecondBuildKeepsRollbackAndPrunes) {
  index().keep_versions = 2;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    JobOutcome out = Run();
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
    ids.push_back(out.version_id);
  }
  EXPECT_LT(ids[0], ids[1]);
  EXPECT_LT(ids[1], ids[2]);
  EXPECT_EQ(Live(), ids[2]);
  EXPECT_EQ(*Store().RollbackVersion(), ids[1]);
  auto versions = *Store().ListVersions();
  EXPECT_EQ(versions, (std::vector<std::string>{ids[1], ids[2]}));
  EXPECT_EQ(Store().ReadManifest(ids[2])->parent_version, ids[1]);
}

TEST_F(RebuildTest, PublishedFileMatchesInMemoryIndex) {
  // Round trip of our writer: plain faiss::read_index of the file gives the
  // same results as the index in memory.
  std::vector<float> x(20000 * kDim);
  synth::GenerateRows(3, kDim, 64, 0, 20000, x.data());
  std::unique_ptr<faiss::Index> mem(faiss::index_factory(kDim, "IVF64,Flat"));
  mem->train(5000, x.data());
  mem->add(20000, x.data());
  std::string path = dir_.Sub("rt.faiss");
  auto digest = WriteIndexFile(Env::Default(), *mem, path);
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(digest->sha256, *Sha256File(Env::Default(), path));
  std::unique_ptr<faiss::Index> disk(faiss::read_index(path.c_str()));
  const int nq = 50, k = 10;
  std::vector<float> d1(nq * k), d2(nq * k);
  std::vector<faiss::Index::idx_t> i1(nq * k), i2(nq * k);
  mem->search(nq, x.data(), k, d1.data(), i1.data());
  disk->search(nq, x.data(), k, d2.data(), i2.data());
  EXPECT_EQ(i1, i2);
  EXPECT_EQ(d1, d2);
}

TEST_F(RebuildTest, FlatLiveIndexGivesExactNeighbours) {
  index().factory = "Flat";
  index().search.clear();
  JobOutcome out = Run();
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_DOUBLE_EQ(out.validation->recall, 1.0);
  std::unique_ptr<faiss::Index> idx(faiss::read_index(Store().LivePath().c_str()));
  std::vector<float> q(kDim);
  synth::GenerateRows(3, kDim, 64, 1234, 1, q.data());
  float dist;
  faiss::Index::idx_t id;
  idx->search(1, q.data(), 1, &dist, &id);
  EXPECT_EQ(id, 1234);
  EXPECT_FLOAT_EQ(dist, 0);
}

TEST_F(RebuildTest, FailedRecallGateLeavesLiveUntouched) {
  JobOutcome first = Run();
  ASSERT_TRUE(first.status.ok());
  index().search.clear();
  index().factory = "LSH";  // binary codes: far too lossy for recall 0.99
  index().validation.min_recall = 0.99;
  JobOutcome out = Run();
  EXPECT_EQ(out.status.code(), Code::kValidationFailed) << out.status.ToString();
  EXPECT_EQ(out.stage, Stage::kFailed);
  EXPECT_EQ(out.failed_stage, Stage::kValidating);
  ASSERT_TRUE(out.validation);
  EXPECT_FALSE(out.validation->passed);
  EXPECT_NE(out.status.message().find("min_recall"), std::string::npos) << out.status.message();
  ExpectLiveConsistent(first.version_id);
  ExpectStagingClean();
  EXPECT_EQ(Store().ListVersions()->size(), 1u);
  auto last = *ReadLastJob(Env::Default(), config_, "t");
  EXPECT_EQ(last->stage, Stage::kFailed);
  EXPECT_EQ(last->status.code(), Code::kValidationFailed);
}

TEST_F(RebuildTest, LatencyGateFails) {
  index().validation.max_p99_ms = 1e-6;
  JobOutcome out = Run();
  EXPECT_EQ(out.status.code(), Code::kValidationFailed);
  EXPECT_NE(out.status.message().find("max_p99_ms"), std::string::npos) << out.status.message();
  EXPECT_FALSE(Live());
}

TEST_F(RebuildTest, TruncatedSourceIsStoppedByDriftGuard) {
  JobOutcome first = Run();
  ASSERT_TRUE(first.status.ok());
  // Upstream wrote a short file: half the vectors.
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 10000, kDim, 3).ok());
  JobOutcome out = Run();
  EXPECT_EQ(out.status.code(), Code::kValidationFailed);
  EXPECT_NE(out.status.message().find("max_count_change"), std::string::npos) << out.status.message();
  ASSERT_TRUE(out.validation->count_change);
  EXPECT_NEAR(*out.validation->count_change, -0.5, 1e-9);
  ExpectLiveConsistent(first.version_id);
}

TEST_F(RebuildTest, NotWorseThanLiveGate) {
  JobOutcome first = Run();
  ASSERT_TRUE(first.status.ok());
  index().validation.max_recall_drop_vs_live = 0.01;
  index().validation.min_recall = 0;
  index().factory = "LSH";
  index().search.clear();
  JobOutcome out = Run();
  EXPECT_EQ(out.status.code(), Code::kValidationFailed) << out.status.ToString();
  ASSERT_TRUE(out.validation->live_recall);
  EXPECT_GT(*out.validation->live_recall, out.validation->recall);
  ExpectLiveConsistent(first.version_id);
}

TEST_F(RebuildTest, BadSourceFailsInLoadingWithFileName) {
  test::WriteText(source_, "not a numpy file at all");
  JobOutcome out = Run();
  EXPECT_EQ(out.stage, Stage::kFailed);
  EXPECT_EQ(out.failed_stage, Stage::kLoadingSource);
  EXPECT_NE(out.status.message().find(source_), std::string::npos) << out.status.message();
  ExpectStagingClean();
}

TEST_F(RebuildTest, TimeoutStopsJob) {
  index().timeout = std::chrono::seconds(0);
  JobOutcome out = Run();
  EXPECT_EQ(out.stage, Stage::kTimedOut) << out.status.ToString();
  EXPECT_FALSE(Live());
  ExpectStagingClean();
}

TEST_F(RebuildTest, CancelFromAnotherThread) {
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 200000, kDim, 3).ok());
  index().factory = "IVF1024,Flat";
  index().train_sample = 100000;
  JobControl control;
  RebuildJob job(Env::Default(), config_, index(), RebuildOptions{});
  std::thread canceller([&] {
    while (control.Snapshot().stage != Stage::kTraining)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    control.Cancel();
  });
  auto t0 = std::chrono::steady_clock::now();
  JobOutcome out = job.Run(control);
  canceller.join();
  EXPECT_EQ(out.stage, Stage::kCancelled) << out.status.ToString();
  // k-means honours the interrupt callback: no waiting for training to end.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(60));
  EXPECT_FALSE(Live());
  ExpectStagingClean();
}

TEST_F(RebuildTest, SecondJobOnLockedIndexIsBusy) {
  VersionStore store = Store();
  ASSERT_TRUE(store.Init().ok());
  auto lock = store.Lock(false);
  ASSERT_TRUE(lock.ok());
  JobOutcome out = Run();
  EXPECT_EQ(out.status.code(), Code::kBusy);
  EXPECT_NE(out.status.message().find("busy"), std::string::npos);
}

// Identical copies used to be published again, pushing the last different
// version out of retention.
TEST_F(RebuildTest, UnchangedSourceAndConfigAreSkippedUnlessForced) {
  JobOutcome first = Run(Env::Default(), /*force=*/false);
  ASSERT_EQ(first.stage, Stage::kDone) << first.status.ToString();
  JobOutcome again = Run(Env::Default(), false);
  EXPECT_EQ(again.stage, Stage::kSkipped) << again.status.ToString();
  EXPECT_TRUE(again.status.ok());
  EXPECT_TRUE(again.version_id.empty());
  EXPECT_NE(again.skip_reason.find(first.version_id), std::string::npos) << again.skip_reason;
  EXPECT_EQ(again.parent_version, first.version_id);
  EXPECT_EQ(Store().ListVersions()->size(), 1u);
  ExpectLiveConsistent(first.version_id);
  ExpectStagingClean();
  auto last = ReadLastJob(Env::Default(), config_, "t");
  ASSERT_TRUE(last.ok() && *last);
  EXPECT_EQ((*last)->stage, Stage::kSkipped);
  EXPECT_EQ((*last)->skip_reason, again.skip_reason);
  EXPECT_EQ((*last)->ToJson().GetString("state"), "skipped");

  // A new mtime (touch, or a copy of the same bytes) is the same data.
  struct timespec times[2] = {{0, UTIME_OMIT}, {1000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, source_.c_str(), times, 0), 0);
  EXPECT_EQ(Run(Env::Default(), false).stage, Stage::kSkipped);

  // --force builds anyway.
  JobOutcome forced = Run(Env::Default(), true);
  ASSERT_EQ(forced.stage, Stage::kDone) << forced.status.ToString();
  std::string live = forced.version_id;

  // Each index-shaping setting rebuilds on its own, source unchanged.
  auto expect_rebuilds = [&](const char* what) {
    JobOutcome out = Run(Env::Default(), false);
    EXPECT_EQ(out.stage, Stage::kDone) << what << ": " << out.status.ToString() << out.skip_reason;
    if (out.stage == Stage::kDone) live = out.version_id;
    EXPECT_EQ(Run(Env::Default(), false).stage, Stage::kSkipped) << what;
  };
  index().factory = "IVF32,Flat";
  expect_rebuilds("factory");
  index().train_sample = 4000;
  expect_rebuilds("train_sample");
  index().metric = Metric::kIP;
  expect_rebuilds("metric");
  // Settings that do not shape the index do not rebuild.
  index().validation.min_recall = 0.5;
  index().keep_versions = 5;
  EXPECT_EQ(Run(Env::Default(), false).stage, Stage::kSkipped);
  // New content does.
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 20000, kDim, 99).ok());
  expect_rebuilds("source content");
  ExpectLiveConsistent(live);
}

// The source is rewritten in place (cp or np.save over it) while the
// builder is adding it. Through mmap this was SIGBUS: the test binary (or
// the daemon) died. Now the job fails naming the source, live unchanged.
TEST_F(RebuildTest, SourceTruncatedWhileAddingFailsOnlyTheJob) {
  JobOutcome first = Run();
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();
  uint64_t size = Env::Default()->Stat(source_)->size;
  for (Stage when : {Stage::kTraining, Stage::kAdding, Stage::kValidating}) {
    JobControl control;
    bool truncated = false;
    control.SetListener([&](const JobSnapshot& s) {
      if (s.stage == when && !truncated) {
        truncated = true;
        ASSERT_EQ(::truncate(source_.c_str(), static_cast<off_t>(size / 3)), 0);
      }
    });
    RebuildOptions opts;
    opts.force = true;
    RebuildJob job(Env::Default(), config_, index(), opts);
    JobOutcome out = job.Run(control);
    ASSERT_TRUE(truncated) << StageName(when);
    EXPECT_EQ(out.stage, Stage::kFailed) << StageName(when) << ": " << out.status.ToString();
    EXPECT_EQ(out.status.code(), Code::kFailedPrecondition) << out.status.ToString();
    EXPECT_NE(out.status.message().find("source " + source_ + " changed during the build"),
              std::string::npos)
        << out.status.message();
    ExpectLiveConsistent(first.version_id);
    ExpectStagingClean();
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 20000, kDim, 3).ok());
  }
}

// A disk without room for the index fails before training, with the
// numbers, instead of after the whole build at the write.
TEST_F(RebuildTest, NotEnoughDiskForTheIndexFailsBeforeTraining) {
  class SmallDisk : public EnvWrapper {
   public:
    SmallDisk() : EnvWrapper(Env::Default()) {}
    Result<DiskSpace> GetDiskSpace(const std::string&) override {
      return DiskSpace{1ull << 30, 100000};
    }
  } env;
  JobOutcome out = Run(&env);
  EXPECT_EQ(out.status.code(), Code::kNoSpace) << out.status.ToString();
  EXPECT_EQ(out.failed_stage, Stage::kLoadingSource);
  EXPECT_EQ(out.stage_seconds.count("training"), 0u);
  const std::string& msg = out.status.message();
  EXPECT_NE(msg.find(Store().StagingRoot()), std::string::npos) << msg;
  EXPECT_NE(msg.find("has only 100000 bytes free"), std::string::npos) << msg;
  EXPECT_NE(msg.find("IVF64,Flat"), std::string::npos) << msg;
  EXPECT_FALSE(Live());
  ExpectStagingClean();
}

TEST_F(RebuildTest, MemoryAdmissionRefusesABuildThatCannotFitUnlessDisabled) {
  JobControl control;
  RebuildOptions opts;
  opts.available_memory = [] { return Result<uint64_t>(uint64_t{50} << 20); };
  JobOutcome out = RebuildJob(Env::Default(), config_, index(), opts).Run(control);
  EXPECT_EQ(out.status.code(), Code::kFailedPrecondition) << out.status.ToString();
  EXPECT_EQ(out.failed_stage, Stage::kLoadingSource);
  EXPECT_NE(out.status.message().find("only 52428800 bytes"), std::string::npos)
      << out.status.message();
  EXPECT_NE(out.status.message().find("memory_admission: false"), std::string::npos);
  EXPECT_FALSE(Live());
  // Enough memory, or the check turned off: it builds.
  opts.available_memory = [] { return Result<uint64_t>(uint64_t{8} << 30); };
  JobControl c2;
  EXPECT_EQ(RebuildJob(Env::Default(), config_, index(), opts).Run(c2).stage, Stage::kDone);
  index().memory_admission = false;
  opts.available_memory = [] { return Result<uint64_t>(uint64_t{1}); };
  opts.force = true;
  JobControl c3;
  EXPECT_EQ(RebuildJob(Env::Default(), config_, index(), opts).Run(c3).stage, Stage::kDone);
}

// Faults injected at each step of the cycle leave the previous live version
// serving, staging clean after the next start, and the next run succeeding.
struct FaultCase {
  FsOp op;
  const char* path_part;
  int err;
};

class RebuildFaultTest : public RebuildTest,
                         public ::testing::WithParamInterface<FaultCase> {};

TEST_P(RebuildFaultTest, LeavesLiveIntactAndRecovers) {
  JobOutcome first = Run();
  ASSERT_TRUE(first.status.ok());
  FaultCase fc = GetParam();
  FaultEnv env(Env::Default(), [fc](FsOp op, const std::string& path) {
    return op == fc.op && path.find(fc.path_part) != std::string::npos ? fc.err : 0;
  });
  JobOutcome out = Run(&env);
  EXPECT_FALSE(out.status.ok());
  if (fc.err == ENOSPC) {
    EXPECT_EQ(out.status.code(), Code::kNoSpace) << out.status.ToString();
  }
  ExpectLiveConsistent(first.version_id);
  JobOutcome again = Run();
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  ExpectLiveConsistent(again.version_id);
  ExpectStagingClean();
}

INSTANTIATE_TEST_SUITE_P(
    Steps, RebuildFaultTest,
    ::testing::Values(FaultCase{FsOp::kAppend, "staging/", ENOSPC},
                      FaultCase{FsOp::kSync, "index.faiss", EIO},
                      FaultCase{FsOp::kClose, "index.faiss", ENOSPC},
                      FaultCase{FsOp::kCreate, "manifest.json", EACCES},
                      FaultCase{FsOp::kRename, "staging/", EIO},
                      FaultCase{FsOp::kSymlink, "/live.tmp", ENOSPC},
                      FaultCase{FsOp::kRename, "/live.tmp", EIO},
                      FaultCase{FsOp::kSyncDir, "versions", EIO},
                      FaultCase{FsOp::kRead, "index.faiss", EIO}));

}  // namespace
}  // namespace frb
