// The tests' own HTTP clients (tests/testutil/http_client.h,
// raw_connection.h): connection reuse, verbatim paths and headers, raw bytes.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "fake_http_server.h"
#include "fault_proxy.h"
#include "http_client.h"
#include "raw_connection.h"

namespace frb::test {
namespace {

// A keep-alive httplib server on 127.0.0.1 that counts GET /n.
class CountingServer {
 public:
  CountingServer() {
    server_.Get("/n", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::to_string(++hits_), "text/plain");
    });
    server_.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.get_header_value("Content-Type") + " " + req.body, "text/plain");
    });
    server_.set_keep_alive_timeout(60);
    port_ = server_.bind_to_any_port("127.0.0.1");  // listens: connects queue until the loop runs
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~CountingServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  httplib::Server server_;
  std::atomic<int> hits_{0};
  int port_ = 0;
  std::thread thread_;
};

TEST(HttpClientTest, HttpConnectionKeepsOneConnectionHttpOpensOneEach) {
  CountingServer server;
  ASSERT_GT(server.port(), 0);
  FaultProxy proxy(server.port());  // counts the connections it is handed
  {
    HttpConnection c(proxy.port());
    for (int i = 1; i <= 3; ++i) {
      auto r = c.Get("/n");
      ASSERT_EQ(r.status, 200);
      EXPECT_EQ(r.body, std::to_string(i));
    }
    auto echo = c.Post("/echo", "{}");
    EXPECT_EQ(echo.body, "application/json {}");
    EXPECT_EQ(proxy.connections(), 1);
    // After Close the next request opens a new connection.
    c.Close();
    EXPECT_EQ(c.Get("/n").status, 200);
    EXPECT_EQ(proxy.connections(), 2);
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Http(proxy.port(), "GET", "/n").status, 200);
  EXPECT_EQ(proxy.connections(), 5);
}

TEST(HttpClientTest, HttpSendsThePathVerbatimWithItsHeaders) {
  FakeHttpServer server(202);
  const std::string path = "/api/v1/indexes/a,b;c%2Fd?x='y'&z=+";
  auto r = Http(server.port(), "POST", path, "", "Authorization: Bearer t\r\nX-Two: 2\r\n");
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.json().GetString("job_id"), "j1");
  ASSERT_TRUE(server.WaitRequests(1, 5));
  const std::string head = server.requests()[0];
  EXPECT_EQ(head.substr(0, head.find("\r\n")), "POST " + path + " HTTP/1.1");
  EXPECT_NE(head.find("\r\nAuthorization: Bearer t"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nX-Two: 2"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nContent-Length: 0"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nConnection: close"), std::string::npos) << head;
}

TEST(HttpClientTest, NothingListeningIsStatusZero) {
  const int port = FreePort();
  EXPECT_EQ(Http(port, "GET", "/healthz", "", "", 2).status, 0);
  HttpConnection c(port);
  EXPECT_EQ(c.Get("/healthz").status, 0);
  EXPECT_FALSE(RawConnection(port).ok());
}

TEST(RawConnectionTest, SendsExactlyItsBytesAndReadsTheAnswer) {
  FakeHttpServer server(431);
  RawConnection c(server.port());
  ASSERT_TRUE(c.ok());
  // Not a request any client library would send: no Host, odd spacing.
  ASSERT_TRUE(c.Send("GET  /x HTTP/1.1\r\nX-A:b"));
  ASSERT_TRUE(c.Send("\r\n\r\n"));
  const std::string answer = c.Read(5000);
  EXPECT_EQ(StatusOf(answer), 431) << answer;
  ASSERT_TRUE(server.WaitRequests(1, 5));
  EXPECT_EQ(server.requests()[0], "GET  /x HTTP/1.1\r\nX-A:b");
  EXPECT_EQ(StatusOf("garbage"), 0);
  EXPECT_FALSE(RawConnection(server.port(), "not-an-address").ok());
}

// The server keeps the connection open for a minute: only the marker can
// end the read before its 30 s bound.
TEST(RawConnectionTest, ReadStopsAtTheMarker) {
  CountingServer server;
  RawConnection c(server.port());
  ASSERT_TRUE(c.Send("GET /n HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto start = std::chrono::steady_clock::now();
  const std::string answer = c.Read(30000, "\r\n\r\n1");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(25));
  EXPECT_EQ(StatusOf(answer), 200) << answer;
}

}  // namespace
}  // namespace frb::test
