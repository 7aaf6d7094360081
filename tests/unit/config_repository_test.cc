// The `repository:` section of the configuration.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "frb/config.h"
#include "frb/env.h"

namespace frb {
namespace {

const char* kIndex =
    "indexes:\n"
    "  - name: a\n"
    "    source: { path: /x.npy, format: npy }\n"
    "    dimension: 8\n"
    "    factory: Flat\n";

Result<Config> Parse(const std::string& repo, std::vector<ConfigProblem>* problems) {
  ConfigOptions o;
  o.check_sources = false;
  return ParseConfig("data_dir: /tmp/d\n" + repo + kIndex, "c.yaml", Env::Default(), o, problems);
}

TEST(ConfigRepositoryTest, DefaultsAndValues) {
  std::vector<ConfigProblem> p;
  auto none = Parse("", &p);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->repository.url.empty());
  auto c = Parse("repository:\n"
                 "  url: s3://my-bucket/fleet/\n"
                 "  endpoint: http://127.0.0.1:9000\n"
                 "  region: eu-west-1\n"
                 "  path_style: true\n"
                 "  part_size: 8MiB\n"
                 "  parallelism: 6\n"
                 "  keep_versions: 3\n"
                 "  grace: 10m\n"
                 "  interval: 5s\n",
                 &p);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const RepositoryConfig& r = c->repository;
  EXPECT_EQ(r.url, "s3://my-bucket/fleet");
  EXPECT_EQ(r.endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(r.region, "eu-west-1");
  EXPECT_TRUE(r.path_style);
  EXPECT_EQ(r.part_size, 8u << 20);
  EXPECT_EQ(r.parallelism, 6);
  EXPECT_EQ(r.keep_versions, 3);
  EXPECT_EQ(r.grace.count(), 600);
  EXPECT_EQ(r.interval.count(), 5);
}

TEST(ConfigRepositoryTest, EveryProblemIsReportedWithItsLine) {
  std::vector<ConfigProblem> p;
  auto c = Parse("repository:\n"
                 "  url: http://bucket/x\n"
                 "  endpoint: 127.0.0.1:9000\n"
                 "  part_size: 1MiB\n"
                 "  keep_versions: 1\n"
                 "  path_stile: true\n",
                 &p);
  ASSERT_FALSE(c.ok());
  ASSERT_EQ(p.size(), 5u) << c.status().ToString();
  EXPECT_EQ(p[0].line, 3);
  EXPECT_NE(p[0].message.find("repository.url"), std::string::npos);
  EXPECT_NE(p[1].message.find("repository.endpoint"), std::string::npos);
  EXPECT_NE(p[2].message.find("repository.part_size"), std::string::npos);
  EXPECT_NE(p[3].message.find("repository.keep_versions"), std::string::npos);
  EXPECT_NE(p[4].message.find("did you mean path_style"), std::string::npos) << p[4].message;
}

TEST(ConfigRepositoryTest, BackupDirMayBeAnS3UrlKeptAsIs) {
  std::vector<ConfigProblem> p;
  auto c = Parse("backup_dir: s3://my-backups/faiss/host-a/\n", &p);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->backup_dir, "s3://my-backups/faiss/host-a");  // not resolved as a path
  ConfigOptions o;
  o.check_sources = false;
  auto rel = ParseConfig("data_dir: /tmp/d\nbackup_dir: bk\n" + std::string(kIndex), "/etc/x/c.yaml",
                         Env::Default(), o, &p);
  ASSERT_TRUE(rel.ok()) << rel.status().ToString();
  EXPECT_EQ(rel->backup_dir, "/etc/x/bk");
  // A repository: section without url names only the store of s3:// backups.
  p.clear();
  auto store_only = Parse("backup_dir: s3://my-backups/h\nrepository:\n  endpoint: http://127.0.0.1:9000\n"
                          "  path_style: true\n", &p);
  ASSERT_TRUE(store_only.ok()) << store_only.status().ToString();
  EXPECT_TRUE(store_only->repository.url.empty());
  EXPECT_EQ(store_only->repository.endpoint, "http://127.0.0.1:9000");
  EXPECT_FALSE(Parse("repository:\n  endpoint: http://127.0.0.1:9000\n", &p).ok());
  p.clear();
  auto bad = Parse("backup_dir: s3://B/x\n", &p);
  EXPECT_FALSE(bad.ok());
  ASSERT_FALSE(p.empty());
  EXPECT_NE(p[0].message.find("backup_dir"), std::string::npos) << p[0].message;
  EXPECT_EQ(p[0].line, 2);
}

}  // namespace
}  // namespace frb
