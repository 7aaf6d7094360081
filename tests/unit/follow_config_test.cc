// search_server's follow keys: parsed with their defaults, bad values named
// with their line.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "frb/config.h"

namespace frb {
namespace {

const char* kIndex = R"(indexes:
  - name: a
    source: { path: /data/a.npy }
    dimension: 8
    factory: Flat
)";

Result<Config> Parse(const std::string& yaml, std::vector<ConfigProblem>* problems = nullptr) {
  ConfigOptions o;
  o.check_sources = false;
  return ParseConfig(yaml, "/etc/frb/config.yaml", Env::Default(), o, problems);
}

TEST(FollowConfigTest, DefaultsServeDataDir) {
  auto c = Parse(kIndex);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->search_follow, "");
  EXPECT_EQ(c->search_cache_dir, "");
  EXPECT_EQ(c->search_follow_interval, std::chrono::seconds(2));
  EXPECT_EQ(c->search_cache_versions, 2);
}

TEST(FollowConfigTest, FollowKeysAreRead) {
  auto c = Parse(std::string("search_server:\n"
                             "  follow: s3://bucket/some/prefix\n"
                             "  cache_dir: cache\n"
                             "  follow_interval: 5s\n"
                             "  cache_versions: 4\n") +
                 kIndex);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->search_follow, "s3://bucket/some/prefix");
  EXPECT_EQ(c->search_cache_dir, "/etc/frb/cache");  // relative to the file
  EXPECT_EQ(c->search_follow_interval, std::chrono::seconds(5));
  EXPECT_EQ(c->search_cache_versions, 4);
}

TEST(FollowConfigTest, BadValuesAreNamedWithTheirLine) {
  std::vector<ConfigProblem> problems;
  auto c = Parse(std::string("search_server:\n"
                             "  follow: /not/a/url\n"
                             "  follow_interval: 0s\n"
                             "  cache_versions: 1\n") +
                     kIndex,
                 &problems);
  ASSERT_FALSE(c.ok());
  ASSERT_EQ(problems.size(), 3u) << c.status().ToString();
  EXPECT_EQ(problems[0].line, 2);
  EXPECT_NE(problems[0].message.find("search_server.follow: expected s3://BUCKET/PREFIX"),
            std::string::npos);
  EXPECT_EQ(problems[1].line, 3);
  EXPECT_NE(problems[1].message.find("search_server.follow_interval"), std::string::npos);
  EXPECT_EQ(problems[2].line, 4);
  EXPECT_NE(problems[2].message.find("search_server.cache_versions"), std::string::npos);
}

}  // namespace
}  // namespace frb
