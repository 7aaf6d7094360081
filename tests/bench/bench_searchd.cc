// faiss-searchd over HTTP vs in-process FAISS on the same queries (BRIEF
// "Performance targets": HTTP QPS >= 0.8x in-process, IVF, nprobe 16).
//
//   bench_searchd [--n 1000000] [--dim 128] [--nlist 4096] [--nprobe 16]
//                 [--clients C] [--seconds 10] [--rounds 3] [--swaps 0] [--dir DIR]
//
// Builds and publishes one version with RebuildJob, then measures, for the
// same single-vector queries and the same concurrency C (default: cores):
//   in-process: C threads calling index->search(1 query), 1 OpenMP thread each;
//   HTTP:       C keep-alive client threads against a real faiss-searchd.
// --swaps N then saturates the server (2 x C clients) while `live` is
// flipped N times between the version and a re-published copy of it (same
// bytes, new version id: every flip is a full load + SHA-256 + swap), and
// reports failed requests and p99 during the swaps vs without them.
// The two modes alternate for --rounds rounds and the medians are compared,
// so load from other processes on a shared machine hits both alike.
// The HTTP clients run on the same machine, so they take CPU from the server:
// the ratio is a lower bound of what a remote client would see.
#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/index_io.h>
#include <fcntl.h>
#include <omp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../../daemon/searchd/mini_http_client.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/json.h"
#include "frb/manifest.h"
#include "frb/rebuild.h"
#include "frb/store.h"
#include "synth.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  int64_t n = 1000000;
  int dim = 128;
  int nlist = 4096;
  int nprobe = 16;
  int clients = 0;
  double seconds = 10;
  int rounds = 3;
  int swaps = 0;  // stretch: swaps under saturation load
  std::string dir;
};

struct Figures {
  double qps = 0;
  double cpu_ms_per_query = 0;  // CPU of every process involved, per query
  double p50_ms = 0;
  double p99_ms = 0;
  int64_t errors = 0;
};

