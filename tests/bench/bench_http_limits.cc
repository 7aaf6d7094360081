// bench_http_limits: hostile clients against faiss-searchd and
// faiss-rebuildd, real binaries on loopback. Prints, for each server:
//   - with --slow connections per server sending their heads a byte at a
//     time for --hold seconds: the share of ordinary requests answered
//     within 1 s, and their p50/p99 latency;
//   - the rise of the server's peak RSS (VmHWM) while --bodies concurrent
//     bodies of --body-mb MB arrive: chunked whitespace to the search route
//     and to an unauthenticated rebuild, and Content-Length batches just
//     under searchd's 64 MiB cap (the JSON-tree case).
// --bin-dir runs other builds of the binaries (e.g. an older tree) for a
// before/after comparison. A program, not a test: it prints figures.
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <mutex>

#include "raw_connection.h"
#include "searchd_bench_util.h"

namespace frb::bench {
namespace {

using test::RawConnection;

// Status code of the response read within `ms`, 0 for none.
int ReadStatus(RawConnection& c, int ms) { return test::StatusOf(c.Read(ms, "\r\n")); }

// One request on a fresh connection; seconds until the status line, or -1.
double Probe(int port, const std::string& request) {
  const auto t0 = Clock::now();
  RawConnection c(port);
  if (!c.ok()) return -1;
  c.Send(request);
  const int status = ReadStatus(c, 1000);
  c.Close();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return status >= 200 && status < 300 ? s : -1;
}

int64_t PeakRssMiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6) / 1024;
  return -1;
}

