// Shared parts of bench_searchd and bench_fastapi: the benchmark index (built
// once per --dir and reused), server processes, the closed-loop load driver
// and CPU accounting over whole process groups.
#pragma once

#include <fcntl.h>
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
#include <dirent.h>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../testutil/mini_http_client.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/rebuild.h"
#include "frb/store.h"
#include "synth.h"

namespace frb::bench {

using Clock = std::chrono::steady_clock;
using frb::searchd::testing::MiniHttpClient;

struct Figures {
  double qps = 0;
  double cpu_ms_per_query = 0;  // CPU of every process involved, per query
  double server_cpu_ms_per_query = 0;  // of that, the server's process group
  double p50_ms = 0;
  double p99_ms = 0;
  int64_t requests = 0;
  int64_t errors = 0;
};

// One request as the load driver saw it: start (seconds since the driver's
// epoch) and latency.
struct Sample {
  double start_s;
  double lat_ms;
  bool ok;
};

// CPU seconds used so far by this process (all threads).
inline double SelfCpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Fields of /proc/PID/stat after the command name: pgrp and utime+stime.
inline bool ReadStat(const std::string& path, long* pgrp, double* cpu) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  char buf[4096];
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
  if (p == nullptr) return false;
  long grp = 0;
  unsigned long long utime = 0, stime = 0;
  // After ")": state(3) ppid(4) pgrp(5) ... utime(14) stime(15).
  if (std::sscanf(p + 2, "%*c %*d %ld %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &grp,
                  &utime, &stime) != 3)
    return false;
  *pgrp = grp;
  *cpu = static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
  return true;
}

// Calls fn("/proc/PID", cpu_seconds) for each live process of group `pgid`.
template <typename Fn>
void ForEachInGroup(pid_t pgid, Fn fn) {
  if (pgid <= 0) return;
  DIR* d = opendir("/proc");
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    long grp = 0;
    double cpu = 0;
    const std::string base = std::string("/proc/") + e->d_name;
    if (ReadStat(base + "/stat", &grp, &cpu) && grp == pgid) fn(base, cpu);
  }
  closedir(d);
}

// CPU seconds used so far by the live processes of process group `pgid`
// (a server and, for uvicorn, its worker processes). Exited processes are
// not counted, so call it while the servers run.
inline double GroupCpu(pid_t pgid) {
  double total = 0;
  ForEachInGroup(pgid, [&](const std::string&, double cpu) { total += cpu; });
  return total;
}

// Sum of one /proc/PID/status field ("VmRSS", "VmHWM") over the live
// processes of group `pgid`, in MiB.
inline double GroupStatusMiB(pid_t pgid, const char* field) {
  double total = 0;
  const size_t len = std::strlen(field);
  ForEachInGroup(pgid, [&](const std::string& base, double) {
    FILE* f = std::fopen((base + "/status").c_str(), "r");
    if (f == nullptr) return;
    char line[256];
    while (std::fgets(line, sizeof(line), f))
      if (std::strncmp(line, field, len) == 0 && line[len] == ':')
        total += std::atof(line + len + 1) / 1024.0;  // kB
    std::fclose(f);
  });
  return total;
}

inline std::string LoadAvg() {
  std::string s = "?";
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    char buf[128] = {0};
    if (std::fgets(buf, sizeof(buf), f)) {
      s = buf;
      // "1.0 2.0 3.0 r/t pid": keep the three averages.
      size_t sp = 0;
      for (int i = 0; i < 3 && sp != std::string::npos; ++i) sp = s.find(' ', sp + 1);
      if (sp != std::string::npos) s.resize(sp);
    }
    std::fclose(f);
  }
  return s;
}

inline double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(p * (v.size() - 1));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

// Runs `clients` closed-loop threads calling one(thread, query#) until `stop`
// is set, each starting at a different query. Returns every request's
// sample; the times are relative to `epoch`.
inline std::vector<Sample> RunLoad(int clients, int nq, Clock::time_point epoch,
                                   const std::atomic<bool>& stop,
                                   const std::function<bool(int, int)>& one) {
  std::vector<std::vector<Sample>> per(clients);
  std::vector<std::thread> th;
  for (int t = 0; t < clients; ++t) {
    th.emplace_back([&, t] {
      per[t].reserve(1 << 16);
      int q = t * 7919 % nq;
      while (!stop.load(std::memory_order_relaxed)) {
        auto s = Clock::now();
        bool ok = one(t, q);
        auto e = Clock::now();
        per[t].push_back({std::chrono::duration<double>(s - epoch).count(),
                          std::chrono::duration<double, std::milli>(e - s).count(), ok});
        q = (q + 1) % nq;
      }
    });
  }
  for (auto& x : th) x.join();
  std::vector<Sample> all;
  for (auto& p : per) all.insert(all.end(), p.begin(), p.end());
  return all;
}

inline Figures Summarize(const std::vector<Sample>& s, double wall_s, double cpu_s) {
  Figures f;
  std::vector<double> lat;
  lat.reserve(s.size());
  for (const Sample& x : s) {
    lat.push_back(x.lat_ms);
    if (!x.ok) ++f.errors;
  }
  f.requests = static_cast<int64_t>(s.size());
  f.qps = wall_s > 0 ? s.size() / wall_s : 0;
  f.cpu_ms_per_query = s.empty() ? 0 : 1000 * cpu_s / s.size();
  f.p50_ms = Pct(lat, 0.50);
  f.p99_ms = Pct(lat, 0.99);
  return f;
}

