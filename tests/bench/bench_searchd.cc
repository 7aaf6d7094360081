// faiss-searchd over HTTP vs in-process FAISS on the same queries (target:
// HTTP QPS >= 0.8x in-process, IVF, nprobe 16), and
// latency while new versions are swapped in under saturation load.
//
//   bench_searchd [--n 1000000] [--dim 128] [--nlist 4096] [--nprobe 16]
//                 [--clients C] [--seconds 10] [--rounds 3] [--dir DIR]
//                 [--swaps 0] [--steady-seconds 20] [--swap-gap-ms 0]
//                 [--server-arg ARG]... [--server-bin PATH]
//
// Builds and publishes one version with RebuildJob (reused when DIR already
// holds one), then measures, for the same single-vector queries and the same
// concurrency C (default: cores):
//   in-process: C threads calling index->search(1 query), 1 OpenMP thread each;
//   HTTP:       C keep-alive client threads against a real faiss-searchd.
// The two modes alternate for --rounds rounds and the medians are compared,
// so load from other processes on a shared machine hits both alike.
// The HTTP clients run on the same machine, so they take CPU from the server:
// the ratio is a lower bound of what a remote client would see.
//
// --swaps N then saturates the server (2 x C clients): a steady phase
// (--steady-seconds, half before and half after the swaps), and the swap
// phase, in which `live` is flipped N times between the version and a
// re-published copy of it (same bytes, new version id: every flip is a full
// load + SHA-256 + swap), the next flip --swap-gap-ms after the previous one
// is served. Every request is recorded with its start time; reported are
// failed requests, p99 over all requests of each phase (the target: swap
// p99 <= 2 x steady p99), the worst 2-s slice of each phase, and the p99 of
// the requests that overlapped a load (flip .. served + 0.25 s) vs the rest.
#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/index_io.h>
#include <omp.h>

#include <memory>

#include "frb/json.h"
#include "frb/manifest.h"
#include "searchd_bench_util.h"

