#include "frb/env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>

#include "testutil.h"

namespace frb {
namespace {

TEST(EnvTest, WriteFileAtomicRoundTrip) {
  test::TempDir dir;
  Env* env = Env::Default();
  std::string p = dir.Sub("a.txt");
  ASSERT_TRUE(WriteFileAtomic(env, p, "hello").ok());
  auto got = ReadFileToString(env, p);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "hello");
  ASSERT_TRUE(WriteFileAtomic(env, p, "world!").ok());
  EXPECT_EQ(*ReadFileToString(env, p), "world!");
  // No temp files left behind.
  auto names = env->ListDir(dir.path());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 1u);
}

TEST(EnvTest, InjectedNoSpaceLeavesOldContent) {
  test::TempDir dir;
  std::string p = dir.Sub("a.txt");
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), p, "old").ok());
  FaultEnv env(Env::Default(), [](FsOp op, const std::string&) {
    return op == FsOp::kSync ? ENOSPC : 0;
  });
  Status s = WriteFileAtomic(&env, p, "new");
  EXPECT_EQ(s.code(), Code::kNoSpace) << s.ToString();
  EXPECT_EQ(*ReadFileToString(Env::Default(), p), "old");
  EXPECT_EQ(Env::Default()->ListDir(dir.path())->size(), 1u);
}

TEST(EnvTest, FailedRenameLeavesOldContentAndNoTemp) {
  test::TempDir dir;
  std::string p = dir.Sub("a.txt");
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), p, "old").ok());
  FaultEnv env(Env::Default(), [](FsOp op, const std::string&) {
    return op == FsOp::kRename ? EIO : 0;
  });
  Status s = WriteFileAtomic(&env, p, "new");
  EXPECT_EQ(s.code(), Code::kIOError);
  EXPECT_NE(s.message().find("a.txt"), std::string::npos) << s.message();
  EXPECT_EQ(*ReadFileToString(Env::Default(), p), "old");
  EXPECT_EQ(Env::Default()->ListDir(dir.path())->size(), 1u);
}

TEST(EnvTest, StatGivesIdentityAndCtime) {
  test::TempDir dir;
  Env* env = Env::Default();
  const std::string a = dir.Sub("a"), b = dir.Sub("b");
  ASSERT_TRUE(WriteFileAtomic(env, a, "one").ok());
  ASSERT_TRUE(WriteFileAtomic(env, b, "two").ok());
  struct stat st;
  ASSERT_EQ(::stat(a.c_str(), &st), 0);
  FileInfo before = *env->Stat(a);
  EXPECT_EQ(before.inode, st.st_ino);
  EXPECT_EQ(before.device, st.st_dev);
  EXPECT_EQ(before.ctime_ns, st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec);
  EXPECT_NE(env->Stat(b)->inode, before.inode);
  // chmod moves ctime, not mtime (wait out a coarse clock tick first).
  struct timespec pause = {0, 20'000'000};
  ::nanosleep(&pause, nullptr);
  ASSERT_TRUE(env->MakeReadOnly(a).ok());
  FileInfo after = *env->Stat(a);
  EXPECT_EQ(after.mtime_ns, before.mtime_ns);
  EXPECT_GT(after.ctime_ns, before.ctime_ns);
  EXPECT_EQ(after.inode, before.inode);
}

TEST(EnvTest, LockIsExclusive) {
  test::TempDir dir;
  Env* env = Env::Default();
  auto a = env->LockFile(dir.Sub("lock"), false);
  ASSERT_TRUE(a.ok());
  auto b = env->LockFile(dir.Sub("lock"), false);
  EXPECT_EQ(b.status().code(), Code::kBusy);
  a.value().reset();
  auto c = env->LockFile(dir.Sub("lock"), false);
  EXPECT_TRUE(c.ok());
}

TEST(EnvTest, ReplaceSymlinkIsAtomicSwap) {
  test::TempDir dir;
  Env* env = Env::Default();
  std::string link = dir.Sub("live");
  ASSERT_TRUE(ReplaceSymlink(env, "v1", link).ok());
  EXPECT_EQ(*env->ReadLink(link), "v1");
  ASSERT_TRUE(ReplaceSymlink(env, "v2", link).ok());
  EXPECT_EQ(*env->ReadLink(link), "v2");
  EXPECT_EQ(env->ListDir(dir.path())->size(), 1u);
}

TEST(EnvTest, MappedFileAndDiskSpace) {
  test::TempDir dir;
  Env* env = Env::Default();
  ASSERT_TRUE(WriteFileAtomic(env, dir.Sub("m"), "abcdef").ok());
  auto m = env->MapFile(dir.Sub("m"));
  ASSERT_TRUE(m.ok());
  ASSERT_EQ((*m)->size(), 6u);
  EXPECT_EQ((*m)->data()[2], 'c');
  (*m)->DontNeed(0, 6);
  EXPECT_EQ((*m)->data()[5], 'f');
  auto ds = env->GetDiskSpace(dir.path());
  ASSERT_TRUE(ds.ok());
  EXPECT_GT(ds->total_bytes, 0u);
  auto missing = env->MapFile(dir.Sub("nope"));
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace frb
