// faiss-rebuildd's bearer-token check of mutating admin endpoints.
#include "token_auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "testutil.h"

namespace frb::rebuildd {
namespace {

std::string TokenFile(const test::TempDir& dir, const std::string& text, mode_t mode = 0600) {
  const std::string path = dir.Sub("token");
  test::WriteText(path, text);
  ::chmod(path.c_str(), mode);
  return path;
}

TEST(TokenAuthTest, DisabledLetsEveryRequestThrough) {
  TokenAuth auth;
  EXPECT_FALSE(auth.enabled());
  EXPECT_TRUE(auth.Check(""));
  EXPECT_TRUE(auth.Check("Bearer anything"));
  auto loaded = TokenAuth::Load("", /*required=*/false, "127.0.0.1:9464");
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->enabled());
}

TEST(TokenAuthTest, BeyondLoopbackATokenIsRequired) {
  auto loaded = TokenAuth::Load("", /*required=*/true, "0.0.0.0:9464");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(loaded.status().message().find("0.0.0.0:9464"), std::string::npos);
}

TEST(TokenAuthTest, AcceptsOnlyTheExactBearerToken) {
  test::TempDir dir;
  auto auth = TokenAuth::Load(TokenFile(dir, "s3cret-token\r\n \t"), true, "0.0.0.0:1");
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
  EXPECT_TRUE(auth->enabled());
  EXPECT_TRUE(auth->Check("Bearer s3cret-token"));
  for (const char* bad : {"", "s3cret-token", "bearer s3cret-token", "Bearer s3cret-toke",
                          "Bearer s3cret-token2", "Bearer s3cret-tokeN", "Bearer ",
                          "Basic czNjcmV0LXRva2Vu", "Bearer  s3cret-token"})
    EXPECT_FALSE(auth->Check(bad)) << bad;
  // A NUL byte does not end the comparison early.
  EXPECT_FALSE(auth->Check(std::string_view("Bearer s3cret-token\0x", 21)));
}

TEST(TokenAuthTest, RefusesGroupOrWorldReadableEmptyAndMissingFiles) {
  test::TempDir dir;
  auto readable = TokenAuth::Load(TokenFile(dir, "t", 0640), true, "0.0.0.0:1");
  ASSERT_FALSE(readable.ok());
  EXPECT_EQ(readable.status().code(), Code::kPermissionDenied);
  auto world = TokenAuth::Load(TokenFile(dir, "t", 0604), true, "0.0.0.0:1");
  EXPECT_EQ(world.status().code(), Code::kPermissionDenied);
  auto empty = TokenAuth::Load(TokenFile(dir, " \n"), true, "0.0.0.0:1");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), Code::kInvalidArgument);
  auto missing = TokenAuth::Load(dir.Sub("none"), true, "0.0.0.0:1");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dir.Sub("none")), std::string::npos);
}

}  // namespace
}  // namespace frb::rebuildd