// CPU seconds used so far by this process (all threads).
double SelfCpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// CPU seconds used so far by process `pid` (utime + stime of /proc/PID/stat).
double ProcCpu(pid_t pid) {
  if (pid <= 0) return 0;
  std::string text;
  if (FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r")) {
    char buf[4096];
    size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    text.assign(buf, n);
  }
  size_t p = text.rfind(')');  // the command name may hold spaces
  if (p == std::string::npos) return 0;
  unsigned long long utime = 0, stime = 0;
  // Fields after ")": state(3) ... utime(14) stime(15).
  std::sscanf(text.c_str() + p + 2,
              "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime);
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

double Pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(p * (v.size() - 1));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

// Runs `clients` threads calling one(thread, query#) for `seconds`. CPU is
// counted for this process and, when given, the server process.
template <typename F>
Figures Drive(int clients, double seconds, int nq, pid_t server, F one) {
  const double cpu0 = SelfCpu() + ProcCpu(server);
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> lat(clients);
  std::atomic<int64_t> errors{0};
  std::vector<std::thread> th;
  auto start = Clock::now();
  for (int t = 0; t < clients; ++t) {
    th.emplace_back([&, t] {
      int q = t * 7919 % nq;
      while (!stop) {
        auto s = Clock::now();
        if (!one(t, q)) ++errors;
        lat[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
        q = (q + 1) % nq;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& x : th) x.join();
  double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = SelfCpu() + ProcCpu(server) - cpu0;
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  Figures f;
  f.qps = all.size() / wall;
  f.cpu_ms_per_query = all.empty() ? 0 : 1000 * cpu / all.size();
  f.p50_ms = Pct(all, 0.50);
  f.p99_ms = Pct(all, 0.99);
  f.errors = errors;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  a.clients = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--n") a.n = std::atoll(v.c_str());
    else if (k == "--dim") a.dim = std::atoi(v.c_str());
    else if (k == "--nlist") a.nlist = std::atoi(v.c_str());
    else if (k == "--nprobe") a.nprobe = std::atoi(v.c_str());
    else if (k == "--clients") a.clients = std::atoi(v.c_str());
    else if (k == "--seconds") a.seconds = std::atof(v.c_str());
    else if (k == "--swaps") a.swaps = std::atoi(v.c_str());
    else if (k == "--rounds") a.rounds = std::max(1, std::atoi(v.c_str()));
    else if (k == "--dir") a.dir = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines appear as they happen
  frb::Env* env = frb::Env::Default();
  bool own_dir = a.dir.empty();
  if (own_dir) {
    char tmpl[] = "/tmp/bench_searchd.XXXXXX";
    a.dir = mkdtemp(tmpl);
  }
  const std::string source = frb::JoinPath(a.dir, "vecs.npy");
  const std::string config_path = frb::JoinPath(a.dir, "config.yaml");
  std::printf("bench_searchd: n=%lld dim=%d IVF%d,Flat nprobe=%d clients=%d %gs/phase\n",
              static_cast<long long>(a.n), a.dim, a.nlist, a.nprobe, a.clients, a.seconds);
  if (!env->Exists(source)) {
    auto st = frb::synth::WriteNpy(env, source, a.n, a.dim, 7, 1024);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      return 1;
    }
  }
  const int64_t train = std::min<int64_t>(a.n, 40LL * a.nlist);
  std::string yaml = "data_dir: " + frb::JoinPath(a.dir, "data") +
                     "\nindexes:\n  - name: bench\n    source: { path: " + source +
                     ", format: npy }\n    dimension: " + std::to_string(a.dim) +
                     "\n    metric: L2\n    factory: \"IVF" + std::to_string(a.nlist) +
                     ",Flat\"\n    train_sample: " + std::to_string(train) +
                     "\n    search: { nprobe: " + std::to_string(a.nprobe) +
                     " }\n    validation: { queries: 100, latency_queries: 50,"
                     " min_recall: 0.1, max_p99_ms: 10000 }\n";
  if (!frb::WriteFileAtomic(env, config_path, yaml).ok()) return 1;
  auto cfg = frb::LoadConfig(env, config_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "%s\n", cfg.status().ToString().c_str());
    return 1;
  }
  frb::VersionStore store(env, cfg->data_dir, "bench");
  auto live = store.LiveVersion();
  std::string version = live.ok() && *live ? **live : "";
  if (version.empty()) {
    auto t0 = Clock::now();
    frb::JobControl control;
    frb::RebuildJob job(env, *cfg, cfg->indexes[0], frb::RebuildOptions{});
    frb::JobOutcome out = job.Run(control);
    if (!out.status.ok()) {
      std::fprintf(stderr, "build failed: %s\n", out.status.ToString().c_str());
      return 1;
    }
    version = out.version_id;
    std::printf("built %s in %.1fs\n", version.c_str(),
                std::chrono::duration<double>(Clock::now() - t0).count());
  }

  // The same queries for both sides: held-out rows of the same distribution.
  const int nq = 2000;
  std::vector<float> xq(static_cast<size_t>(nq) * a.dim);
  frb::synth::GenerateRows(7, a.dim, 1024, a.n, nq, xq.data());
  std::vector<std::string> bodies(nq);
  for (int i = 0; i < nq; ++i) {
    frb::Json v = frb::Json::MakeArray();
    for (int j = 0; j < a.dim; ++j) v.Push(frb::Json(static_cast<double>(xq[i * a.dim + j])));
    bodies[i] = "{\"k\":10,\"vector\":" + v.Dump() + "}";
  }

  // The in-process side: the same file, the same nprobe.
  std::unique_ptr<faiss::Index> idx(faiss::read_index(store.VersionIndexPath(version).c_str()));
  faiss::ParameterSpace().set_index_parameter(idx.get(), "nprobe", a.nprobe);

  const std::string port_file = frb::JoinPath(a.dir, "port");
  ::unlink(port_file.c_str());
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(frb::JoinPath(a.dir, "searchd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    std::string bin = std::string(FRB_BIN_DIR) + "/daemon/searchd/faiss-searchd";
    execl(bin.c_str(), bin.c_str(), "--config", config_path.c_str(), "--listen",
          "127.0.0.1:0", "--port-file", port_file.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int port = 0;
  for (int i = 0; i < 400 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    auto text = frb::ReadFileToString(env, port_file);
    if (text.ok()) port = std::atoi(text->c_str());
  }
  frb::searchd::testing::MiniHttpClient probe(port);
  for (int i = 0; i < 6000 && probe.Get("/readyz").status != 200; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::vector<std::unique_ptr<frb::searchd::testing::MiniHttpClient>> conns;
  for (int t = 0; t < a.clients; ++t)
    conns.push_back(std::make_unique<frb::searchd::testing::MiniHttpClient>(port));

  std::printf("%-6s %-12s %10s %10s %10s %12s %8s\n", "round", "mode", "QPS", "p50 ms",
              "p99 ms", "CPU ms/query", "errors");
  std::vector<Figures> in_r, http_r;
  std::vector<double> ratios;
  int64_t http_errors = 0;
  for (int r = 0; r < a.rounds; ++r) {
    Figures inproc = Drive(a.clients, a.seconds, nq, 0, [&](int, int q) {
      omp_set_num_threads(1);
      float d[10];
      faiss::Index::idx_t l[10];
      idx->search(1, &xq[static_cast<size_t>(q) * a.dim], 10, d, l);
      return l[0] >= 0;
    });
    Figures http = Drive(a.clients, a.seconds, nq, pid, [&](int t, int q) {
      auto res = conns[t]->Post("/api/v1/indexes/bench/search", bodies[q]);
      return res.status == 200;
    });
    for (auto [name, f] : {std::pair<const char*, Figures&>{"in-process", inproc},
                           std::pair<const char*, Figures&>{"http", http}})
      std::printf("%-6d %-12s %10.0f %10.3f %10.3f %12.3f %8lld\n", r + 1, name, f.qps,
                  f.p50_ms, f.p99_ms, f.cpu_ms_per_query, static_cast<long long>(f.errors));
    std::fflush(stdout);
    in_r.push_back(inproc);
    http_r.push_back(http);
    ratios.push_back(http.qps / inproc.qps);
    http_errors += http.errors;
  }
  if (a.swaps > 0) {
    idx.reset();  // room for old + new in the server
    // The copy: hard link of the (immutable) index file, manifest renamed.
    const std::string copy_id = "v999999-copy";
    const std::string copy_dir = store.VersionDir(copy_id);
    if (!env->Exists(copy_dir)) {
      auto m = store.ReadManifest(version);
      if (!m.ok() || !env->CreateDirs(copy_dir).ok() ||
          ::link(store.VersionIndexPath(version).c_str(),
                 store.VersionIndexPath(copy_id).c_str()) != 0) {
        std::fprintf(stderr, "cannot create the copy version\n");
        return 1;
      }
      m->version_id = copy_id;
      if (!frb::WriteFileAtomic(env, frb::JoinPath(copy_dir, "manifest.json"), m->Serialize())
               .ok())
        return 1;
    }
    std::vector<std::unique_ptr<frb::searchd::testing::MiniHttpClient>> sat;
    for (int t = 0; t < 2 * a.clients; ++t)
      sat.push_back(std::make_unique<frb::searchd::testing::MiniHttpClient>(port));
    auto load = [&](int t, int q) {
      return sat[t]->Post("/api/v1/indexes/bench/search", bodies[q]).status == 200;
    };
    Figures steady = Drive(2 * a.clients, a.seconds, nq, pid, load);
    std::atomic<bool> swapping{true};
    double swap_wall = 0;
    std::thread swapper([&] {
      frb::searchd::testing::MiniHttpClient admin(port);
      auto t0 = Clock::now();
      for (int i = 0; i < a.swaps; ++i) {
        const std::string target = i % 2 == 0 ? copy_id : version;
        if (!frb::ReplaceSymlink(env, "versions/" + target,
                                 frb::JoinPath(store.IndexDir(), "live")).ok())
          break;
        while (admin.Get("/api/v1/indexes").body.find("\"version\":\"" + target) ==
               std::string::npos)
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      swap_wall = std::chrono::duration<double>(Clock::now() - t0).count();
      swapping = false;
    });
    // Drive in slices until the swapper is done, so the figures cover
    // exactly the swapping period (+ at most one slice).
    std::vector<Figures> during;
    while (swapping) during.push_back(Drive(2 * a.clients, 2, nq, pid, load));
    swapper.join();
    if (a.swaps % 2 == 1)  // leave the original live
      frb::ReplaceSymlink(env, "versions/" + version, frb::JoinPath(store.IndexDir(), "live"))
          .ok();
    int64_t errs = 0;
    double q = 0, p99 = 0;
    for (auto& f : during) {
      errs += f.errors;
      q += f.qps;
      p99 = std::max(p99, f.p99_ms);
    }
    std::printf("saturation (%d clients): steady %.0f QPS p99 %.3f ms errors %lld\n",
                2 * a.clients, steady.qps, steady.p99_ms, static_cast<long long>(steady.errors));
    std::printf("during %d swaps (%.1fs): %.0f QPS, worst 2-s-slice p99 %.3f ms (%.2fx steady), "
                "failed requests %lld\n",
                a.swaps, swap_wall, q / during.size(), p99, p99 / steady.p99_ms,
                static_cast<long long>(errs));
    http_errors += errs;
  }
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  auto med = [](std::vector<Figures> v, double Figures::*m) {
    std::vector<double> x;
    for (auto& f : v) x.push_back(f.*m);
    std::sort(x.begin(), x.end());
    return x[x.size() / 2];
  };
  std::sort(ratios.begin(), ratios.end());
  std::printf("median   in-process %.0f QPS p50 %.3f p99 %.3f ms | http %.0f QPS p50 %.3f p99 %.3f ms\n",
              med(in_r, &Figures::qps), med(in_r, &Figures::p50_ms), med(in_r, &Figures::p99_ms),
              med(http_r, &Figures::qps), med(http_r, &Figures::p50_ms),
              med(http_r, &Figures::p99_ms));
  std::printf("ratio http/in-process QPS: median %.2f (min %.2f, max %.2f; target >= 0.80)\n",
              ratios[ratios.size() / 2], ratios.front(), ratios.back());
  // On a shared machine wall-clock QPS follows whoever else runs; CPU per
  // query does not. in-process CPU / (server + client CPU) is the QPS ratio
  // a saturated dedicated machine would show.
  const double cpu_in = med(in_r, &Figures::cpu_ms_per_query);
  const double cpu_http = med(http_r, &Figures::cpu_ms_per_query);
  std::printf("CPU per query: in-process %.3f ms, http (server + client) %.3f ms; "
              "CPU-efficiency ratio %.2f\n", cpu_in, cpu_http, cpu_in / cpu_http);
  if (own_dir) env->RemoveAll(a.dir).ok();
  return http_errors == 0 ? 0 : 1;
}
