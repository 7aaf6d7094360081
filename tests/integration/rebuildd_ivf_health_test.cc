// IVF health through the programs: faiss-rebuildd exports the live
// version's imbalance factor and empty-lists share from its start (read from
// live's manifest) and after every publish; the API's index status and
// `faiss-rebuild status` (text and --json) show them.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include "daemon_process.h"
#include "frb/env.h"
#include "frb/json.h"
#include "http_client.h"
#include "testutil.h"

namespace frb {
namespace {

using Clock = std::chrono::steady_clock;
using test::Http;
using test::Sample;

constexpr int kDim = 32;
constexpr int kCount = 20000;

// The clustered source, except that 90% of the rows sit on one point: they
// all land in one IVF list.
void WriteSkewedSource(const std::string& path) {
  std::vector<float> x(static_cast<size_t>(kCount) * kDim);
  synth::GenerateRows(5, kDim, 64, 0, kCount, x.data());
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0, 1e-3f);
  for (int i = 1; i < kCount * 9 / 10; ++i)
    for (int j = 0; j < kDim; ++j)
      x[static_cast<size_t>(i) * kDim + j] = x[j] + noise(rng);
  std::string bytes = synth::NpyHeader(kCount, kDim);
  bytes.append(reinterpret_cast<const char*>(x.data()),
               x.size() * sizeof(float));
  test::WriteText(path, bytes);
}

TEST(RebuilddIvfHealthTest, MetricsFromStartAndAfterPublishApiAndStatus) {
  test::TempDir dir;
  const std::string source = dir.Sub("vecs.npy");
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source, kCount, kDim, 5).ok());
  const std::string config = dir.Sub("config.yaml");
  test::WriteText(config, "data_dir: " + dir.Sub("data") +
                              "\n"
                              "indexes:\n"
                              "  - name: small\n"
                              "    source: { path: " +
                              source +
                              " }\n"
                              "    dimension: 32\n"
                              "    factory: \"IVF64,Flat\"\n"
                              "    train_sample: 5000\n"
                              "    search: { nprobe: 8 }\n"
                              "    validation: { queries: 200, min_recall: 0, "
                              "max_p99_ms: 1000 }\n");
  const std::string cli = test::BinPath("cli/faiss-rebuild");

  // A first version built without the daemon.
  auto built = test::RunProcess(
      {cli, "--config", config, "rebuild", "small", "--local", "--json"});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  auto first = Json::Parse(built.out);
  ASSERT_TRUE(first.ok()) << built.out;
  const Json* ivf1 = first->Find("validation")
                         ? first->Find("validation")->Find("ivf")
                         : nullptr;
  ASSERT_TRUE(ivf1 && ivf1->is_object()) << built.out;
  EXPECT_EQ(ivf1->GetInt("nlist"), 64);
  const double balanced = ivf1->GetDouble("imbalance_factor");
  ASSERT_GE(balanced, 1.0);
  ASSERT_LT(balanced, 3.0);

  // The daemon exports it from its first scrape, before any job of its own.
  test::RebuilddProcess d(config, dir.Sub("d.log"));
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();
  std::string metrics = Http(port, "GET", "/metrics").body;
  EXPECT_NEAR(
      Sample(metrics, R"(faiss_rebuild_ivf_imbalance_factor{index="small"})"),
      balanced, 1e-6)
      << metrics;
  EXPECT_NEAR(
      Sample(metrics, R"(faiss_rebuild_ivf_empty_lists_ratio{index="small"})"),
      ivf1->GetDouble("empty_lists_ratio"), 1e-6);

  // A skewed version published through the daemon moves both gauges.
  WriteSkewedSource(source);
  auto r = Http(port, "POST", "/api/v1/indexes/small/rebuild", "{}");
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id = r.json().GetString("job_id");
  Json job;
  for (auto until = Clock::now() + std::chrono::seconds(120);
       Clock::now() < until;) {
    job = Http(port, "GET", "/api/v1/jobs/" + id).json();
    if (job.Find("finished_unix_ms") != nullptr) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(job.GetString("state"), "done") << job.Dump() << d.Log();
  const Json* ivf2 = job.Find("validation")->Find("ivf");
  ASSERT_TRUE(ivf2 && ivf2->is_object()) << job.Dump();
  const double skewed = ivf2->GetDouble("imbalance_factor");
  const double empty = ivf2->GetDouble("empty_lists_ratio");
  EXPECT_GT(skewed, 3 * balanced);  // the hot rows are also in the training sample
  EXPECT_GT(empty, 0);
  metrics = Http(port, "GET", "/metrics").body;
  EXPECT_NEAR(
      Sample(metrics, R"(faiss_rebuild_ivf_imbalance_factor{index="small"})"),
      skewed, 1e-6)
      << metrics;
  EXPECT_NEAR(
      Sample(metrics, R"(faiss_rebuild_ivf_empty_lists_ratio{index="small"})"),
      empty, 1e-6);

  // The API's live summary and `status`, text and --json.
  Json idx = Http(port, "GET", "/api/v1/indexes/small").json();
  const Json* live_ivf =
      idx.Find("live") ? idx.Find("live")->Find("ivf") : nullptr;
  ASSERT_TRUE(live_ivf && live_ivf->is_object()) << idx.Dump();
  EXPECT_NEAR(live_ivf->GetDouble("imbalance_factor"), skewed, 1e-6);
  EXPECT_EQ(live_ivf->GetInt("empty_lists"), ivf2->GetInt("empty_lists"));
  EXPECT_EQ(live_ivf->GetInt("largest_list"), ivf2->GetInt("largest_list"));

  auto text =
      test::RunProcess({cli, "--config", config, "status", "small", "--local"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  char want[160];
  std::snprintf(want, sizeof(want),
                "ivf:       imbalance factor %.3f, %lld of 64 lists empty",
                skewed, static_cast<long long>(ivf2->GetInt("empty_lists")));
  EXPECT_NE(text.out.find(want), std::string::npos) << text.out;
  auto json = test::RunProcess(
      {cli, "--config", config, "status", "small", "--local", "--json"});
  auto parsed = Json::Parse(json.out);
  ASSERT_TRUE(parsed.ok()) << json.out;
  const Json* st = parsed->as_array().at(0).Find("live")->Find("ivf");
  ASSERT_NE(st, nullptr) << json.out;
  EXPECT_NEAR(st->GetDouble("imbalance_factor"), skewed, 1e-6);
}

// A flat index has no lists: no IVF gauges at all, rather than a made-up 0.
TEST(RebuilddIvfHealthTest, NoIvfGaugesForAFlatIndex) {
  test::TempDir dir;
  const std::string source = dir.Sub("vecs.npy");
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source, 2000, kDim, 5).ok());
  const std::string config = dir.Sub("config.yaml");
  test::WriteText(config,
                  "data_dir: " + dir.Sub("data") +
                      "\n"
                      "indexes:\n"
                      "  - name: flat\n"
                      "    source: { path: " +
                      source +
                      " }\n"
                      "    dimension: 32\n"
                      "    factory: Flat\n"
                      "    validation: { queries: 50, max_imbalance_factor: 1,"
                      " max_empty_lists_ratio: 0 }\n");
  const std::string cli = test::BinPath("cli/faiss-rebuild");
  auto built =
      test::RunProcess({cli, "--config", config, "rebuild", "flat", "--local"});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  test::RebuilddProcess d(config, dir.Sub("d.log"));
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();
  std::string metrics = Http(port, "GET", "/metrics").body;
  ASSERT_NE(metrics.find(R"(faiss_rebuild_index_vectors{index="flat"} 2000)"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find("faiss_rebuild_ivf_imbalance_factor{"),
            std::string::npos);
  EXPECT_EQ(metrics.find("faiss_rebuild_ivf_empty_lists_ratio{"),
            std::string::npos);
}

}  // namespace
}  // namespace frb
