// Shared by the fleet tests: a real S3-protocol server on loopback (with a
// fault-injecting proxy in front), versions built with RebuildJob and
// published into the repository in this process (upload, then the pointer),
// and faiss-searchd followers started as real processes.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mini_http_client.h"
#include "daemon_process.h"
#include "fault_proxy.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/json.h"
#include "frb/rebuild.h"
#include "frb/repository.h"
#include "frb/s3.h"
#include "frb/store.h"
#include "http_client.h"
#include "s3_server.h"
#include "testutil.h"

namespace frb::fleet {

using Clock = std::chrono::steady_clock;
using searchd::testing::MiniHttpClient;

inline constexpr int kDim = 32;
inline constexpr char kPrefix[] = "fleet";
inline constexpr char kSearchPath[] = "/api/v1/indexes/small/search";

// One faiss-searchd --follow process; killed on destruction.
struct Follower {
  std::unique_ptr<test::ChildProcess> child;
  std::string cache_dir;
  int port = 0;
  std::string Log() const { return child->Log(); }
};

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    server_ = test::S3TestServer::Start(&why);
    if (!server_) GTEST_SKIP() << "no S3 test server: " << why;
    proxy_ = std::make_unique<test::FaultProxy>(server_->port());
    auto client = S3Client::Create(server_->ClientOptions(), Env::Default());
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(client).value();
    auto loc = ParseS3Url("s3://" + server_->bucket() + "/" + kPrefix);
    ASSERT_TRUE(loc.ok());
    repo_ = std::make_unique<Repository>(client_.get(), *loc, Env::Default());
    source_ = dir_.Sub("vecs.npy");
    builder_config_path_ = dir_.Sub("builder.yaml");
    test::WriteText(builder_config_path_, "data_dir: " + dir_.Sub("builder") + "\n" + Indexes());
    auto cfg = LoadConfig(Env::Default(), builder_config_path_, NoSources());
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    builder_ = *cfg;
  }

  static ConfigOptions NoSources() {
    ConfigOptions o;
    o.check_sources = false;
    return o;
  }

  std::string Indexes() const {
    return "indexes:\n"
           "  - name: small\n"
           "    source: { path: " + source_ + ", format: npy }\n"
           "    dimension: 32\n"
           "    metric: L2\n"
           "    factory: \"IVF64,Flat\"\n"
           "    train_sample: 2500\n"
           "    search: { nprobe: 4 }\n"
           "    keep_versions: 20\n"
           "    validation: { queries: 50, latency_queries: 10,"
           " min_recall: 0.3, max_p99_ms: 1000 }\n";
  }

  // The followers' config: the repository's endpoint is `port` (the proxy
  // by default), path-style; credentials come from the environment.
  std::string FollowerConfig(const std::string& name, int port) const {
    const std::string path = dir_.Sub(name + ".yaml");
    test::WriteText(path, "data_dir: " + dir_.Sub(name + "-unused") +
                              "\n"
                              "repository:\n"
                              "  url: s3://" + server_->bucket() + "/" + kPrefix + "\n"
                              "  endpoint: http://127.0.0.1:" + std::to_string(port) + "\n"
                              "  region: us-east-1\n"
                              "  path_style: true\n" + Indexes());
    return path;
  }

  // Builds a version from a source generated with `seed` (consecutive
  // versions answer differently) in the builder's data_dir.
  std::string Build(uint64_t seed, int64_t count = 10000) {
    EXPECT_TRUE(synth::WriteNpy(Env::Default(), source_, count, kDim, seed).ok());
    JobControl control;
    RebuildJob job(Env::Default(), builder_, builder_.indexes[0], test::Forced());
    JobOutcome out = job.Run(control);
    EXPECT_TRUE(out.status.ok()) << out.status.ToString();
    return out.version_id;
  }

  std::string VersionDir(const std::string& v) const {
    return VersionStore(Env::Default(), builder_.data_dir, "small").VersionDir(v);
  }
  uint64_t IndexBytes(const std::string& v) const {
    auto st = Env::Default()->Stat(JoinPath(VersionDir(v), "index.faiss"));
    return st.ok() ? st->size : 0;
  }

  // Uploads version `v`'s objects and manifest (the pointer is untouched).
  void Upload(const std::string& v) {
    auto up = repo_->UploadVersion("small", v, VersionDir(v), last_);
    ASSERT_TRUE(up.ok()) << up.status().ToString();
  }
  // Moves the pointer to `v` (conditional on the pointer as read).
  void Point(const std::string& v) {
    auto cur = repo_->ReadPointer("small");
    ASSERT_TRUE(cur.ok()) << cur.status().ToString();
    auto moved = repo_->MovePointer("small", v, *cur, "fleet-test");
    ASSERT_TRUE(moved.ok()) << moved.status().ToString();
    last_ = v;
  }
  std::string Publish(uint64_t seed, int64_t count = 10000) {
    const std::string v = Build(seed, count);
    Upload(v);
    Point(v);
    return v;
  }

  // `cache` names the cache dir (default: the follower's name); the log is
  // always new (a restarted follower must not be found by its old log).
  Follower StartFollower(const std::string& name, const std::string& interval = "200ms",
                         int port = -1, const std::string& cache = "") {
    Follower f;
    f.cache_dir = dir_.Sub((cache.empty() ? name : cache) + "-cache");
    const std::string config = FollowerConfig(name, port < 0 ? proxy_->port() : port);
    test::ChildOptions o;
    o.env = server_->ChildEnv();
    o.capture_stdout = false;
    o.term_grace_ms = 5000;
    f.child = std::make_unique<test::ChildProcess>(
        std::vector<std::string>{test::BinPath("daemon/searchd/faiss-searchd"), "--config",
                                 config, "--listen", "127.0.0.1:0", "--follow",
                                 "s3://" + server_->bucket() + "/" + kPrefix, "--cache-dir",
                                 f.cache_dir, "--follow-interval", interval},
        dir_.Sub(name + ".log"), o);
    f.port = f.child->WaitForPort();
    EXPECT_GT(f.port, 0) << f.Log();
    return f;
  }

  static std::string Served(int port) {
    MiniHttpClient c(port);
    auto r = c.Get("/api/v1/indexes");
    auto j = Json::Parse(r.body);
    if (r.status != 200 || !j.ok()) return "";
    const Json* list = j->Find("indexes");
    if (list == nullptr || list->size() != 1) return "";
    return list->as_array()[0].GetString("version");
  }
  // Seconds until `port` serves `v`, or -1 after `timeout_s`.
  static double WaitServed(int port, const std::string& v, double timeout_s = 30) {
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < std::chrono::duration<double>(timeout_s)) {
      if (Served(port) == v) return std::chrono::duration<double>(Clock::now() - t0).count();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }
  static std::string Metrics(int port) {
    MiniHttpClient c(port);
    return c.Get("/metrics").body;
  }
  static double Metric(int port, const std::string& series) {
    return test::Sample(Metrics(port), series);
  }
  // One k=5 search; the HTTP status.
  static int Search(MiniHttpClient& c, int seed) {
    Json v = Json::MakeArray();
    for (int i = 0; i < kDim; ++i) v.Push(Json(static_cast<double>((seed * 31 + i) % 17)));
    Json body = Json::MakeObject();
    body["vector"] = std::move(v);
    body["k"] = 5;
    return c.Post(kSearchPath, body.Dump()).status;
  }

  test::TempDir dir_;
  std::unique_ptr<test::S3TestServer> server_;
  std::unique_ptr<test::FaultProxy> proxy_;
  std::unique_ptr<S3Client> client_;
  std::unique_ptr<Repository> repo_;
  std::string source_, builder_config_path_;
  Config builder_;
  std::optional<std::string> last_;  // the pointer's live version
};

}  // namespace frb::fleet
