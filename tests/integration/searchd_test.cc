// faiss-searchd as users run it: the real binary on an ephemeral port, fed
// by versions published in this process with RebuildJob.
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

#include "../../daemon/searchd/mini_http_client.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/json.h"
#include "frb/manifest.h"
#include "frb/rebuild.h"
#include "frb/store.h"
#include "daemon_process.h"
#include "notify_socket.h"
#include "testutil.h"

namespace frb {
namespace {

using searchd::testing::HttpResponse;
using searchd::testing::MiniHttpClient;
using Clock = std::chrono::steady_clock;

constexpr int kDim = 32;
constexpr int kCount = 10000;
const char* kSearchPath = "/api/v1/indexes/small/search";

// A running faiss-searchd (stderr in its log); SIGTERM and reaped on
// destruction.
class SearchdProcess {
 public:
  // `env`: extra "K=V" entries of the process environment.
  SearchdProcess(const std::string& config, const std::string& dir,
                 std::vector<std::string> extra = {}, std::vector<std::string> env = {})
      : port_file_(JoinPath(dir, "port")),
        child_(Argv(config, port_file_, extra), JoinPath(dir, "searchd.log"),
               Options(std::move(env))) {
    for (int i = 0; i < 200 && port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      std::string text;
      if (Env::Default()->Exists(port_file_)) text = test::ReadText(port_file_);
      if (!text.empty()) port_ = std::atoi(text.c_str());
    }
  }
  ~SearchdProcess() { Terminate(); }
  // SIGTERM and wait; returns the exit code (-signal when killed).
  int Terminate() {
    if (terminated_) return -1;
    terminated_ = true;
    child_.Signal(SIGTERM);
    return child_.Wait();
  }
  int port() const { return port_; }
  std::string Log() const { return child_.Log(); }
  // True when the process is still running.
  bool Alive() { return child_.Alive(); }

