// What the faiss-searchd integration tests share: the real binary on an
// ephemeral port, fed by versions published in this process with
// RebuildJob, and in-process FAISS answers to compare with.
#pragma once

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

#include "mini_http_client.h"
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
namespace searchd_test {

using searchd::testing::HttpResponse;
using searchd::testing::MiniHttpClient;
using Clock = std::chrono::steady_clock;

inline constexpr int kDim = 32;
inline constexpr int kCount = 10000;
inline constexpr const char* kSearchPath = "/api/v1/indexes/small/search";

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
  void Signal(int sig) { child_.Signal(sig); }

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

inline Json ParseBody(const HttpResponse& r) {
  auto j = Json::Parse(r.body);
  EXPECT_TRUE(j.ok()) << r.status << " " << r.body;
  return j.ok() ? *j : Json();
}

inline std::string VectorJson(const float* v) {
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

}  // namespace searchd_test
}  // namespace frb
