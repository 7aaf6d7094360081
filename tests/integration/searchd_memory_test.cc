// faiss-searchd's resident memory across hot swaps: after any number of
// swaps it holds one copy of the index, not the old one's leftovers.
// The real binary, two published versions, the live pointer flipped between
// them while clients search; VmRSS read from /proc/<pid>/status.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "mini_http_client.h"
#include "daemon_process.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/json.h"
#include "frb/rebuild.h"
#include "frb/store.h"
#include "testutil.h"

namespace frb {
namespace {

using searchd::testing::MiniHttpClient;
using Clock = std::chrono::steady_clock;

// 200,000 x 64 floats: a 51 MB IVF index, large next to the process's own
// few MiB, so leftovers of freed versions show in the ratio.
constexpr int kDim = 64;
constexpr int64_t kCount = 200000;

// A field of /proc/<pid>/status in KiB ("VmRSS", "VmHWM"); -1 if absent.
int64_t StatusKib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1);
  return -1;
}

class SearchdMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = dir_.Sub("vecs.npy");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, kCount, kDim, 1).ok());
    config_path_ = dir_.Sub("config.yaml");
    test::WriteText(config_path_,
                    "data_dir: " + dir_.Sub("data") +
                        "\n"
                        "indexes:\n"
                        "  - name: m\n"
                        "    source: { path: " + source_ + ", format: npy }\n"
                        "    dimension: 64\n"
                        "    metric: L2\n"
                        "    factory: \"IVF1024,Flat\"\n"
                        "    train_sample: 10000\n"
                        "    search: { nprobe: 16 }\n"
                        "    keep_versions: 3\n"
                        "    validation: { queries: 50, latency_queries: 10,"
                        " min_recall: 0.3, max_p99_ms: 5000 }\n");
    auto cfg = LoadConfig(Env::Default(), config_path_);
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    config_ = *cfg;
  }

  std::string Publish(uint64_t seed) {
    EXPECT_TRUE(synth::WriteNpy(Env::Default(), source_, kCount, kDim, seed).ok());
    JobControl control;
    RebuildJob job(Env::Default(), config_, config_.indexes[0], test::Forced());
    JobOutcome out = job.Run(control);
    EXPECT_TRUE(out.status.ok()) << out.status.ToString();
    return out.version_id;
  }

  static std::string Served(MiniHttpClient& c) {
    auto j = Json::Parse(c.Get("/api/v1/indexes").body);
    if (!j.ok()) return "";
    const Json* list = j->Find("indexes");
    if (list == nullptr || list->size() != 1) return "";
    return list->as_array()[0].GetString("version");
  }

  static bool WaitServed(MiniHttpClient& c, const std::string& v, double seconds) {
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < until) {
      if (Served(c) == v) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  test::TempDir dir_;
  std::string source_, config_path_;
  Config config_;
};

// Twelve swaps under search load; the last version served is the first one,
// so the comparison is between two loads of the same file. The bound, 1.1x
// the RSS with one copy loaded, is what operators size the host by.
TEST_F(SearchdMemoryTest, RssAfterSwapsStaysNearOneCopy) {
  const auto t0 = Clock::now();
  const std::string v1 = Publish(1);
  const std::string v2 = Publish(2);
  std::printf("two versions published in %.1f s\n",
              std::chrono::duration<double>(Clock::now() - t0).count());
  ASSERT_FALSE(v1.empty());
  ASSERT_FALSE(v2.empty());
  VersionStore store(Env::Default(), config_.data_dir, "m");
  const std::string live = JoinPath(store.IndexDir(), "live");
  ASSERT_TRUE(ReplaceSymlink(Env::Default(), "versions/" + v1, live).ok());

  const std::string port_file = dir_.Sub("port");
  test::ChildOptions opts;
  opts.capture_stdout = false;
  test::ChildProcess child({test::BinPath("daemon/searchd/faiss-searchd"), "--config",
                            config_path_, "--listen", "127.0.0.1:0", "--port-file", port_file,
                            "--poll-ms", "50"},
                           dir_.Sub("searchd.log"), opts);
  int port = 0;
  for (int i = 0; i < 400 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (Env::Default()->Exists(port_file)) port = std::atoi(test::ReadText(port_file).c_str());
  }
  ASSERT_GT(port, 0) << child.Log();
  MiniHttpClient admin(port);
  ASSERT_TRUE(WaitServed(admin, v1, 30)) << child.Log();

  // Clients search throughout, so swaps happen with queries in flight.
  std::vector<float> q(kDim);
  synth::GenerateRows(5, kDim, 64, 0, 1, q.data());
  Json vec = Json::MakeArray();
  for (float x : q) vec.Push(Json(static_cast<double>(x)));
  const std::string body = "{\"k\":10,\"vector\":" + vec.Dump() + "}";
  std::atomic<bool> stop{false};
  std::atomic<int64_t> ok{0}, failed{0};
  auto search_loop = [&] {
    MiniHttpClient c(port);
    while (!stop) {
      if (c.Post("/api/v1/indexes/m/search", body).status == 200) ++ok;
      else ++failed;
    }
  };
  // Warm: the first searches allocate the threads' arenas and buffers.
  {
    std::vector<std::thread> warm;
    for (int t = 0; t < 4; ++t) warm.emplace_back(search_loop);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    stop = true;
    for (auto& t : warm) t.join();
    stop = false;
  }
  const int64_t one_copy_kib = StatusKib(child.pid(), "VmRSS");
  ASSERT_GT(one_copy_kib, 0);

  const auto t1 = Clock::now();
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) clients.emplace_back(search_loop);
  const int swaps = 12;
  for (int i = 0; i < swaps; ++i) {
    const std::string target = i % 2 == 0 ? v2 : v1;
    ASSERT_TRUE(ReplaceSymlink(Env::Default(), "versions/" + target, live).ok());
    ASSERT_TRUE(WaitServed(admin, target, 30)) << "swap " << i << "\n" << child.Log();
  }
  stop = true;
  for (auto& t : clients) t.join();
  std::printf("%d swaps in %.1f s\n", 12,
              std::chrono::duration<double>(Clock::now() - t1).count());
  // The last swap's old version is freed once its in-flight queries end.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int64_t after_kib = StatusKib(child.pid(), "VmRSS");
  const int64_t peak_kib = StatusKib(child.pid(), "VmHWM");
  const double ratio = static_cast<double>(after_kib) / static_cast<double>(one_copy_kib);
  std::printf("faiss-searchd RSS: one copy %.1f MiB, after %d swaps %.1f MiB (%.3fx), peak "
              "%.1f MiB; %lld searches ok, %lld failed\n",
              one_copy_kib / 1024.0, swaps, after_kib / 1024.0, ratio, peak_kib / 1024.0,
              static_cast<long long>(ok.load()), static_cast<long long>(failed.load()));
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_LE(ratio, 1.1) << child.Log();
  child.Signal(SIGTERM);
  EXPECT_EQ(child.Wait(), 0);
}

}  // namespace
}  // namespace frb
