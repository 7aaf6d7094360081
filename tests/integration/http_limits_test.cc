// Hostile HTTP clients against both servers, as real binaries on loopback:
// slow heads, oversized heads and bodies (chunked or not), unauthenticated
// mutating requests with large bodies, too many connections. Each test
// also fails against servers that read requests on a per-connection
// worker with a per-recv timeout (the cpp-httplib default).
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon_process.h"
#include "frb/env.h"
#include "http_client.h"
#include "raw_connection.h"
#include "testutil.h"

namespace frb {
namespace {

using Clock = std::chrono::steady_clock;
using test::Http;
using test::RawConnection;
using test::StatusOf;

// Peak resident set of a process (VmHWM), in bytes.
int64_t PeakRss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;
  return -1;
}

class HttpLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = dir_.Sub("vecs.npy");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 2000, 8, 3).ok());
    token_ = dir_.Sub("token");
    test::WriteText(token_, "t0ken\n");
    ::chmod(token_.c_str(), 0600);
  }
  // `http` and `search` are the bodies of the http: and search_server: maps.
  std::string WriteConfig(const std::string& http, const std::string& search) {
    const std::string path = dir_.Sub("config.yaml");
    test::WriteText(path, "data_dir: " + dir_.Sub("data") + "\n" +
                              "http: { token_file: " + token_ + (http.empty() ? "" : ", ") + http +
                              " }\n" + (search.empty() ? "" : "search_server: { " + search + " }\n") +
                              "indexes:\n"
                              "  - name: small\n"
                              "    source: { path: " + source_ + ", format: npy }\n"
                              "    dimension: 8\n"
                              "    factory: \"Flat\"\n");
    return path;
  }
  // Publishes a first version of "small", so searchd's search route reads bodies.
  void Publish(const std::string& config) {
    auto r = test::RunProcess(
        {test::BinPath("cli/faiss-rebuild"), "--config", config, "--local", "rebuild", "small"},
        {}, 120);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  // Waits until faiss-searchd has every index loaded.
  bool WaitReady() {
    for (int i = 0; i < 200; ++i) {
      if (Http(searchd_port_, "GET", "/readyz").status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  std::unique_ptr<test::RebuilddProcess> StartRebuildd(const std::string& config) {
    auto p = std::make_unique<test::RebuilddProcess>(config, dir_.Sub("rebuildd.log"));
    rebuildd_port_ = p->WaitForPort();
    EXPECT_GT(rebuildd_port_, 0) << p->Log();
    return p;
  }
  std::unique_ptr<test::ChildProcess> StartSearchd(const std::string& config,
                                                   std::vector<std::string> extra = {}) {
    const std::string port_file = dir_.Sub("searchd.port");
    ::unlink(port_file.c_str());
    std::vector<std::string> argv = {test::BinPath("daemon/searchd/faiss-searchd"), "--config",
                                     config, "--listen", "127.0.0.1:0", "--port-file", port_file};
    argv.insert(argv.end(), extra.begin(), extra.end());
    test::ChildOptions o;
    o.capture_stdout = false;
    o.term_grace_ms = 5000;
    auto p = std::make_unique<test::ChildProcess>(argv, dir_.Sub("searchd.log"), o);
    searchd_port_ = 0;
    for (int i = 0; i < 400 && searchd_port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      if (Env::Default()->Exists(port_file)) searchd_port_ = std::atoi(test::ReadText(port_file).c_str());
    }
    EXPECT_GT(searchd_port_, 0) << p->Log();
    return p;
  }

  test::TempDir dir_;
  std::string source_, token_;
  int rebuildd_port_ = 0, searchd_port_ = 0;
};

// 200 connections per server send their heads a few bytes at a time;
// ordinary requests to both servers are still answered within 1 s.
TEST_F(HttpLimitsTest, SlowHeadersHoldNoWorkerOnEitherServer) {
  const std::string config = WriteConfig("", "");
  auto rebuildd = StartRebuildd(config);
  auto searchd = StartSearchd(config);
  ASSERT_GT(rebuildd_port_, 0);
  ASSERT_GT(searchd_port_, 0);
  constexpr int kSlow = 200;
  std::vector<RawConnection> slow;
  for (int port : {rebuildd_port_, searchd_port_})
    for (int i = 0; i < kSlow; ++i) {
      RawConnection c(port);
      ASSERT_TRUE(c.ok());
      ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
      slow.push_back(std::move(c));
    }
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    while (!done) {
      for (RawConnection& c : slow) c.Send("X");
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
  int probes = 0, answered = 0;
  for (int round = 0; round < 20; ++round) {
    for (int port : {rebuildd_port_, searchd_port_}) {
      const auto start = Clock::now();
      auto r = Http(port, "GET", "/healthz", "", "", 1);
      ++probes;
      if (r.status == 200 && Clock::now() - start <= std::chrono::seconds(1)) ++answered;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  done = true;
  trickle.join();
  slow.clear();
  EXPECT_GE(answered * 100, probes * 99) << answered << " of " << probes;
  EXPECT_TRUE(rebuildd->Alive());
  EXPECT_TRUE(searchd->Alive());
}

// Heads beyond max_header_bytes or max_header_count are 431 on both.
TEST_F(HttpLimitsTest, OversizedHeadsAre431) {
  const std::string config = WriteConfig("max_header_bytes: 4096, max_header_count: 20",
                                         "max_header_bytes: 4096, max_header_count: 20");
  auto rebuildd = StartRebuildd(config);
  auto searchd = StartSearchd(config);
  for (int port : {rebuildd_port_, searchd_port_}) {
    EXPECT_EQ(Http(port, "GET", "/healthz", "", "X-Big: " + std::string(5000, 'a') + "\r\n").status,
              431);
    std::string many;
    for (int i = 0; i < 21; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
    EXPECT_EQ(Http(port, "GET", "/healthz", "", many).status, 431);
    // A head that never ends is cut at the limit, not buffered further.
    RawConnection endless(port);
    ASSERT_TRUE(endless.ok());
    endless.Send("GET /healthz HTTP/1.1\r\nX-Endless: " + std::string(64 * 1024, 'b'));
    EXPECT_EQ(StatusOf(endless.Read(2000)), 431);
    EXPECT_EQ(Http(port, "GET", "/healthz", "", "X-Ok: " + std::string(1000, 'a') + "\r\n").status,
              200);
  }
}

// A Content-Length beyond the cap is 413 before any body byte arrives; a
// chunked body is held to the same cap; unauthenticated mutating requests
// to faiss-rebuildd are 401 before their body is read.
TEST_F(HttpLimitsTest, BodiesAreCappedAndRefusedEarly) {
  const std::string config = WriteConfig("", "max_body_bytes: 1048576");
  Publish(config);
  auto rebuildd = StartRebuildd(config);
  auto searchd = StartSearchd(config);
  ASSERT_TRUE(WaitReady());
  auto head_only = [](int port, const std::string& head) {
    RawConnection c(port);
    EXPECT_TRUE(c.ok());
    c.Send(head);
    const auto start = Clock::now();
    const int status = StatusOf(c.Read(1000));
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1000));
    return status;
  };
  EXPECT_EQ(head_only(searchd_port_,
                      "POST /api/v1/indexes/small/search HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: 100000000\r\n\r\n"),
            413);
  EXPECT_EQ(head_only(rebuildd_port_,
                      "POST /api/v1/indexes/small/rebuild HTTP/1.1\r\nHost: x\r\n"
                      "Authorization: Bearer t0ken\r\nContent-Length: 100000000\r\n\r\n"),
            413);
  // No token: refused from the head, even with a 50 MB body announced.
  EXPECT_EQ(head_only(rebuildd_port_,
                      "POST /api/v1/indexes/small/rebuild HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: 50000000\r\n\r\n"),
            401);
  EXPECT_EQ(head_only(rebuildd_port_,
                      "POST /api/v1/reload HTTP/1.1\r\nHost: x\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"),
            401);

  // Chunked bodies beyond the cap: 413; an unknown route is 404 unread.
  auto chunked = [](int port, const std::string& path, const std::string& auth, size_t total) {
    RawConnection c(port);
    EXPECT_TRUE(c.ok());
    c.Send("POST " + path + " HTTP/1.1\r\nHost: x\r\n" + auth +
           "Transfer-Encoding: chunked\r\n\r\n");
    const std::string piece(64 * 1024, ' ');
    char size_line[32];
    std::snprintf(size_line, sizeof(size_line), "%zx\r\n", piece.size());
    bool sent = c.Send("b\r\n{\"vector\":[\r\n");
    for (size_t done = 0; sent && done < total; done += piece.size())
      sent = c.Send(size_line + piece + "\r\n");
    if (sent) c.Send("0\r\n\r\n");
    return StatusOf(c.Read(5000));
  };
  EXPECT_EQ(chunked(searchd_port_, "/api/v1/indexes/small/search", "", 3 << 20), 413);
  EXPECT_EQ(chunked(searchd_port_, "/api/v1/nowhere", "", 3 << 20), 404);
  EXPECT_EQ(chunked(rebuildd_port_, "/api/v1/indexes/small/rebuild",
                    "Authorization: Bearer t0ken\r\n", 256 << 10),
            413);
  EXPECT_EQ(Http(searchd_port_, "GET", "/healthz").status, 200);
  EXPECT_EQ(Http(rebuildd_port_, "GET", "/healthz").status, 200);
}

// Beyond max_connections a new connection is answered 503 at once, and
// closing the others makes room again.
TEST_F(HttpLimitsTest, ConnectionsBeyondTheLimitAreRefusedAtOnce) {
  const std::string config = WriteConfig("max_connections: 8", "max_connections: 8");
  auto rebuildd = StartRebuildd(config);
  auto searchd = StartSearchd(config);
  for (int port : {rebuildd_port_, searchd_port_}) {
    std::vector<RawConnection> held;
    for (int i = 0; i < 8; ++i) {
      held.emplace_back(port);
      ASSERT_TRUE(held.back().ok());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    RawConnection extra(port);
    ASSERT_TRUE(extra.ok());
    extra.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto start = Clock::now();
    const std::string answer = extra.Read(1000);
    EXPECT_EQ(StatusOf(answer), 503) << answer;
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1000));
    extra.Close();
    held.clear();
    int status = 0;
    for (int i = 0; i < 40 && status != 200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      status = Http(port, "GET", "/healthz").status;
    }
    EXPECT_EQ(status, 200);
  }
}

// A head still incomplete after request_timeout is answered 408 and closed,
// however steadily its bytes trickle in.
TEST_F(HttpLimitsTest, RequestTimeoutCoversTheWholeHead) {
  const std::string config = WriteConfig("request_timeout: \"1s\"", "request_timeout: \"1s\"");
  auto rebuildd = StartRebuildd(config);
  auto searchd = StartSearchd(config);
  for (int port : {rebuildd_port_, searchd_port_}) {
    RawConnection c(port);
    ASSERT_TRUE(c.ok());
    c.Send("GET /healthz HTTP/1.1\r\n");
    std::string answer;
    const auto start = Clock::now();
    while (Clock::now() - start < std::chrono::seconds(4) && answer.empty()) {
      c.Send("X");
      answer = c.Read(200);
    }
    EXPECT_EQ(StatusOf(answer), 408) << answer;
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2500));
  }
}

// Four concurrent 100 MB chunked bodies raise faiss-searchd's peak RSS by
// at most 256 MiB: the cap stops each at 64 MiB and nothing buffers them.
TEST_F(HttpLimitsTest, FourHundredMegabyteBodiesStayWithinMemoryBound) {
  const std::string config = WriteConfig("", "");
  Publish(config);
  auto searchd = StartSearchd(config);
  ASSERT_GT(searchd_port_, 0);
  ASSERT_TRUE(WaitReady());
  const int64_t before = PeakRss(searchd->pid());
  ASSERT_GT(before, 0);
  std::vector<std::thread> senders;
  std::atomic<int> refused{0};
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&] {
      RawConnection c(searchd_port_);
      if (!c.ok()) return;
      c.Send("POST /api/v1/indexes/small/search HTTP/1.1\r\nHost: x\r\n"
             "Transfer-Encoding: chunked\r\n\r\nb\r\n{\"vector\":[\r\n");
      const std::string piece(1 << 20, ' ');
      const std::string chunk = "100000\r\n" + piece + "\r\n";
      bool sent = true;
      for (int i = 0; i < 100 && sent; ++i) sent = c.Send(chunk);
      if (sent) c.Send("0\r\n\r\n");
      if (StatusOf(c.Read(10000)) == 413 || !sent) refused++;
    });
  }
  for (auto& t : senders) t.join();
  const int64_t after = PeakRss(searchd->pid());
  EXPECT_EQ(refused.load(), 4);
  EXPECT_LE(after - before, int64_t{256} << 20)
      << "peak RSS " << before / (1 << 20) << " -> " << after / (1 << 20) << " MiB";
  EXPECT_EQ(Http(searchd_port_, "GET", "/healthz").status, 200);
}

