// How many times a rebuild reads the index file it publishes. Hashing a
// multi-GB index is not free, so each pass is counted: a change that adds
// one fails here and has to say why.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <map>
#include <mutex>

#include "frb/rebuild.h"
#include "frb/store.h"
#include "counting_env.h"
#include "testutil.h"

namespace frb {
namespace {

class ReadPassesTest : public ::testing::Test {
 protected:
  void SetUp() override { config_ = test::SmallIndexConfig(dir_, 16); }
  JobOutcome Run() {
    JobControl control;
    RebuildJob job(&env_, config_, config_.indexes[0], test::Forced());
    return job.Run(control);
  }
  uint64_t FileSize(const std::string& version) {
    VersionStore store(Env::Default(), config_.data_dir, "t");
    return store.ReadManifest(version)->file_size;
  }
  // Reads of the new version's index file: in staging (by job id) until
  // publish moves it, under versions/<id>/ after.
  double PassesOverNewIndex(const JobOutcome& out) {
    uint64_t bytes = env_.BytesRead("/staging/" + out.job_id + "/", "/index.faiss") +
                     env_.BytesRead("/versions/" + out.version_id + "/", "/index.faiss");
    return static_cast<double>(bytes) / FileSize(out.version_id);
  }

  test::TempDir dir_;
  Config config_;
  CountingEnv env_{Env::Default()};
};

// The validator hashes the staged file and FAISS deserializes it (two
// passes over one descriptor); the publisher checks that the read-only
// file is unchanged since (stat), without a third pass.
TEST_F(ReadPassesTest, FirstRebuildReadsTheNewIndexTwice) {
  JobOutcome out = Run();
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(PassesOverNewIndex(out), 2.0);
}

// With a live version the outgoing one is backed up (one pass, hashed while
// compressing) and, with a not-worse-than-live gate, loaded for its recall
// (hash + deserialize); the new index still costs two.
TEST_F(ReadPassesTest, SecondRebuildReadsNewIndexTwiceAndOutgoingOnceOrThrice) {
  JobOutcome first = Run();
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();
  env_.Reset();
  JobOutcome second = Run();
  ASSERT_TRUE(second.status.ok()) << second.status.ToString();
  EXPECT_EQ(PassesOverNewIndex(second), 2.0);
  const std::string outgoing = "/versions/" + first.version_id + "/";
  EXPECT_EQ(env_.BytesRead(outgoing, "/index.faiss"), FileSize(first.version_id));

  config_.indexes[0].validation.max_recall_drop_vs_live = 0.5;
  env_.Reset();
  JobOutcome third = Run();
  ASSERT_TRUE(third.status.ok()) << third.status.ToString();
  EXPECT_EQ(PassesOverNewIndex(third), 2.0);
  const std::string live = "/versions/" + second.version_id + "/";
  EXPECT_EQ(env_.BytesRead(live, "/index.faiss"), 3 * FileSize(second.version_id));
}

// Runs `action` on the staged index when the publisher stats it, i.e. after
// validation and just before publish.
class TamperAtPublishEnv : public EnvWrapper {
 public:
  TamperAtPublishEnv(Env* target, std::function<void(const std::string&)> action)
      : EnvWrapper(target), action_(std::move(action)) {}
  Result<FileInfo> Stat(const std::string& p) override {
    if (p.find("/staging/") != std::string::npos && p.ends_with("/index.faiss") &&
        ++staged_stats_ == 2)
      action_(p);
    return target()->Stat(p);
  }

 private:
  std::function<void(const std::string&)> action_;
  int staged_stats_ = 0;  // 1: the job's own, before validation; 2: publish
};

// Flips one byte in place and puts the old mtime back: size, mtime and
// inode are as before, only ctime tells.
void FlipByteKeepingMtime(const std::string& path) {
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char c;
  ASSERT_EQ(::pread(fd, &c, 1, 100), 1);
  c ^= 0x40;
  ASSERT_EQ(::pwrite(fd, &c, 1, 100), 1);
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::futimens(fd, times), 0);
  ::close(fd);
  ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
}

// Replaces the file by a changed copy with the same size and mtime: a new
// inode.
void ReplaceKeepingSizeAndMtime(const std::string& path) {
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  std::string data = test::ReadText(path);
  data[100] ^= 0x40;
  const std::string tmp = path + ".new";
  test::WriteText(tmp, data);
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, tmp.c_str(), times, 0), 0);
  ASSERT_EQ(::rename(tmp.c_str(), path.c_str()), 0);
}

TEST_F(ReadPassesTest, ChangeAfterValidationIsCaughtEvenWithMtimeRestored) {
  for (auto tamper : {FlipByteKeepingMtime, ReplaceKeepingSizeAndMtime}) {
    TamperAtPublishEnv env(Env::Default(), tamper);
    JobControl control;
    RebuildJob job(&env, config_, config_.indexes[0], test::Forced());
    JobOutcome out = job.Run(control);
    ASSERT_FALSE(HasFatalFailure());
    EXPECT_EQ(out.status.code(), Code::kCorruption) << out.status.ToString();
    EXPECT_NE(out.status.message().find("SHA-256 does not match"), std::string::npos)
        << out.status.message();
    EXPECT_EQ(out.failed_stage, Stage::kPublishing);
    VersionStore store(Env::Default(), config_.data_dir, "t");
    EXPECT_FALSE(*store.LiveVersion());
  }
}

}  // namespace
}  // namespace frb
