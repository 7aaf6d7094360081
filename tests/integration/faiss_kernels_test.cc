// The FAISS kernels the programs run: with the project's FAISS build the
// loader picks the AVX2 libfaiss on a CPU with AVX2 and the generic one when
// AVX2 is masked (GLIBC_TUNABLES, as on an older CPU); both answer the same,
// and --version, the start log line and /metrics say which one runs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "daemon_process.h"
#include "frb/build_info.h"
#include "frb/env.h"
#include "frb/json.h"
#include "http_client.h"
#include "synth.h"
#include "testutil.h"

namespace frb {
namespace {

const char* const kMaskAvx2 = "GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2";
constexpr int kDim = 32;
constexpr int kQueries = 20;
constexpr int kK = 10;

// Skips unless the two kernels can both run here.
#define SKIP_UNLESS_TWO_KERNELS()                                                          \
  do {                                                                                     \
    if (!test::SharedFaiss())                                                              \
      GTEST_SKIP() << "linked with Debian's static libfaiss (generic kernels only): "      \
                      "configure with -DFRB_FAISS_ROOT=$(bash .ci/build-faiss.sh), as "    \
                      "`bash run` does";                                                   \
    if (!__builtin_cpu_supports("avx2"))                                                   \
      GTEST_SKIP() << "this CPU has no AVX2: only the generic kernels can run";           \
  } while (0)

TEST(FaissKernelsTest, LoaderPicksAvx2AndGenericWhenMasked) {
  SKIP_UNLESS_TWO_KERNELS();
  EXPECT_NE(test::LoadedFaissPath().find("/glibc-hwcaps/x86-64-v3/libfaiss.so"), std::string::npos)
      << test::LoadedFaissPath();
  EXPECT_EQ(FaissKernels(), "avx2");
  for (const char* path :
       {"cli/faiss-rebuild", "daemon/rebuildd/faiss-rebuildd", "daemon/searchd/faiss-searchd"}) {
    auto normal = test::RunProcess({test::BinPath(path), "--version"}, {}, 30);
    EXPECT_NE(normal.out.find("\nFAISS kernels: avx2"), std::string::npos) << path << normal.out;
    auto masked = test::RunProcess({test::BinPath(path), "--version"}, {kMaskAvx2}, 30);
    EXPECT_NE(masked.out.find("\nFAISS kernels: generic"), std::string::npos)
        << path << masked.out << masked.err;
  }
}

// faiss-searchd on `config`, with `env`; its port once ready (0 on failure).
class Searchd {
 public:
  Searchd(const test::TempDir& dir, const std::string& name, const std::string& config,
          std::vector<std::string> env)
      : port_file_(dir.Sub(name + ".port")),
        child_({test::BinPath("daemon/searchd/faiss-searchd"), "--config", config, "--listen",
                "127.0.0.1:0", "--port-file", port_file_},
               dir.Sub(name + ".log"), Options(std::move(env))) {
    for (int i = 0; i < 600 && port_ == 0; ++i) {  // 15 s
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      if (Env::Default()->Exists(port_file_) &&
          test::Http(std::atoi(test::ReadText(port_file_).c_str()), "GET", "/readyz").status ==
              200)
        port_ = std::atoi(test::ReadText(port_file_).c_str());
    }
  }
  int port() const { return port_; }
  std::string Log() const { return child_.Log(); }

