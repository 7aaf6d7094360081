// faiss-searchd as users run it: answers equal to in-process FAISS, bad
// input, readiness, swaps under load.
#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "searchd_fixture.h"

namespace frb {
namespace searchd_test {
namespace {

TEST_F(SearchdTest, ResultsEqualInProcessFaiss) {
  const std::string v1 = Publish(1);
  auto srv = Start();
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  EXPECT_EQ(c.Get("/healthz").status, 200);

  Json list = ParseBody(c.Get("/api/v1/indexes"));
  const Json& e = list.Find("indexes")->as_array().at(0);
  EXPECT_EQ(e.GetString("name"), "small");
  EXPECT_EQ(e.GetString("version"), v1);
  EXPECT_EQ(e.GetInt("ntotal"), kCount);
  EXPECT_EQ(e.GetInt("dim"), kDim);
  EXPECT_FALSE(e.GetString("loaded_at").empty());
  EXPECT_EQ(e.GetInt("nprobe"), 4);

  // Single queries at the configured nprobe.
  Answer a = InProcess(v1, 4, 10, kQueries, queries_.data());
  for (int i = 0; i < kQueries; ++i) {
    auto r = c.Post(kSearchPath, "{\"vector\":" + VectorJson(&queries_[i * kDim]) + ",\"k\":10}");
    ASSERT_EQ(r.status, 200) << r.body << srv->Log();
    Json j = ParseBody(r);
    EXPECT_EQ(j.GetString("version"), v1);
    ExpectSame(j, a, i, 10);
  }
  // A batch with an nprobe override and another k.
  Answer b = InProcess(v1, 32, 5, kQueries, queries_.data());
  std::string body = "{\"k\":5,\"nprobe\":32,\"vectors\":[";
  for (int i = 0; i < kQueries; ++i) body += (i ? "," : "") + VectorJson(&queries_[i * kDim]);
  auto r = c.Post(kSearchPath, body + "]}");
  ASSERT_EQ(r.status, 200) << r.body << srv->Log();
  Json j = ParseBody(r);
  ASSERT_EQ(j.Find("results")->size(), static_cast<size_t>(kQueries));
  for (int i = 0; i < kQueries; ++i) ExpectSame(j.Find("results")->as_array()[i], b, i, 5);
  // The override is per request: the next plain query is back at nprobe 4.
  auto again = c.Post(kSearchPath, "{\"vector\":" + VectorJson(&queries_[0]) + "}");
  ExpectSame(ParseBody(again), a, 0, 10);
  // SIGTERM is a clean stop.
  c.Close();
  EXPECT_EQ(srv->Terminate(), 0) << srv->Log();
}

// HNSW (whose SearchParametersHNSW FAISS 1.7.3 ignores) and IVF fast-scan
// (for which it refuses SearchParameters) take overrides through the
// exclusive-lock path. Both must answer exactly like in-process FAISS, also
// with overrides racing plain searches.
TEST_F(SearchdTest, OverridesForHnswAndFastScanMatchInProcess) {
  test::WriteText(config_path_,
                  "data_dir: " + dir_.Sub("data") +
                      "\nindexes:\n"
                      "  - name: hnsw\n"
                      "    source: { path: " + source_ + ", format: npy }\n"
                      "    dimension: 32\n"
                      "    factory: \"HNSW16\"\n"
                      "    search: { efSearch: 16 }\n"
                      "    validation: { queries: 50, latency_queries: 10,"
                      " min_recall: 0.3, max_p99_ms: 1000 }\n"
                      "  - name: fs\n"
                      "    source: { path: " + source_ + ", format: npy }\n"
                      "    dimension: 32\n"
                      "    factory: \"IVF32,PQ16x4fs\"\n"
                      "    train_sample: 3000\n"
                      "    search: { nprobe: 2 }\n"
                      "    validation: { queries: 50, latency_queries: 10,"
                      " min_recall: 0.05, max_p99_ms: 1000 }\n");
  auto cfg = LoadConfig(Env::Default(), config_path_);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  config_ = *cfg;
  // Small: HNSW insertion is the slow part of this file on a busy machine.
  const std::string vh = Publish(1, 0, 3000), vf = Publish(1, 1, 3000);
  auto srv = Start();
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  const std::string log = srv->Log();
  EXPECT_NE(log.find("params locked"), log.rfind("params locked")) << log;  // both

  struct Case {
    std::string index, version, param;
    int base, over;
  };
  for (const Case& cs : {Case{"hnsw", vh, "efSearch", 16, 200},
                         Case{"fs", vf, "nprobe", 2, 32}}) {
    Answer base = InProcess(cs.version, cs.base, 10, kQueries, queries_.data(), cs.index,
                            cs.param);
    Answer over = InProcess(cs.version, cs.over, 10, kQueries, queries_.data(), cs.index,
                            cs.param);
    ASSERT_NE(base.l, over.l) << cs.index << ": the override must change something";
    const std::string path = "/api/v1/indexes/" + cs.index + "/search";
    // Plain and overriding requests from two connections at once.
    std::atomic<int> bad{0};
    auto run = [&](bool with_override) {
      MiniHttpClient cl(srv->port());
      for (int rep = 0; rep < 5; ++rep)
        for (int i = 0; i < kQueries; ++i) {
          std::string body = "{\"vector\":" + VectorJson(&queries_[i * kDim]);
          if (with_override) body += ",\"" + cs.param + "\":" + std::to_string(cs.over);
          auto r = cl.Post(path, body + "}");
          auto j = Json::Parse(r.body);
          const Answer& want = with_override ? over : base;
          bool same = r.status == 200 && j.ok() && j->Find("ids") &&
                      j->Find("ids")->size() == 10;
          for (int x = 0; same && x < 10; ++x)
            same = j->Find("ids")->as_array()[x].as_int() == want.l[i * 10 + x];
          if (!same) ++bad;
        }
    };
    std::thread plain([&] { run(false); });
    run(true);
    plain.join();
    EXPECT_EQ(bad.load(), 0) << cs.index;
    auto r = c.Post(path, "{\"vector\":" + VectorJson(queries_.data()) + ",\"" + cs.param +
                              "\":" + std::to_string(cs.base * 16 + 1) + "}");
    EXPECT_EQ(r.status, 400) << r.body;
  }
}

TEST_F(SearchdTest, BadInputIsA4xxWithJsonErrorNeverACrash) {
  Publish(1);
  auto srv = Start({"--max-batch", "4", "--max-k", "100"});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  std::string good = VectorJson(queries_.data());
  std::string short_vec = "[1,2,3]";
  std::string inf_vec = good.substr(0, good.size() - 1) + ",1e39]";  // 33 values
  std::string big_vec = "[1e39" + good.substr(good.find(','));        // 32, one overflows
  std::string five = "[" + good + "," + good + "," + good + "," + good + "," + good + "]";
  struct Case {
    std::string body;
    int code;
    std::string needle;  // expected in the error message
  };
  std::vector<Case> cases = {
      {"{\"vector\":" + short_vec + "}", 400, "dimension"},
      {"{\"vector\":" + inf_vec + "}", 400, "dimension"},
      {"{\"vector\":" + big_vec + "}", 400, "finite"},
      {"{\"vector\":[NaN" + good.substr(good.find(',')) + "}", 400, "malformed JSON"},
      {"{\"vector\":[\"x\"" + good.substr(good.find(',')) + "}", 400, "not a number"},
      {"{\"vector\":" + good + ",\"k\":0}", 400, "k must be"},
      {"{\"vector\":" + good + ",\"k\":101}", 400, "k must be"},
      {"{\"vector\":" + good + ",\"k\":2.5}", 400, "integer"},
      {"{\"vectors\":" + five + "}", 400, "exceeds the limit"},
      {"{\"vectors\":[]}", 400, "non-empty"},
      {"{\"vectors\":[" + good + "," + short_vec + "]}", 400, "vectors[1]"},
      {"{\"vector\":" + good + ",\"vectors\":[" + good + "]}", 400, "exactly one"},
      {"{}", 400, "exactly one"},
      {"{\"vector\":" + good + ",\"nprobe\":65}", 400, "nprobe must be"},  // > nlist
      {"{\"vector\":" + good + ",\"nprobe\":0}", 400, "nprobe must be"},
      {"{\"vector\":" + good + ",\"efSearch\":10}", 400, "efSearch does not apply"},
      {"{\"vector\":" + good + ",\"nprobes\":8}", 400, "unknown field"},
      {"{\"vector\":" + good, 400, "malformed JSON"},
      {"[1,2]", 400, "JSON object"},
      {"", 400, "malformed JSON"},
      // Refused at its first byte: the streaming parser wants an object.
      {std::string(100, '['), 400, "JSON object"},
  };
  for (const Case& cs : cases) {
    auto r = c.Post(kSearchPath, cs.body);
    EXPECT_EQ(r.status, cs.code) << cs.body.substr(0, 80) << " -> " << r.body;
    Json j = ParseBody(r);
    EXPECT_NE(j.GetString("error").find(cs.needle), std::string::npos)
        << cs.body.substr(0, 80) << " -> " << r.body;
  }
  auto unknown = c.Post("/api/v1/indexes/nope/search", "{\"vector\":" + good + "}");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(ParseBody(unknown).GetString("error").find("nope"), std::string::npos);
  auto route = c.Get("/api/v1/nothing");
  EXPECT_EQ(route.status, 404);
  EXPECT_FALSE(ParseBody(route).GetString("error").empty());
  // Still serving after all of that.
  EXPECT_TRUE(srv->Alive());
  EXPECT_EQ(c.Post(kSearchPath, "{\"vector\":" + good + "}").status, 200);
  std::string metrics = c.Get("/metrics").body;
  EXPECT_NE(metrics.find("faiss_search_requests_total{code=\"400\",index=\"small\"} " +
                         std::to_string(cases.size())),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("faiss_search_requests_total{code=\"404\",index=\"\"} 1"),
            std::string::npos);
}

TEST_F(SearchdTest, NotReadyUntilAVersionExistsThenFollowsIt) {
  auto srv = Start();
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(srv->port() > 0);
  EXPECT_EQ(c.Get("/healthz").status, 200);
  EXPECT_EQ(c.Get("/readyz").status, 503);
  auto r = c.Post(kSearchPath, "{\"vector\":" + VectorJson(queries_.data()) + "}");
  EXPECT_EQ(r.status, 503);
  const std::string v1 = Publish(1);
  ASSERT_TRUE(WaitReady(c, 5)) << srv->Log();
  EXPECT_EQ(ServedVersion(c), v1);
}

TEST_F(SearchdTest, SwapsUnderConcurrentLoadWithZeroFailures) {
  std::vector<std::string> versions = {Publish(1)};
  auto srv = Start();
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();

  // Each client records (query, version, response) so every answer can be
  // checked against the version it names, after the fact.
  struct Seen {
    int query;
    std::string version;
    Json result;
  };
  std::mutex mu;
  std::vector<Seen> seen;
  std::map<std::string, int> per_version;  // guarded by mu
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, requests{0};
  std::string first_failure;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      MiniHttpClient cl(srv->port());
      std::mt19937 rng(t);
      while (!stop) {
        int q = static_cast<int>(rng() % kQueries);
        auto r = cl.Post(kSearchPath, "{\"vector\":" + VectorJson(&queries_[q * kDim]) + "}");
        ++requests;
        std::lock_guard<std::mutex> lock(mu);
        if (r.status != 200) {
          if (failures++ == 0) first_failure = std::to_string(r.status) + " " + r.body;
          continue;
        }
        auto j = Json::Parse(r.body);
        if (!j.ok()) {
          ++failures;
          continue;
        }
        // Capped per version: on a slow machine the first version alone
        // could fill a global cap before the first swap.
        std::string version = j->GetString("version");
        if (per_version[version]++ < 5000) seen.push_back({q, std::move(version), *j});
      }
    });
  }
  for (uint64_t seed = 2; seed <= 4; ++seed) {
    versions.push_back(Publish(seed));
    // Noticed and swapped within a second or so even on a loaded machine.
    EXPECT_TRUE(WaitVersion(c, versions.back(), 5)) << srv->Log();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  for (auto& th : clients) th.join();

  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_GT(requests.load(), 100);
  // Every answer is exactly the answer of the complete version it names.
  // keep_versions 3 pruned the first version; rebuild its answers from
  // what the first (single-version) phase could not have mixed up: skip it.
  std::map<std::string, Answer> answers;
  VersionStore store(Env::Default(), config_.data_dir, "small");
  for (const auto& v : versions)
    if (Env::Default()->Exists(store.VersionIndexPath(v)))
      answers[v] = InProcess(v, 4, 10, kQueries, queries_.data());
  EXPECT_GE(answers.size(), 3u);
  // The versions must answer differently, or the check below proves nothing.
  for (auto it = answers.begin(); std::next(it) != answers.end(); ++it)
    EXPECT_NE(it->second.l, std::next(it)->second.l);
  std::set<std::string> versions_seen;
  int checked = 0;
  for (const Seen& s : seen) {
    versions_seen.insert(s.version);
    ASSERT_TRUE(std::find(versions.begin(), versions.end(), s.version) != versions.end())
        << s.version;
    auto it = answers.find(s.version);
    if (it == answers.end()) continue;
    ExpectSame(s.result, it->second, s.query, 10);
    ++checked;
    if (HasFailure()) break;
  }
  EXPECT_GT(checked, 0);
  EXPECT_GE(versions_seen.size(), 2u);
  std::string metrics = c.Get("/metrics").body;
  EXPECT_NE(metrics.find("faiss_search_reloads_total{index=\"small\",result=\"ok\"} 4"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("faiss_search_index_version_info{index=\"small\",version=\"" +
                         versions.back() + "\"} 1"),
            std::string::npos);
  // Each swapped-out version was freed by the loader thread, which logs it,
  // never by the last query to finish on it (in that query's latency).
  const std::string log = srv->Log();
  size_t freed = 0;
  for (size_t p = log.find(": freed in "); p != std::string::npos;
       p = log.find(": freed in ", p + 1))
    ++freed;
  EXPECT_EQ(freed, 3u) << log;
}

}  // namespace
}  // namespace searchd_test
}  // namespace frb
