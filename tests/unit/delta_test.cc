// Ids, the delta log and delta versions in-process: DeltaLog, DeltaJob and
// the replay of logged deltas by full rebuilds (RebuildJob).
#include "frb/delta_job.h"

#include <faiss/Index.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IVFlib.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <unordered_map>

#include "frb/delta_log.h"
#include "frb/ids.h"
#include "frb/sha256.h"
#include "frb/store.h"
#include "synth.h"
#include "testutil.h"

namespace frb {
namespace {

constexpr int kDim = 32;
constexpr int64_t kRows = 20000;

void WriteIds(const std::string& path, const std::vector<int64_t>& ids) {
  std::ofstream f(path, std::ios::binary);
  std::string header = synth::NpyHeader(static_cast<int64_t>(ids.size()), 1, "<i8");
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(ids.data()),
          static_cast<std::streamsize>(ids.size() * sizeof(int64_t)));
}

void WriteVectors(const std::string& path, const std::vector<float>& v, int dim) {
  std::ofstream f(path, std::ios::binary);
  std::string header = synth::NpyHeader(static_cast<int64_t>(v.size() / dim), dim);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(v.data()),
          static_cast<std::streamsize>(v.size() * sizeof(float)));
}

// External id of source row r: not the row number, so a mix-up shows.
int64_t IdOf(int64_t row) { return 1000 + 7 * row; }

class DeltaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = test::SmallIndexConfig(dir_, kDim);
    index().validation.queries = 1000;
    std::vector<int64_t> ids(kRows);
    for (int64_t r = 0; r < kRows; ++r) ids[r] = IdOf(r);
    WriteIds(dir_.Sub("ids.npy"), ids);
    index().source_ids_path = dir_.Sub("ids.npy");
    synth::GenerateRows(3, kDim, 64, 0, kRows, Base());
  }
  float* Base() {
    base_.resize(static_cast<size_t>(kRows) * kDim);
    return base_.data();
  }
  IndexConfig& index() { return config_.indexes[0]; }
  VersionStore Store() { return VersionStore(Env::Default(), config_.data_dir, "t"); }
  DeltaLog Log() { return DeltaLog(Env::Default(), Store().IndexDir()); }
  JobOutcome Rebuild() {
    JobControl control;
    return RebuildJob(Env::Default(), config_, index(), test::Forced()).Run(control);
  }
  JobOutcome Apply() {
    JobControl control;
    return DeltaJob(Env::Default(), config_, index(), RebuildOptions{}).Run(control);
  }
  Manifest LiveManifest() {
    auto id = *Store().LiveVersion();
    return *Store().ReadManifest(*id);
  }
  std::unique_ptr<faiss::Index> LiveIndex() {
    std::unique_ptr<faiss::Index> idx(faiss::read_index(Store().LivePath().c_str()));
    if (auto* ivf = faiss::ivflib::try_extract_index_ivf(idx.get())) ivf->nprobe = ivf->nlist;
    return idx;
  }
  // Labels of the k nearest neighbours of `x` in live.
  std::vector<int64_t> Search(const float* x, int k) {
    auto idx = LiveIndex();
    // HNSW at its default efSearch (16) can miss even a database vector's
    // own entry now and then: search its graph wide, so a label check is exact.
    if (auto* map = dynamic_cast<faiss::IndexIDMap2*>(idx.get()))
      if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(map->index)) hnsw->hnsw.efSearch = 512;
    std::vector<float> d(k);
    std::vector<faiss::Index::idx_t> l(k);
    idx->search(1, x, k, d.data(), l.data());
    return {l.begin(), l.end()};
  }
  // A delta: rows [0, 300) deleted, rows [300, 400) replaced by new vectors,
  // and 500 new ids; the new vectors are far-away rows of another seed.
  DeltaData MakeDelta() {
    DeltaData d;
    d.record.dim = kDim;
    for (int64_t r = 0; r < 300; ++r) d.delete_ids.push_back(IdOf(r));
    std::vector<float> fresh(600 * kDim);
    synth::GenerateRows(99, kDim, 64, 0, 600, fresh.data());
    d.vectors = fresh;
    for (int64_t r = 300; r < 400; ++r) d.upsert_ids.push_back(IdOf(r));
    for (int64_t i = 0; i < 500; ++i) d.upsert_ids.push_back(5'000'000 + i);
    return d;
  }

  test::TempDir dir_;
  Config config_;
  std::vector<float> base_;
};

