// IVF health: the imbalance factor and empty lists measured for every
// validated IVF version (checked against FAISS's own figures), recorded in
// the manifest, gated when configured; the retrain advice and its config.
#include "ivf_health.h"

#include <faiss/IVFlib.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexRefine.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "config_test_util.h"
#include "frb/manifest.h"
#include "frb/rebuild.h"
#include "frb/retrain.h"
#include "frb/store.h"
#include "testutil.h"

namespace frb {
namespace {

constexpr int kDim = 32;
constexpr int kCount = 20000;  // SmallIndexConfig's source
constexpr uint64_t kSeed = 3;  // SmallIndexConfig's source seed

// FAISS's own imbalance factor of `index`'s lists, for comparison.
double FaissImbalance(const faiss::Index& index) {
  const faiss::Index* inner = &index;
  if (const auto* refine = dynamic_cast<const faiss::IndexRefine*>(inner))
    inner = refine->base_index;
  const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(inner);
  if (ivf == nullptr) {
    ADD_FAILURE() << "not an IVF index";
    return -1;
  }
  return ivf->invlists->imbalance_factor();
}

// `n` rows of the source's clusters, except that `hot_share` of them are
// one vector with a little noise: data that crowds into one IVF list.
std::vector<float> SkewedRows(int n, double hot_share) {
  std::vector<float> x(static_cast<size_t>(n) * kDim);
  synth::GenerateRows(kSeed, kDim, 64, 0, n, x.data());
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0, 1e-3f);
  int hot = static_cast<int>(hot_share * n);
  for (int i = 1; i < hot; ++i)
    for (int j = 0; j < kDim; ++j)
      x[static_cast<size_t>(i) * kDim + j] = x[j] + noise(rng);
  return x;
}

void WriteNpy(const std::string& path, const std::vector<float>& x) {
  std::string bytes =
      synth::NpyHeader(static_cast<int64_t>(x.size() / kDim), kDim);
  bytes.append(reinterpret_cast<const char*>(x.data()),
               x.size() * sizeof(float));
  test::WriteText(path, bytes);
}

TEST(IvfHealthTest, FiguresFromListSizes) {
  IvfHealth even = IvfHealthOf({10, 10, 10, 10});
  EXPECT_EQ(even.nlist, 4);
  EXPECT_EQ(even.ntotal, 40);
  EXPECT_DOUBLE_EQ(even.imbalance_factor, 1.0);
  EXPECT_EQ(even.empty_lists, 0);
  EXPECT_DOUBLE_EQ(even.empty_lists_ratio, 0.0);
  EXPECT_EQ(even.largest_list, 10);

  IvfHealth one =
      IvfHealthOf({0, 40, 0, 0});  // all in one list: the factor is nlist
  EXPECT_DOUBLE_EQ(one.imbalance_factor, 4.0);
  EXPECT_EQ(one.empty_lists, 3);
  EXPECT_DOUBLE_EQ(one.empty_lists_ratio, 0.75);
  EXPECT_EQ(one.largest_list, 40);

  // 3 * (1 + 4 + 9) / 6^2
  EXPECT_DOUBLE_EQ(IvfHealthOf({1, 2, 3}).imbalance_factor, 42.0 / 36.0);

  IvfHealth empty =
      IvfHealthOf({0, 0});  // no vectors: no factor, every list empty
  EXPECT_DOUBLE_EQ(empty.imbalance_factor, 0.0);
  EXPECT_DOUBLE_EQ(empty.empty_lists_ratio, 1.0);
  EXPECT_EQ(IvfHealthOf({}).nlist, 0);
}

TEST(IvfHealthTest, SkewedIndexAgainstBalancedOneMatchesFaiss) {
  std::vector<float> xb(static_cast<size_t>(kCount) * kDim);
  synth::GenerateRows(kSeed, kDim, 64, 0, kCount, xb.data());
  faiss::IndexFlatL2 quantizer(kDim);
  faiss::IndexIVFFlat balanced(&quantizer, kDim, 64);
  balanced.train(kCount, xb.data());
  balanced.add(kCount, xb.data());
  // Same centroids; 90% of the added vectors sit on one point.
  faiss::IndexIVFFlat skewed(&quantizer, kDim, 64);
  skewed.is_trained = true;
  std::vector<float> xs = SkewedRows(kCount, 0.9);
  skewed.add(kCount, xs.data());

  auto b = MeasureIvfHealth(balanced);
  auto s = MeasureIvfHealth(skewed);
  ASSERT_TRUE(b && s);
  EXPECT_EQ(b->nlist, 64);
  EXPECT_EQ(b->ntotal, kCount);
  EXPECT_NEAR(b->imbalance_factor, FaissImbalance(balanced), 1e-9);
  EXPECT_NEAR(s->imbalance_factor, FaissImbalance(skewed), 1e-9);
  EXPECT_LT(b->imbalance_factor, 2.0)
      << "k-means on the indexed data gives even lists";
  EXPECT_GE(s->largest_list, static_cast<int64_t>(0.9 * kCount));
  EXPECT_GT(s->imbalance_factor,
            40.0);  // 64 * 0.9^2 = 51.8 at least from the hot list
  EXPECT_EQ(b->empty_lists, 0);
  int64_t empty = 0;
  for (size_t i = 0; i < skewed.nlist; ++i)
    empty += skewed.invlists->list_size(i) == 0;
  EXPECT_EQ(s->empty_lists, empty);
  EXPECT_DOUBLE_EQ(s->empty_lists_ratio, static_cast<double>(empty) / 64);
}

TEST(IvfHealthTest, LooksThroughWrappersAndSkipsOtherIndexTypes) {
  constexpr int kRows = 2000;
  std::vector<float> xb(static_cast<size_t>(kRows) * kDim);
  synth::GenerateRows(kSeed, kDim, 64, 0, kRows, xb.data());
  for (const char* factory :
       {"PCA16,IVF16,Flat", "IVF16,PQ4x4", "IVF16,Flat,RFlat"}) {
    std::unique_ptr<faiss::Index> index(faiss::index_factory(kDim, factory));
    index->train(kRows, xb.data());
    index->add(kRows, xb.data());
    auto h = MeasureIvfHealth(*index);
    ASSERT_TRUE(h) << factory;
    EXPECT_EQ(h->nlist, 16) << factory;
    EXPECT_EQ(h->ntotal, kRows) << factory;
    EXPECT_NEAR(h->imbalance_factor, FaissImbalance(*index), 1e-9) << factory;
  }
  for (const char* factory : {"Flat", "HNSW8", "PQ4x4"}) {
    std::unique_ptr<faiss::Index> index(faiss::index_factory(kDim, factory));
    EXPECT_FALSE(MeasureIvfHealth(*index)) << factory;
  }
}

TEST(IvfHealthTest, ManifestRoundTripAndOlderManifestsWithoutIt) {
  Manifest m;
  m.index_name = "t";
  m.version_id = "v1";
  m.file_sha256 = std::string(64, 'a');
  m.validation.ivf = IvfHealthOf({0, 30, 10, 0});
  auto back = Manifest::Parse(m.Serialize(), "manifest.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_TRUE(back->validation.ivf);
  EXPECT_EQ(back->validation.ivf->nlist, 4);
  EXPECT_EQ(back->validation.ivf->ntotal, 40);
  EXPECT_DOUBLE_EQ(back->validation.ivf->imbalance_factor, 4.0 * 1000 / 1600);
  EXPECT_EQ(back->validation.ivf->empty_lists, 2);
  EXPECT_DOUBLE_EQ(back->validation.ivf->empty_lists_ratio, 0.5);
  EXPECT_EQ(back->validation.ivf->largest_list, 30);
  Json live = back->LiveSummary("/x/live", 0);
  const Json* ivf = live.Find("ivf");
  ASSERT_TRUE(ivf && ivf->is_object());
  EXPECT_DOUBLE_EQ(ivf->GetDouble("imbalance_factor"), 2.5);
  EXPECT_DOUBLE_EQ(ivf->GetDouble("empty_lists_ratio"), 0.5);

  // A manifest written before IVF health was measured (no "ivf" key, sealed
  // as such) still parses, without health figures.
  m.validation.ivf.reset();
  std::string old = m.Serialize();
  ASSERT_EQ(old.find("\"ivf\""), std::string::npos);
  auto parsed = Manifest::Parse(old, "manifest.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_FALSE(parsed->validation.ivf);
  EXPECT_EQ(parsed->LiveSummary("/x/live", 0).Find("ivf"), nullptr);
}

class IvfGateTest : public ::testing::Test {
 protected:
  void SetUp() override { config_ = test::SmallIndexConfig(dir_, kDim); }

  JobOutcome Rebuild() {
    JobControl control;
    return RebuildJob(Env::Default(), config_, config_.indexes[0],
                      test::Forced())
        .Run(control);
  }
  // The source becomes skewed data of the same size (no drift gate fires);
  // recall against exact search is meaningless with so many ties.
  void SkewSource() {
    WriteNpy(config_.indexes[0].source_path, SkewedRows(kCount, 0.9));
    config_.indexes[0].validation.min_recall = 0;
  }
  IndexConfig& ic() { return config_.indexes[0]; }

  test::TempDir dir_;
  Config config_;
};

TEST_F(IvfGateTest, HealthIsRecordedAsFaissMeasuresIt) {
  JobOutcome out = Rebuild();
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  VersionStore store(Env::Default(), config_.data_dir, "t");
  auto m = store.ReadManifest(out.version_id);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->validation.ivf);
  std::unique_ptr<faiss::Index> index(
      faiss::read_index(store.VersionIndexPath(out.version_id).c_str()));
  EXPECT_EQ(m->validation.ivf->nlist, 64);
  EXPECT_EQ(m->validation.ivf->ntotal, kCount);
  EXPECT_NEAR(m->validation.ivf->imbalance_factor, FaissImbalance(*index),
              1e-9);
  // `rebuild --json` carries the report too.
  Json printed = out.ToJson();
  const Json* v = printed.Find("validation");
  ASSERT_TRUE(v && v->Find("ivf"));
  EXPECT_NEAR(v->Find("ivf")->GetDouble("imbalance_factor"),
              FaissImbalance(*index), 1e-9);
}

TEST_F(IvfGateTest, SkewedBuildFailsTheGateAndLiveIsUnchanged) {
  ic().validation.max_imbalance_factor = 3;
  JobOutcome first = Rebuild();  // balanced: passes the same gate
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();
  ASSERT_TRUE(first.validation && first.validation->ivf);
  EXPECT_LT(first.validation->ivf->imbalance_factor, 3);

  SkewSource();
  JobOutcome out = Rebuild();
  EXPECT_EQ(out.status.code(), Code::kValidationFailed)
      << out.status.ToString();
  ASSERT_TRUE(out.validation && out.validation->ivf);
  const IvfHealth& h = *out.validation->ivf;
  EXPECT_GT(h.imbalance_factor, 3);
  char want[128];
  std::snprintf(want, sizeof(want),
                "ivf: imbalance factor %.3f (largest list %lld of %d vectors)",
                h.imbalance_factor, static_cast<long long>(h.largest_list),
                kCount);
  EXPECT_NE(out.status.message().find(want), std::string::npos)
      << out.status.message();
  EXPECT_NE(out.status.message().find("is over max_imbalance_factor 3.000"),
            std::string::npos)
      << out.status.message();
  VersionStore store(Env::Default(), config_.data_dir, "t");
  auto live = store.LiveVersion();
  ASSERT_TRUE(live.ok() && live->has_value());
  EXPECT_EQ(**live, first.version_id);
  auto versions = store.ListVersions();
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), 1u);
}

