// faiss-rebuildd with a `repository:` section, against a real S3-protocol
// server on loopback behind a fault-injecting proxy: every publish is
// uploaded and the pointer moved; while the store fails the local publish
// stays, the failures and the lag are exported, and the upload completes
// once the store answers again; a connection cut mid-upload is retried.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "daemon_process.h"
#include "fault_proxy.h"
#include "frb/env.h"
#include "frb/repository.h"
#include "http_client.h"
#include "s3_server.h"
#include "testutil.h"

namespace frb {
namespace {

using Clock = std::chrono::steady_clock;

class RebuilddRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    server_ = test::S3TestServer::Start(&why);
    if (!server_) GTEST_SKIP() << why;
    proxy_ = std::make_unique<test::FaultProxy>(server_->port());
    client_ = std::move(S3Client::Create(server_->ClientOptions(), Env::Default())).value();
    repo_ = std::make_unique<Repository>(client_.get(), S3Location{server_->bucket(), "fleet"},
                                         Env::Default());
    source_ = dir_.Sub("vecs.npy");
    config_ = dir_.Sub("config.yaml");
    data_ = dir_.Sub("data");
    // 60,000 x 32 floats: an index file of ~7.7 MB, two 5 MiB parts.
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 60000, 32, ++seed_, 16).ok());
    test::WriteText(config_, "data_dir: " + data_ + "\n"
                             "repository:\n"
                             "  url: s3://" + server_->bucket() + "/fleet\n"
                             "  endpoint: http://127.0.0.1:" + std::to_string(proxy_->port()) + "\n"
                             "  path_style: true\n"
                             "  part_size: 5MiB\n"
                             "  interval: 1s\n"
                             "  grace: 0s\n"
                             "  keep_versions: 2\n"
                             "indexes:\n"
                             "  - name: small\n"
                             "    source: { path: " + source_ + ", format: npy }\n"
                             "    dimension: 32\n"
                             "    factory: \"Flat\"\n"
                             "    train_sample: 2000\n"
                             "    validation: { queries: 20, min_recall: 0.3, max_p99_ms: 1000 }\n");
  }
  void StartDaemon() {
    daemon_ = std::make_unique<test::RebuilddProcess>(config_, dir_.Sub("d.log"), server_->ChildEnv());
    port_ = daemon_->WaitForPort();
    ASSERT_GT(port_, 0) << daemon_->Log();
  }
  std::string Rebuild() {
    EXPECT_TRUE(synth::WriteNpy(Env::Default(), source_, 60000, 32, ++seed_, 16).ok());
    auto r = test::RunProcess({test::BinPath("cli/faiss-rebuild"), "--config", config_, "--daemon",
                               "http://127.0.0.1:" + std::to_string(port_), "rebuild", "small",
                               "--wait"},
                              {}, 120);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err << daemon_->Log();
    auto t = Env::Default()->ReadLink(data_ + "/indexes/small/live");
    return t.ok() ? BaseName(*t) : "";
  }
  std::string RepoLive() {
    auto p = repo_->ReadPointer("small");
    return p.ok() && p->has_value() ? (*p)->live : "";
  }
  bool WaitRepoLive(const std::string& want, int seconds) {
    for (auto end = Clock::now() + std::chrono::seconds(seconds); Clock::now() < end;) {
      if (RepoLive() == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }
  double Metric(const std::string& series) {
    return test::Sample(test::Http(port_, "GET", "/metrics").body, series);
  }

  test::TempDir dir_;
  std::unique_ptr<test::S3TestServer> server_;
  std::unique_ptr<test::FaultProxy> proxy_;
  std::unique_ptr<S3Client> client_;
  std::unique_ptr<Repository> repo_;
  std::string source_, config_, data_;
  uint64_t seed_ = 0;
  int port_ = 0;
  std::unique_ptr<test::RebuilddProcess> daemon_;
};

TEST_F(RebuilddRepositoryTest, EveryPublishIsUploadedAndFailuresAreRetried) {
  StartDaemon();
  std::string v1 = Rebuild();
  ASSERT_FALSE(v1.empty());
  ASSERT_TRUE(WaitRepoLive(v1, 60)) << daemon_->Log();
  std::string pulled = dir_.Sub("pulled");
  ASSERT_TRUE(repo_->Pull("small", v1, pulled).ok());
  EXPECT_EQ(test::ReadText(pulled + "/index.faiss"),
            test::ReadText(data_ + "/indexes/small/versions/" + v1 + "/index.faiss"));
  EXPECT_GT(Metric(R"(faiss_rebuild_repository_upload_bytes_total{index="small"})"), 7e6);
  EXPECT_EQ(Metric(R"(faiss_rebuild_repository_lag_versions{index="small"})"), 0);
  EXPECT_EQ(Metric(R"(faiss_rebuild_repository_upload_duration_seconds_count{index="small"})"), 1);

  // The store fails every request: the local publish stands, the
  // repository lags and the failures are counted.
  proxy_->FailNext(1000000, 503);
  std::string v2 = Rebuild();
  ASSERT_NE(v2, v1);
  // Each failed sync has retried its request with backoff first.
  for (auto end = Clock::now() + std::chrono::seconds(60); Clock::now() < end;) {
    if (Metric(R"(faiss_rebuild_repository_lag_versions{index="small"})") == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  proxy_->FailNext(0, 503);
  EXPECT_GE(Metric(R"(faiss_rebuild_repository_upload_failures_total{index="small"})"), 1);
  EXPECT_EQ(Metric(R"(faiss_rebuild_repository_lag_versions{index="small"})"), 1);
  EXPECT_GE(Metric(R"(faiss_rebuild_repository_lag_seconds{index="small"})"), 1);
  EXPECT_EQ(RepoLive(), v1);
  // The store is back: the next retry publishes v2.
  ASSERT_TRUE(WaitRepoLive(v2, 60)) << daemon_->Log();
  auto p = repo_->ReadPointer("small");
  EXPECT_EQ((*p)->previous.value_or(""), v1);

  // A connection cut mid-upload is retried within the same sync.
  proxy_->CutAfter(2u << 20, 1, /*upstream=*/true);
  std::string v3 = Rebuild();
  ASSERT_TRUE(WaitRepoLive(v3, 60)) << daemon_->Log();
  EXPECT_EQ(proxy_->cuts(), 1);
  EXPECT_TRUE(repo_->Verify("small", v3).ok());
  // Retention in the repository: keep 2, never live or previous. The prune
  // runs after the pointer moved, so give it a moment.
  const std::vector<std::string> want{v2, v3};
  Result<std::vector<std::string>> versions = repo_->ListVersions("small");
  for (int i = 0; i < 100 && !(versions.ok() && *versions == want); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    versions = repo_->ListVersions("small");
  }
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions, want);
  std::string log = daemon_->Log();
  EXPECT_EQ(log.find(server_->credentials().secret_access_key), std::string::npos);
}

TEST_F(RebuilddRepositoryTest, RepoCommandsListVerifyAndPull) {
  StartDaemon();
  std::string v1 = Rebuild();
  ASSERT_TRUE(WaitRepoLive(v1, 60)) << daemon_->Log();
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {test::BinPath("cli/faiss-rebuild"), "--config", config_});
    return test::RunProcess(args, server_->ChildEnv(), 120);
  };
  auto ls = cli({"repo", "ls", "small"});
  ASSERT_EQ(ls.exit_code, 0) << ls.out << ls.err;
  EXPECT_NE(ls.out.find(v1), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("live"), std::string::npos) << ls.out;
  auto ok = cli({"repo", "verify", "small"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  std::string out = dir_.Sub("pulled");
  auto pull = cli({"repo", "pull", "small", out});
  ASSERT_EQ(pull.exit_code, 0) << pull.out << pull.err;
  EXPECT_EQ(test::ReadText(out + "/index.faiss"),
            test::ReadText(data_ + "/indexes/small/versions/" + v1 + "/index.faiss"));
  // A bit flipped in the store: verify names the object and exits 7, pull
  // refuses it.
  auto v = *repo_->ReadVersion("small", v1);
  std::string key = repo_->ObjectKey("small", v.files[0].sha256);
  std::string body = client_->Get(server_->bucket(), key)->body;
  body[body.size() / 3] ^= 0x10;
  ASSERT_TRUE(client_->Put(server_->bucket(), key, body).ok());
  auto bad = cli({"repo", "verify", "small", v1});
  EXPECT_EQ(bad.exit_code, 7) << bad.out << bad.err;
  EXPECT_NE(bad.out.find("CORRUPT s3://" + server_->bucket() + "/" + key), std::string::npos) << bad.out;
  auto refused = cli({"repo", "pull", "small", v1, dir_.Sub("pulled2")});
  EXPECT_EQ(refused.exit_code, 7) << refused.out << refused.err;
  EXPECT_FALSE(Env::Default()->Exists(dir_.Sub("pulled2") + "/index.faiss"));
  // No credentials: a clean error, no secret.
  auto nocreds = test::RunProcess({test::BinPath("cli/faiss-rebuild"), "--config", config_, "repo",
                                   "ls", "small"},
                                  {"AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_ACCESS_KEY_ID=",
                                   "AWS_SECRET_ACCESS_KEY="},
                                  60);
  EXPECT_NE(nocreds.exit_code, 0);
  EXPECT_NE(nocreds.err.find("no AWS credentials"), std::string::npos) << nocreds.err;
}

}  // namespace
}  // namespace frb