 private:
  // The stale port file of an earlier run in `dir` is removed first.
  static std::vector<std::string> Argv(const std::string& config, const std::string& port_file,
                                       const std::vector<std::string>& extra) {
    ::unlink(port_file.c_str());
    std::vector<std::string> args = {test::BinPath("daemon/searchd/faiss-searchd"),
                                     "--config", config, "--listen", "127.0.0.1:0",
                                     "--port-file", port_file};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  static test::ChildOptions Options(std::vector<std::string> env) {
    test::ChildOptions o;
    o.env = std::move(env);
    o.capture_stdout = false;
    return o;
  }

  std::string port_file_;
  test::ChildProcess child_;
  int port_ = 0;
  bool terminated_ = false;
};

Json ParseBody(const HttpResponse& r) {
  auto j = Json::Parse(r.body);
  EXPECT_TRUE(j.ok()) << r.status << " " << r.body;
  return j.ok() ? *j : Json();
}

std::string VectorJson(const float* v) {
  Json a = Json::MakeArray();
  for (int i = 0; i < kDim; ++i) a.Push(Json(static_cast<double>(v[i])));
  return a.Dump();
}

class SearchdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = dir_.Sub("vecs.npy");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, kCount, kDim, 1).ok());
    config_path_ = dir_.Sub("config.yaml");
    test::WriteText(config_path_,
                    "data_dir: " + dir_.Sub("data") +
                        "\n"
                        "indexes:\n"
                        "  - name: small\n"
                        "    source: { path: " + source_ + ", format: npy }\n"
                        "    dimension: 32\n"
                        "    metric: L2\n"
                        "    factory: \"IVF64,Flat\"\n"
                        "    train_sample: 2500\n"
                        "    search: { nprobe: 4 }\n"
                        "    keep_versions: 3\n"
                        "    validation: { queries: 100, latency_queries: 20,"
                        " min_recall: 0.5, max_p99_ms: 1000 }\n");
    auto cfg = LoadConfig(Env::Default(), config_path_);
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    config_ = *cfg;
    // Queries: rows of the dataset, plus noise so they are not exact hits.
    queries_.resize(kQueries * kDim);
    synth::GenerateRows(99, kDim, 64, 0, kQueries, queries_.data());
  }

  // Publishes a new version built from a source generated with `seed`, so
  // consecutive versions give different answers.
  std::string Publish(uint64_t seed, size_t index = 0, int64_t count = kCount) {
    EXPECT_TRUE(synth::WriteNpy(Env::Default(), source_, count, kDim, seed).ok());
    JobControl control;
    RebuildJob job(Env::Default(), config_, config_.indexes[index], [] { RebuildOptions o; o.force = true; return o; }());
    JobOutcome out = job.Run(control);
    EXPECT_TRUE(out.status.ok()) << out.status.ToString();
    return out.version_id;
  }

  std::unique_ptr<SearchdProcess> Start(std::vector<std::string> extra = {}) {
    auto p = std::make_unique<SearchdProcess>(config_path_, dir_.path(), std::move(extra));
    EXPECT_GT(p->port(), 0) << p->Log();
    return p;
  }

  // Waits until /readyz says 200 (or fails the test after `seconds`).
  static bool WaitReady(MiniHttpClient& c, double seconds = 15) {
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < until) {
      if (c.Get("/readyz").status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  static std::string ServedVersion(MiniHttpClient& c) {
    Json j = ParseBody(c.Get("/api/v1/indexes"));
    const Json* list = j.Find("indexes");
    if (list == nullptr || list->size() != 1) return "";
    return list->as_array()[0].GetString("version");
  }

  static bool WaitVersion(MiniHttpClient& c, const std::string& v, double seconds = 10) {
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < until) {
      if (ServedVersion(c) == v) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // The in-process answer: plain FAISS on the version's file.
  struct Answer {
    std::vector<float> d;
    std::vector<faiss::Index::idx_t> l;
  };
  Answer InProcess(const std::string& version, int nprobe, int k, int n, const float* x,
                   const std::string& index = "small", const std::string& param = "nprobe") {
    VersionStore store(Env::Default(), config_.data_dir, index);
    std::unique_ptr<faiss::Index> idx(
        faiss::read_index(store.VersionIndexPath(version).c_str()));
    faiss::ParameterSpace().set_index_parameter(idx.get(), param, nprobe);
    Answer a{std::vector<float>(n * k), std::vector<faiss::Index::idx_t>(n * k)};
    idx->search(n, x, k, a.d.data(), a.l.data());
    return a;
  }

  // Compares one HTTP result {"ids", "distances"} to row `row` of `a`.
  static void ExpectSame(const Json& r, const Answer& a, int row, int k) {
    const Json* ids = r.Find("ids");
    const Json* dist = r.Find("distances");
    ASSERT_TRUE(ids && dist) << r.Dump();
    ASSERT_EQ(ids->size(), static_cast<size_t>(k));
    for (int j = 0; j < k; ++j) {
      EXPECT_EQ(ids->as_array()[j].as_int(), a.l[row * k + j]) << "row " << row;
      EXPECT_EQ(static_cast<float>(dist->as_array()[j].as_double()), a.d[row * k + j]);
    }
  }

  static constexpr int kQueries = 16;
  test::TempDir dir_;
  std::string source_, config_path_;
  Config config_;
  std::vector<float> queries_;
};

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

// Its unit is Type=notify with WatchdogSec: without READY=1 systemd would
// kill it at TimeoutStartSec, without WATCHDOG=1 at WatchdogSec.
TEST_F(SearchdTest, TellsSystemdReadyWatchdogAndStopping) {
  test::NotifySocket notify(dir_.Sub("notify.sock"));
  SearchdProcess srv(config_path_, dir_.path(), {},
                     {"NOTIFY_SOCKET=" + notify.path(), "WATCHDOG_USEC=400000"});
  ASSERT_GT(srv.port(), 0) << srv.Log();
  ASSERT_TRUE(notify.WaitFor("READY=1")) << notify.all();
  // At half of WatchdogSec: a few within a second.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_GE(notify.Count("WATCHDOG=1"), 3) << notify.all();
  EXPECT_EQ(notify.Count("STOPPING=1"), 0) << notify.all();
  EXPECT_EQ(srv.Terminate(), 0) << srv.Log();
  EXPECT_TRUE(notify.WaitFor("STOPPING=1", 2000)) << notify.all();
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

// Concurrent single queries share FAISS calls (one lane: OMP_NUM_THREADS=1),
// yet every answer is that query's own, for its own k and nprobe: a batch
// never mixes parameters or rows. --coalesce-max 1 turns sharing off.
TEST_F(SearchdTest, ConcurrentSingleQueriesShareFaissCallsWithTheirOwnAnswers) {
  const std::string v1 = Publish(1);
  const Answer a10 = InProcess(v1, 4, 10, kQueries, queries_.data());
  const Answer a3 = InProcess(v1, 4, 3, kQueries, queries_.data());
  const Answer a10p16 = InProcess(v1, 16, 10, kQueries, queries_.data());
  auto batch_sizes = [](MiniHttpClient& c) {
    std::string m = c.Get("/metrics").body;
    auto value = [&](const std::string& series) {
      size_t at = m.find("\n" + series + " ");
      return at == std::string::npos ? -1.0 : std::atof(m.c_str() + at + series.size() + 2);
    };
    return std::make_pair(value("faiss_search_batch_size_count{index=\"small\"}"),
                          value("faiss_search_batch_size_bucket{index=\"small\",le=\"1\"}"));
  };
  for (bool coalesce : {true, false}) {
    SCOPED_TRACE(coalesce ? "coalescing" : "--coalesce-max 1");
    std::vector<std::string> extra;
    if (!coalesce) extra = {"--coalesce-max", "1"};
    SearchdProcess srv(config_path_, dir_.path(), extra, {"OMP_NUM_THREADS=1"});
    ASSERT_GT(srv.port(), 0) << srv.Log();
    MiniHttpClient c(srv.port());
    ASSERT_TRUE(WaitReady(c)) << srv.Log();
    constexpr int kClients = 12, kEach = 150;
    std::atomic<int> wrong{0};
    std::mutex mu;
    std::string first_wrong;
    std::vector<std::thread> clients;
    for (int t = 0; t < kClients; ++t) {
      clients.emplace_back([&, t] {
        MiniHttpClient cl(srv.port());
        for (int i = 0; i < kEach; ++i) {
          const int q = (t * 7 + i) % kQueries, kind = (t + i) % 3;
          const int k = kind == 1 ? 3 : 10;
          const Answer& want = kind == 0 ? a10 : kind == 1 ? a3 : a10p16;
          std::string body = "{\"k\":" + std::to_string(k) +
                             (kind == 2 ? ",\"nprobe\":16" : "") +
                             ",\"vector\":" + VectorJson(&queries_[q * kDim]) + "}";
          auto r = cl.Post(kSearchPath, body);
          auto j = Json::Parse(r.body);
          bool same = r.status == 200 && j.ok() && j->Find("ids") != nullptr &&
                      j->Find("ids")->size() == static_cast<size_t>(k);
          for (int x = 0; same && x < k; ++x) {
            same = j->Find("ids")->as_array()[x].as_int() == want.l[q * k + x] &&
                   static_cast<float>(j->Find("distances")->as_array()[x].as_double()) ==
                       want.d[q * k + x];
          }
          if (!same && wrong++ == 0) {
            std::lock_guard<std::mutex> lock(mu);
            first_wrong = "query " + std::to_string(q) + " k " + std::to_string(k) + ": " +
                          std::to_string(r.status) + " " + r.body;
          }
        }
      });
    }
    for (auto& th : clients) th.join();
    EXPECT_EQ(wrong.load(), 0) << first_wrong;
    auto [count, alone] = batch_sizes(c);
    EXPECT_EQ(count, kClients * kEach);
    if (coalesce) {
      // 12 clients on one lane: most queries wait for the lane and leave
      // together (how many depends on timing, some always do).
      EXPECT_LT(alone, count * 0.9) << "batch sizes: " << alone << " of " << count << " alone";
    } else {
      EXPECT_EQ(alone, count);
    }
  }
}

TEST_F(SearchdTest, CorruptNewVersionIsRefusedAndOldKeepsServing) {
  const std::string v1 = Publish(1);
  auto srv = Start();
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();

  // A version whose index file no longer matches its manifest's SHA-256: a
  // byte flipped after publishing. FAISS itself would load it happily.
  VersionStore store(Env::Default(), config_.data_dir, "small");
  const std::string bad = "v999999-20991231T000000Z";
  const std::string bad_dir = store.VersionDir(bad);
  ASSERT_EQ(::mkdir(bad_dir.c_str(), 0755), 0);
  std::string manifest = test::ReadText(JoinPath(store.VersionDir(v1), "manifest.json"));
  auto m = Manifest::Parse(manifest, "manifest.json");
  ASSERT_TRUE(m.ok());
  m->version_id = bad;
  test::WriteText(JoinPath(bad_dir, "manifest.json"), m->Serialize());
  std::string data = test::ReadText(store.VersionIndexPath(v1));
  data[data.size() / 2] ^= 0x01;
  test::WriteText(JoinPath(bad_dir, "index.faiss"), data);
  ASSERT_TRUE(ReplaceSymlink(Env::Default(), "versions/" + bad,
                             JoinPath(store.IndexDir(), "live")).ok());

  const auto until = Clock::now() + std::chrono::seconds(5);
  std::string metrics;
  const std::string refused =
      "faiss_search_reloads_total{index=\"small\",result=\"failed\"} 1";
  while (Clock::now() < until && metrics.find(refused) == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = c.Get("/metrics").body;
  }
  EXPECT_NE(metrics.find(refused), std::string::npos) << metrics << srv->Log();
  EXPECT_EQ(ServedVersion(c), v1);
  auto r = c.Post(kSearchPath, "{\"vector\":" + VectorJson(queries_.data()) + "}");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(ParseBody(r).GetString("version"), v1);
  EXPECT_NE(srv->Log().find("SHA-256"), std::string::npos) << srv->Log();
  EXPECT_EQ(c.Get("/readyz").status, 200);

  // Not retried every poll, and the next good version is taken.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_NE(c.Get("/metrics").body.find(refused), std::string::npos);
  ASSERT_TRUE(ReplaceSymlink(Env::Default(), "versions/" + v1,
                             JoinPath(store.IndexDir(), "live")).ok());
  const std::string v2 = Publish(2);
  EXPECT_TRUE(WaitVersion(c, v2, 5)) << srv->Log();
}

TEST_F(SearchdTest, MemoryLimitRefusesSecondCopyAndKeepsOld) {
  const std::string v1 = Publish(1);
  VersionStore store(Env::Default(), config_.data_dir, "small");
  const uint64_t size = store.ReadManifest(v1)->file_size;
  // Room for one copy, not for old + new side by side.
  auto srv = Start({"--memory-limit-bytes", std::to_string(size * 3 / 2)});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  Publish(2);
  const auto until = Clock::now() + std::chrono::seconds(5);
  const std::string refused =
      "faiss_search_reloads_total{index=\"small\",result=\"refused_memory\"} 1";
  std::string metrics;
  while (Clock::now() < until && metrics.find(refused) == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = c.Get("/metrics").body;
  }
  EXPECT_NE(metrics.find(refused), std::string::npos) << metrics;
  EXPECT_EQ(ServedVersion(c), v1);
  EXPECT_NE(srv->Log().find("memory limit"), std::string::npos) << srv->Log();
}

TEST_F(SearchdTest, UnreadyPolicySwapsOverTheMemoryLimit) {
  const std::string v1 = Publish(1);
  VersionStore store(Env::Default(), config_.data_dir, "small");
  const uint64_t size = store.ReadManifest(v1)->file_size;
  auto srv = Start({"--memory-limit-bytes", std::to_string(size * 3 / 2),
                    "--reload-policy", "unready"});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  const std::string v2 = Publish(2);
  EXPECT_TRUE(WaitVersion(c, v2, 5)) << srv->Log();
  EXPECT_EQ(c.Get("/readyz").status, 200);
}

// inotify alone (polling every minute) notices a publish at once.
TEST_F(SearchdTest, InotifyNoticesANewVersionWithinASecond) {
  Publish(1);
  auto srv = Start({"--poll-ms", "60000"});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  const std::string v2 = Publish(2);
  EXPECT_TRUE(WaitVersion(c, v2, 1.5)) << srv->Log();
}

// Without inotify the polling fallback still follows publishes.
TEST_F(SearchdTest, PollingFallbackFollowsPublishes) {
  Publish(1);
  auto srv = Start({"--no-inotify", "--poll-ms", "200"});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  const std::string v2 = Publish(2);
  EXPECT_TRUE(WaitVersion(c, v2, 1.5)) << srv->Log();
  EXPECT_NE(srv->Log().find("no inotify"), std::string::npos) << srv->Log();
}

TEST_F(SearchdTest, RateLimitAnswers429) {
  Publish(1);
  auto srv = Start({"--rate-limit", "5"});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  const std::string body = "{\"vector\":" + VectorJson(queries_.data()) + "}";
  int ok = 0, limited = 0;
  for (int i = 0; i < 40; ++i) {
    auto r = c.Post(kSearchPath, body);
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++limited;
      EXPECT_NE(ParseBody(r).GetString("error").find("rate limit"), std::string::npos);
    }
  }
  EXPECT_EQ(ok + limited, 40);
  EXPECT_GE(ok, 4);   // the one-second burst
  EXPECT_LE(ok, 15);  // plus at most a few seconds of refill on a slow box
  EXPECT_GE(limited, 25);
}

// A rate under one request per second still admits one request per period
// (a burst of one), not none.
TEST_F(SearchdTest, FractionalRateLimitAdmitsOneRequestPerPeriod) {
  Publish(1);
  auto srv = Start({"--rate-limit", "0.5"});
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  const std::string body = "{\"vector\":" + VectorJson(queries_.data()) + "}";
  EXPECT_EQ(c.Post(kSearchPath, body).status, 200);
  EXPECT_EQ(c.Post(kSearchPath, body).status, 429);
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  EXPECT_EQ(c.Post(kSearchPath, body).status, 200);
  EXPECT_EQ(c.Post(kSearchPath, body).status, 429);
}

TEST_F(SearchdTest, MetricsPassPromtool) {
  Publish(1);
  auto srv = Start();
  MiniHttpClient c(srv->port());
  ASSERT_TRUE(WaitReady(c)) << srv->Log();
  c.Post(kSearchPath, "{\"vector\":" + VectorJson(queries_.data()) + "}");
  c.Post(kSearchPath, "{}");
  std::string metrics = c.Get("/metrics").body;
  for (const char* name :
       {"# HELP faiss_search_requests_total", "# HELP faiss_search_request_duration_seconds",
        "faiss_search_request_duration_seconds_bucket{index=\"small\",le=\"0.0001\"}",
        "faiss_search_request_duration_seconds_bucket{index=\"small\",le=\"10\"}",
        "faiss_search_reloads_total{index=\"small\",result=\"ok\"} 1",
        "faiss_search_index_version_info{index=\"small\",version=\"v",
        "faiss_search_index_loaded_timestamp_seconds{index=\"small\"} 1"})
    EXPECT_NE(metrics.find(name), std::string::npos) << name << "\n" << metrics;
  if (::access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool not installed";
  const std::string file = dir_.Sub("metrics.txt");
  test::WriteText(file, metrics);
  auto r = test::RunProcess({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + file});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace frb
