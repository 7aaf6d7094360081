// faiss-searchd vs a Python FastAPI + uvicorn + faiss server doing the same
// search (target: >= 10x the QPS at equal results).
//
//   bench_fastapi [--n 1000000] [--dim 128] [--nlist 4096] [--nprobe 16]
//                 [--clients 4,64] [--seconds 10] [--rounds 3] [--dir DIR]
//                 [--workers 1,CORES] [--handler async|sync] [--check 2000]
//                 [--python /usr/bin/python3] [--pythonpath DIR]
//                 [--script tests/bench/fastapi_server.py]
//
// Uses the same benchmark index as bench_searchd (one --dir serves both),
// then starts, on ephemeral ports of 127.0.0.1, two faiss-searchd (as
// shipped, which coalesces concurrent single queries into FAISS batches, and
// with --coalesce-max 1) and one FastAPI server (tests/bench/fastapi_server.py)
// per --workers count, each serving the live version file with the same
// nprobe. First it checks that faiss-searchd and FastAPI answer the same
// --check queries equally (same ids in the same order, distances within 1e-4
// relative; single and batch requests). Then the same single-vector queries
// are driven by the same client (C keep-alive connections, closed loop)
// against each server in turn, alternating for --rounds rounds, once per
// --clients count; QPS, p50, p99 and the CPU per query of the server's whole
// process group plus the client are reported, with medians and ratios.
// The server CPU per query of faiss-searchd (utime+stime of its process
// group from /proc over the phase) is divided by the CPU per query of the
// in-process searches: the cost of HTTP, JSON and threads over FAISS.
// --pythonpath puts a directory first on the Python side's PYTHONPATH (e.g.
// Python bindings of another FAISS build). Each round also runs the
// same searches in-process (C threads, one query per call on 1 OpenMP
// thread each): the FAISS cost of a query searched alone. A last phase
// drives faiss-searchd again and compares every answer under load with the
// same query searched alone, and the batch sizes it ran in are read from
// its /metrics.
// The uvicorn connections are spread evenly over its worker processes
// (a connection stays with the worker that accepted it).
//
// Skips (exit 0) with a message when the Python side is missing:
//   apt-get install python3-fastapi uvicorn python3-faiss
#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/index_io.h>
#include <omp.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "frb/json.h"
#include "searchd_bench_util.h"