 private:
  static test::ChildOptions Options(std::vector<std::string> env) {
    test::ChildOptions o;
    o.env = std::move(env);
    o.capture_stdout = false;
    o.term_grace_ms = 5000;
    return o;
  }
  std::string port_file_;
  test::ChildProcess child_;
  int port_ = 0;
};

struct Answer {
  std::vector<int64_t> ids;
  std::vector<double> distances;
};

std::vector<Answer> SearchAll(int port, const std::vector<float>& queries) {
  std::vector<Answer> out;
  for (int q = 0; q < kQueries; ++q) {
    Json v = Json::MakeArray();
    for (int j = 0; j < kDim; ++j) v.Push(Json(static_cast<double>(queries[q * kDim + j])));
    auto r = test::Http(port, "POST", "/api/v1/indexes/small/search",
                        "{\"vector\":" + v.Dump() + ",\"k\":" + std::to_string(kK) + "}",
                        "Content-Type: application/json\r\n");
    EXPECT_EQ(r.status, 200) << r.body;
    Json j = r.json();
    Answer a;
    if (const Json* ids = j.Find("ids"))
      for (const Json& e : ids->as_array()) a.ids.push_back(e.as_int());
    if (const Json* d = j.Find("distances"))
      for (const Json& e : d->as_array()) a.distances.push_back(e.as_double());
    out.push_back(std::move(a));
  }
  return out;
}

std::string BuildInfo(const std::string& kernels) {
  return "faiss_search_build_info{faiss_version=\"" + FaissVersion() + "\",kernels=\"" +
         kernels + "\",version=\"" + ProgramVersion() + "\"}";
}

TEST(FaissKernelsTest, RebuildAndSearchAnswerTheSameWithAvx2Masked) {
  SKIP_UNLESS_TWO_KERNELS();
  test::TempDir dir;
  const std::string source = dir.Sub("vecs.npy"), config = dir.Sub("config.yaml");
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source, 20000, kDim, 3).ok());
  test::WriteText(config, "data_dir: " + dir.Sub("data") +
                              "\nindexes:\n"
                              "  - name: small\n"
                              "    source: { path: " + source + ", format: npy }\n"
                              "    dimension: 32\n"
                              "    metric: L2\n"
                              "    factory: \"IVF64,Flat\"\n"
                              "    train_sample: 5000\n"
                              "    search: { nprobe: 8 }\n"
                              "    validation: { queries: 100, latency_queries: 20,"
                              " min_recall: 0.5, max_p99_ms: 1000 }\n");
  // The whole cycle (train, add, validate, publish) with generic kernels.
  auto rebuild = test::RunProcess(
      {test::BinPath("cli/faiss-rebuild"), "--config", config, "rebuild", "small", "--local"},
      {kMaskAvx2}, 300);
  ASSERT_EQ(rebuild.exit_code, 0) << rebuild.out << rebuild.err;

  std::vector<float> queries(kQueries * kDim);
  synth::GenerateRows(77, kDim, 64, 0, kQueries, queries.data());
  Searchd avx2(dir, "avx2", config, {});
  ASSERT_GT(avx2.port(), 0) << avx2.Log();
  Searchd generic(dir, "generic", config, {kMaskAvx2});
  ASSERT_GT(generic.port(), 0) << generic.Log();

  EXPECT_NE(avx2.Log().find("FAISS kernels avx2"), std::string::npos) << avx2.Log();
  EXPECT_NE(generic.Log().find("FAISS kernels generic"), std::string::npos) << generic.Log();
  const std::string scrape_avx2 = test::Http(avx2.port(), "GET", "/metrics").body;
  const std::string scrape_generic = test::Http(generic.port(), "GET", "/metrics").body;
  EXPECT_EQ(test::Sample(scrape_avx2, BuildInfo("avx2")), 1) << scrape_avx2;
  EXPECT_EQ(test::Sample(scrape_generic, BuildInfo("generic")), 1)
      << scrape_generic;

  const auto a = SearchAll(avx2.port(), queries);
  const auto g = SearchAll(generic.port(), queries);
  ASSERT_EQ(a.size(), g.size());
  for (int q = 0; q < kQueries; ++q) {
    ASSERT_EQ(a[q].ids.size(), static_cast<size_t>(kK)) << "query " << q;
    // FMA rounds differently: distances agree to float precision, and the
    // ids are the same (the data has no near-ties at this scale).
    EXPECT_EQ(a[q].ids, g[q].ids) << "query " << q;
    ASSERT_EQ(a[q].distances.size(), g[q].distances.size());
    for (size_t j = 0; j < a[q].distances.size(); ++j)
      EXPECT_NEAR(a[q].distances[j], g[q].distances[j], 1e-4 * (1 + std::fabs(g[q].distances[j])))
          << "query " << q << " rank " << j;
  }
}

}  // namespace
}  // namespace frb
