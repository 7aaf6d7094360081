// How many times faiss-searchd reads an index file it loads, and that the
// one pass it may skip never lets a changed file through. A local version
// is hashed, then deserialized (two passes); a follower's download was
// hashed as it arrived, so its load skips the SHA-256 pass while the file's
// Stat is the one recorded after the download (one pass). A bit flipped
// after the download changes the Stat, and the hash catches it before FAISS
// parses a byte: FAISS 1.7.3 loads such a Flat file without any error.
#include <faiss/IndexFlat.h>
#include <faiss/index_io.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "counting_env.h"
#include "frb/index_file.h"
#include "frb/manifest.h"
#include "frb/store.h"
#include "index_registry.h"
#include "loaded_index.h"
#include "metrics.h"
#include "small_loaded_index.h"
#include "testutil.h"
#include "verified_files.h"

namespace frb::searchd {
namespace {

constexpr int kDim = 16;
constexpr int kCount = 4000;
constexpr char kVersion[] = "v000001-20261121T000000Z";

class VerifiedLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    faiss::IndexFlatL2 index(kDim);
    const std::vector<float> x = testing::RandomVectors(kCount, kDim, 11);
    index.add(kCount, x.data());
    ASSERT_TRUE(store_.Init().ok());
    ASSERT_TRUE(Env::Default()->CreateDirs(store_.VersionDir(kVersion)).ok());
    auto digest = WriteIndexFile(Env::Default(), index, path_);
    ASSERT_TRUE(digest.ok()) << digest.status().ToString();
    size_ = digest->size;
    Manifest m;
    m.index_name = "v";
    m.version_id = kVersion;
    m.created_unix_ms = 1'700'000'000'000;
    m.source.path = "/test/none.npy";
    m.source.count = kCount;
    m.source.dim = kDim;
    m.factory = "Flat";
    m.metric = "L2";
    m.dim = kDim;
    m.ntotal = kCount;
    m.file_size = digest->size;
    m.file_sha256 = digest->sha256;
    m.validation.passed = true;
    ASSERT_TRUE(WriteFileAtomic(Env::Default(), JoinPath(store_.VersionDir(kVersion),
                                                         "manifest.json"),
                                m.Serialize())
                    .ok());
    // As installed by the follower: read-only, then its Stat recorded.
    ASSERT_TRUE(Env::Default()->MakeReadOnly(path_).ok());
    auto info = Env::Default()->Stat(path_);
    ASSERT_TRUE(info.ok());
    stamp_ = *info;
    cfg_.name = "v";
    cfg_.dimension = kDim;
    cfg_.factory = "Flat";
  }

  Result<std::shared_ptr<const LoadedIndex>> Load(const FileInfo* verified_as) {
    return LoadedIndex::Load(&env_, store_, cfg_, kVersion, 16, verified_as);
  }
  uint64_t IndexBytesRead() { return env_.BytesRead(store_.VersionDir(kVersion), "/index.faiss"); }

  // Flips one bit in the vectors (past FAISS's header) through the file
  // system, as a stray writer would, and waits until the change shows in
  // the file's ctime (a write within the clock tick of the recorded Stat
  // keeps it; see FileUnchanged).
  void FlipABit() {
    ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
    int fd = ::open(path_.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    const off_t at = static_cast<off_t>(size_ / 2);
    unsigned char b = 0;
    ASSERT_EQ(::pread(fd, &b, 1, at), 1);
    b ^= 0x10;
    ASSERT_EQ(::pwrite(fd, &b, 1, at), 1);
    ::close(fd);
    for (int i = 0; i < 1000; ++i) {
      ASSERT_EQ(::chmod(path_.c_str(), 0444), 0);
      auto now = Env::Default()->Stat(path_);
      ASSERT_TRUE(now.ok());
      if (now->ctime_ns != stamp_.ctime_ns) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    FAIL() << "the file's ctime did not change";
  }

  test::TempDir dir_;
  CountingEnv env_{Env::Default()};
  VersionStore store_{Env::Default(), dir_.Sub("cache"), "v"};
  std::string path_ = store_.VersionIndexPath(kVersion);
  uint64_t size_ = 0;
  FileInfo stamp_;
  IndexConfig cfg_;
};

TEST_F(VerifiedLoadTest, ALocalVersionIsHashedThenRead) {
  auto li = Load(nullptr);
  ASSERT_TRUE(li.ok()) << li.status().ToString();
  EXPECT_TRUE((*li)->hashed);
  EXPECT_EQ(IndexBytesRead(), 2 * size_);
}

TEST_F(VerifiedLoadTest, AnUnchangedDownloadIsReadOnceWithoutASecondHash) {
  auto li = Load(&stamp_);
  ASSERT_TRUE(li.ok()) << li.status().ToString();
  EXPECT_FALSE((*li)->hashed);
  EXPECT_EQ((*li)->ntotal, kCount);
  EXPECT_EQ(IndexBytesRead(), size_);
}

TEST_F(VerifiedLoadTest, ABitFlippedAfterTheDownloadIsCaughtBeforeFaissReadsIt) {
  FlipABit();
  ASSERT_FALSE(HasFatalFailure());
  // What the hash protects against: FAISS itself takes the flipped file.
  std::unique_ptr<faiss::Index> unchecked(faiss::read_index(path_.c_str()));
  ASSERT_EQ(unchecked->ntotal, kCount);
  auto li = Load(&stamp_);
  ASSERT_FALSE(li.ok());
  EXPECT_EQ(li.status().code(), Code::kCorruption);
  EXPECT_NE(li.status().message().find("SHA-256"), std::string::npos) << li.status().ToString();
  // The hash pass read it all; FAISS never got to read it.
  EXPECT_EQ(IndexBytesRead(), size_);
}

TEST_F(VerifiedLoadTest, AReplacedFileIsHashed) {
  // Same size and bytes, another inode: the recorded Stat no longer holds.
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  auto bytes = ReadFileToString(Env::Default(), path_);
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), path_, *bytes).ok());
  auto li = Load(&stamp_);
  ASSERT_TRUE(li.ok()) << li.status().ToString();
  EXPECT_TRUE((*li)->hashed);
  EXPECT_EQ(IndexBytesRead(), 2 * size_);
}

// The registry asks VerifiedFiles for the stamp of the file it loads.
TEST_F(VerifiedLoadTest, TheRegistryUsesTheFollowersRecord) {
  ASSERT_TRUE(ReplaceSymlink(Env::Default(), std::string("versions/") + kVersion,
                             JoinPath(store_.IndexDir(), "live"))
                  .ok());
  VerifiedFiles verified;
  verified.Record(path_, stamp_);
  Config config;
  config.data_dir = dir_.Sub("cache");
  config.indexes.push_back(cfg_);
  SearchMetrics metrics;
  RegistryOptions options;
  options.verified = &verified;
  IndexRegistry registry(&env_, config, options, &metrics);
  registry.Refresh();
  auto li = registry.Get("v");
  ASSERT_NE(li, nullptr);
  EXPECT_FALSE(li->hashed);
  EXPECT_EQ(IndexBytesRead(), size_);

  // A version pruned from the cache is forgotten.
  verified.ForgetUnder(store_.VersionDir(kVersion));
  EXPECT_FALSE(verified.Find(path_).has_value());
}

}  // namespace
}  // namespace frb::searchd