// Closed-loop load for `seconds`; CPU is counted for this process and the
// process group `server_pgid` (0: none).
inline Figures Drive(int clients, double seconds, int nq, pid_t server_pgid,
                     const std::function<bool(int, int)>& one,
                     std::vector<Sample>* samples = nullptr) {
  const double server0 = GroupCpu(server_pgid);
  const double cpu0 = SelfCpu() + server0;
  std::atomic<bool> stop{false};
  auto start = Clock::now();
  std::thread timer([&] {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
  });
  std::vector<Sample> s = RunLoad(clients, nq, start, stop, one);
  timer.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const double server = GroupCpu(server_pgid) - server0;
  const double cpu = SelfCpu() + server + server0 - cpu0;
  Figures f = Summarize(s, wall, cpu);
  f.server_cpu_ms_per_query = s.empty() ? 0 : 1000 * server / s.size();
  if (samples != nullptr) *samples = std::move(s);
  return f;
}

// The benchmark index: a synthetic source in `dir`, a config, and one
// published version (built with RebuildJob when `dir` holds none yet).
struct BenchIndex {
  std::string dir, source, config_path, version;
  Config cfg;
};

inline Status SetUpIndex(Env* env, const std::string& dir, int64_t n, int dim, int nlist,
                         int nprobe, BenchIndex* out) {
  out->dir = dir;
  out->source = JoinPath(dir, "vecs.npy");
  out->config_path = JoinPath(dir, "config.yaml");
  FRB_RETURN_IF_ERROR(env->CreateDirs(dir));
  if (!env->Exists(out->source)) {
    std::printf("generating %lld x %d vectors into %s\n", static_cast<long long>(n), dim,
                out->source.c_str());
    FRB_RETURN_IF_ERROR(synth::WriteNpy(env, out->source, n, dim, 7, 1024));
  }
  const int64_t train = std::min<int64_t>(n, 40LL * nlist);
  std::string yaml = "data_dir: " + JoinPath(dir, "data") +
                     "\nindexes:\n  - name: bench\n    source: { path: " + out->source +
                     ", format: npy }\n    dimension: " + std::to_string(dim) +
                     "\n    metric: L2\n    factory: \"IVF" + std::to_string(nlist) +
                     ",Flat\"\n    train_sample: " + std::to_string(train) +
                     "\n    search: { nprobe: " + std::to_string(nprobe) +
                     " }\n    validation: { queries: 100, latency_queries: 50,"
                     " min_recall: 0.1, max_p99_ms: 10000 }\n";
  FRB_RETURN_IF_ERROR(WriteFileAtomic(env, out->config_path, yaml));
  FRB_ASSIGN_OR_RETURN(out->cfg, LoadConfig(env, out->config_path));
  VersionStore store(env, out->cfg.data_dir, "bench");
  auto live = store.LiveVersion();
  out->version = live.ok() && *live ? **live : "";
  if (out->version.empty()) {
    auto t0 = Clock::now();
    JobControl control;
    RebuildJob job(env, out->cfg, out->cfg.indexes[0], RebuildOptions{});
    JobOutcome res = job.Run(control);
    FRB_RETURN_IF_ERROR(res.status);
    out->version = res.version_id;
    std::printf("built %s in %.1fs\n", out->version.c_str(),
                std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return Status::Ok();
}

// Starts argv[0] with stderr to `log`, in a new process group (so its
// workers can be counted and stopped together). Returns the pid (= pgid).
inline pid_t Spawn(const std::vector<std::string>& argv, const std::string& log,
                   const std::vector<std::string>& env_add = {}) {
  // Everything the child needs is built before fork (the bench is
  // multi-threaded: the child may only make async-signal-safe calls).
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // env_add first: getenv returns the first match.
  for (const std::string& kv : env_add) envp.push_back(const_cast<char*>(kv.c_str()));
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  if (pid > 0) setpgid(pid, pid);  // also from here: no race with the child
  return pid;
}

// Stops a process group started by Spawn and reaps its leader.
inline void StopGroup(pid_t pid) {
  if (pid <= 0) return;
  kill(-pid, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) {
      kill(-pid, SIGKILL);  // stragglers (worker processes) if any
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(-pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// Waits for the port file a server writes; 0 on timeout or exit.
inline int WaitPort(Env* env, pid_t pid, const std::string& port_file, double timeout_s) {
  auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < end) {
    auto text = ReadFileToString(env, port_file);
    if (text.ok() && std::atoi(text->c_str()) > 0) return std::atoi(text->c_str());
    if (waitpid(pid, nullptr, WNOHANG) == pid) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return 0;
}

// Waits until GET /readyz answers 200; false on timeout or exit.
inline bool WaitReady(int port, pid_t pid, double timeout_s) {
  auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < end) {
    MiniHttpClient probe(port);
    if (probe.Get("/readyz").status == 200) return true;
    if (waitpid(pid, nullptr, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace frb::bench