TEST(IdsTest, DuplicateIdNamesFileAndRows) {
  test::TempDir dir;
  WriteIds(dir.Sub("ids.npy"), {5, 6, 7, 6});
  auto ids = ReadCheckedIds(Env::Default(), dir.Sub("ids.npy"), 4, "vecs.npy");
  ASSERT_FALSE(ids.ok());
  EXPECT_NE(ids.status().message().find(dir.Sub("ids.npy")), std::string::npos);
  EXPECT_NE(ids.status().message().find("duplicate id 6 at rows 1 and 3"), std::string::npos)
      << ids.status().message();
}

TEST(IdsTest, CountMustMatchRowsAndDtypeInt64) {
  test::TempDir dir;
  WriteIds(dir.Sub("ids.npy"), {1, 2, 3});
  auto ids = ReadCheckedIds(Env::Default(), dir.Sub("ids.npy"), 4, "vecs.npy");
  ASSERT_FALSE(ids.ok());
  EXPECT_NE(ids.status().message().find("3 ids for the 4 vectors of vecs.npy"), std::string::npos)
      << ids.status().message();
  WriteVectors(dir.Sub("f.npy"), {1, 2, 3}, 1);
  auto bad = ReadIdsFile(Env::Default(), dir.Sub("f.npy"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("int64"), std::string::npos) << bad.status().message();
}

TEST(IdsTest, ConfigValidateReportsBadIdsFileWithLineAndColumn) {
  test::TempDir dir;
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), dir.Sub("v.npy"), 4, 8, 1).ok());
  WriteIds(dir.Sub("ids.npy"), {1, 2, 2, 3});
  std::string yaml = "data_dir: " + dir.Sub("data") +
                     "\nindexes:\n"
                     "  - name: a\n"
                     "    source: { path: " + dir.Sub("v.npy") + ", ids: " + dir.Sub("ids.npy") +
                     ", deltas_through: 4 }\n"
                     "    dimension: 8\n"
                     "    factory: Flat\n"
                     "    deltas: { on_unsupported: sometimes }\n";
  std::vector<ConfigProblem> problems;
  auto cfg = ParseConfig(yaml, "c.yaml", Env::Default(), {}, &problems);
  ASSERT_FALSE(cfg.ok());
  ASSERT_EQ(problems.size(), 2u) << cfg.status().message();
  const ConfigProblem* ids = nullptr;
  const ConfigProblem* deltas = nullptr;
  for (const auto& p : problems) (p.line == 4 ? ids : deltas) = &p;
  ASSERT_NE(ids, nullptr) << cfg.status().message();
  ASSERT_NE(deltas, nullptr) << cfg.status().message();
  EXPECT_GT(ids->column, 1);
  EXPECT_NE(ids->message.find("source.ids: " + dir.Sub("ids.npy") + ": duplicate id 2"),
            std::string::npos) << ids->message;
  EXPECT_EQ(deltas->line, 7);
  EXPECT_NE(deltas->message.find("deltas.on_unsupported"), std::string::npos);
  WriteIds(dir.Sub("ids.npy"), {1, 2, 3, 4});
  yaml.replace(yaml.find("sometimes"), 9, "rebuild");
  cfg = ParseConfig(yaml, "c.yaml", Env::Default());
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->indexes[0].source_ids_path, dir.Sub("ids.npy"));
  EXPECT_EQ(cfg->indexes[0].source_deltas_through, 4);
  EXPECT_EQ(cfg->indexes[0].deltas_on_unsupported, "rebuild");
}

TEST_F(DeltaTest, FullBuildLabelsVectorsWithSourceIds) {
  index().validation.max_size_change = 0;  // each factory replaces the last
  for (std::string factory : {"IVF64,Flat", "Flat", "HNSW16"}) {
    index().factory = factory;
    if (factory != "IVF64,Flat") index().search.clear();
    JobOutcome out = Rebuild();
    ASSERT_TRUE(out.status.ok()) << factory << ": " << out.status.ToString();
    EXPECT_GE(out.validation->recall, 0.8) << factory;
    for (int64_t r : {0, 4321, 19999}) {
      auto labels = Search(base_.data() + r * kDim, 1);
      EXPECT_EQ(labels[0], IdOf(r)) << factory << " row " << r;
    }
    EXPECT_EQ(LiveManifest().source.ids_sha256, *Sha256File(Env::Default(), dir_.Sub("ids.npy")));
  }
}