// A name that merely starts with "127." is not loopback: without a token
// file the daemon refuses to listen there.
TEST_F(HttpLimitsTest, NamesThatLookLikeLoopbackNeedAToken) {
  const std::string path = dir_.Sub("named.yaml");
  test::WriteText(path, "data_dir: " + dir_.Sub("data") +
                            "\nhttp: { listen: \"127.example.net:9464\" }\n"
                            "indexes:\n"
                            "  - name: small\n"
                            "    source: { path: " + source_ + ", format: npy }\n"
                            "    dimension: 8\n"
                            "    factory: \"Flat\"\n");
  test::ChildProcess d({test::BinPath("daemon/rebuildd/faiss-rebuildd"), "--config", path},
                       dir_.Sub("named.log"));
  ASSERT_TRUE(d.Exited(10000));
  EXPECT_NE(d.exit_code(), 0);
  EXPECT_NE(d.Log().find("token_file"), std::string::npos) << d.Log();
}

// `[::1]:PORT` passes validation and faiss-searchd serves on it.
TEST_F(HttpLimitsTest, BracketedIpv6ListenServes) {
  int probe = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  socklen_t len = sizeof(a);
  if (probe < 0 || ::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    if (probe >= 0) ::close(probe);
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin6_port);
  ::close(probe);
  const std::string config = WriteConfig("", "listen: \"[::1]:" + std::to_string(port) + "\"");
  auto validate = test::RunProcess(
      {test::BinPath("cli/faiss-rebuild"), "config", "validate", config}, {}, 60);
  EXPECT_EQ(validate.exit_code, 0) << validate.out << validate.err;
  test::ChildOptions o;
  o.capture_stdout = false;
  test::ChildProcess searchd({test::BinPath("daemon/searchd/faiss-searchd"), "--config", config},
                             dir_.Sub("v6.log"), o);
  ASSERT_TRUE(searchd.WaitForLog("listening on", 20)) << searchd.Log();
  EXPECT_NE(searchd.Log().find("[::1]:" + std::to_string(port)), std::string::npos) << searchd.Log();
  RawConnection v6(port, "::1");
  ASSERT_TRUE(v6.ok());
  v6.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusOf(v6.Read(2000)), 200);
}

