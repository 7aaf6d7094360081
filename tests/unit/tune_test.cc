// Tuning of `search: { nprobe: auto }` / efSearch: the value a rebuild
// picks is checked against a sweep done here with FAISS directly, on the
// same held-out queries; an unreachable target fails the gate with live
// unchanged; the config keys are parsed and checked.
#include <faiss/AutoTune.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVF.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <set>
#include <tuple>

#include "frb/config.h"
#include "frb/rebuild.h"
#include "frb/store.h"
#include "testutil.h"
#include "tuner.h"

namespace frb {
namespace {

constexpr int kDim = 32;
constexpr int kCount = 20000;  // SmallIndexConfig's source
constexpr int kQueries = 300;
constexpr uint64_t kSeed = 3;  // SmallIndexConfig's source seed

// Queries from the source's clusters that are not rows of the source.
std::vector<float> HeldOutQueries() {
  std::vector<float> q(static_cast<size_t>(kQueries) * kDim);
  synth::GenerateRows(kSeed, kDim, 64, kCount, kQueries, q.data());
  return q;
}

void WriteQueries(const std::string& path, const std::vector<float>& q) {
  std::string bytes = synth::NpyHeader(kQueries, kDim);
  bytes.append(reinterpret_cast<const char*>(q.data()), q.size() * sizeof(float));
  test::WriteText(path, bytes);
}

// Lower end of the 95% Wilson score interval, written out here so the test
// does not trust the code under test for it.
double WilsonLow(double p, double n) {
  const double z = 1.959963984540054;
  return ((p + z * z / (2 * n)) - z * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n))) /
         (1 + z * z / n);
}

struct Sweep {
  std::vector<int> values;
  std::vector<double> recall;
};

// recall@k of `index` at each nprobe, against brute force over the source.
Sweep SweepNprobe(faiss::Index& index, const std::vector<float>& q, int k, int max) {
  std::vector<float> xb(static_cast<size_t>(kCount) * kDim);
  synth::GenerateRows(kSeed, kDim, 64, 0, kCount, xb.data());
  faiss::IndexFlatL2 flat(kDim);
  flat.add(kCount, xb.data());
  std::vector<float> d(static_cast<size_t>(kQueries) * k);
  std::vector<faiss::Index::idx_t> truth(d.size()), got(d.size());
  flat.search(kQueries, q.data(), k, d.data(), truth.data());
  Sweep s;
  for (int nprobe = 1; nprobe <= max; nprobe *= 2) {
    faiss::ParameterSpace().set_index_parameter(&index, "nprobe", nprobe);
    index.search(kQueries, q.data(), k, d.data(), got.data());
    double sum = 0;
    for (int i = 0; i < kQueries; ++i) {
      std::set<faiss::Index::idx_t> want(truth.begin() + i * k, truth.begin() + (i + 1) * k);
      int hits = 0;
      for (int j = 0; j < k; ++j) hits += want.count(got[i * k + j]) ? 1 : 0;
      sum += static_cast<double>(hits) / k;
    }
    s.values.push_back(nprobe);
    s.recall.push_back(sum / kQueries);
  }
  return s;
}

class TuneTest : public ::testing::TestWithParam<std::tuple<double, bool>> {
 protected:
  void SetUp() override {
    config_ = test::SmallIndexConfig(dir_, kDim);
    queries_ = HeldOutQueries();
    WriteQueries(dir_.Sub("queries.npy"), queries_);
    IndexConfig& ic = config_.indexes[0];
    ic.search.erase("nprobe");
    ic.tune.param = "nprobe";
    ic.tune.max = 64;
    ic.validation.query_file = dir_.Sub("queries.npy");
    ic.validation.min_recall = 0;
    ic.validation.queries = kQueries;  // the query file is read up to this many
  }

  JobOutcome Rebuild() {
    JobControl control;
    return RebuildJob(Env::Default(), config_, config_.indexes[0], test::Forced()).Run(control);
  }

  test::TempDir dir_;
  Config config_;
  std::vector<float> queries_;
};

