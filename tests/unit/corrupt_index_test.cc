// Wrong-type and mismatched files behind manifests that look right: a valid
// FAISS index of another dimension, metric or kind with a correctly sealed
// manifest whose checksum matches it; a version or backup manifest that
// describes another version; backup data of another version. Each must be
// refused with a clear message, never crash, and leave live untouched.
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexFlat.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "cycle_harness.h"

namespace frb::test {
namespace {

std::string FlatBytes(int d, faiss::MetricType metric, int n) {
  faiss::IndexFlat idx(d, metric);
  std::vector<float> x(static_cast<size_t>(n) * d);
  synth::GenerateRows(3, d, 8, 0, n, x.data());
  idx.add(n, x.data());
  faiss::VectorIOWriter w;
  faiss::write_index(&idx, &w);
  return std::string(w.data.begin(), w.data.end());
}
std::string BinaryBytes(int n) {
  faiss::IndexBinaryFlat idx(128);
  std::vector<uint8_t> x(static_cast<size_t>(n) * 16, 7);
  idx.add(n, x.data());
  faiss::VectorIOWriter w;
  faiss::write_index_binary(&idx, &w);
  return std::string(w.data.begin(), w.data.end());
}

// Starting state of CycleHarness(kPublish): v1 (backup only), v2 (rollback,
// on disk and in backups), v3 (live, on disk).
class CorruptIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.Prepare();
    ASSERT_FALSE(HasFatalFailure());
    auto list = h_.Backups().List();
    ASSERT_TRUE(list.ok());
    v1_ = list->front().manifest.version_id;
    v2_ = **h_.Store().RollbackVersion();
    v3_ = **h_.Store().LiveVersion();
  }
  VersionStore Store() { return h_.Store(); }
  BackupStore Backups() { return h_.Backups(); }

  // Replaces the index file of version `v` with `index` (a valid FAISS
  // file) and re-seals its manifest so size and SHA-256 match: only the
  // manifest's dim/metric/factory still describe the original.
  void PlantIndex(const std::string& v, const std::string& file_bytes) {
    std::string path = Store().VersionIndexPath(v);
    std::string mpath = JoinPath(Store().VersionDir(v), "manifest.json");
    ::chmod(path.c_str(), 0644);
    ::chmod(mpath.c_str(), 0644);
    WriteText(path, file_bytes);
    auto m = Store().ReadManifest(v);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    m->file_size = file_bytes.size();
    m->file_sha256 = Sha256::Hex(file_bytes);
    WriteText(mpath, m->Serialize());
    ASSERT_TRUE(Store().ReadManifest(v).ok()) << "manifest must look valid";
  }
  Result<RestoreOutcome> Restore(const std::string& v) {
    JobControl control;
    return RestoreVersion(Env::Default(), h_.config(), h_.index(), v, control);
  }
  void ExpectUntouched() {
    EXPECT_EQ(**Store().LiveVersion(), v3_);
    h_.ExpectVersionComplete(v3_, "live");
    auto staging = Env::Default()->ListDir(Store().StagingRoot());
    ASSERT_TRUE(staging.ok());
    EXPECT_TRUE(staging->empty());
  }

  CycleHarness h_{Cycle::kPublish};
  std::string v1_, v2_, v3_;
};

struct Planted {
  const char* name;
  std::string (*bytes)();
  const char* expect;  // in the error message
};

class WrongTypeIndexTest : public CorruptIndexTest, public ::testing::WithParamInterface<Planted> {};

// Restore from disk and, after backing the planted file up (its checksum
// matches its manifest, so the backup is "valid"), restore from backup.
TEST_P(WrongTypeIndexTest, RestoreRefusesIt) {
  PlantIndex(v2_, GetParam().bytes());
  if (HasFatalFailure()) return;
  auto r = Restore(v2_);
  ASSERT_FALSE(r.ok()) << "restored a " << GetParam().name << " index";
  EXPECT_NE(r.status().message().find(GetParam().expect), std::string::npos) << r.status().ToString();
  ExpectUntouched();

  // The same file through a backup: delete the consistent-looking backup of
  // v2 and make one of the planted file, then remove v2 from disk.
  ASSERT_TRUE(Env::Default()->RemoveFile(Backups().ManifestPath(v2_)).ok());
  bool created = false;
  auto b = Backups().Create(Store(), v2_, nullptr, &created);
  ASSERT_TRUE(b.ok() && created) << b.status().ToString();
  ASSERT_TRUE(Env::Default()->RemoveAll(Store().VersionDir(v2_)).ok());
  auto r2 = Restore(v2_);
  ASSERT_FALSE(r2.ok()) << "restored a " << GetParam().name << " index from backup";
  EXPECT_NE(r2.status().message().find(GetParam().expect), std::string::npos) << r2.status().ToString();
  ExpectUntouched();
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, WrongTypeIndexTest,
    ::testing::Values(
        Planted{"other_dimension", [] { return FlatBytes(8, faiss::METRIC_L2, 3000); },
                "dimension 8"},
        Planted{"other_metric",
                [] { return FlatBytes(16, faiss::METRIC_INNER_PRODUCT, 3000); },
                "metric IP"},
        Planted{"other_ntotal", [] { return FlatBytes(16, faiss::METRIC_L2, 100); },
                "ntotal 100"},
        Planted{"binary_index", [] { return BinaryBytes(3000); },
                "FAISS cannot read the index"},
        Planted{"not_faiss", [] { return std::string(4096, 'x'); }, "FAISS cannot read the index"}),
    [](const auto& p) { return std::string(p.param.name); });