int PortFromLog(const std::string& log, pid_t pid) {
  for (int i = 0; i < 400; ++i) {
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t at = text.find("listening on ");
    if (at != std::string::npos) {
      size_t colon = text.find_first_of("\n", at);
      size_t p = text.rfind(':', colon);
      return std::atoi(text.c_str() + p + 1);
    }
    if (waitpid(pid, nullptr, WNOHANG) == pid) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return 0;
}

struct Server {
  std::string name;
  pid_t pid = 0;
  int port = 0;
  std::string probe;  // an ordinary request
};

void SlowHeads(std::vector<Server>& servers, int slow, double hold_s) {
  std::vector<RawConnection> conns;
  for (auto& s : servers)
    for (int i = 0; i < slow; ++i) {
      RawConnection c(s.port);
      if (c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n")) conns.push_back(std::move(c));
    }
  std::printf("slow heads: %zu connections open, held %.0f s, one byte each per 0.5 s\n",
              conns.size(), hold_s);
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    while (!done) {
      for (RawConnection& c : conns) c.Send("X");
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });
  std::vector<std::vector<double>> lat(servers.size());
  std::vector<int> sent(servers.size());
  const auto end = Clock::now() + std::chrono::duration<double>(hold_s);
  while (Clock::now() < end) {
    for (size_t i = 0; i < servers.size(); ++i) {
      ++sent[i];
      double s = Probe(servers[i].port, servers[i].probe);
      if (s >= 0 && s <= 1.0) lat[i].push_back(s * 1000);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  done = true;
  trickle.join();
  conns.clear();
  for (size_t i = 0; i < servers.size(); ++i)
    std::printf("  %-14s answered within 1 s: %zu of %d (%.1f %%), p50 %.1f ms, p99 %.1f ms\n",
                servers[i].name.c_str(), lat[i].size(), sent[i],
                100.0 * lat[i].size() / std::max(1, sent[i]), Pct(lat[i], 0.5), Pct(lat[i], 0.99));
}

// `bodies` concurrent requests: `head` then `mb` MB of `filler` (chunked
// when `chunked`); returns the server's peak RSS rise in MiB.
int64_t Bodies(const Server& s, int bodies, int mb, const std::string& head, bool chunked,
               const std::string& prefix, const std::string& filler) {
  const int64_t before = PeakRssMiB(s.pid);
  std::vector<std::thread> t;
  std::mutex mu;
  std::map<int, int> statuses;
  for (int i = 0; i < bodies; ++i)
    t.emplace_back([&] {
      RawConnection c(s.port);
      if (!c.ok()) return;
      const size_t piece_size = 1 << 20;
      std::string piece;
      while (piece.size() < piece_size) piece += filler;
      piece.resize(piece_size);
      bool ok = c.Send(head);
      if (chunked) {
        char line[32];
        std::snprintf(line, sizeof(line), "%zx\r\n", prefix.size());
        ok = ok && c.Send(line + prefix + "\r\n");
        std::snprintf(line, sizeof(line), "%zx\r\n", piece.size());
        for (int m = 0; m < mb && ok; ++m) ok = c.Send(line + piece + "\r\n");
        if (ok) c.Send("0\r\n\r\n");
      } else {
        ok = ok && c.Send(prefix);
        for (int m = 0; m < mb && ok; ++m) ok = c.Send(piece);
      }
      const int status = ReadStatus(c, 30000);
      c.Close();
      std::lock_guard<std::mutex> lock(mu);
      statuses[ok ? status : -status]++;
    });
  for (auto& th : t) th.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::string answers;
  for (auto [st, n] : statuses)
    answers += std::to_string(n) + "x" + (st < 0 ? "(cut while sending) " : "") +
               std::to_string(std::abs(st)) + " ";
  const int64_t rise = PeakRssMiB(s.pid) - before;
  std::printf("    answers: %s; peak RSS %lld -> %lld MiB (+%lld MiB)\n", answers.c_str(),
              static_cast<long long>(before), static_cast<long long>(before + rise),
              static_cast<long long>(rise));
  return rise;
}

int Main(int argc, char** argv) {
  std::string dir = "/tmp/frb-bench-http", bin_dir = FRB_BIN_DIR;
  int slow = 200, bodies = 4, body_mb = 100, batch = 1;
  double hold = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--dir") dir = v;
    else if (k == "--bin-dir") bin_dir = v;
    else if (k == "--slow") slow = std::atoi(v.c_str());
    else if (k == "--hold") hold = std::atof(v.c_str());
    else if (k == "--bodies") bodies = std::atoi(v.c_str());
    else if (k == "--body-mb") body_mb = std::atoi(v.c_str());
    else if (k == "--batch") batch = std::atoi(v.c_str());  // 0: skip (GBs on old builds)
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  Env* env = Env::Default();
  BenchIndex idx;
  if (Status s = SetUpIndex(env, dir, 20000, 32, 64, 8, &idx); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  const std::string token = JoinPath(dir, "token");
  (void)WriteFileAtomic(env, token, "bench-token\n");
  ::chmod(token.c_str(), 0600);
  const std::string config = JoinPath(dir, "config-http.yaml");
  auto yaml = ReadFileToString(env, idx.config_path);
  (void)WriteFileAtomic(env, config, "http: { token_file: " + token + " }\n" + *yaml);

  const std::string port_file = JoinPath(dir, "searchd.port");
  (void)env->RemoveFile(port_file);
  Server searchd, rebuildd;
  searchd.name = "faiss-searchd";
  rebuildd.name = "faiss-rebuildd";
  searchd.pid = Spawn({bin_dir + "/daemon/searchd/faiss-searchd", "--config", config, "--listen",
                       "127.0.0.1:0", "--port-file", port_file},
                      JoinPath(dir, "searchd.log"));
  searchd.port = WaitPort(env, searchd.pid, port_file, 20);
  const std::string rlog = JoinPath(dir, "rebuildd.log");
  (void)env->RemoveFile(rlog);  // a stale "listening on" must not be read before the child's
  rebuildd.pid = Spawn({bin_dir + "/daemon/rebuildd/faiss-rebuildd", "--config", config,
                        "--listen", "127.0.0.1:0"},
                       rlog);
  rebuildd.port = PortFromLog(rlog, rebuildd.pid);
  if (searchd.port == 0 || rebuildd.port == 0 || !WaitReady(searchd.port, searchd.pid, 60)) {
    std::fprintf(stderr, "servers did not start (logs in %s)\n", dir.c_str());
    StopGroup(searchd.pid);
    StopGroup(rebuildd.pid);
    return 1;
  }
  std::string vec = "[";
  for (int i = 0; i < 32; ++i) vec += (i ? "," : "") + std::to_string(0.01 * i);
  vec += "]";
  const std::string body = "{\"vector\":" + vec + "}";
  searchd.probe = "POST /api/v1/indexes/bench/search HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  rebuildd.probe = "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  std::printf("binaries from %s; searchd :%d, rebuildd :%d\n", bin_dir.c_str(), searchd.port,
              rebuildd.port);

  std::vector<Server> both = {searchd, rebuildd};
  SlowHeads(both, slow, hold);

  std::printf("%d concurrent %d MB chunked bodies to searchd's search route:\n", bodies, body_mb);
  const std::string search_head =
      "POST /api/v1/indexes/bench/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  Bodies(searchd, bodies, body_mb, search_head, true, "{\"vector\":[", " ");
  std::printf("%d concurrent %d MB chunked bodies, no token, to rebuildd's rebuild route:\n",
              bodies, body_mb);
  Bodies(rebuildd, bodies, body_mb,
         "POST /api/v1/indexes/bench/rebuild HTTP/1.1\r\nHost: x\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         true, "{", " ");
  const int batch_mb = 60;
  if (batch) std::printf("%d concurrent %d MB Content-Length batches (under the 64 MiB cap) to searchd:\n",
              bodies, batch_mb);
  if (batch) Bodies(searchd, bodies, batch_mb,
         "POST /api/v1/indexes/bench/search HTTP/1.1\r\nHost: x\r\nContent-Length: " +
             std::to_string(batch_mb << 20) + "\r\n\r\n",
         false, "{\"vectors\":[" + vec, "," + vec);
  StopGroup(searchd.pid);
  StopGroup(rebuildd.pid);
  return 0;
}

}  // namespace
}  // namespace frb::bench

int main(int argc, char** argv) { return frb::bench::Main(argc, argv); }