TEST_P(TuneTest, ChosenNprobeIsTheSmallestMeetingTheTargetInAnIndependentSweep) {
  const auto [target, lower_bound] = GetParam();
  IndexConfig& ic = config_.indexes[0];
  ic.tune.target_recall = target;
  ic.tune.use_lower_bound = lower_bound;
  JobOutcome out = Rebuild();
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();

  VersionStore store(Env::Default(), config_.data_dir, "t");
  auto m = store.ReadManifest(out.version_id);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->validation.tune.has_value());
  const TuneReport& t = *m->validation.tune;
  ASSERT_TRUE(t.chosen.has_value());
  // The held-out queries were used, not samples of the source.
  EXPECT_EQ(m->validation.queries, kQueries);

  std::unique_ptr<faiss::Index> index(
      faiss::read_index(store.VersionIndexPath(out.version_id).c_str()));
  Sweep s = SweepNprobe(*index, queries_, 10, 64);
  int expected = 0;
  for (size_t i = 0; i < s.values.size() && expected == 0; ++i) {
    double measured = lower_bound ? WilsonLow(s.recall[i], kQueries) : s.recall[i];
    if (measured >= target) expected = s.values[i];
  }
  ASSERT_GT(expected, 0) << "the sweep itself never meets " << target;
  EXPECT_EQ(*t.chosen, expected);
  EXPECT_EQ(m->validation.search_params.at("nprobe"), expected);
  // The curve holds every value tried, each measured like the sweep.
  ASSERT_EQ(t.curve.size(), static_cast<size_t>(std::log2(expected)) + 1);
  for (size_t i = 0; i < t.curve.size(); ++i) {
    EXPECT_EQ(t.curve[i].value, s.values[i]);
    EXPECT_NEAR(t.curve[i].recall, s.recall[i], 1e-9);
    EXPECT_NEAR(t.curve[i].ci_low, WilsonLow(s.recall[i], kQueries), 1e-9);
    EXPECT_GT(t.curve[i].p50_ms, 0);
  }
  // The recall gate reports the chosen value's recall.
  EXPECT_NEAR(m->validation.recall, s.recall[t.curve.size() - 1], 1e-9);
  // `rebuild --json` names the value at the top level, as does the manifest.
  EXPECT_EQ(out.ToJson().GetInt("nprobe"), expected);
  EXPECT_NE(test::ReadText(store.VersionDir(out.version_id) + "/manifest.json")
                .find("\"nprobe\": " + std::to_string(expected)),
            std::string::npos);
}

// Targets that land on different rungs of the ladder (1 and beyond).
INSTANTIATE_TEST_SUITE_P(Targets, TuneTest,
                         ::testing::Values(std::make_tuple(0.95, true),
                                           std::make_tuple(0.99, false),
                                           std::make_tuple(0.5, true)));

TEST_F(TuneTest, UnreachableTargetFailsTheGateAndLeavesLiveUnchanged) {
  IndexConfig& ic = config_.indexes[0];
  ic.tune.target_recall = 0.5;
  JobOutcome first = Rebuild();
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();

  ic.tune.target_recall = 0.9999;
  ic.tune.max = 2;
  JobOutcome out = Rebuild();
  EXPECT_EQ(out.status.code(), Code::kValidationFailed) << out.status.ToString();
  VersionStore store(Env::Default(), config_.data_dir, "t");
  auto live = store.LiveVersion();
  ASSERT_TRUE(live.ok() && live->has_value());
  EXPECT_EQ(**live, first.version_id);
  auto versions = store.ListVersions();
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), 1u);

  // The error names the recall the largest value reached, as the sweep sees it.
  ASSERT_TRUE(out.validation && out.validation->tune);
  const TuneReport& t = *out.validation->tune;
  EXPECT_FALSE(t.chosen.has_value());
  ASSERT_EQ(t.curve.size(), 2u);
  std::unique_ptr<faiss::Index> index(
      faiss::read_index(store.VersionIndexPath(first.version_id).c_str()));
  Sweep s = SweepNprobe(*index, queries_, 10, 2);
  char reached[64];
  std::snprintf(reached, sizeof(reached), "the largest, nprobe 2, reached recall@10 %.4f",
                s.recall[1]);
  EXPECT_NE(out.status.message().find(reached), std::string::npos) << out.status.message();
  EXPECT_NE(out.status.message().find("target_recall 0.9999"), std::string::npos);
}

TEST_F(TuneTest, TuneKLargerThanValidationKUsesMoreExactNeighbours) {
  IndexConfig& ic = config_.indexes[0];
  ic.tune.target_recall = 0.9;
  ic.tune.use_lower_bound = false;
  ic.tune.k = 20;
  JobOutcome out = Rebuild();
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  const TuneReport& t = *out.validation->tune;
  EXPECT_EQ(t.k, 20);
  VersionStore store(Env::Default(), config_.data_dir, "t");
  std::unique_ptr<faiss::Index> index(
      faiss::read_index(store.VersionIndexPath(out.version_id).c_str()));
  Sweep s = SweepNprobe(*index, queries_, 20, 64);
  for (size_t i = 0; i < t.curve.size(); ++i) EXPECT_NEAR(t.curve[i].recall, s.recall[i], 1e-9);
}

TEST(TuneLadderTest, PowersOfTwoWithinMaxAndNlist) {
  EXPECT_EQ(TuneLadder("nprobe", 1024, 64), (std::vector<int>{1, 2, 4, 8, 16, 32, 64}));
  EXPECT_EQ(TuneLadder("nprobe", 20, 4096), (std::vector<int>{1, 2, 4, 8, 16}));
  EXPECT_EQ(TuneLadder("efSearch", 100, 0), (std::vector<int>{16, 32, 64}));
  EXPECT_TRUE(TuneLadder("efSearch", 8, 0).empty());
  EXPECT_TRUE(TuneLadder("k_factor", 8, 0).empty());
}