TEST_F(DeltaTest, LogRecordsAreDurableNumberedAndChecked) {
  ASSERT_TRUE(Store().Init().ok());
  DeltaLog log = Log();
  auto r1 = log.Append(MakeDelta());
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(r1->seq, 1);
  auto r2 = log.Append(MakeDelta());
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->seq, 2);
  // A torn write (never renamed) and a record whose JSON was damaged.
  ASSERT_TRUE(Env::Default()->CreateDirs(JoinPath(log.dir(), ".tmp-000000000003")).ok());
  std::string rec2 = JoinPath(JoinPath(log.dir(), "000000000002"), "record.json");
  std::string text = test::ReadText(rec2);
  text[text.find("\"upserts\": 600") + 12] = '7';
  test::WriteText(rec2, text);
  std::vector<std::string> warnings;
  auto listed = log.List(0, &warnings);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].seq, 1);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("000000000002"), std::string::npos) << warnings[0];
  EXPECT_FALSE(Env::Default()->Exists(JoinPath(log.dir(), ".tmp-000000000003")));
  // Sequence numbers are never reused, not even after quarantine or retire.
  ASSERT_TRUE(log.Retire(1).ok());
  auto r3 = log.Append(MakeDelta());
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->seq, 3);
  // A flipped byte in a data file: Load refuses and quarantines it.
  test::FlipByte(JoinPath(JoinPath(log.dir(), "000000000003"), "upsert_vectors.f32"));
  auto loaded = log.Load(*r3);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kCorruption);
  EXPECT_TRUE(log.List(0, &warnings)->empty());
}

TEST_F(DeltaTest, LogRejectsIdBothUpsertedAndDeleted) {
  DeltaData d = MakeDelta();
  d.delete_ids.push_back(d.upsert_ids[0]);
  auto r = Log().Append(std::move(d));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("both upserted and deleted"), std::string::npos);
}

TEST_F(DeltaTest, ApplyPublishesDeltaVersionWithoutDeletedIds) {
  JobOutcome full = Rebuild();
  ASSERT_TRUE(full.status.ok()) << full.status.ToString();
  DeltaData d = MakeDelta();
  ASSERT_TRUE(Log().Append(d).ok());
  JobOutcome out = Apply();
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.stage, Stage::kDone);
  Manifest m = LiveManifest();
  EXPECT_EQ(m.version_id, out.version_id);
  EXPECT_EQ(m.kind, "delta");
  EXPECT_EQ(m.parent_version, full.version_id);
  EXPECT_EQ(m.full_version, full.version_id);
  EXPECT_EQ(m.delta_seqs, std::vector<int64_t>{1});
  EXPECT_EQ(m.delta_through, 1);
  EXPECT_EQ(m.delta_upserts, 600);
  EXPECT_EQ(m.delta_deletes, 300);
  EXPECT_EQ(m.deltas_since_full, 1);
  EXPECT_EQ(m.delta_rows_since_full, 900);
  EXPECT_EQ(m.ntotal, kRows - 300 + 500);
  EXPECT_TRUE(m.validation.passed);
  // Deleted ids never come back, not even at full nprobe, and a replaced id
  // answers for its new vector only.
  for (int64_t r = 0; r < 300; r += 7)
    for (int64_t label : Search(base_.data() + r * kDim, 10))
      EXPECT_NE(label, IdOf(r)) << "deleted id returned for row " << r;
  for (int64_t i = 0; i < 600; i += 37) {
    auto labels = Search(d.vectors.data() + i * kDim, 1);
    EXPECT_EQ(labels[0], d.upsert_ids[i]);
  }
  // Nothing new: the next apply is skipped.
  JobOutcome again = Apply();
  EXPECT_EQ(again.stage, Stage::kSkipped) << again.status.ToString();
  // A second delta chains on the first.
  DeltaData d2;
  d2.record.dim = kDim;
  d2.delete_ids = {IdOf(1000)};
  ASSERT_TRUE(Log().Append(d2).ok());
  ASSERT_TRUE(Apply().status.ok());
  Manifest m2 = LiveManifest();
  EXPECT_EQ(m2.parent_version, m.version_id);
  EXPECT_EQ(m2.full_version, full.version_id);
  EXPECT_EQ(m2.deltas_since_full, 2);
  EXPECT_EQ(m2.delta_rows_since_full, 901);
}

TEST_F(DeltaTest, RecallAfterDeltaWithinOnePointOfFullRebuild) {
  ASSERT_TRUE(Rebuild().status.ok());
  ASSERT_TRUE(Log().Append(MakeDelta()).ok());
  JobOutcome delta = Apply();
  ASSERT_TRUE(delta.status.ok()) << delta.status.ToString();
  // The same data, retrained: the full build replays the logged delta.
  JobOutcome full = Rebuild();
  ASSERT_TRUE(full.status.ok()) << full.status.ToString();
  EXPECT_EQ(LiveManifest().kind, "full");
  EXPECT_EQ(full.validation->ntotal, delta.validation->ntotal);
  EXPECT_NEAR(delta.validation->recall, full.validation->recall, 0.01)
      << "delta " << delta.validation->recall << " full " << full.validation->recall;
}