namespace {

using frb::bench::Clock;
using frb::bench::Figures;
using frb::bench::MiniHttpClient;
using frb::bench::Sample;

struct Args {
  int64_t n = 1000000;
  int dim = 128;
  int nlist = 4096;
  int nprobe = 16;
  int clients = 0;
  double seconds = 10;
  int rounds = 3;
  int swaps = 0;  // stretch: swaps under saturation load
  double steady_seconds = 20;
  int swap_gap_ms = 0;
  std::vector<std::string> server_args;
  std::string server_bin = std::string(FRB_BIN_DIR) + "/daemon/searchd/faiss-searchd";
  std::string dir;
};

// Worst p99 over consecutive `slice_s` slices of [t0, t1) (by request start).
double WorstSliceP99(const std::vector<Sample>& s, double t0, double t1, double slice_s) {
  double worst = 0;
  for (double a = t0; a + slice_s / 2 < t1; a += slice_s) {
    std::vector<double> lat;
    for (const Sample& x : s)
      if (x.start_s >= a && x.start_s < a + slice_s) lat.push_back(x.lat_ms);
    if (lat.size() >= 50) worst = std::max(worst, frb::bench::Pct(lat, 0.99));
  }
  return worst;
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
    else if (k == "--steady-seconds") a.steady_seconds = std::atof(v.c_str());
    else if (k == "--swap-gap-ms") a.swap_gap_ms = std::atoi(v.c_str());
    else if (k == "--server-arg") a.server_args.push_back(v);
    else if (k == "--server-bin") a.server_bin = v;
    else if (k == "--rounds") a.rounds = std::max(0, std::atoi(v.c_str()));
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
  std::printf("bench_searchd: n=%lld dim=%d IVF%d,Flat nprobe=%d clients=%d %gs/phase\n",
              static_cast<long long>(a.n), a.dim, a.nlist, a.nprobe, a.clients, a.seconds);
  std::printf("load average at start: %s\n", frb::bench::LoadAvg().c_str());
  frb::bench::BenchIndex bi;
  if (auto st = frb::bench::SetUpIndex(env, a.dir, a.n, a.dim, a.nlist, a.nprobe, &bi);
      !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  frb::VersionStore store(env, bi.cfg.data_dir, "bench");
  const std::string& version = bi.version;

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
  std::unique_ptr<faiss::Index> idx;
  if (a.rounds > 0) {
    idx.reset(faiss::read_index(store.VersionIndexPath(version).c_str()));
    faiss::ParameterSpace().set_index_parameter(idx.get(), "nprobe", a.nprobe);
  }

  const std::string port_file = frb::JoinPath(a.dir, "port");
  ::unlink(port_file.c_str());
  std::vector<std::string> server_argv = {a.server_bin, "--config", bi.config_path,
                                          "--listen", "127.0.0.1:0", "--port-file", port_file};
  for (const std::string& s : a.server_args) server_argv.push_back(s);
  const pid_t pid = frb::bench::Spawn(server_argv, frb::JoinPath(a.dir, "searchd.log"));
  const int port = frb::bench::WaitPort(env, pid, port_file, 10);
  if (port == 0 || !frb::bench::WaitReady(port, pid, 600)) {
    std::fprintf(stderr, "faiss-searchd did not become ready (see %s/searchd.log)\n",
                 a.dir.c_str());
    frb::bench::StopGroup(pid);
    return 1;
  }
  std::vector<std::unique_ptr<MiniHttpClient>> conns;
  for (int t = 0; t < a.clients; ++t) conns.push_back(std::make_unique<MiniHttpClient>(port));

  std::vector<Figures> in_r, http_r;
  std::vector<double> ratios;
  int64_t http_errors = 0;
  if (a.rounds > 0)
    std::printf("%-6s %-12s %10s %10s %10s %12s %8s\n", "round", "mode", "QPS", "p50 ms",
                "p99 ms", "CPU ms/query", "errors");
  for (int r = 0; r < a.rounds; ++r) {
    Figures inproc = frb::bench::Drive(a.clients, a.seconds, nq, 0, [&](int, int q) {
      omp_set_num_threads(1);
      float d[10];
      faiss::Index::idx_t l[10];
      idx->search(1, &xq[static_cast<size_t>(q) * a.dim], 10, d, l);
      return l[0] >= 0;
    });
    Figures http = frb::bench::Drive(a.clients, a.seconds, nq, pid, [&](int t, int q) {
      auto res = conns[t]->Post("/api/v1/indexes/bench/search", bodies[q]);
      return res.status == 200;
    });
    for (auto [name, f] : {std::pair<const char*, Figures&>{"in-process", inproc},
                           std::pair<const char*, Figures&>{"http", http}})
      std::printf("%-6d %-12s %10.0f %10.3f %10.3f %12.3f %8lld\n", r + 1, name, f.qps,
                  f.p50_ms, f.p99_ms, f.cpu_ms_per_query, static_cast<long long>(f.errors));
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
        frb::bench::StopGroup(pid);
        return 1;
      }
      m->version_id = copy_id;
      if (!frb::WriteFileAtomic(env, frb::JoinPath(copy_dir, "manifest.json"), m->Serialize())
               .ok())
        return 1;
    }
    const int sat_clients = 2 * a.clients;
    std::vector<std::unique_ptr<MiniHttpClient>> sat;
    for (int t = 0; t < sat_clients; ++t) sat.push_back(std::make_unique<MiniHttpClient>(port));
    auto load = [&](int t, int q) {
      return sat[t]->Post("/api/v1/indexes/bench/search", bodies[q]).status == 200;
    };
    std::printf("saturation: %d clients, load average %s\n", sat_clients,
                frb::bench::LoadAvg().c_str());
    // Steady: half before the swaps, half after (drift on a shared machine
    // then hits both phases alike).
    std::vector<Sample> steady1, steady2;
    Figures s1 = frb::bench::Drive(sat_clients, a.steady_seconds / 2, nq, pid, load, &steady1);
    // One copy loaded and every thread warmed up: the reference for the RSS
    // after the swaps.
    const double one_copy_mib = frb::bench::GroupStatusMiB(pid, "VmRSS");

    struct Swap {
      double flip_s = 0, served_s = 0;
    };
    std::vector<Swap> swaps;
    std::atomic<bool> stop{false};
    const auto epoch = Clock::now();
    const double cpu0 = frb::bench::SelfCpu() + frb::bench::GroupCpu(pid);
    std::thread swapper([&] {
      MiniHttpClient admin(port);
      auto since = [&] { return std::chrono::duration<double>(Clock::now() - epoch).count(); };
      for (int i = 0; i < a.swaps; ++i) {
        const std::string target = i % 2 == 0 ? copy_id : version;
        Swap sw;
        sw.flip_s = since();
        if (!frb::ReplaceSymlink(env, "versions/" + target,
                                 frb::JoinPath(store.IndexDir(), "live")).ok())
          break;
        while (admin.Get("/api/v1/indexes").body.find("\"version\":\"" + target) ==
               std::string::npos)
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        sw.served_s = since();
        swaps.push_back(sw);
        if (a.swap_gap_ms > 0)
          std::this_thread::sleep_for(std::chrono::milliseconds(a.swap_gap_ms));
      }
      stop = true;
    });
    std::vector<Sample> during = frb::bench::RunLoad(sat_clients, nq, epoch, stop, load);
    swapper.join();
    const double swap_wall = std::chrono::duration<double>(Clock::now() - epoch).count();
    const double swap_cpu = frb::bench::SelfCpu() + frb::bench::GroupCpu(pid) - cpu0;
    const double hwm_mib = frb::bench::GroupStatusMiB(pid, "VmHWM");
    const double rss_mib = frb::bench::GroupStatusMiB(pid, "VmRSS");
    Figures s2 = frb::bench::Drive(sat_clients, a.steady_seconds / 2, nq, pid, load, &steady2);
    // The last swap's old version is freed once its queries end (right after
    // the swap): read again after the second steady phase.
    const double settled_mib = frb::bench::GroupStatusMiB(pid, "VmRSS");
    if (a.swaps % 2 == 1)  // leave the original live
      frb::ReplaceSymlink(env, "versions/" + version, frb::JoinPath(store.IndexDir(), "live"))
          .ok();

    // Steady: both halves pooled; slices within each half.
    std::vector<Sample> steady = steady1;
    steady.insert(steady.end(), steady2.begin(), steady2.end());
    Figures st = frb::bench::Summarize(steady, 0, 0);
    st.qps = (s1.qps + s2.qps) / 2;
    st.cpu_ms_per_query = (s1.cpu_ms_per_query + s2.cpu_ms_per_query) / 2;
    const double st_worst = std::max(WorstSliceP99(steady1, 0, a.steady_seconds / 2, 2),
                                     WorstSliceP99(steady2, 0, a.steady_seconds / 2, 2));
    Figures sw = frb::bench::Summarize(during, swap_wall, swap_cpu);
    const double sw_worst = WorstSliceP99(during, 0, swap_wall, 2);
    // Requests overlapping a load (flip .. served + 0.25 s: the old version
    // is released right after the swap) vs the rest of the swap phase.
    std::vector<double> in_load, outside;
    for (const Sample& x : during) {
      bool hit = false;
      for (const auto& w : swaps)
        if (x.start_s < w.served_s + 0.25 && x.start_s + x.lat_ms / 1000 > w.flip_s) {
          hit = true;
          break;
        }
      (hit ? in_load : outside).push_back(x.lat_ms);
    }
    double load_s = 0;
    for (const auto& w : swaps) load_s += w.served_s - w.flip_s;
    // The swap instants: the swapper sees the new version within ~20 ms of
    // the swap, and the old version is freed right after it. Requests that
    // overlap [served - 0.1 s, served + 0.3 s] vs the rest; and where the
    // slow requests (> 2 x steady p99) of the swap phase fall.
    std::vector<double> at_swap, off_swap;
    int64_t slow = 0, slow_at_swap = 0;
    for (const Sample& x : during) {
      bool hit = false;
      for (const auto& w : swaps)
        if (x.start_s < w.served_s + 0.3 && x.start_s + x.lat_ms / 1000 > w.served_s - 0.1) {
          hit = true;
          break;
        }
      (hit ? at_swap : off_swap).push_back(x.lat_ms);
      if (x.lat_ms > 2 * st.p99_ms) {
        ++slow;
        if (hit) ++slow_at_swap;
      }
    }
    std::printf("steady  (%.0fs, before+after): %.0f QPS, p50 %.3f ms, p99 %.3f ms, worst "
                "2-s slice p99 %.3f ms, CPU %.3f ms/query, errors %lld (%.0f / %.0f QPS)\n",
                a.steady_seconds, st.qps, st.p50_ms, st.p99_ms, st_worst, st.cpu_ms_per_query,
                static_cast<long long>(st.errors), s1.qps, s2.qps);
    std::printf("swaps   (%zu of %d in %.1fs, mean time flip->served %.2fs): %.0f QPS, p50 %.3f "
                "ms, p99 %.3f ms, worst 2-s slice p99 %.3f ms, CPU %.3f ms/query, errors %lld\n",
                swaps.size(), a.swaps, swap_wall, swaps.empty() ? 0 : load_s / swaps.size(),
                sw.qps, sw.p50_ms, sw.p99_ms, sw_worst, sw.cpu_ms_per_query,
                static_cast<long long>(sw.errors));
    std::printf("        requests overlapping a load: %zu, p99 %.3f ms; the others: %zu, p99 "
                "%.3f ms\n",
                in_load.size(), frb::bench::Pct(in_load, 0.99), outside.size(),
                frb::bench::Pct(outside, 0.99));
    std::printf("        requests overlapping a swap instant (served -0.1 s .. +0.3 s; %.1f%% of "
                "the phase): %zu, p99 %.3f ms; the others: %zu, p99 %.3f ms; slow requests "
                "(> 2 x steady p99): %lld, of which %lld at a swap instant\n",
                swap_wall > 0 ? 100 * 0.4 * swaps.size() / swap_wall : 0, at_swap.size(),
                frb::bench::Pct(at_swap, 0.99), off_swap.size(), frb::bench::Pct(off_swap, 0.99),
                static_cast<long long>(slow), static_cast<long long>(slow_at_swap));
    std::printf("swap p99 / steady p99: %.2fx (target <= 2); worst slice / worst slice: %.2fx; "
                "worst swap slice / steady p99 (the metric before 2026-11-21 16:00): %.2fx; "
                "failed requests: %lld (target 0); server peak RSS (VmHWM) %.0f MiB, RSS "
                "after the swaps %.0f MiB\n",
                sw.p99_ms / st.p99_ms, sw_worst / st_worst, sw_worst / st.p99_ms,
                static_cast<long long>(sw.errors + st.errors), hwm_mib, rss_mib);
    std::printf("server RSS: one copy loaded %.0f MiB, after %zu swaps and the second steady "
                "phase %.0f MiB = %.3fx (target <= 1.1)\n", one_copy_mib, swaps.size(),
                settled_mib, one_copy_mib > 0 ? settled_mib / one_copy_mib : 0);
    std::printf("load average after the swaps: %s\n", frb::bench::LoadAvg().c_str());
    http_errors += sw.errors + st.errors;
  }
  frb::bench::StopGroup(pid);
  if (a.rounds > 0) {
    auto med = [](std::vector<Figures> v, double Figures::*m) {
      std::vector<double> x;
      for (auto& f : v) x.push_back(f.*m);
      std::sort(x.begin(), x.end());
      return x[x.size() / 2];
    };
    std::sort(ratios.begin(), ratios.end());
    std::printf("median   in-process %.0f QPS p50 %.3f p99 %.3f ms | http %.0f QPS p50 %.3f "
                "p99 %.3f ms\n",
                med(in_r, &Figures::qps), med(in_r, &Figures::p50_ms),
                med(in_r, &Figures::p99_ms), med(http_r, &Figures::qps),
                med(http_r, &Figures::p50_ms), med(http_r, &Figures::p99_ms));
    std::printf("ratio http/in-process QPS: median %.2f (min %.2f, max %.2f; target >= 0.80)\n",
                ratios[ratios.size() / 2], ratios.front(), ratios.back());
    // On a shared machine wall-clock QPS follows whoever else runs; CPU per
    // query does not. in-process CPU / (server + client CPU) is the QPS ratio
    // a saturated dedicated machine would show.
    const double cpu_in = med(in_r, &Figures::cpu_ms_per_query);
    const double cpu_http = med(http_r, &Figures::cpu_ms_per_query);
    std::printf("CPU per query: in-process %.3f ms, http (server + client) %.3f ms; "
                "CPU-efficiency ratio %.2f\n", cpu_in, cpu_http, cpu_in / cpu_http);
  }
  std::printf("load average at end: %s\n", frb::bench::LoadAvg().c_str());
  if (own_dir) env->RemoveAll(a.dir).ok();
  return http_errors == 0 ? 0 : 1;
}
