// The fleet end to end, with nothing but the real programs and the object
// store between them: faiss-rebuildd with a `repository:` section rebuilds
// through its API and publishes into a real S3-protocol server on loopback;
// faiss-searchd --follow (its own cache dir, no data dir shared with the
// daemon) serves each version the repository pointer names, with zero failed
// queries across the switch; `faiss-rebuild rollback` moves the follower back
// (from its cache, no download). The follower's load of a downloaded version
// reads the file once: the download's SHA-256 stands while the file's stat is
// unchanged. And the alert rules and dashboards on the repository and
// follower families name only series these two processes export.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon_process.h"
#include "frb/env.h"
#include "frb/json.h"
#include "frb/repository.h"
#include "frb/s3.h"
#include "http_client.h"
#include "mini_http_client.h"
#include "promtool_util.h"
#include "s3_server.h"
#include "synth.h"
#include "testutil.h"

namespace frb {
namespace {

using Clock = std::chrono::steady_clock;
using searchd::testing::MiniHttpClient;

constexpr int kDim = 32;
constexpr int64_t kCount = 20000;

class FleetEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    server_ = test::S3TestServer::Start(&why);
    if (!server_) GTEST_SKIP() << "no S3 test server: " << why;
    client_ = std::move(S3Client::Create(server_->ClientOptions(), Env::Default())).value();
    repo_ = std::make_unique<Repository>(client_.get(), S3Location{server_->bucket(), "e2e"},
                                         Env::Default());
    source_ = dir_.Sub("vecs.npy");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, kCount, kDim, 1).ok());
    const std::string repository = "repository:\n"
                                   "  url: s3://" + server_->bucket() + "/e2e\n"
                                   "  endpoint: " + server_->endpoint() + "\n"
                                   "  region: us-east-1\n"
                                   "  path_style: true\n"
                                   "  interval: 1s\n";
    const std::string indexes = "indexes:\n"
                                "  - name: small\n"
                                "    source: { path: " + source_ + ", format: npy }\n"
                                "    dimension: 32\n"
                                "    metric: L2\n"
                                "    factory: \"IVF64,Flat\"\n"
                                "    train_sample: 4000\n"
                                "    search: { nprobe: 8 }\n"
                                "    validation: { queries: 30, latency_queries: 10,"
                                " min_recall: 0.3, max_p99_ms: 1000 }\n";
    daemon_config_ = dir_.Sub("daemon.yaml");
    test::WriteText(daemon_config_, "data_dir: " + dir_.Sub("data") + "\n" + repository + indexes);
    // The follower: the same repository section, a data dir it never reads.
    follower_config_ = dir_.Sub("follower.yaml");
    test::WriteText(follower_config_,
                    "data_dir: " + dir_.Sub("follower-unused") + "\n" + repository + indexes);
  }

  void StartDaemon() {
    daemon_ = std::make_unique<test::RebuilddProcess>(daemon_config_, dir_.Sub("daemon.log"),
                                                      server_->ChildEnv());
    dport_ = daemon_->WaitForPort();
    ASSERT_GT(dport_, 0) << daemon_->Log();
  }
  void StartFollower() {
    test::ChildOptions o;
    o.env = server_->ChildEnv();
    o.capture_stdout = false;
    o.term_grace_ms = 5000;
    follower_ = std::make_unique<test::ChildProcess>(
        std::vector<std::string>{test::BinPath("daemon/searchd/faiss-searchd"), "--config",
                                 follower_config_, "--listen", "127.0.0.1:0", "--follow",
                                 "s3://" + server_->bucket() + "/e2e", "--cache-dir",
                                 dir_.Sub("follower-cache"), "--follow-interval", "200ms"},
        dir_.Sub("follower.log"), o);
    sport_ = follower_->WaitForPort();
    ASSERT_GT(sport_, 0) << follower_->Log();
  }

  // Rebuilds through the daemon's API from a source made with `seed`; the
  // new live version, or "" (with a failure).
  std::string RebuildThroughTheApi(uint64_t seed) {
    EXPECT_TRUE(synth::WriteNpy(Env::Default(), source_, kCount, kDim, seed).ok());
    auto r = test::Http(dport_, "POST", "/api/v1/indexes/small/rebuild", "{}",
                        "Content-Type: application/json\r\n");
    EXPECT_EQ(r.status, 202) << r.body;
    const std::string job = r.json().GetString("job_id");
    for (auto end = Clock::now() + std::chrono::seconds(120); Clock::now() < end;) {
      Json j = test::Http(dport_, "GET", "/api/v1/jobs/" + job).json();
      if (j.Find("ok") != nullptr) {  // the job's outcome is in
        if (j.GetString("state") == "done") return j.GetString("version");
        ADD_FAILURE() << "job " << job << " ended " << j.Dump() << "\n" << daemon_->Log();
        return "";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "job " << job << " did not finish\n" << daemon_->Log();
    return "";
  }

  std::string RepoLive() {
    auto p = repo_->ReadPointer("small");
    return p.ok() && p->has_value() ? (*p)->live : "";
  }
  bool WaitRepoLive(const std::string& want, int seconds) {
    for (auto end = Clock::now() + std::chrono::seconds(seconds); Clock::now() < end;) {
      if (RepoLive() == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // One search: the version that answered it, or "" when it failed.
  static std::string SearchVersion(MiniHttpClient& c, int seed) {
    Json v = Json::MakeArray();
    for (int i = 0; i < kDim; ++i) v.Push(Json(static_cast<double>((seed * 31 + i) % 17)));
    Json body = Json::MakeObject();
    body["vector"] = std::move(v);
    body["k"] = 5;
    auto r = c.Post("/api/v1/indexes/small/search", body.Dump());
    if (r.status != 200) return "";
    auto j = Json::Parse(r.body);
    return j.ok() ? j->GetString("version") : "";
  }
  // Searches until an answer carries `v`; false after `seconds`.
  bool WaitAnswersFrom(const std::string& v, int seconds) {
    MiniHttpClient c(sport_);
    for (auto end = Clock::now() + std::chrono::seconds(seconds); Clock::now() < end;) {
      if (SearchVersion(c, 1) == v) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  test::TempDir dir_;
  std::unique_ptr<test::S3TestServer> server_;
  std::unique_ptr<S3Client> client_;
  std::unique_ptr<Repository> repo_;
  std::string source_, daemon_config_, follower_config_;
  std::unique_ptr<test::RebuilddProcess> daemon_;
  std::unique_ptr<test::ChildProcess> follower_;
  int dport_ = 0, sport_ = 0;
};

TEST_F(FleetEndToEndTest, RebuildPublishFollowSwitchAndRollBack) {
  StartDaemon();
  ASSERT_FALSE(HasFatalFailure());
  const std::string v1 = RebuildThroughTheApi(1);
  ASSERT_FALSE(v1.empty());
  ASSERT_TRUE(WaitRepoLive(v1, 60)) << daemon_->Log();

  StartFollower();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(WaitAnswersFrom(v1, 60)) << follower_->Log();

  // Clients search throughout the second rebuild and the switch.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> ok{0}, failed{0};
  std::mutex seen_mu;
  std::set<std::string> seen;
  std::vector<std::thread> clients;
  for (int t = 0; t < 2; ++t) {
    clients.emplace_back([&, t] {
      MiniHttpClient c(sport_);
      for (int i = 0; !stop; ++i) {
        const std::string v = SearchVersion(c, t * 1000 + i);
        if (v.empty()) {
          ++failed;
        } else {
          ++ok;
          std::lock_guard<std::mutex> lock(seen_mu);
          seen.insert(v);
        }
        // Steady traffic rather than saturation: the loader runs at nice 10.
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
  }
  const std::string v2 = RebuildThroughTheApi(2);
  ASSERT_NE(v2, v1);
  const bool published = WaitRepoLive(v2, 60);
  const bool switched = published && WaitAnswersFrom(v2, 60);
  stop = true;
  for (auto& t : clients) t.join();
  ASSERT_TRUE(published) << daemon_->Log();
  ASSERT_TRUE(switched) << follower_->Log();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_TRUE(seen.count(v1));

  // The follower hashed v2 as it downloaded it, and its load did not hash it
  // again (the stat recorded after the download still held).
  std::string log = follower_->Log();
  EXPECT_TRUE(std::regex_search(
      log, std::regex("serving version " + v2 + " .*checksum [0-9.]+s \\(hashed at download, "
                      "stat unchanged\\)")))
      << log;
  const std::string scrape = MiniHttpClient(sport_).Get("/metrics").body;
  EXPECT_EQ(test::Sample(scrape, R"(faiss_search_follow_installs_total{how="download",index="small"})"),
            2)
      << scrape;
  // The lag gauge drops to 0 at the follower's first poll after the swap.
  double lag = -1;
  for (auto end = Clock::now() + std::chrono::seconds(10); Clock::now() < end && lag != 0;) {
    lag = test::Sample(MiniHttpClient(sport_).Get("/metrics").body,
                       R"(faiss_search_follow_lag_seconds{index="small"})");
    if (lag != 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(lag, 0);

  // Rollback through the CLI: the daemon's live goes back to v1, the
  // repository pointer follows, the follower swaps back from its cache.
  auto rb = test::RunProcess({test::BinPath("cli/faiss-rebuild"), "--config", daemon_config_,
                              "--daemon", "http://127.0.0.1:" + std::to_string(dport_),
                              "rollback", "small"},
                             {}, 120);
  ASSERT_EQ(rb.exit_code, 0) << rb.out << rb.err << daemon_->Log();
  ASSERT_TRUE(WaitRepoLive(v1, 60)) << daemon_->Log();
  ASSERT_TRUE(WaitAnswersFrom(v1, 60)) << follower_->Log();
  const std::string after = MiniHttpClient(sport_).Get("/metrics").body;
  EXPECT_EQ(test::Sample(after, R"(faiss_search_follow_installs_total{how="cache",index="small"})"),
            1)
      << after;
  EXPECT_EQ(test::Sample(after, R"(faiss_search_follow_installs_total{how="download",index="small"})"),
            2);
  EXPECT_EQ(test::Sample(after, R"(faiss_search_follow_failures_total{index="small",stage="verify"})"),
            0);

  // The alert rules and dashboard panels on these families name series the
  // programs export.
  const std::string daemon_scrape = test::Http(dport_, "GET", "/metrics").body;
  std::set<std::string> checked;
  std::vector<std::string> exprs =
      promtool_test::RuleExprs(test::ReadText(promtool_test::Src("dashboards/alerts.yml")));
  for (const auto& file : promtool_test::kDashboards) {
    promtool_test::Dashboard d = promtool_test::LoadDashboard(file);
    exprs.insert(exprs.end(), d.exprs.begin(), d.exprs.end());
  }
  for (const auto& expr : exprs) {
    std::vector<std::string> unknown;
    for (const auto& name :
         promtool_test::PromqlNames(promtool_test::Substitute(expr, &unknown)).metrics) {
      const std::string* scrape_of = nullptr;
      if (name.rfind("faiss_rebuild_repository_", 0) == 0) scrape_of = &daemon_scrape;
      if (name.rfind("faiss_search_follow_", 0) == 0) scrape_of = &after;
      if (scrape_of == nullptr) continue;
      checked.insert(name);
      EXPECT_NE(scrape_of->find("\n" + name + "{"), std::string::npos)
          << "the ops kit uses " << name << ", which the running program does not export";
    }
  }
  EXPECT_GE(checked.size(), 5u) << "the ops kit watches no repository or follower series";
}

}  // namespace
}  // namespace frb
