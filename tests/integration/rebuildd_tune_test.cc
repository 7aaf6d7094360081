// An index with `search: { nprobe: auto }` rebuilt through faiss-rebuildd:
// the tuned value reaches the job record, the index status of the API, the
// metrics and `faiss-rebuild status` (text and --json).
#include <gtest/gtest.h>

#include <chrono>
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

TEST(RebuilddTuneTest, TunedNprobeInJobApiMetricsAndStatus) {
  test::TempDir dir;
  const std::string source = dir.Sub("vecs.npy");
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source, 20000, 32, 5).ok());
  const std::string config = dir.Sub("config.yaml");
  test::WriteText(config, "data_dir: " + dir.Sub("data") + "\n"
                          "indexes:\n"
                          "  - name: small\n"
                          "    source: { path: " + source + " }\n"
                          "    dimension: 32\n"
                          "    factory: \"IVF64,Flat\"\n"
                          "    train_sample: 5000\n"
                          "    search: { nprobe: auto }\n"
                          "    tune: { target_recall: 0.9, max: 64 }\n"
                          "    validation: { queries: 300, min_recall: 0, max_p99_ms: 1000 }\n");
  test::RebuilddProcess d(config, dir.Sub("d.log"));
  int port = d.WaitForPort();
  ASSERT_GT(port, 0) << d.Log();
  auto r = Http(port, "POST", "/api/v1/indexes/small/rebuild", "{}");
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id = r.json().GetString("job_id");
  Json job;
  for (auto until = Clock::now() + std::chrono::seconds(90); Clock::now() < until;) {
    job = Http(port, "GET", "/api/v1/jobs/" + id).json();
    if (job.Find("finished_unix_ms") != nullptr) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(job.GetString("state"), "done") << job.Dump() << d.Log();
  const int64_t nprobe = job.GetInt("nprobe");
  ASSERT_GE(nprobe, 1) << job.Dump();
  const Json* tune = job.Find("validation")->Find("tune");
  ASSERT_NE(tune, nullptr);
  EXPECT_EQ(tune->GetInt("chosen"), nprobe);
  // The last value tried is the chosen one and meets the target; the one
  // before it (if any) does not.
  const auto& curve = tune->Find("curve")->as_array();
  ASSERT_FALSE(curve.empty());
  EXPECT_EQ(curve.back().GetInt("nprobe"), nprobe);
  EXPECT_GE(curve.back().GetDouble("recall_ci_low"), 0.9);
  if (curve.size() > 1) {
    EXPECT_LT(curve[curve.size() - 2].GetDouble("recall_ci_low"), 0.9);
  }

  Json idx = Http(port, "GET", "/api/v1/indexes/small").json();
  const Json* tuned = idx.Find("live")->Find("tuned");
  ASSERT_NE(tuned, nullptr) << idx.Dump();
  EXPECT_EQ(tuned->GetString("param"), "nprobe");
  EXPECT_EQ(tuned->GetInt("value"), nprobe);
  EXPECT_EQ(tuned->Find("curve")->size(), curve.size());
  EXPECT_EQ(idx.Find("live")->Find("search_params")->GetDouble("nprobe"), nprobe);

  const std::string metrics = Http(port, "GET", "/metrics").body;
  EXPECT_EQ(Sample(metrics, R"(faiss_rebuild_tuned_nprobe{index="small"})"), nprobe) << metrics;
  EXPECT_EQ(metrics.find("faiss_rebuild_tuned_efsearch{"), std::string::npos);

  const std::string cli = test::BinPath("cli/faiss-rebuild");
  auto text = test::RunProcess({cli, "--config", config, "status", "small", "--local"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("tuned:     nprobe " + std::to_string(nprobe) + " (recall@10"),
            std::string::npos)
      << text.out;
  auto json = test::RunProcess({cli, "--config", config, "status", "small", "--local", "--json"});
  auto parsed = Json::Parse(json.out);
  ASSERT_TRUE(parsed.ok()) << json.out;
  EXPECT_EQ(parsed->as_array().at(0).Find("live")->Find("tuned")->GetInt("value"), nprobe);
}

}  // namespace
}  // namespace frb