namespace {

using frb::bench::Clock;
using frb::bench::Figures;
using frb::bench::MiniHttpClient;

struct Args {
  int64_t n = 1000000;
  int dim = 128;
  int nlist = 4096;
  int nprobe = 16;
  std::vector<int> clients;
  double seconds = 10;
  int rounds = 3;
  int check = 2000;
  std::vector<int> workers;
  std::string handler = "async";
  std::string python = "/usr/bin/python3";
  std::string pythonpath;
  std::string script = std::string(FRB_SOURCE_DIR) + "/tests/bench/fastapi_server.py";
  std::string dir;
};

// Runs a shell command; returns its exit status and output.
int RunCapture(const std::string& cmd, std::string* out) {
  out->clear();
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct Result1 {
  std::vector<int64_t> ids;
  std::vector<double> dist;
};

// ids/distances of each query in a response body (single or batch).
bool ParseResults(const std::string& body, std::vector<Result1>* out) {
  auto j = frb::Json::Parse(body);
  if (!j.ok() || !j->is_object()) return false;
  auto one = [](const frb::Json& o, Result1* r) {
    const frb::Json* ids = o.Find("ids");
    const frb::Json* d = o.Find("distances");
    if (ids == nullptr || d == nullptr || !ids->is_array() || !d->is_array()) return false;
    for (const frb::Json& x : ids->as_array()) r->ids.push_back(x.as_int());
    for (const frb::Json& x : d->as_array()) r->dist.push_back(x.as_double());
    return r->ids.size() == r->dist.size();
  };
  out->clear();
  if (const frb::Json* res = j->Find("results")) {
    if (!res->is_array()) return false;
    for (const frb::Json& o : res->as_array()) {
      out->emplace_back();
      if (!one(o, &out->back())) return false;
    }
    return true;
  }
  out->emplace_back();
  return one(*j, &out->back());
}

enum class Cmp { kEqual, kTieOrder, kDiffer };

// Same ids in the same order and distances within 1e-4 relative; kTieOrder
// when only ids at (nearly) equal distances are swapped.
Cmp Compare(const Result1& a, const Result1& b) {
  if (a.ids.size() != b.ids.size()) return Cmp::kDiffer;
  auto close = [](double x, double y) {
    return std::fabs(x - y) <= 1e-4 * std::max({std::fabs(x), std::fabs(y), 1e-30});
  };
  for (size_t i = 0; i < a.dist.size(); ++i)
    if (!close(a.dist[i], b.dist[i])) return Cmp::kDiffer;
  if (a.ids == b.ids) return Cmp::kEqual;
  return std::multiset<int64_t>(a.ids.begin(), a.ids.end()) ==
                 std::multiset<int64_t>(b.ids.begin(), b.ids.end())
             ? Cmp::kTieOrder
             : Cmp::kDiffer;
}

// The worker pid a connection is served by (fastapi_server.py's /readyz).
long WorkerPid(MiniHttpClient& c) {
  auto r = c.Get("/readyz");
  if (r.status != 200) return 0;
  auto j = frb::Json::Parse(r.body);
  return j.ok() ? static_cast<long>(j->GetInt("workers_pid")) : 0;
}

struct SdServer {
  std::string label;
  pid_t pid = 0;
  int port = 0;
  std::vector<std::unique_ptr<MiniHttpClient>> conns;
  std::vector<Figures> rounds;
};

struct PyServer {
  int workers = 0;
  pid_t pid = 0;
  int port = 0;
  std::vector<std::unique_ptr<MiniHttpClient>> conns;
  std::string spread;  // connections per worker
  std::vector<Figures> rounds;
  std::vector<double> ratios;  // faiss-searchd (as shipped) QPS / this QPS, per round
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  const size_t h = v.size() / 2;
  return v.size() % 2 == 1 ? v[h] : (v[h - 1] + v[h]) / 2;  // even: mean of the middle two
}

double MedianOf(const std::vector<Figures>& v, double Figures::*m) {
  std::vector<double> x;
  for (const Figures& f : v) x.push_back(f.*m);
  return Median(x);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--n") a.n = std::atoll(v.c_str());
    else if (k == "--dim") a.dim = std::atoi(v.c_str());
    else if (k == "--nlist") a.nlist = std::atoi(v.c_str());
    else if (k == "--nprobe") a.nprobe = std::atoi(v.c_str());
    else if (k == "--clients") {
      std::stringstream ss(v);
      std::string c;
      while (std::getline(ss, c, ','))
        if (std::atoi(c.c_str()) > 0) a.clients.push_back(std::atoi(c.c_str()));
    }
    else if (k == "--seconds") a.seconds = std::atof(v.c_str());
    else if (k == "--rounds") a.rounds = std::max(1, std::atoi(v.c_str()));
    else if (k == "--check") a.check = std::max(0, std::atoi(v.c_str()));
    else if (k == "--handler") a.handler = v;
    else if (k == "--python") a.python = v;
    else if (k == "--pythonpath") a.pythonpath = v;
    else if (k == "--script") a.script = v;
    else if (k == "--dir") a.dir = v;
    else if (k == "--workers") {
      std::stringstream ss(v);
      std::string w;
      while (std::getline(ss, w, ','))
        if (std::atoi(w.c_str()) > 0) a.workers.push_back(std::atoi(w.c_str()));
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (a.clients.empty()) a.clients = {4, 64};
  const int max_clients = *std::max_element(a.clients.begin(), a.clients.end());
  std::string clients_text;
  for (int c : a.clients) clients_text += (clients_text.empty() ? "" : ",") + std::to_string(c);
  std::vector<std::string> py_env = {"OMP_NUM_THREADS=1"};
  if (!a.pythonpath.empty()) {
    const char* old = std::getenv("PYTHONPATH");
    py_env.push_back("PYTHONPATH=" + a.pythonpath +
                     (old != nullptr && *old != '\0' ? ":" + std::string(old) : ""));
  }
  if (a.workers.empty()) {
    a.workers.push_back(1);
    if (cores > 1) a.workers.push_back(cores);
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  // The Python side, or a clear skip.
  std::string out;
  const std::string probe = (a.pythonpath.empty() ? "" : "PYTHONPATH='" + a.pythonpath + "' ") +
                            "'" + a.python +
                            "' -c 'import fastapi, uvicorn, faiss, numpy; "
                            "print(faiss.__version__, fastapi.__version__, uvicorn.__version__)'"
                            " 2>&1";
  if (RunCapture(probe, &out) != 0) {
    std::printf("bench_fastapi: SKIPPED: %s cannot import fastapi, uvicorn, faiss and numpy:\n"
                "%s\nInstall the Debian packages: apt-get install python3-fastapi uvicorn "
                "python3-faiss\n", a.python.c_str(), out.c_str());
    return 0;
  }
  if (::access(a.script.c_str(), R_OK) != 0) {
    std::printf("bench_fastapi: SKIPPED: %s not found (--script)\n", a.script.c_str());
    return 0;
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const std::string cxx_faiss = std::to_string(FAISS_VERSION_MAJOR) + "." +
                                std::to_string(FAISS_VERSION_MINOR) + "." +
                                std::to_string(FAISS_VERSION_PATCH);
  std::printf("bench_fastapi: n=%lld dim=%d IVF%d,Flat nprobe=%d clients=%s %gs/phase, "
              "%d rounds\n", static_cast<long long>(a.n), a.dim, a.nlist, a.nprobe,
              clients_text.c_str(), a.seconds, a.rounds);
  std::printf("FAISS: C++ %s; Python faiss, fastapi, uvicorn: %s (%s%s%s)\n", cxx_faiss.c_str(),
              out.c_str(), a.python.c_str(), a.pythonpath.empty() ? "" : ", PYTHONPATH ",
              a.pythonpath.c_str());
  if (out.rfind(cxx_faiss + " ", 0) != 0)
    std::printf("WARNING: the Python faiss version differs from the C++ one\n");
  std::printf("load average at start: %s\n", frb::bench::LoadAvg().c_str());

  frb::Env* env = frb::Env::Default();
  const bool own_dir = a.dir.empty();
  if (own_dir) {
    char tmpl[] = "/tmp/bench_fastapi.XXXXXX";
    a.dir = mkdtemp(tmpl);
  }
  frb::bench::BenchIndex bi;
  if (auto st = frb::bench::SetUpIndex(env, a.dir, a.n, a.dim, a.nlist, a.nprobe, &bi);
      !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  frb::VersionStore store(env, bi.cfg.data_dir, "bench");
  std::printf("index: %s (version %s)\n", store.LivePath().c_str(), bi.version.c_str());

  const int nq = 2000;
  std::vector<float> xq(static_cast<size_t>(nq) * a.dim);
  frb::synth::GenerateRows(7, a.dim, 1024, a.n, nq, xq.data());
  std::vector<std::string> bodies(nq);
  auto vec_json = [&](int i) {
    frb::Json v = frb::Json::MakeArray();
    for (int j = 0; j < a.dim; ++j) v.Push(frb::Json(static_cast<double>(xq[i * a.dim + j])));
    return v;
  };
  for (int i = 0; i < nq; ++i) bodies[i] = "{\"k\":10,\"vector\":" + vec_json(i).Dump() + "}";

  // Servers.
  std::vector<pid_t> all;
  auto fail = [&](const std::string& msg) {
    std::fprintf(stderr, "%s\n", msg.c_str());
    for (pid_t p : all) frb::bench::StopGroup(p);
    return 1;
  };
  // Two faiss-searchd: as shipped (concurrent single queries coalesced into
  // FAISS batches) and with --coalesce-max 1 (every query searched alone).
  // The HTTP pool holds one thread per open connection (see server.cc).
  const int sd_threads = std::max(16, max_clients + 4);
  std::vector<SdServer> sds(2);
  sds[0].label = "faiss-searchd";
  sds[1].label = "searchd, no coalescing";
  for (size_t s = 0; s < sds.size(); ++s) {
    SdServer& sd = sds[s];
    const std::string tag = "searchd" + std::to_string(s);
    const std::string port_file = frb::JoinPath(a.dir, tag + ".port");
    ::unlink(port_file.c_str());
    std::vector<std::string> cmd = {
        std::string(FRB_BIN_DIR) + "/daemon/searchd/faiss-searchd", "--config",
        bi.config_path, "--listen", "127.0.0.1:0", "--port-file", port_file,
        "--threads", std::to_string(sd_threads)};
    if (s == 1) cmd.insert(cmd.end(), {"--coalesce-max", "1"});
    sd.pid = frb::bench::Spawn(cmd, frb::JoinPath(a.dir, tag + ".log"));
    all.push_back(sd.pid);
    sd.port = frb::bench::WaitPort(env, sd.pid, port_file, 10);
    if (sd.port == 0 || !frb::bench::WaitReady(sd.port, sd.pid, 600))
      return fail("faiss-searchd did not become ready (see " + a.dir + "/" + tag + ".log)");
    for (int t = 0; t < max_clients; ++t)
      sd.conns.push_back(std::make_unique<MiniHttpClient>(sd.port));
  }

  std::vector<PyServer> py(a.workers.size());
  for (size_t s = 0; s < py.size(); ++s) {
    PyServer& p = py[s];
    p.workers = a.workers[s];
    const std::string tag = "fastapi-w" + std::to_string(p.workers);
    const std::string port_file = frb::JoinPath(a.dir, tag + ".port");
    ::unlink(port_file.c_str());
    p.pid = frb::bench::Spawn(
        {a.python, a.script, "--index", store.LivePath(), "--name", "bench", "--nprobe",
         std::to_string(a.nprobe), "--workers", std::to_string(p.workers), "--handler",
         a.handler, "--listen", "127.0.0.1:0", "--port-file", port_file},
        frb::JoinPath(a.dir, tag + ".log"), py_env);
    all.push_back(p.pid);
    p.port = frb::bench::WaitPort(env, p.pid, port_file, 60);
    if (p.port == 0) return fail(tag + " did not start (see " + a.dir + "/" + tag + ".log)");
  }
  for (PyServer& p : py) {
    // Every worker loaded (it accepts only after its startup hook read the
    // index): seen answering on fresh connections.
    std::set<long> seen;
    auto end = Clock::now() + std::chrono::seconds(900);
    while (static_cast<int>(seen.size()) < p.workers && Clock::now() < end) {
      MiniHttpClient c(p.port);
      if (long w = WorkerPid(c); w > 0) seen.insert(w);
      else std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (waitpid(p.pid, nullptr, WNOHANG) == p.pid) break;
    }
    if (static_cast<int>(seen.size()) < p.workers)
      return fail("uvicorn with " + std::to_string(p.workers) + " workers: only " +
                  std::to_string(seen.size()) + " answered");
    // The largest client count of connections, spread evenly over the
    // workers and interleaved, so the first C of them (a phase with fewer
    // clients) are spread evenly too.
    std::map<long, std::vector<std::unique_ptr<MiniHttpClient>>> per;
    const int cap = (max_clients + p.workers - 1) / p.workers;
    int opened = 0;
    for (int t = 0; t < max_clients; ++t) {
      for (int attempt = 0; attempt < 200; ++attempt) {
        auto c = std::make_unique<MiniHttpClient>(p.port);
        long w = WorkerPid(*c);
        if (w > 0 && (static_cast<int>(per[w].size()) < cap || attempt == 199)) {
          per[w].push_back(std::move(c));
          ++opened;
          break;
        }
      }
    }
    for (size_t i = 0; static_cast<int>(p.conns.size()) < opened; ++i)
      for (auto& [w, list] : per)
        if (i < list.size()) p.conns.push_back(std::move(list[i]));
    for (auto& [w, list] : per)
      p.spread += (p.spread.empty() ? "" : "/") + std::to_string(list.size());
    if (static_cast<int>(p.conns.size()) != max_clients)
      return fail("cannot open connections to uvicorn");
  }
  std::printf("servers: faiss-searchd x2 (--threads %d, 1 OpenMP thread per FAISS call; "
              "coalescing on and off)", sd_threads);
  for (const PyServer& p : py)
    std::printf("; uvicorn %d worker(s), %s handler, connections per worker %s", p.workers,
                a.handler.c_str(), p.spread.c_str());
  std::printf("\n");

  // Equal results: single queries and one batch, every server vs searchd.
  const std::string path = "/api/v1/indexes/bench/search";
  // One query at a time, so each is searched alone: the reference for the
  // answers under load at the end.
  std::vector<std::vector<int64_t>> alone(nq);
  for (int i = 0; i < nq; ++i) {
    auto r = sds[1].conns[0]->Post(path, bodies[i]);
    std::vector<Result1> x;
    if (r.status != 200 || !ParseResults(r.body, &x) || x.size() != 1)
      return fail("searchd: unusable answer to query " + std::to_string(i));
    alone[i] = x[0].ids;
  }
  for (PyServer& p : py) {
    int64_t equal = 0, ties = 0, differ = 0, bad = 0;
    auto compare_body = [&](const std::string& body) {
      auto r1 = sds[0].conns[0]->Post(path, body);
      auto r2 = p.conns[0]->Post(path, body);
      std::vector<Result1> x, y;
      if (r1.status != 200 || r2.status != 200 || !ParseResults(r1.body, &x) ||
          !ParseResults(r2.body, &y) || x.size() != y.size()) {
        if (bad++ == 0)
          std::printf("  unusable answer: searchd %d %.200s | fastapi %d %.200s\n", r1.status,
                      r1.body.c_str(), r2.status, r2.body.c_str());
        return;
      }
      for (size_t i = 0; i < x.size(); ++i) {
        switch (Compare(x[i], y[i])) {
          case Cmp::kEqual: ++equal; break;
          case Cmp::kTieOrder: ++ties; break;
          case Cmp::kDiffer:
            if (differ++ == 0)
              std::printf("  first difference: searchd %.300s | fastapi %.300s\n",
                          r1.body.c_str(), r2.body.c_str());
            break;
        }
      }
    };
    for (int i = 0; i < std::min(a.check, nq); ++i) compare_body(bodies[i]);
    frb::Json batch = frb::Json::MakeArray();
    for (int i = 0; i < 32; ++i) batch.Push(vec_json(i));
    compare_body("{\"k\":10,\"vectors\":" + batch.Dump() + "}");
    std::printf("equal results (uvicorn %d worker(s)): %lld of %lld query answers equal (ids "
                "in order, distances within 1e-4 relative), %lld equal up to the order of "
                "tied ids, %lld different, %lld unusable answers (%d single queries + 1 batch "
                "of 32)\n",
                p.workers, static_cast<long long>(equal),
                static_cast<long long>(equal + ties + differ), static_cast<long long>(ties),
                static_cast<long long>(differ), static_cast<long long>(bad),
                std::min(a.check, nq));
    if (differ > 0 || bad > 0) return fail("the servers disagree: not comparing speed");
  }

  // The floor both servers share: the same searches in-process (1 OpenMP
  // thread each, C threads), no HTTP, no JSON.
  std::unique_ptr<faiss::Index> idx(faiss::read_index(store.LivePath().c_str()));
  faiss::ParameterSpace().set_index_parameter(idx.get(), "nprobe", a.nprobe);

  // Throughput, alternating servers each round, for each client count.
  auto row = [](int r, const std::string& name, const Figures& f) {
    std::printf("%-6d %-24s %10.1f %10.3f %10.3f %12.3f %12.3f %8lld\n", r, name.c_str(),
                f.qps, f.p50_ms, f.p99_ms, f.cpu_ms_per_query, f.server_cpu_ms_per_query,
                static_cast<long long>(f.errors));
  };
  int64_t errors = 0;
  std::string summary;  // medians of every client count, printed at the end
  auto say = [&summary](const char* fmt, auto... args) {
    char buf[1024];
    std::snprintf(buf, sizeof(buf), fmt, args...);
    summary += buf;
  };
  for (const int clients : a.clients) {
    std::vector<Figures> in_rounds;
    std::vector<double> coalesce_ratios;  // coalescing on / off QPS, per round
    for (SdServer& sd : sds) sd.rounds.clear();
    for (PyServer& p : py) {
      p.rounds.clear();
      p.ratios.clear();
    }
    std::printf("\n-- %d connections --\n%-6s %-24s %10s %10s %10s %12s %12s %8s\n", clients,
                "round", "server", "QPS", "p50 ms", "p99 ms", "CPU ms/query", "(server)",
                "errors");
    for (int r = 1; r <= a.rounds; ++r) {
      Figures in = frb::bench::Drive(clients, a.seconds, nq, 0, [&](int, int q) {
        omp_set_num_threads(1);
        float d[10];
        faiss::Index::idx_t l[10];
        idx->search(1, &xq[static_cast<size_t>(q) * a.dim], 10, d, l);
        return l[0] >= 0;
      });
      row(r, "in-process faiss", in);
      in_rounds.push_back(in);
      for (SdServer& s : sds) {
        Figures f = frb::bench::Drive(clients, a.seconds, nq, s.pid, [&](int t, int q) {
          return s.conns[t]->Post(path, bodies[q]).status == 200;
        });
        row(r, s.label, f);
        s.rounds.push_back(f);
        errors += f.errors;
      }
      const Figures& sd = sds[0].rounds.back();
      coalesce_ratios.push_back(sds[1].rounds.back().qps > 0
                                    ? sd.qps / sds[1].rounds.back().qps : 0);
      for (PyServer& p : py) {
        Figures f = frb::bench::Drive(clients, a.seconds, nq, p.pid, [&](int t, int q) {
          return p.conns[t]->Post(path, bodies[q]).status == 200;
        });
        row(r, "fastapi " + std::to_string(p.workers) + " worker(s)", f);
        p.rounds.push_back(f);
        p.ratios.push_back(f.qps > 0 ? sd.qps / f.qps : 0);
        errors += f.errors;
      }
    }
    const double in_cpu = MedianOf(in_rounds, &Figures::cpu_ms_per_query);
    say("\n== %d connections (medians of %d rounds) ==\n", clients, a.rounds);
    say("in-process faiss, one query per call: %.1f QPS, p50 %.3f ms, CPU %.3f ms/query\n",
        MedianOf(in_rounds, &Figures::qps), MedianOf(in_rounds, &Figures::p50_ms), in_cpu);
    for (const SdServer& sd : sds) {
      const double server_cpu = MedianOf(sd.rounds, &Figures::server_cpu_ms_per_query);
      say("%s: %.1f QPS, p50 %.3f ms, p99 %.3f ms, CPU %.3f ms/query (server alone %.3f)\n",
          sd.label.c_str(), MedianOf(sd.rounds, &Figures::qps),
          MedianOf(sd.rounds, &Figures::p50_ms), MedianOf(sd.rounds, &Figures::p99_ms),
          MedianOf(sd.rounds, &Figures::cpu_ms_per_query), server_cpu);
      say("  server CPU per query / in-process FAISS CPU per query: %.3f (%s; target <= "
          "1.15)\n", in_cpu > 0 ? server_cpu / in_cpu : 0, sd.label.c_str());
    }
    say("ratio coalescing on / off QPS: %.2fx\n", Median(coalesce_ratios));
    const double sd_cpu = MedianOf(sds[0].rounds, &Figures::cpu_ms_per_query);
    for (const PyServer& p : py) {
      const double cpu = MedianOf(p.rounds, &Figures::cpu_ms_per_query);
      say("fastapi %d worker(s): %.1f QPS, p50 %.3f ms, p99 %.3f ms, CPU %.3f ms/query "
          "(server alone %.3f)\n", p.workers, MedianOf(p.rounds, &Figures::qps),
          MedianOf(p.rounds, &Figures::p50_ms), MedianOf(p.rounds, &Figures::p99_ms), cpu,
          MedianOf(p.rounds, &Figures::server_cpu_ms_per_query));
      std::vector<double> r = p.ratios;
      std::sort(r.begin(), r.end());
      say("  ratio faiss-searchd / fastapi %d worker(s) QPS: %.1fx (min %.1f, max %.1f; "
          "target >= 10); CPU-efficiency ratio (fastapi CPU / searchd CPU per query, client "
          "included) %.1fx\n",
          p.workers, Median(p.ratios), r.front(), r.back(), sd_cpu > 0 ? cpu / sd_cpu : 0);
    }
  }
  // Coalesced answers equal the one-at-a-time ones? Same load, every answer
  // parsed and its ids compared (a separate phase: the parsing costs client CPU).
  std::atomic<int64_t> checked{0}, unequal{0};
  Figures chk = frb::bench::Drive(max_clients, a.seconds, nq, sds[0].pid, [&](int t, int q) {
    auto r = sds[0].conns[t]->Post(path, bodies[q]);
    std::vector<Result1> x;
    if (r.status != 200 || !ParseResults(r.body, &x) || x.size() != 1) return false;
    ++checked;
    if (x[0].ids != alone[q]) ++unequal;
    return true;
  });
  errors += chk.errors;
  std::printf("answers under load (faiss-searchd, coalescing): %lld of %lld ids lists equal to "
              "the same query searched alone, %lld differ\n",
              static_cast<long long>(checked - unequal), static_cast<long long>(checked.load()),
              static_cast<long long>(unequal.load()));
  {
    // How large the coalesced batches were, over every phase above.
    auto m = sds[0].conns[0]->Get("/metrics");
    auto value = [&](const std::string& series) {
      const size_t at = m.body.find("\n" + series + " ");
      return at == std::string::npos ? 0.0 : std::atof(m.body.c_str() + at + series.size() + 2);
    };
    const double count = value("faiss_search_batch_size_count{index=\"bench\"}");
    const double sum = value("faiss_search_batch_size_sum{index=\"bench\"}");
    const double le16 = value("faiss_search_batch_size_bucket{index=\"bench\",le=\"16\"}");
    std::printf("coalescing (faiss-searchd): %.0f single queries, mean batch %.1f, %.1f%% in "
                "batches of 17 or more\n", count, count > 0 ? sum / count : 0,
                count > 0 ? 100 * (count - le16) / count : 0);
  }
  const std::string load_end = frb::bench::LoadAvg();
  for (pid_t p : all) frb::bench::StopGroup(p);
  std::printf("%s", summary.c_str());
  std::printf("load average at end: %s\n", load_end.c_str());
  if (own_dir) env->RemoveAll(a.dir).ok();
  return errors == 0 ? 0 : 1;
}