// The "not worse than live" gate loads the live index and searches it with
// the candidate's queries. A live file of another dimension (planted, or
// simply built under the previous configuration) must not be searched with
// vectors of the wrong length (FAISS would read past them), nor must a live
// index of another kind that does not take the configured search parameters
// fail the job as an internal error: both are a clear validation failure.
class LiveMismatchTest : public CorruptIndexTest,
                         public ::testing::WithParamInterface<Planted> {};

TEST_P(LiveMismatchTest, NotWorseThanLiveGateFailsClearly) {
  PlantIndex(v3_, GetParam().bytes());
  if (HasFatalFailure()) return;
  h_.index().validation.max_recall_drop_vs_live = 0.05;
  h_.index().validation.max_size_change = 0;  // the planted file's size differs
  JobControl control;
  JobOutcome out = RebuildJob(Env::Default(), h_.config(), h_.index(), [] { RebuildOptions o; o.force = true; return o; }()).Run(control);
  EXPECT_EQ(out.status.code(), Code::kValidationFailed) << out.status.ToString();
  EXPECT_NE(out.status.message().find("cannot compare with the live version " + v3_), std::string::npos)
      << out.status.ToString();
  EXPECT_NE(out.status.message().find(GetParam().expect), std::string::npos) << out.status.ToString();
  ASSERT_TRUE(out.validation);
  EXPECT_FALSE(out.validation->live_recall) << "live recall measured on an index that cannot answer: "
                                            << *out.validation->live_recall;
  ExpectUntouched();
}

std::string IvfBytes(int d, int n) {
  std::unique_ptr<faiss::Index> idx(faiss::index_factory(d, "IVF8,Flat"));
  std::vector<float> x(static_cast<size_t>(n) * d);
  synth::GenerateRows(3, d, 8, 0, n, x.data());
  idx->train(n, x.data());
  idx->add(n, x.data());
  faiss::VectorIOWriter w;
  faiss::write_index(idx.get(), &w);
  return std::string(w.data.begin(), w.data.end());
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, LiveMismatchTest,
    ::testing::Values(
        Planted{"larger_dimension", [] { return IvfBytes(64, 3000); }, "dimension 64"},
        Planted{"other_metric", [] { return FlatBytes(16, faiss::METRIC_INNER_PRODUCT, 3000); },
                "metric IP"},
        Planted{"other_kind", [] { return FlatBytes(16, faiss::METRIC_L2, 3000); }, "nprobe"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST_F(CorruptIndexTest, VersionManifestOfAnotherVersionIsCorruption) {
  std::string m3 = JoinPath(Store().VersionDir(v3_), "manifest.json");
  ::chmod(m3.c_str(), 0644);
  WriteText(m3, ReadText(JoinPath(Store().VersionDir(v2_), "manifest.json")));
  auto m = Store().ReadManifest(v3_);
  ASSERT_FALSE(m.ok()) << "versions/" << v3_ << "/manifest.json describing " << v2_ << " was accepted";
  EXPECT_EQ(m.status().code(), Code::kCorruption);
  EXPECT_NE(m.status().message().find(m3), std::string::npos) << m.status().ToString();
  EXPECT_NE(m.status().message().find(v2_), std::string::npos) << m.status().ToString();
  auto r = Restore(v3_);
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_EQ(**Store().LiveVersion(), v3_);
}

TEST_F(CorruptIndexTest, BackupManifestOfAnotherVersionIsRefused) {
  WriteText(Backups().ManifestPath(v1_), ReadText(Backups().ManifestPath(v2_)));
  std::vector<VerifyProblem> broken;
  auto list = Backups().List(&broken);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(broken.size(), 1u);
  EXPECT_EQ(broken[0].file, Backups().ManifestPath(v1_));
  EXPECT_NE(broken[0].detail.find(v2_), std::string::npos) << broken[0].detail;
  auto vr = Backups().Verify(v1_);
  ASSERT_TRUE(vr.ok());
  EXPECT_FALSE(vr->ok);
  auto r = Restore(v1_);
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  ExpectUntouched();
}

TEST_F(CorruptIndexTest, BackupDataOfAnotherVersionIsRefused) {
  // v1 and v2 are built from the same source: same sizes, maybe the same
  // bytes. Make v1's backup data another version's for sure: v2's file
  // compressed at another level.
  std::string tmp = JoinPath(Backups().Dir(), "other.zst");
  ASSERT_TRUE(CompressFile(Env::Default(), Store().VersionIndexPath(v2_), tmp, 1, 1, 0, nullptr).ok());
  ASSERT_TRUE(Env::Default()->Rename(tmp, Backups().DataPath(v1_)).ok());
  auto vr = Backups().Verify(v1_);
  ASSERT_TRUE(vr.ok());
  EXPECT_FALSE(vr->ok);
  auto r = Restore(v1_);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().code() == Code::kCorruption || r.status().code() == Code::kValidationFailed)
      << r.status().ToString();
  ExpectUntouched();
}

TEST_F(CorruptIndexTest, BackupManifestEmbeddingAnotherVersionsManifestIsRefused) {
  // A correctly sealed backup manifest for v1 whose embedded version
  // manifest is v2's.
  auto bm = BackupManifest::Parse(ReadText(Backups().ManifestPath(v1_)), "v1");
  ASSERT_TRUE(bm.ok());
  bm->version_manifest = Store().ReadManifest(v2_)->ToJson();
  WriteText(Backups().ManifestPath(v1_), bm->Serialize());
  auto got = Backups().Get(v1_);
  ASSERT_FALSE(got.ok()) << "backup manifest of " << v1_ << " embedding " << v2_ << "'s was accepted";
  EXPECT_EQ(got.status().code(), Code::kCorruption);
  EXPECT_NE(got.status().message().find(v2_), std::string::npos) << got.status().ToString();
  auto r = Restore(v1_);
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  ExpectUntouched();
}

}  // namespace
}  // namespace frb::test