TEST_F(IvfGateTest, NoGateByDefaultAndLimitsAreStrict) {
  SkewSource();
  JobOutcome ungated = Rebuild();  // unset: a skewed version publishes
  ASSERT_TRUE(ungated.status.ok()) << ungated.status.ToString();
  const IvfHealth h = *ungated.validation->ivf;
  ASSERT_GT(h.imbalance_factor, 3);
  ASSERT_GT(h.empty_lists, 0) << "the skewed data leaves lists empty";

  // At the measured values: not over, passes.
  ic().validation.max_imbalance_factor = h.imbalance_factor;
  ic().validation.max_empty_lists_ratio = h.empty_lists_ratio;
  JobOutcome at = Rebuild();
  ASSERT_TRUE(at.status.ok()) << at.status.ToString();
  ASSERT_NEAR(at.validation->ivf->imbalance_factor, h.imbalance_factor, 1e-9);

  // Just under the empty-lists share: fails naming the count and the limit.
  ic().validation.max_imbalance_factor.reset();
  ic().validation.max_empty_lists_ratio = h.empty_lists_ratio - 1e-6;
  JobOutcome under = Rebuild();
  EXPECT_EQ(under.status.code(), Code::kValidationFailed);
  char want[96];
  std::snprintf(want, sizeof(want), "ivf: %lld of 64 lists are empty",
                static_cast<long long>(h.empty_lists));
  EXPECT_NE(under.status.message().find(want), std::string::npos)
      << under.status.message();
  EXPECT_NE(under.status.message().find("over max_empty_lists_ratio"),
            std::string::npos);
  VersionStore store(Env::Default(), config_.data_dir, "t");
  auto live = store.LiveVersion();
  ASSERT_TRUE(live.ok() && live->has_value());
  EXPECT_EQ(**live, at.version_id);
}

