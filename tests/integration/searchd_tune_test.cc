// faiss-searchd serves each version at the nprobe tuned for it: two versions
// with different tuned values are published, and after each swap the
// default, the metric and the answers follow the version.
#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

#include "mini_http_client.h"
#include "daemon_process.h"
#include "frb/config.h"
#include "frb/json.h"
#include "frb/rebuild.h"
#include "frb/store.h"
#include "testutil.h"

namespace frb {
namespace {

using searchd::testing::MiniHttpClient;
using Clock = std::chrono::steady_clock;

constexpr int kDim = 32;
constexpr int kCount = 10000;
constexpr int kQueries = 200;
constexpr int kK = 10;

std::string VectorJson(const float* v) {
  Json a = Json::MakeArray();
  for (int i = 0; i < kDim; ++i) a.Push(Json(static_cast<double>(v[i])));
  return a.Dump();
}

class SearchdTuneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = dir_.Sub("vecs.npy");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, kCount, kDim, 1).ok());
    // Held-out queries: the source's clusters, rows past its end.
    queries_.resize(static_cast<size_t>(kQueries) * kDim);
    synth::GenerateRows(1, kDim, 64, kCount, kQueries, queries_.data());
    std::string bytes = synth::NpyHeader(kQueries, kDim);
    bytes.append(reinterpret_cast<const char*>(queries_.data()), queries_.size() * sizeof(float));
    test::WriteText(dir_.Sub("queries.npy"), bytes);
    config_path_ = dir_.Sub("config.yaml");
    test::WriteText(config_path_,
                    "data_dir: " + dir_.Sub("data") + "\n"
                    "indexes:\n"
                    "  - name: small\n"
                    "    source: { path: " + source_ + " }\n"
                    "    dimension: 32\n"
                    "    factory: \"IVF64,Flat\"\n"
                    "    train_sample: 2500\n"
                    "    search: { nprobe: auto }\n"
                    "    tune: { target_recall: 0.5, max: 32, use: estimate }\n"
                    "    validation: { query_file: " + dir_.Sub("queries.npy") +
                        ", queries: 200, latency_queries: 20, min_recall: 0,"
                        " max_p99_ms: 1000 }\n");
    auto cfg = LoadConfig(Env::Default(), config_path_);
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    config_ = *cfg;
  }

  // Publishes a version tuned to `target`; returns its id and tuned nprobe.
  std::pair<std::string, int> Publish(double target) {
    config_.indexes[0].tune.target_recall = target;
    JobControl control;
    JobOutcome out =
        RebuildJob(Env::Default(), config_, config_.indexes[0], test::Forced()).Run(control);
    EXPECT_TRUE(out.status.ok()) << out.status.ToString();
    if (!out.validation || !out.validation->tune || !out.validation->tune->chosen) return {"", 0};
    return {out.version_id, static_cast<int>(*out.validation->tune->chosen)};
  }

  // The served index's entry of GET /api/v1/indexes.
  static Json Listed(MiniHttpClient& c) {
    auto j = Json::Parse(c.Get("/api/v1/indexes").body);
    if (!j.ok() || j->Find("indexes") == nullptr || j->Find("indexes")->size() != 1) return Json();
    return j->Find("indexes")->as_array()[0];
  }

  static bool WaitVersion(MiniHttpClient& c, const std::string& v) {
    for (auto until = Clock::now() + std::chrono::seconds(15); Clock::now() < until;) {
      if (Listed(c).GetString("version") == v) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // Every query answered by searchd (no override) equals in-process FAISS
  // at `nprobe` on the version's file.
  void ExpectServedAt(MiniHttpClient& c, const std::string& version, int nprobe) {
    VersionStore store(Env::Default(), config_.data_dir, "small");
    std::unique_ptr<faiss::Index> idx(faiss::read_index(store.VersionIndexPath(version).c_str()));
    faiss::ParameterSpace().set_index_parameter(idx.get(), "nprobe", nprobe);
    std::vector<float> d(static_cast<size_t>(kQueries) * kK);
    std::vector<faiss::Index::idx_t> want(d.size());
    idx->search(kQueries, queries_.data(), kK, d.data(), want.data());
    std::string body = "{\"k\":10,\"vectors\":[";
    for (int i = 0; i < kQueries; ++i) body += (i ? "," : "") + VectorJson(&queries_[i * kDim]);
    auto r = c.Post("/api/v1/indexes/small/search", body + "]}");
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = Json::Parse(r.body);
    ASSERT_TRUE(j.ok());
    EXPECT_EQ(j->GetString("version"), version);
    const auto& results = j->Find("results")->as_array();
    ASSERT_EQ(results.size(), static_cast<size_t>(kQueries));
    int differ = 0;
    for (int i = 0; i < kQueries; ++i) {
      const auto& ids = results[i].Find("ids")->as_array();
      for (int k = 0; k < kK && k < static_cast<int>(ids.size()); ++k)
        differ += ids[k].as_int() != want[i * kK + k] ? 1 : 0;
    }
    EXPECT_EQ(differ, 0) << "answers differ from FAISS at nprobe " << nprobe;
  }

  static std::string Metric(MiniHttpClient& c) {
    return c.Get("/metrics").body;
  }

  test::TempDir dir_;
  std::string source_, config_path_;
  Config config_;
  std::vector<float> queries_;
};

TEST_F(SearchdTuneTest, ServesEachVersionAtItsOwnTunedNprobe) {
  auto [v1, n1] = Publish(0.5);
  ASSERT_FALSE(v1.empty());
  test::ChildProcess srv({test::BinPath("daemon/searchd/faiss-searchd"), "--config", config_path_,
                          "--listen", "127.0.0.1:0", "--port-file", dir_.Sub("port")},
                         dir_.Sub("searchd.log"));
  int port = 0;
  for (int i = 0; i < 400 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (Env::Default()->Exists(dir_.Sub("port"))) port = std::atoi(test::ReadText(dir_.Sub("port")).c_str());
  }
  ASSERT_GT(port, 0) << srv.Log();
  MiniHttpClient c(port);
  ASSERT_TRUE(WaitVersion(c, v1)) << srv.Log();
  Json e = Listed(c);
  EXPECT_EQ(e.GetInt("nprobe"), n1);
  EXPECT_TRUE(e.GetBool("tuned"));
  EXPECT_EQ(e.GetInt("max_nprobe"), 32);  // tune.max bounds the overrides
  EXPECT_NE(Metric(c).find("faiss_search_default_param{index=\"small\",param=\"nprobe\"} " +
                           std::to_string(n1)),
            std::string::npos)
      << Metric(c);
  ExpectServedAt(c, v1, n1);

  auto [v2, n2] = Publish(0.99);
  ASSERT_FALSE(v2.empty());
  ASSERT_NE(n1, n2) << "the two targets should tune to different values";
  ASSERT_TRUE(WaitVersion(c, v2)) << srv.Log();
  EXPECT_EQ(Listed(c).GetInt("nprobe"), n2);
  EXPECT_NE(Metric(c).find("faiss_search_default_param{index=\"small\",param=\"nprobe\"} " +
                           std::to_string(n2)),
            std::string::npos)
      << Metric(c);
  ExpectServedAt(c, v2, n2);

  // A request may still override, within tune.max.
  std::string one = "{\"vector\":" + VectorJson(queries_.data()) + ",\"nprobe\":";
  EXPECT_EQ(c.Post("/api/v1/indexes/small/search", one + "32}").status, 200);
  EXPECT_EQ(c.Post("/api/v1/indexes/small/search", one + "33}").status, 400);
  c.Close();
  srv.Signal(SIGTERM);
  EXPECT_EQ(srv.Wait(), 0) << srv.Log();
}

// Back to a fixed nprobe in the config: a version tuned earlier loads at the
// configured value, not its tuned one.
TEST_F(SearchdTuneTest, AFixedValueConfiguredAgainWinsOverTheTunedOne) {
  auto [v1, n1] = Publish(0.5);
  ASSERT_FALSE(v1.empty());
  std::string text = test::ReadText(config_path_);
  text.replace(text.find("search: { nprobe: auto }"), 24, "search: { nprobe: 3 }   ");
  test::WriteText(config_path_, text);
  test::ChildProcess srv({test::BinPath("daemon/searchd/faiss-searchd"), "--config", config_path_,
                          "--listen", "127.0.0.1:0", "--port-file", dir_.Sub("port")},
                         dir_.Sub("searchd.log"));
  int port = 0;
  for (int i = 0; i < 400 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (Env::Default()->Exists(dir_.Sub("port"))) port = std::atoi(test::ReadText(dir_.Sub("port")).c_str());
  }
  ASSERT_GT(port, 0) << srv.Log();
  MiniHttpClient c(port);
  ASSERT_TRUE(WaitVersion(c, v1)) << srv.Log();
  Json e = Listed(c);
  EXPECT_EQ(e.GetInt("nprobe"), 3);
  EXPECT_FALSE(e.GetBool("tuned"));
  ExpectServedAt(c, v1, 3);
}

}  // namespace
}  // namespace frb