TEST(TuneLadderTest, RecallAtKIgnoresMissingTruthAndCountsHits) {
  const int64_t truth[] = {1, 2, 3, -1, 7, 8, 9, 10};  // stride 4, k 2
  const int64_t ids[] = {2, 5, 8, 7};
  EXPECT_DOUBLE_EQ(RecallAtK(ids, 2, 2, truth, 4), (0.5 + 1.0) / 2);
}

// --- configuration ---

Result<Config> ParseIndex(const std::string& factory, const std::string& search,
                          const std::string& extra, std::vector<ConfigProblem>* problems) {
  std::string yaml = "indexes:\n  - name: t\n    source: { path: /x.npy }\n    dimension: 32\n"
                     "    factory: \"" + factory + "\"\n    search: " + search + "\n" + extra;
  ConfigOptions o;
  o.check_sources = false;
  return ParseConfig(yaml, "t.yaml", Env::Default(), o, problems);
}

TEST(TuneConfigTest, AutoAndTuneKeysParse) {
  std::vector<ConfigProblem> problems;
  auto c = ParseIndex("IVF64,Flat", "{ nprobe: auto, max_codes: 0 }",
                      "    tune: { target_recall: 0.97, max: 32, k: 5, use: estimate }\n",
                      &problems);
  ASSERT_TRUE(c.ok()) << c.status().message();
  const IndexConfig& ic = c->indexes[0];
  EXPECT_EQ(ic.tune.param, "nprobe");
  EXPECT_EQ(ic.search.count("nprobe"), 0u);
  EXPECT_EQ(ic.search.at("max_codes"), 0);
  EXPECT_DOUBLE_EQ(ic.tune.target_recall, 0.97);
  EXPECT_EQ(ic.tune.max, 32);
  EXPECT_EQ(ic.tune.k, 5);
  EXPECT_FALSE(ic.tune.use_lower_bound);

  // defaults.tune applies to every index, which may override it key by key.
  std::string yaml =
      "defaults:\n  tune: { target_recall: 0.8, max: 128 }\n"
      "indexes:\n  - name: t\n    source: { path: /x.npy }\n    dimension: 32\n"
      "    factory: \"HNSW16\"\n    search: { efSearch: AUTO }\n    tune: { max: 64 }\n";
  ConfigOptions o;
  o.check_sources = false;
  auto d = ParseConfig(yaml, "t.yaml", Env::Default(), o);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->indexes[0].tune.param, "efSearch");
  EXPECT_DOUBLE_EQ(d->indexes[0].tune.target_recall, 0.8);
  EXPECT_EQ(d->indexes[0].tune.max, 64);
  EXPECT_TRUE(d->indexes[0].tune.use_lower_bound);
}

TEST(TuneConfigTest, MistakesAreReportedWithTheirKey) {
  struct Case {
    std::string factory, search, extra, want;
  };
  const Case cases[] = {
      {"IVF64,Flat", "{ k_factor: auto }", "", "search.k_factor: only nprobe and efSearch can be auto"},
      {"IVF64,Flat", "{ efSearch: auto }", "", "search.efSearch: does not apply to factory"},
      {"HNSW16", "{ nprobe: auto }", "", "search.nprobe: does not apply to factory"},
      {"IVF64,Flat", "{ nprobe: auto }", "    tune: { use: median }\n",
       "tune.use: expected lower_bound or estimate, got 'median'"},
      {"IVF64,Flat", "{ nprobe: auto }", "    tune: { target_recall: 1.5 }\n",
       "tune.target_recall: expected a number in (0, 1]"},
      {"IVF64,Flat", "{ nprobe: auto }", "    tune: { max: 0 }\n", "tune.max: expected an integer"},
      {"IVF64,Flat", "{ nprobe: auto }", "    tune: { target: 0.9 }\n",
       "unknown key 'target'"},
      {"HNSW16", "{ efSearch: auto }", "    tune: { max: 8 }\n", "tune.max: 8 is below 16"},
      {"IVF64_HNSW16,Flat", "{ nprobe: auto, efSearch: auto }", "",
       "one search parameter per index can be tuned"},
  };
  for (const Case& c : cases) {
    std::vector<ConfigProblem> problems;
    auto r = ParseIndex(c.factory, c.search, c.extra, &problems);
    ASSERT_FALSE(r.ok()) << c.search << c.extra;
    EXPECT_NE(r.status().message().find(c.want), std::string::npos)
        << c.search << c.extra << ": " << r.status().message();
  }
}

}  // namespace
}  // namespace frb