TEST_F(IvfGateTest, GateDoesNotApplyToOtherIndexTypes) {
  ic().factory = "Flat";
  ic().search.clear();
  ic().validation.max_imbalance_factor = 1;
  ic().validation.max_empty_lists_ratio = 0;
  JobOutcome out = Rebuild();
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_FALSE(out.validation->ivf);
}

struct AdviceCase {
  RetrainPolicy policy;
  double imbalance;
  double empty;
  uint64_t delta_rows;
  uint64_t ntotal;
  std::vector<std::string> reasons;  // each must appear; none: no advice
};

TEST(RetrainTest, AdviseRetrainTable) {
  const RetrainPolicy off;
  const RetrainPolicy all{0.1, 3, 0.2};
  const AdviceCase cases[] = {
      // Every trigger off: never advises, however bad.
      {off, 50, 0.9, 1'000'000, 10, {}},
      // All on, all within (at a limit is not over it).
      {all, 3, 0.2, 100, 1000, {}},
      {all, 1.2, 0, 0, 1000, {}},
      // Each trigger alone.
      {all,
       1.2,
       0,
       101,
       1000,
       {"101 delta rows since the last full build are 10.10% of 1000 vectors, "
        "over "
        "max_delta_fraction 10.00%"}},
      {all,
       3.001,
       0,
       0,
       1000,
       {"IVF imbalance factor 3.001 is over max_imbalance_factor 3.000"}},
      {all,
       1.2,
       0.25,
       0,
       1000,
       {"25.00% of the IVF lists are empty, over max_empty_lists_ratio "
        "20.00%"}},
      // All three, every reason given.
      {all,
       4,
       0.5,
       500,
       1000,
       {"delta rows", "imbalance factor 4.000", "50.00% of the IVF"}},
      // Deltas into an empty index: due whenever the fraction trigger is on.
      {all,
       0,
       0,
       5,
       0,
       {"5 delta rows since the last full build on an empty index"}},
      {off, 0, 0, 5, 0, {}},
      // Not an IVF index (health 0): only the delta fraction can fire.
      {RetrainPolicy{0, 1.5, 0.01}, 0, 0, 10, 100, {}},
      // One trigger on, the others off.
      {RetrainPolicy{0, 2, 0}, 2.5, 0.9, 1'000, 10, {"imbalance factor 2.500"}},
      {RetrainPolicy{0.5, 0, 0}, 9, 0.9, 51, 100, {"51.00% of 100 vectors"}},
  };
  for (size_t i = 0; i < std::size(cases); ++i) {
    const AdviceCase& c = cases[i];
    auto advice =
        AdviseRetrain(c.policy, c.imbalance, c.empty, c.delta_rows, c.ntotal);
    if (c.reasons.empty()) {
      EXPECT_FALSE(advice) << "case " << i << ": " << advice.value_or("");
      continue;
    }
    ASSERT_TRUE(advice) << "case " << i;
    for (const auto& r : c.reasons)
      EXPECT_NE(advice->find(r), std::string::npos)
          << "case " << i << ": " << *advice;
    // One "; "-separated reason per trigger that fired.
    size_t parts = 1;
    for (size_t p = advice->find("; "); p != std::string::npos;
         p = advice->find("; ", p + 2))
      ++parts;
    EXPECT_EQ(parts, c.reasons.size()) << "case " << i << ": " << *advice;
  }
}

using config_test::Dump;
using config_test::ExpectIndexProblem;
using config_test::ExpectOneProblem;
using config_test::Parse;
using config_test::Y;

TEST(RetrainConfigTest, DefaultsAndPerIndexOverridesKeyByKey) {
  config_test::Parsed p = Parse(Y(R"(
defaults:
  validation: { max_imbalance_factor: 4, max_empty_lists_ratio: 0.25 }
  retrain: { max_delta_fraction: 0.1, max_imbalance_factor: 3 }
indexes:
  - name: a
    source: { path: /d/a.npy }
    dimension: 8
    factory: "IVF16,Flat"
    retrain: { max_empty_lists_ratio: 0.2 }
  - name: b
    source: { path: /d/b.npy }
    dimension: 8
    factory: "IVF16,Flat"
    validation: { max_imbalance_factor: , max_empty_lists_ratio: 0.5 }
    retrain: { max_delta_fraction: 0 }
)"));
  ASSERT_TRUE(p.result.ok()) << Dump(p.problems);
  const IndexConfig& a = p.result->indexes[0];
  const IndexConfig& b = p.result->indexes[1];
  EXPECT_EQ(a.validation.max_imbalance_factor, 4);
  EXPECT_EQ(a.validation.max_empty_lists_ratio, 0.25);
  EXPECT_DOUBLE_EQ(a.retrain.max_delta_fraction, 0.1);
  EXPECT_DOUBLE_EQ(a.retrain.max_imbalance_factor, 3);
  EXPECT_DOUBLE_EQ(a.retrain.max_empty_lists_ratio, 0.2);
  EXPECT_FALSE(
      b.validation
          .max_imbalance_factor);  // null: the default gate switched off
  EXPECT_EQ(b.validation.max_empty_lists_ratio, 0.5);
  EXPECT_DOUBLE_EQ(b.retrain.max_delta_fraction, 0);
  EXPECT_DOUBLE_EQ(b.retrain.max_imbalance_factor, 3);
  // Nothing configured: no gate, no retrain trigger.
  IndexConfig plain;
  EXPECT_FALSE(plain.validation.max_imbalance_factor);
  EXPECT_FALSE(plain.validation.max_empty_lists_ratio);
  EXPECT_EQ(plain.retrain.max_delta_fraction, 0);
  EXPECT_EQ(plain.retrain.max_imbalance_factor, 0);
  EXPECT_EQ(plain.retrain.max_empty_lists_ratio, 0);
}

TEST(RetrainConfigTest, BadValuesNameTheKeyAndPlace) {
  ExpectIndexProblem("    retrain: { max_imbalance_factor: 0.5 }", "0.5",
                     "retrain.max_imbalance_factor: '0.5' is below 1");
  ExpectIndexProblem(
      "    retrain: { max_empty_lists_ratio: 1.5 }", "1.5",
      "retrain.max_empty_lists_ratio: must be between 0 and 1, got 1.5");
  ExpectIndexProblem("    retrain: { max_delta_fraction: -0.1 }", "-0.1",
                     "retrain.max_delta_fraction: must be at least 0");
  ExpectIndexProblem("    retrain: { max_delta_fraction: lots }", "lots",
                     "retrain.max_delta_fraction: expected a number");
  ExpectIndexProblem(
      "    retrain: { max_imbalance: 2 }", "max_imbalance",
      "unknown key 'max_imbalance'");
  ExpectIndexProblem("    retrain: 3", "3", "retrain");
  ExpectIndexProblem(
      "    validation: { max_imbalance_factor: 0.9 }", "0.9",
      "validation.max_imbalance_factor: must be at least 1, got 0.9");
  ExpectIndexProblem(
      "    validation: { max_empty_lists_ratio: 2 }", "2",
      "validation.max_empty_lists_ratio: must be between 0 and 1, got 2");
  ExpectOneProblem(
      Y(R"(
defaults:
  retrain: { max_imbalance_factor: 0.99 }
)"),
      2, config_test::Col("  retrain: { max_imbalance_factor: 0.99 }", "0.99"),
      "defaults.retrain.max_imbalance_factor: '0.99' is below 1");
}

}  // namespace
}  // namespace frb
