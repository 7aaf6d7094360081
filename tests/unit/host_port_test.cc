// HostPort: the one parser of HOST:PORT addresses, and what is loopback.
#include "frb/host_port.h"

#include <gtest/gtest.h>

namespace frb {
namespace {

TEST(HostPortTest, ParsesHostsAndBracketedIpv6) {
  auto a = ParseHostPort("127.0.0.1:9464");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9464);
  auto b = ParseHostPort("[::1]:9465");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->ToString(), "[::1]:9465");
  auto c = ParseHostPort("search-1.internal:80");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->UrlHost(), "search-1.internal");
  EXPECT_TRUE(ParseHostPort("0.0.0.0:0", true).ok());
}

TEST(HostPortTest, RefusesMalformedAddresses) {
  for (const char* bad : {"", "9464", ":9464", "host:", "host:0", "host:65536", "host:12a",
                          "::1:9000", "[::1]", "[::1]9000", "[127.0.0.1]:80", "[nope]:80",
                          "bad host:80", "a..b:80", "*:80", "[::1:80"}) {
    EXPECT_FALSE(ParseHostPort(bad).ok()) << bad;
  }
}

TEST(HostPortTest, LoopbackOnlyForLoopbackAddressesAndLocalhost) {
  for (const char* yes : {"127.0.0.1", "127.1.2.3", "::1", "localhost", "::ffff:127.0.0.1"})
    EXPECT_TRUE(IsLoopbackHost(yes)) << yes;
  for (const char* no : {"127.example.net", "127.0.0.1.nip.io", "localhost.evil.com",
                         "LOCALHOST.", "0.0.0.0", "::", "10.0.0.1", "::2", "128.0.0.1", ""})
    EXPECT_FALSE(IsLoopbackHost(no)) << no;
  EXPECT_TRUE(IsWildcardHost("0.0.0.0"));
  EXPECT_TRUE(IsWildcardHost("::"));
  EXPECT_FALSE(IsWildcardHost("127.0.0.1"));
}

}  // namespace
}  // namespace frb

namespace frb {
namespace {

TEST(PercentEncodeTest, KeepsUnreservedAndEncodesEverythingElse) {
  EXPECT_EQ(PercentEncode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(PercentEncode("a/rebuild?x="), "a%2Frebuild%3Fx%3D");
  EXPECT_EQ(PercentEncode("idx/objects/sha256/ab", /*keep_slash=*/true), "idx/objects/sha256/ab");
  EXPECT_EQ(PercentEncode(std::string("\xff \x01", 3)), "%FF%20%01");
}

}  // namespace
}  // namespace frb