TEST_F(DeltaTest, FullRebuildReplaysLoggedDeltasUntilSourceContainsThem) {
  ASSERT_TRUE(Rebuild().status.ok());
  DeltaData d = MakeDelta();
  ASSERT_TRUE(Log().Append(d).ok());
  ASSERT_TRUE(Apply().status.ok());
  // A scheduled rebuild from the unchanged source keeps the delta.
  JobOutcome full = Rebuild();
  ASSERT_TRUE(full.status.ok()) << full.status.ToString();
  Manifest m = LiveManifest();
  EXPECT_EQ(m.kind, "full");
  EXPECT_EQ(m.delta_seqs, std::vector<int64_t>{1});
  EXPECT_EQ(m.deltas_since_full, 0);
  EXPECT_EQ(m.ntotal, kRows - 300 + 500);
  for (int64_t r = 0; r < 300; r += 11)
    for (int64_t label : Search(base_.data() + r * kDim, 10)) EXPECT_NE(label, IdOf(r));
  EXPECT_EQ(Search(d.vectors.data() + 550 * kDim, 1)[0], d.upsert_ids[550]);
  EXPECT_EQ(Log().List(0, nullptr)->size(), 1u);

  // The pipeline exports a source with the delta in it and says so.
  std::vector<float> vecs;
  std::vector<int64_t> ids;
  for (int64_t r = 400; r < kRows; ++r) {
    vecs.insert(vecs.end(), base_.begin() + r * kDim, base_.begin() + (r + 1) * kDim);
    ids.push_back(IdOf(r));
  }
  vecs.insert(vecs.end(), d.vectors.begin(), d.vectors.end());
  ids.insert(ids.end(), d.upsert_ids.begin(), d.upsert_ids.end());
  WriteVectors(index().source_path, vecs, kDim);
  WriteIds(index().source_ids_path, ids);
  test::WriteText(index().source_path + ".deltas_through", "1\n");
  JobOutcome contained = Rebuild();
  ASSERT_TRUE(contained.status.ok()) << contained.status.ToString();
  Manifest c = LiveManifest();
  EXPECT_TRUE(c.delta_seqs.empty());
  EXPECT_EQ(c.delta_through, 1);
  EXPECT_EQ(c.ntotal, kRows - 300 + 500);
  EXPECT_TRUE(Log().List(0, nullptr)->empty());  // retired
  EXPECT_FALSE(Env::Default()->Exists(JoinPath(Log().dir(), "000000000001")));
  // And a new delta after that gets the next number, applied on top.
  DeltaData d2;
  d2.record.dim = kDim;
  d2.delete_ids = {IdOf(5000)};
  auto r2 = Log().Append(d2);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->seq, 2);
  ASSERT_TRUE(Apply().status.ok());
  EXPECT_EQ(LiveManifest().ntotal, kRows - 300 + 500 - 1);
}

TEST_F(DeltaTest, HnswRefusesDeletesUnlessConfiguredToRebuild) {
  index().factory = "HNSW16";
  index().search.clear();
  JobOutcome full = Rebuild();
  ASSERT_TRUE(full.status.ok()) << full.status.ToString();
  ASSERT_TRUE(Log().Append(MakeDelta()).ok());
  JobOutcome out = Apply();
  EXPECT_EQ(out.stage, Stage::kFailed);
  EXPECT_EQ(out.status.code(), Code::kFailedPrecondition);
  EXPECT_NE(out.status.message().find("HNSW indexes cannot remove vectors"), std::string::npos)
      << out.status.message();
  EXPECT_EQ(*Store().LiveVersion(), full.version_id);  // untouched
  EXPECT_EQ(Log().List(0, nullptr)->size(), 1u);      // still logged

  index().deltas_on_unsupported = "rebuild";
  JobOutcome rebuilt = Apply();
  ASSERT_TRUE(rebuilt.status.ok()) << rebuilt.status.ToString();
  Manifest m = LiveManifest();
  EXPECT_EQ(m.kind, "full");
  EXPECT_EQ(m.delta_seqs, std::vector<int64_t>{1});
  for (int64_t r = 0; r < 300; r += 13)
    for (int64_t label : Search(base_.data() + r * kDim, 10)) EXPECT_NE(label, IdOf(r));
}

TEST_F(DeltaTest, FlatWithoutIdsFileIsRefusedWithReason) {
  index().factory = "Flat";
  index().search.clear();
  index().source_ids_path.clear();
  ASSERT_TRUE(Rebuild().status.ok());
  ASSERT_TRUE(Log().Append(MakeDelta()).ok());
  JobOutcome out = Apply();
  EXPECT_EQ(out.status.code(), Code::kFailedPrecondition);
  EXPECT_NE(out.status.message().find("no id map"), std::string::npos) << out.status.message();
}

}  // namespace
}  // namespace frb
