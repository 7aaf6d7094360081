// The request-head parser of the HTTP toolkit (daemon/common): what the
// connection loop refuses before any worker or body is involved.
#include "request_head.h"

#include <gtest/gtest.h>

namespace frb::http {
namespace {

int ErrorOf(std::string_view head, int max_headers = 100) {
  auto r = ParseRequestHead(head, max_headers);
  if (auto* e = std::get_if<HeadError>(&r)) return e->status;
  return 0;
}

TEST(RequestHeadTest, ParsesMethodPathAndBodyFraming) {
  const std::string head =
      "POST /api/v1/indexes/a/search?x=1 HTTP/1.1\r\nHost: h\r\ncontent-length: 12\r\n"
      "Authorization: Bearer t\r\nExpect: 100-continue\r\n\r\n";
  EXPECT_EQ(FindHeadEnd(head), head.size());
  EXPECT_EQ(FindHeadEnd(head.substr(0, head.size() - 1)), 0u);
  auto r = ParseRequestHead(head, 100);
  ASSERT_TRUE(std::holds_alternative<RequestHead>(r));
  const RequestHead& h = std::get<RequestHead>(r);
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.path, "/api/v1/indexes/a/search");
  EXPECT_EQ(h.content_length.value_or(0), 12u);
  EXPECT_TRUE(h.expect_continue);
  EXPECT_TRUE(h.Mutating());
  EXPECT_EQ(h.Header("AUTHORIZATION"), "Bearer t");
}

TEST(RequestHeadTest, RefusesSmugglingShapesAndTooManyLines) {
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 2), 431);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/2.0\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nBad Name: 1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", 2), 0);
}

}  // namespace
}  // namespace frb::http
