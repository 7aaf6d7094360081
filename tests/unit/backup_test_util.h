// What the backup tests share: a data dir with published versions and a
// backup store, and an Env whose disk fills up.
#pragma once

#include "frb/backup.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "frb/publisher.h"
#include "frb/rebuild.h"
#include "frb/sha256.h"
#include "testutil.h"

namespace frb {
namespace backup_test {

inline constexpr int kDim = 32;

// Float vectors behind a small odd-sized header, like a FAISS file.
inline std::string FakeIndexBytes(int64_t rows, uint64_t seed) {
  std::vector<float> x(static_cast<size_t>(rows) * kDim);
  synth::GenerateRows(seed, kDim, 16, 0, rows, x.data());
  std::string s = "IxFlhdr";
  s.append(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float));
  return s;
}

// Reports little free space on every filesystem.
class SmallDiskEnv : public EnvWrapper {
 public:
  explicit SmallDiskEnv(uint64_t free) : EnvWrapper(Env::Default()), free_(free) {}
  Result<DiskSpace> GetDiskSpace(const std::string&) override { return DiskSpace{1 << 30, free_}; }

 private:
  uint64_t free_;
};

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = test::SmallIndexConfig(dir_, kDim);
    source_ = index().source_path;
    index().validation.queries = 100;
    index().validation.latency_queries = 20;
    index().validation.min_recall = 0.5;
    index().backups.zstd_workers = 2;
  }
  IndexConfig& index() { return config_.indexes[0]; }
  VersionStore Store(Env* env = Env::Default()) { return VersionStore(env, config_.data_dir, "t"); }
  BackupStore Backups(Env* env = Env::Default()) { return BackupStore(env, config_, index()); }

  // Publishes `content` as a version without building (no FAISS needed).
  std::string PublishFake(const std::string& content) {
    VersionStore store = Store();
    EXPECT_TRUE(store.Init().ok());
    std::string staging = *store.CreateStaging("j-fake-" + std::to_string(++fakes_));
    test::WriteText(JoinPath(staging, "index.faiss"), content);
    Manifest m;
    m.index_name = "t";
    m.version_id = *store.NextVersionId(NowUnixMillis());
    m.created_unix_ms = NowUnixMillis();
    m.factory = "Flat";
    m.metric = "L2";
    m.dim = kDim;
    m.file_size = content.size();
    m.file_sha256 = Sha256::Hex(content);
    Status s = Publisher(Env::Default()).Publish(store, staging, m, 100, nullptr);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return m.version_id;
  }
  JobOutcome Rebuild(Env* env = Env::Default()) {
    JobControl control;
    return RebuildJob(env, config_, index(), [] { RebuildOptions o; o.force = true; return o; }()).Run(control);
  }
  std::vector<std::string> BackupIds() { return test::BackupIds(Backups()); }

  test::TempDir dir_;
  std::string source_;
  Config config_;
  int fakes_ = 0;
};

// The codec at awkward sizes: empty, shorter than a float, not a multiple of
// 4, of the shuffle block or of the read chunk.

}  // namespace backup_test
}  // namespace frb
