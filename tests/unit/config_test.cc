// The configuration parser: values, defaults, overrides and the problems
// it reports with their line and column.
#include "frb/config.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "testutil.h"
#include "config_test_util.h"

namespace frb {
namespace config_test {
namespace {

TEST(ConfigTest, FullConfigWithDefaultsAndOverrides) {
  Parsed p = Parse(Y(R"(
data_dir: data
http: { listen: "0.0.0.0:8080", token_file: secrets/token }
search_server: { listen: "[::1]:9000", report_corruption: off }
scheduler:
  timezone: Europe/Berlin
  max_concurrent_builds: 2
  failure_cooldown: 1h30m
  misfire: skip
defaults:
  timeout: 2h
  threads: 4
  keep_versions: 4
  train_sample: 5000
  add_batch: 1000
  validation: { k: 5, queries: 300, min_recall: 0.8, max_recall_drop_vs_live: 0.05, seed: 7 }
  backups: { keep_last: 3, zstd_level: 9, byte_shuffle: yes }
indexes:
  - name: plain
    source: { path: vectors/a.npy }
    dimension: 16
    factory: "IVF64,Flat"
    search: { nprobe: 8 }
  - name: Tuned.v2_x
    source: { path: /abs/b.fvecs, format: fvecs }
    dimension: 32
    metric: ip
    factory: HNSW16
    search: { efSearch: 40 }
    schedule: "*/5 * * * *"
    timezone: America/New_York
    timeout: 600
    threads: 0
    keep_versions: 2
    train_sample: 10
    add_batch: 7
    validation: { min_recall: 0.99, query_file: ../q.npy, max_recall_drop_vs_live: }
    backups: { keep_last: 0, zstd_workers: 2 }
)"));
  ASSERT_TRUE(p.result.ok()) << p.result.status().message();
  EXPECT_TRUE(p.problems.empty());
  const Config& c = *p.result;
  EXPECT_EQ(c.path, "/etc/frb/config.yaml");
  EXPECT_EQ(c.data_dir, "/etc/frb/data");
  EXPECT_EQ(c.backup_dir, "/etc/frb/data/backups");
  EXPECT_EQ(c.http_listen, "0.0.0.0:8080");
  EXPECT_EQ(c.http_token_file, "/etc/frb/secrets/token");
  EXPECT_EQ(c.search_listen, "[::1]:9000");
  EXPECT_FALSE(c.search_report_corruption);
  EXPECT_EQ(c.scheduler.timezone, "Europe/Berlin");
  EXPECT_EQ(c.scheduler.max_concurrent_builds, 2);
  EXPECT_EQ(c.scheduler.failure_cooldown, seconds(5400));
  EXPECT_EQ(c.scheduler.misfire, "skip");
  ASSERT_EQ(c.indexes.size(), 2u);

  const IndexConfig& a = c.indexes[0];
  EXPECT_EQ(a.name, "plain");
  EXPECT_EQ(a.source_path, "/etc/frb/vectors/a.npy");
  EXPECT_EQ(a.source_format, SourceFormat::kNpy);
  EXPECT_EQ(a.dimension, 16);
  EXPECT_EQ(a.metric, Metric::kL2);
  EXPECT_EQ(a.factory, "IVF64,Flat");
  EXPECT_EQ(a.search, (std::map<std::string, double>{{"nprobe", 8}}));
  EXPECT_EQ(a.schedule, "");
  EXPECT_EQ(a.timezone, "");
  EXPECT_EQ(a.timeout, seconds(7200));
  EXPECT_EQ(a.threads, 4);
  EXPECT_EQ(a.keep_versions, 4);
  EXPECT_EQ(a.train_sample, 5000);
  EXPECT_EQ(a.add_batch, 1000);
  EXPECT_EQ(a.validation.k, 5);
  EXPECT_EQ(a.validation.queries, 300);
  EXPECT_DOUBLE_EQ(a.validation.min_recall, 0.8);
  EXPECT_DOUBLE_EQ(a.validation.max_p99_ms, 50);  // built-in default
  EXPECT_EQ(a.validation.max_recall_drop_vs_live, 0.05);
  EXPECT_EQ(a.validation.seed, 7u);
  EXPECT_EQ(a.backups.keep_last, 3);
  EXPECT_EQ(a.backups.keep_daily, 7);
  EXPECT_EQ(a.backups.zstd_level, 9);
  EXPECT_TRUE(a.backups.byte_shuffle);
  EXPECT_EQ(a.location.line, 18);
  EXPECT_EQ(a.location.column, 5);

  const IndexConfig& b = c.indexes[1];
  EXPECT_EQ(b.name, "Tuned.v2_x");
  EXPECT_EQ(b.source_path, "/abs/b.fvecs");
  EXPECT_EQ(b.source_format, SourceFormat::kFvecs);
  EXPECT_EQ(b.metric, Metric::kIP);
  EXPECT_EQ(b.schedule, "*/5 * * * *");
  EXPECT_EQ(b.timezone, "America/New_York");
  EXPECT_EQ(b.timeout, seconds(600));
  EXPECT_EQ(b.threads, 0);
  EXPECT_EQ(b.keep_versions, 2);
  EXPECT_EQ(b.train_sample, 10);
  EXPECT_EQ(b.add_batch, 7);
  // Per-key merge: overridden keys change, the rest come from defaults.
  EXPECT_DOUBLE_EQ(b.validation.min_recall, 0.99);
  EXPECT_EQ(b.validation.k, 5);
  EXPECT_EQ(b.validation.queries, 300);
  EXPECT_EQ(b.validation.query_file, "/etc/q.npy");
  EXPECT_FALSE(b.validation.max_recall_drop_vs_live.has_value());
  EXPECT_EQ(b.backups.keep_last, 0);
  EXPECT_EQ(b.backups.zstd_workers, 2);
  EXPECT_EQ(b.backups.zstd_level, 9);
  EXPECT_TRUE(b.backups.byte_shuffle);
  EXPECT_EQ(b.location.line, 23);

  EXPECT_EQ(c.FindIndex("Tuned.v2_x"), &b);
  EXPECT_EQ(c.FindIndex("missing"), nullptr);
}

TEST(ConfigTest, BuiltInDefaults) {
  Parsed p = Parse(kIndexHead);
  ASSERT_TRUE(p.result.ok()) << p.result.status().message();
  const Config& c = *p.result;
  EXPECT_EQ(c.data_dir, "/var/lib/faiss-rebuild");
  EXPECT_EQ(c.backup_dir, "/var/lib/faiss-rebuild/backups");
  EXPECT_EQ(c.http_listen, "127.0.0.1:9464");
  EXPECT_EQ(c.scheduler.timezone, "UTC");
  const IndexConfig& a = c.indexes.at(0);
  EXPECT_EQ(a.timeout, seconds(4 * 3600));
  EXPECT_EQ(a.keep_versions, 3);
  EXPECT_EQ(a.validation.k, 10);
  EXPECT_FALSE(a.validation.max_recall_drop_vs_live.has_value());
  EXPECT_EQ(a.backups.zstd_level, 3);
  EXPECT_EQ(a.location.line, 2);
  EXPECT_EQ(a.location.column, 5);
}

TEST(ConfigTest, SourceFormatFromExtensionWhenNotGiven) {
  std::string yaml = Y(R"(
indexes:
  - { name: a, source: { path: /d/a.fvecs }, dimension: 8, factory: Flat }
  - { name: b, source: { path: /d/b.bvecs }, dimension: 8, factory: Flat }
  - { name: c, source: { path: /d/c.bin }, dimension: 8, factory: Flat }
  - { name: d, source: { path: /d/d.fvecs, format: raw-f32 }, dimension: 8, factory: Flat }
)");
  Parsed p = Parse(yaml);
  ASSERT_TRUE(p.result.ok()) << p.result.status().message();
  EXPECT_EQ(p.result->indexes[0].source_format, SourceFormat::kFvecs);
  EXPECT_EQ(p.result->indexes[1].source_format, SourceFormat::kBvecs);
  EXPECT_EQ(p.result->indexes[2].source_format, SourceFormat::kNpy);
  EXPECT_EQ(p.result->indexes[3].source_format, SourceFormat::kRawF32);
}

TEST(ConfigTest, ExplicitBackupDirAndBareFileName) {
  std::vector<ConfigProblem> problems;
  auto r = ParseConfig("data_dir: d\nbackup_dir: /b\n", "config.yaml",
                       Env::Default(), NoSources(), &problems);
  ASSERT_TRUE(r.ok()) << r.status().message();
  // A bare file name lives in the working directory: paths stay relative.
  EXPECT_EQ(r->data_dir, "d");
  EXPECT_EQ(r->backup_dir, "/b");
}

TEST(ConfigTest, UnknownKeySuggestsClosest) {
  ExpectOneProblem(WithIndexKeys("    validation: { min_recal: 0.5 }\n"), 6, 19,
                   "unknown key 'min_recal' (did you mean 'min_recall'?)");
  ExpectOneProblem("data_dri: /x\n", 1, 1,
                   "unknown key 'data_dri' (did you mean 'data_dir'?)");
}

TEST(ConfigTest, UnknownKeyWithoutSuggestion) {
  Parsed p = Parse(WithIndexKeys("    colour: blue\n"));
  ASSERT_EQ(p.problems.size(), 1u) << Dump(p.problems);
  EXPECT_EQ(p.problems[0].message, "unknown key 'colour'");
  EXPECT_EQ(p.problems[0].line, 6);
  EXPECT_EQ(p.problems[0].column, 5);
}

TEST(ConfigTest, PerIndexKeyInDefaults) {
  ExpectOneProblem("defaults:\n  metric: IP\n", 2, 3,
                   "'metric' can only be set per index, not in defaults");
}

TEST(ConfigTest, DuplicateKey) {
  ExpectOneProblem("data_dir: /a\ndata_dir: /b\n", 2, 1,
                   "duplicate key 'data_dir' (first at line 1)");
}

TEST(ConfigTest, WrongType) {
  ExpectOneProblem(Y(R"(
indexes:
  - name: a
    source: { path: /data/a.npy }
    dimension: abc
    factory: Flat
)"),
                   4, 16, "dimension: expected a positive integer, got 'abc'");
  ExpectIndexProblem("    validation: [1, 2]", "[",
                     "validation: expected a mapping, got a list");
  ExpectIndexProblem("    threads: 1.5", "1.5",
                     "threads: expected a non-negative integer, got '1.5'");
  ExpectIndexProblem("    validation: { min_recall: high }", "high",
                     "validation.min_recall: expected a number, got 'high'");
  ExpectIndexProblem(
      "    backups: { byte_shuffle: maybe }", "maybe",
      "backups.byte_shuffle: expected true or false, got 'maybe'");
  ExpectIndexProblem("    schedule: { at: 3 }", "{",
                     "schedule: expected a string, got a mapping");
  ExpectOneProblem("indexes: {a: 1}\n", 1, 10,
                   "indexes: expected a list of indexes");
  ExpectOneProblem("indexes:\n  - just-a-name\n", 2, 5,
                   "indexes[0]: expected a mapping, got 'just-a-name'");
  ExpectOneProblem("- a\n- b\n", 1, 1,
                   "top level: expected a mapping, got a list");
}

TEST(ConfigTest, EmptyValuePointsAtKey) {
  // yaml-cpp marks an empty value at the next token; the key is clearer.
  ExpectOneProblem(Y(R"(
indexes:
  - name: a
    source: { path: /data/a.npy }
    dimension:
    factory: Flat
)"),
                   4, 5, "dimension: expected a positive integer, got nothing");
}

TEST(ConfigTest, BadDuration) {
  ExpectOneProblem(WithIndexKeys("    timeout: 30x\n"), 6, 14,
                   "timeout: invalid duration '30x': unknown unit 'x'");
  ExpectOneProblem(WithIndexKeys("    timeout: 0s\n"), 6, 14,
                   "timeout: must be greater than 0");
  ExpectOneProblem("scheduler: { failure_cooldown: -5m }\n", 1, 32,
                   "scheduler.failure_cooldown: invalid duration '-5m'");
}

TEST(ConfigTest, UnknownMetric) {
  ExpectOneProblem(WithIndexKeys("    metric: cosine\n"), 6, 13,
                   "metric: unknown metric 'cosine' (expected L2 or IP)");
}

TEST(ConfigTest, UnknownSourceFormat) {
  ExpectOneProblem(Y(R"(
indexes:
  - name: a
    source: { path: /data/a.npy, format: hdf5 }
    dimension: 8
    factory: Flat
)"),
                   3, 42, "source.format: unknown source format 'hdf5'");
}

// Found by the config fuzzer: checking this factory used to build a 16 GiB
// codebook. It is refused before FAISS allocates anything.

}  // namespace
}  // namespace config_test
}  // namespace frb