// The CLI refuses names outside the index-name rule instead of putting them
// into a URL, where 'a/rebuild?x=' used to route to another endpoint.
TEST_F(HttpLimitsTest, CliRefusesNamesThatWouldChangeTheRoute) {
  const std::string config = WriteConfig("", "");
  auto rebuildd = StartRebuildd(config);
  const std::string url = "http://127.0.0.1:" + std::to_string(rebuildd_port_);
  for (const std::vector<std::string>& cmd :
       {std::vector<std::string>{"backup", "create", "small/rebuild?x="},
        std::vector<std::string>{"rebuild", "../small"},
        std::vector<std::string>{"restore", "small/backups#", "v1"}}) {
    std::vector<std::string> argv = {test::BinPath("cli/faiss-rebuild"), "--config", config,
                                     "--daemon", url};
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    auto r = test::RunProcess(argv, {}, 60);
    EXPECT_EQ(r.exit_code, 2) << cmd[0] << ": " << r.out << r.err;
    EXPECT_NE(r.err.find("not an index name"), std::string::npos) << r.err;
  }
  auto jobs = Http(rebuildd_port_, "GET", "/api/v1/jobs");
  ASSERT_EQ(jobs.status, 200);
  EXPECT_EQ(jobs.json().Find("jobs")->size(), 0u) << jobs.body;
}

}  // namespace
}  // namespace frb
