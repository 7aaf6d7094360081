#include "frb/config.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "testutil.h"

namespace frb {
namespace {

using std::chrono::seconds;

// Raw strings start on the line after R"(, so YAML line 1 is the first line
// of text in the test.
std::string Y(const char* text) {
  std::string s(text);
  if (!s.empty() && s[0] == '\n') s.erase(0, 1);
  return s;
}

ConfigOptions NoSources() {
  ConfigOptions o;
  o.check_sources = false;
  return o;
}

struct Parsed {
  Result<Config> result;
  std::vector<ConfigProblem> problems;
};

Parsed Parse(const std::string& yaml,
             const ConfigOptions& options = NoSources(),
             const std::string& file = "/etc/frb/config.yaml") {
  std::vector<ConfigProblem> problems;
  Result<Config> r =
      ParseConfig(yaml, file, Env::Default(), options, &problems);
  return {std::move(r), std::move(problems)};
}

std::string Dump(const std::vector<ConfigProblem>& problems) {
  std::string out;
  for (const auto& p : problems) out += "\n  " + p.ToString();
  return out;
}

// Expects exactly one problem, at line:column, whose message contains `text`.
void ExpectOneProblem(const std::string& yaml, int line, int column,
                      const std::string& text,
                      const ConfigOptions& options = NoSources()) {
  Parsed p = Parse(yaml, options);
  ASSERT_FALSE(p.result.ok()) << yaml;
  EXPECT_EQ(p.result.status().code(), Code::kInvalidArgument);
  ASSERT_EQ(p.problems.size(), 1u) << yaml << Dump(p.problems);
  EXPECT_EQ(p.problems[0].file, "/etc/frb/config.yaml");
  EXPECT_EQ(p.problems[0].line, line) << p.problems[0].ToString();
  EXPECT_EQ(p.problems[0].column, column) << p.problems[0].ToString();
  EXPECT_NE(p.problems[0].message.find(text), std::string::npos)
      << "want '" << text << "' in: " << p.problems[0].ToString();
  EXPECT_EQ(p.result.status().message(), p.problems[0].ToString());
}

// 1-based column of the last `token` in `line`.
int Col(const std::string& line, const std::string& token) {
  return static_cast<int>(line.rfind(token)) + 1;
}

// Expects one problem on line 6, the `extra` line appended to kIndexHead, at
// the last occurrence of `token`.
void ExpectIndexProblem(const std::string& extra, const std::string& token,
                        const std::string& text);

// One valid index on lines 2-5; tests append keys to it at line 6+.
const char* kIndexHead = R"(indexes:
  - name: a
    source: { path: /data/a.npy }
    dimension: 8
    factory: Flat
)";

std::string WithIndexKeys(const std::string& extra) {
  return kIndexHead + extra;
}

void ExpectIndexProblem(const std::string& extra, const std::string& token,
                        const std::string& text) {
  ExpectOneProblem(WithIndexKeys(extra + "\n"), 6, Col(extra, token), text);
}

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
TEST(ConfigTest, FactoryThatWouldAllocateGigabytesIsRefusedUpFront) {
  Parsed p = Parse(Y(R"(
indexes:
  - name: a
    source: { path: /data/a.npy }
    dimension: 65536
    factory: "PQ64x16"
)"));
  ASSERT_EQ(p.problems.size(), 1u) << Dump(p.problems);
  EXPECT_NE(p.problems[0].message.find("PQ64x16 at dimension 65536 needs a 16384 MiB codebook"),
            std::string::npos)
      << p.problems[0].message;
}

TEST(ConfigTest, FactoryRejectedForDimension) {
  Parsed p = Parse(Y(R"(
indexes:
  - name: a
    source: { path: /data/a.npy }
    dimension: 128
    factory: PQ7
)"));
  ASSERT_EQ(p.problems.size(), 1u) << Dump(p.problems);
  const ConfigProblem& problem = p.problems[0];
  EXPECT_EQ(problem.line, 5);
  EXPECT_EQ(problem.column, 14);
  EXPECT_NE(
      problem.message.find("factory: FAISS rejects 'PQ7' for dimension 128: "),
      std::string::npos)
      << problem.message;
  EXPECT_NE(problem.message.find("d % M == 0"), std::string::npos)
      << problem.message;
  EXPECT_EQ(problem.message.find('\n'), std::string::npos);
  EXPECT_EQ(problem.message.find("Error in"), std::string::npos)
      << problem.message;
}

TEST(ConfigTest, FactoryUnparseable) {
  ExpectOneProblem(Y(R"(
indexes:
  - name: a
    source: { path: /data/a.npy }
    dimension: 8
    factory: "IVF64,Flot"
)"),
                   5, 14,
                   "factory: FAISS rejects 'IVF64,Flot' for dimension 8");
}

// faiss::index_factory matches the string with std::regex, which recurses
// per character: 40,000 characters overflowed the stack (SIGSEGV) in
// `config validate`, on reload and in faiss-searchd. Such strings must be
// refused before FAISS (or our own regexes) see them, at the factory value.
TEST(ConfigTest, HostileFactoryStringsAreRefusedBeforeFaissSeesThem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string(40000, 'A'), "is 40000 characters long (at most 256)"},
      {"IVF64," + std::string(40000, '1'), "characters long"},
      {[] {
         std::string f;
         for (int i = 0; i < 8000; ++i) f += "PQ8x8";
         return f;
       }(),
       "characters long"},
      {std::string(10, '(') + "Flat" + std::string(10, ')'), "nests parentheses more than 4 deep"},
      {"IVF64,Flat)", "unmatched ')'"},
      {"IVF64(Flat", "unclosed '('"},
      {"IVF64,Flat;rm", "has ';' at character 11"},
      {"IVF64,*", "has '*' at character 7"},
      {std::string("Flat\x01"), "byte 1"},
  };
  for (const auto& [factory, want] : cases) {
    // YAML double-quoted: control bytes as \xHH escapes.
    std::string quoted;
    for (char c : factory) {
      if (static_cast<unsigned char>(c) < 0x20) {
        char esc[8];
        std::snprintf(esc, sizeof(esc), "\\x%02x", c);
        quoted += esc;
      } else {
        quoted += c;
      }
    }
    std::string yaml = "indexes:\n  - name: a\n    source: { path: /data/a.npy }\n"
                       "    dimension: 8\n    factory: \"" + quoted + "\"\n";
    Parsed p = Parse(yaml);
    ASSERT_EQ(p.problems.size(), 1u) << factory.substr(0, 40) << Dump(p.problems);
    EXPECT_EQ(p.problems[0].line, 5);
    EXPECT_EQ(p.problems[0].column, 14);
    EXPECT_EQ(p.problems[0].message.rfind("factory: the string ", 0), 0u)
        << p.problems[0].message.substr(0, 300);
    EXPECT_NE(p.problems[0].message.find(want), std::string::npos)
        << p.problems[0].message.substr(0, 300);
    // The message stays short: the string itself is not echoed.
    EXPECT_LT(p.problems[0].message.size(), 400u);
  }
  // Real factory strings pass the check (FAISS then judges them).
  for (const char* ok : {"OPQ16_64,IVF256_HNSW32,PQ16x4fsr,RFlat", "IDMap2,Flat", "HNSW32_SQ8",
                         "PCAR16,IVF64(RCQ2x5),SQ8", "IVF64,PQ8+16", "SQfp16"}) {
    Parsed p = Parse("indexes:\n  - name: a\n    source: { path: /data/a.npy }\n"
                     "    dimension: 64\n    factory: \"" + std::string(ok) + "\"\n");
    for (const auto& problem : p.problems)
      EXPECT_EQ(problem.message.find("factory: the string"), std::string::npos)
          << ok << ": " << problem.message;
  }
}

TEST(ConfigTest, EmptyFactoryString) {
  ExpectOneProblem(Y(R"(
indexes:
  - name: a
    source: { path: /data/a.npy }
    dimension: 8
    factory: ""
)"),
                   5, 14, "factory: must not be empty");
}

TEST(ConfigTest, SearchParameters) {
  ExpectOneProblem(WithIndexKeys("    search: { nprob: 4 }\n"), 6, 15,
                   "unknown search parameter 'nprob' (did you mean 'nprobe'?)");
  ExpectOneProblem(WithIndexKeys("    search: { efsearch: 4 }\n"), 6, 15,
                   "(did you mean 'efSearch'?)");
  ExpectOneProblem(WithIndexKeys("    search: { nprobe: lots }\n"), 6, 23,
                   "search.nprobe: expected a positive integer, got 'lots'");
  ExpectOneProblem(WithIndexKeys("    search: { nprobe: 0 }\n"), 6, 23,
                   "search.nprobe: must be at least 1, got 0");
  ExpectOneProblem(WithIndexKeys("    search: { k_factor: 0 }\n"), 6, 25,
                   "search.k_factor: must be greater than 0, got 0");
  // A name FAISS knows, but not for this index type: the validator would
  // fail on it at every rebuild.
  ExpectOneProblem(WithIndexKeys("    search: { nprobe: 4 }\n"), 6, 15,
                   "search.nprobe: does not apply to factory 'Flat'");
}

TEST(ConfigTest, OutOfRangeValues) {
  struct Case {
    std::string line;  // appended to the index at line 6
    std::string token;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"    validation: { k: 0 }", "0",
       "validation.k: must be at least 1, got 0"},
      {"    validation: { queries: 0 }", "0",
       "validation.queries: must be at least 1, got 0"},
      {"    validation: { min_recall: 1.5 }", "1.5",
       "validation.min_recall: must be between 0 and 1, got 1.5"},
      {"    validation: { min_recall: -0.1 }", "-0.1",
       "validation.min_recall: must be between 0 and 1, got -0.1"},
      {"    validation: { max_p99_ms: 0 }", "0",
       "validation.max_p99_ms: must be greater than 0, got 0"},
      {"    validation: { max_count_change: -1 }", "-1",
       "validation.max_count_change: must be at least 0, got -1"},
      {"    validation: { latency_queries: 0 }", "0",
       "validation.latency_queries: must be at least 1"},
      {"    validation: { seed: -1 }", "-1",
       "validation.seed: expected a non-negative integer, got '-1'"},
      {"    train_sample: 0", "0", "train_sample: must be at least 1, got 0"},
      {"    add_batch: -3", "-3", "add_batch: must be at least 1, got -3"},
      {"    threads: -1", "-1", "threads: must be at least 0, got -1"},
      {"    keep_versions: 1", "1", "keep_versions: must be at least 2, got 1"},
      {"    backups: { keep_last: -1 }", "-1",
       "backups.keep_last: must be at least 0, got -1"},
      {"    backups: { keep_daily: -1 }", "-1",
       "backups.keep_daily: must be at least 0"},
      {"    backups: { keep_weekly: -1 }", "-1",
       "backups.keep_weekly: must be at least 0"},
      {"    backups: { zstd_level: 0 }", "0",
       "backups.zstd_level: must be between 1 and 19, got 0"},
      {"    backups: { zstd_level: 20 }", "20",
       "backups.zstd_level: must be between 1 and 19"},
      {"    backups: { zstd_workers: -2 }", "-2",
       "backups.zstd_workers: must be at least 0"},
      {"    threads: 99999999999", "99999999999",
       "threads: must be at most 2147483647"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line);
    ExpectIndexProblem(c.line, c.token, c.message);
  }
  ExpectOneProblem(
      "scheduler: { max_concurrent_builds: 0 }\n", 1, 37,
      "scheduler.max_concurrent_builds: must be at least 1, got 0");
  ExpectOneProblem("scheduler: { misfire: later }\n", 1, 23,
                   "scheduler.misfire: expected run_once or skip, got 'later'");
  ExpectOneProblem("http: { listen: localhost }\n", 1, 17,
                   "http.listen: expected HOST:PORT with a port in 1..65535, "
                   "got 'localhost'");
  ExpectOneProblem("search_server: { listen: 'h:70000' }\n", 1, 26,
                   "search_server.listen");
  ExpectOneProblem(
      "defaults: { backups: { zstd_level: 22 } }\n", 1, 36,
      "defaults.backups.zstd_level: must be between 1 and 19, got 22");
}

TEST(ConfigTest, DuplicateIndexNames) {
  ExpectOneProblem(
      Y(R"(
indexes:
  - name: twin
    source: { path: /data/a.npy }
    dimension: 8
    factory: Flat
  - name: twin
    source: { path: /data/b.npy }
    dimension: 8
    factory: Flat
)"),
      6, 11,
      "duplicate index name 'twin' (first defined at line 2, column 11)");
}

TEST(ConfigTest, InvalidIndexNames) {
  for (const std::string& name :
       std::vector<std::string>{"'../etc'", "'-lead'", "'a b'", "'.hidden'",
                                "'x/y'", std::string(65, 'a')}) {
    SCOPED_TRACE(name);
    ExpectOneProblem(Y(R"(
indexes:
  - source: { path: /data/a.npy }
    dimension: 8
    factory: Flat
    name: )") + name + "\n",
                     5, 11, "name: invalid index name");
  }
  // Exactly 64 characters is the limit.
  std::string ok = std::string(kIndexHead);
  ok.replace(ok.find("name: a"), 7, "name: " + std::string(64, 'z'));
  EXPECT_TRUE(Parse(ok).result.ok());
}

TEST(ConfigTest, MissingRequiredKeys) {
  Parsed p = Parse(Y(R"(
indexes:
  - metric: L2
  - name: b
    source: { format: npy }
)"));
  ASSERT_FALSE(p.result.ok());
  std::vector<std::string> want = {
      "/etc/frb/config.yaml:2:5: indexes[0]: missing required key 'name'",
      "/etc/frb/config.yaml:2:5: indexes[0]: missing required key "
      "'source.path'",
      "/etc/frb/config.yaml:2:5: indexes[0]: missing required key 'dimension'",
      "/etc/frb/config.yaml:2:5: indexes[0]: missing required key 'factory'",
      "/etc/frb/config.yaml:3:5: index 'b': missing required key 'dimension'",
      "/etc/frb/config.yaml:3:5: index 'b': missing required key 'factory'",
      "/etc/frb/config.yaml:4:13: index 'b': missing required key "
      "'source.path'",
  };
  std::vector<std::string> got;
  for (const auto& problem : p.problems) got.push_back(problem.ToString());
  EXPECT_EQ(got, want);
}

TEST(ConfigTest, Timezones) {
  ExpectOneProblem(WithIndexKeys("    timezone: Mars/Olympus\n"), 6, 15,
                   "timezone: unknown timezone 'Mars/Olympus'");
  ExpectOneProblem(
      "scheduler: { timezone: Europe }\n", 1, 24,
      "scheduler.timezone: unknown timezone 'Europe'");  // a directory
  for (const char* bad : {"../zoneinfo/UTC", "/etc/localtime", "Europe/Ber lin",
                          "zone.tab", "Europe/./Berlin"}) {
    SCOPED_TRACE(bad);
    ExpectOneProblem(std::string("scheduler: { timezone: '") + bad + "' }\n", 1,
                     24, "unknown timezone");
  }
  for (const char* good :
       {"UTC", "Etc/GMT+5", "America/Argentina/Buenos_Aires"}) {
    EXPECT_TRUE(Parse(std::string("scheduler: { timezone: '") + good + "' }\n")
                    .result.ok())
        << good;
  }
}

TEST(ConfigTest, TimezoneFromTzdir) {
  // Zones load from $TZDIR through the same loader the scheduler uses, so a
  // zone file that the scheduler could not use fails validation too.
  test::TempDir dir;
  test::WriteText(dir.Sub("Custom"), test::ReadText("/usr/share/zoneinfo/Asia/Tokyo"));
  test::WriteText(dir.Sub("Broken"), "TZif2 but nothing after the magic");
  const char* old = std::getenv("TZDIR");
  std::string saved = old ? old : "";
  ::setenv("TZDIR", dir.path().c_str(), 1);
  bool custom_ok = Parse("scheduler: { timezone: Custom }\n").result.ok();
  bool broken_ok = Parse("scheduler: { timezone: Broken }\n").result.ok();
  if (old)
    ::setenv("TZDIR", saved.c_str(), 1);
  else
    ::unsetenv("TZDIR");
  EXPECT_TRUE(custom_ok);
  EXPECT_FALSE(broken_ok);
}

TEST(ConfigTest, BadCronIsReportedAtTheScheduleValue) {
  auto r = Parse(
      "indexes:\n"
      "  - name: a\n"
      "    source: { path: /x.npy }\n"
      "    dimension: 8\n"
      "    factory: Flat\n"
      "    schedule: \"0 25 * * *\"\n");
  ASSERT_FALSE(r.result.ok());
  ASSERT_EQ(r.problems.size(), 1u) << r.result.status().message();
  EXPECT_EQ(r.problems[0].line, 6);
  EXPECT_EQ(r.problems[0].column, 15);
  EXPECT_NE(r.problems[0].message.find("hour"), std::string::npos) << r.problems[0].message;
}

TEST(ConfigTest, CheckSources) {
  test::TempDir dir;
  Env* env = Env::Default();
  ASSERT_TRUE(synth::WriteNpy(env, dir.Sub("ok.npy"), 100, 16, 1).ok());
  ASSERT_TRUE(synth::WriteNpy(env, dir.Sub("wide.npy"), 100, 32, 1).ok());
  test::WriteText(dir.Sub("q.npy"), "");
  std::string yaml = Y(R"(
defaults:
  validation: { query_file: q.npy }
indexes:
  - name: good
    source: { path: ok.npy }
    dimension: 16
    factory: Flat
  - name: wrong-dim
    source: { path: wide.npy }
    dimension: 16
    factory: Flat
  - name: missing
    source: { path: nope.npy }
    dimension: 16
    factory: Flat
    validation: { query_file: nope-queries.npy }
)");
  std::string file = dir.Sub("config.yaml");
  std::vector<ConfigProblem> problems;
  auto r = ParseConfig(yaml, file, env, ConfigOptions(), &problems);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(problems.size(), 3u) << Dump(problems);
  EXPECT_EQ(problems[0].line, 9);
  EXPECT_EQ(problems[0].column, 21);
  EXPECT_NE(problems[0].message.find("wide.npy"), std::string::npos)
      << problems[0].message;
  EXPECT_EQ(problems[1].line, 13);
  EXPECT_EQ(problems[1].column, 21);
  EXPECT_NE(problems[1].message.find("nope.npy"), std::string::npos)
      << problems[1].message;
  EXPECT_EQ(problems[2].line, 16);
  EXPECT_EQ(problems[2].column, 31);
  EXPECT_NE(problems[2].message.find("validation.query_file: "),
            std::string::npos);
  EXPECT_NE(problems[2].message.find("nope-queries.npy"), std::string::npos);

  // The same file without sources checks is fine, and paths were resolved.
  auto unchecked = ParseConfig(yaml, file, env, NoSources());
  ASSERT_TRUE(unchecked.ok()) << unchecked.status().message();
  EXPECT_EQ(unchecked->indexes[0].source_path, dir.Sub("ok.npy"));
  EXPECT_EQ(unchecked->indexes[0].validation.query_file, dir.Sub("q.npy"));
}

TEST(ConfigTest, ReportsEveryProblem) {
  Parsed p = Parse(Y(R"(
data_dir: /var/lib/frb
scheduler: { max_concurrent_builds: 0 }
indexes:
  - name: a
    source: { path: /data/a.npy, format: npz }
    dimension: 8
    factory: Flat
    validation: { min_recal: 0.5 }
  - name: b
    source: { path: /data/b.npy }
    dimension: 128
    factory: PQ7
    timeout: 30x
)"));
  ASSERT_FALSE(p.result.ok());
  ASSERT_EQ(p.problems.size(), 5u) << Dump(p.problems);
  std::vector<std::pair<int, int>> where;
  for (const auto& problem : p.problems)
    where.emplace_back(problem.line, problem.column);
  EXPECT_EQ(where, (std::vector<std::pair<int, int>>{
                       {2, 37}, {5, 42}, {8, 19}, {12, 14}, {13, 14}}));
  // The status message is every problem, one per line, in file order.
  std::string joined;
  for (const auto& problem : p.problems)
    joined += (joined.empty() ? "" : "\n") + problem.ToString();
  EXPECT_EQ(p.result.status().message(), joined);
}

TEST(ConfigTest, YamlSyntaxError) {
  ExpectOneProblem("data_dir: /x\nhttp: { listen: 'a:1'\n", 3, 1,
                   "YAML syntax error: ");
  ExpectOneProblem("data_dir: /x\n\tindexes: []\n", 2, 1,
                   "YAML syntax error: ");
}

TEST(ConfigTest, EmptyFile) {
  ExpectOneProblem("", 1, 1, "the configuration is empty");
  ExpectOneProblem("# nothing but a comment\n", 1, 1,
                   "the configuration is empty");
}

TEST(ConfigTest, SeveralDocuments) {
  // At the "---" that starts the second document.
  ExpectOneProblem("data_dir: /a\n---\ndata_dir: /b\n", 2, 1,
                   "only one YAML document");
}

// yaml-cpp's LoadAll never returns on this (it reports empty documents
// forever while its memory grows); found by fuzzing. Replayed by Fuzz.config
// too (tests/fuzz/regressions/config/).
TEST(ConfigTest, MalformedInputAfterADocumentEndDoesNotHang) {
  for (const char* yaml : {"... &i { a: b }, c: d }\n",
                           "data_dir: /a\n...\n... &i { a: b }, c: d }\n  - *i\n"}) {
    Parsed p = Parse(yaml);
    EXPECT_FALSE(p.problems.empty()) << yaml;
  }
}

TEST(ConfigTest, ProblemsStayOnOneLine) {
  Parsed p = Parse("http:\n  listen: |\n    a\n    b\n");
  ASSERT_EQ(p.problems.size(), 1u) << Dump(p.problems);
  EXPECT_EQ(p.problems[0].message.find('\n'), std::string::npos);
  EXPECT_NE(p.problems[0].message.find("a\\nb"), std::string::npos)
      << p.problems[0].message;
}

TEST(ConfigTest, NeverThrowsOnOddInput) {
  const std::vector<std::string> inputs = {
      "indexes: [[[[[[[[]]]]]]]]",
      "? [a, b]\n: c\n",
      "indexes:\n  - &x {name: a}\n  - *x\n",
      "a: *undefined\n",
      std::string(5000, '[') + std::string(5000, ']'),
      "indexes:\n  - name: a\n    source: [1]\n    dimension: 8\n    factory: "
      "[Flat]\n",
      "indexes:\n  - name: a\n    source: { path: /a, format: raw-f32 }\n    "
      "dimension: x\n"
      "    factory: Flat\n",
      "defaults: 3\n",
  };
  for (const std::string& yaml : inputs) {
    Parsed p = Parse(yaml, ConfigOptions());
    EXPECT_FALSE(p.result.ok()) << yaml;
    EXPECT_FALSE(p.problems.empty()) << yaml;
  }
}

TEST(ConfigTest, LoadConfigResolvesAgainstFileDirectory) {
  test::TempDir dir;
  Env* env = Env::Default();
  ASSERT_TRUE(env->CreateDirs(dir.Sub("etc")).ok());
  ASSERT_TRUE(synth::WriteNpy(env, dir.Sub("v.npy"), 10, 8, 3).ok());
  std::string path = dir.Sub("etc/config.yaml");
  test::WriteText(
      path, std::string(kIndexHead)
                    .replace(std::string(kIndexHead).find("/data/a.npy"), 11,
                             "../v.npy") +
                "data_dir: state\n");
  auto r = LoadConfig(env, path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->path, path);
  EXPECT_EQ(r->indexes.at(0).source_path, dir.Sub("v.npy"));
  EXPECT_EQ(r->data_dir, dir.Sub("etc/state"));
}

TEST(ConfigTest, LoadConfigMissingFile) {
  test::TempDir dir;
  std::string path = dir.Sub("absent.yaml");
  std::vector<ConfigProblem> problems;
  auto r = LoadConfig(Env::Default(), path, ConfigOptions(), &problems);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].file, path);
  EXPECT_EQ(problems[0].line, 0);
  EXPECT_EQ(r.status().message().rfind(path + ": cannot read config file: ", 0),
            0u)
      << r.status().message();
  EXPECT_NE(r.status().message().find("No such file"), std::string::npos);
  EXPECT_EQ(r.status().message().find(path, 1), std::string::npos)
      << "path repeated";
}

TEST(ConfigTest, LoadConfigReadsThroughEnv) {
  test::TempDir dir;
  std::string path = dir.Sub("config.yaml");
  test::WriteText(path, kIndexHead);
  FaultEnv env(Env::Default(), [](FsOp op, const std::string&) {
    return op == FsOp::kRead ? EIO : 0;
  });
  std::vector<ConfigProblem> problems;
  auto r = LoadConfig(&env, path, NoSources(), &problems);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("cannot read config file"),
            std::string::npos);
}

TEST(ConfigTest, ProblemToString) {
  EXPECT_EQ((ConfigProblem{"c.yaml", 3, 7, "bad"}).ToString(),
            "c.yaml:3:7: bad");
  EXPECT_EQ((ConfigProblem{"c.yaml", 0, 0, "bad"}).ToString(), "c.yaml: bad");
  EXPECT_EQ((ConfigProblem{"", 2, 1, "bad"}).ToString(), "2:1: bad");
  EXPECT_EQ((ConfigProblem{"", 0, 0, "bad"}).ToString(), "bad");
}

TEST(ConfigTest, MetricNames) {
  EXPECT_EQ(MetricName(Metric::kL2), "L2");
  EXPECT_EQ(MetricName(Metric::kIP), "IP");
}

TEST(ConfigTest, ParseDurationTable) {
  const std::vector<std::pair<std::string, int64_t>> good = {
      {"0", 0},
      {"45", 45},
      {"90s", 90},
      {"30m", 1800},
      {"4h", 14400},
      {"1d", 86400},
      {"1h30m", 5400},
      {"2h15m10s", 8110},
      {"1d12h", 129600},
      {"0s", 0},
      {"007m", 420},
      {"1d1s", 86401},
      {"36500d", 3153600000},
  };
  for (const auto& [text, want] : good) {
    auto d = ParseDuration(text);
    ASSERT_TRUE(d.ok()) << text << ": " << d.status().message();
    EXPECT_EQ(d->count(), want) << text;
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "empty"},
      {"-5", "negative"},
      {"-1h", "negative"},
      {"30x", "unknown unit 'x'"},
      {"10ms", "unknown unit 'ms'"},
      {"5 m", "unknown unit ' '"},
      {"1.5h", "fractions are not supported"},
      {"h", "expected a number"},
      {"1h30", "missing unit"},
      {"30m1h", "largest to smallest"},
      {"1h1h", "largest to smallest"},
      {" 5m", "expected a number"},
      {"5m ", "expected a number"},
      {"99999999999999999999", "too large"},
      {"9223372036854775807d", "too large"},
      {"36500d1s", "too large"},
      {"3153600001", "too large"},
  };
  for (const auto& [text, why] : bad) {
    auto d = ParseDuration(text);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_EQ(d.status().code(), Code::kInvalidArgument);
    EXPECT_NE(d.status().message().find(why), std::string::npos)
        << text << ": " << d.status().message();
    EXPECT_NE(d.status().message().find("'" + text + "'"), std::string::npos);
  }
}

TEST(ConfigTest, ExampleConfigIsValid) {
  Parsed p = Parse(ExampleConfig());
  ASSERT_TRUE(p.result.ok()) << p.result.status().message();
  const Config& c = *p.result;
  ASSERT_EQ(c.indexes.size(), 2u);
  EXPECT_EQ(c.indexes[0].name, "horizon-24h");
  EXPECT_EQ(c.indexes[0].search.at("nprobe"), 16);
  EXPECT_DOUBLE_EQ(c.indexes[0].validation.min_recall, 0.95);
  EXPECT_EQ(c.indexes[0].validation.k, 10);
  EXPECT_EQ(c.indexes[1].metric, Metric::kIP);
  EXPECT_EQ(c.indexes[1].validation.k, 20);
  EXPECT_EQ(c.indexes[1].backups.keep_daily, 7);
  // Every key the parser knows appears in the example.
  for (const char* key : {"data_dir:",
                          "backup_dir:",
                          "listen:",
                          "token_file:",
                          "timezone:",
                          "max_concurrent_builds:",
                          "failure_cooldown:",
                          "misfire:",
                          "timeout:",
                          "threads:",
                          "keep_versions:",
                          "train_sample:",
                          "add_batch:",
                          "k:",
                          "queries:",
                          "query_file:",
                          "min_recall:",
                          "max_p99_ms:",
                          "latency_queries:",
                          "max_count_change:",
                          "max_size_change:",
                          "max_recall_drop_vs_live:",
                          "seed:",
                          "keep_last:",
                          "keep_daily:",
                          "keep_weekly:",
                          "zstd_level:",
                          "zstd_workers:",
                          "byte_shuffle:",
                          "name:",
                          "path:",
                          "format:",
                          "dimension:",
                          "metric:",
                          "factory:",
                          "search:",
                          "schedule:"}) {
    EXPECT_NE(ExampleConfig().find(key), std::string::npos) << key;
  }
}

TEST(ConfigTest, ExampleFileMatchesExampleConfig) {
  // config/example.yaml is the copy shipped in the ops kit.
  std::string path =
      JoinPath(DirName(DirName(DirName(__FILE__))), "config/example.yaml");
  auto text = ReadFileToString(Env::Default(), path);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text, ExampleConfig())
      << "regenerate " << path << " from frb::ExampleConfig()";
}

}  // namespace
}  // namespace frb

namespace frb {
namespace {

TEST(ConfigTest, LockWaitFromSchedulerAndPerIndex) {
  const std::string index =
      "    source: { path: /d/x.npy }\n    dimension: 8\n    factory: Flat\n";
  Parsed p = Parse("scheduler: { lock_wait: 2m }\nindexes:\n  - name: a\n" + index +
                   "  - name: b\n    lock_wait: 0\n" + index);
  ASSERT_TRUE(p.result.ok()) << Dump(p.problems);
  EXPECT_EQ(p.result->scheduler.lock_wait, std::chrono::seconds(120));
  EXPECT_FALSE(p.result->indexes[0].lock_wait.has_value());
  ASSERT_TRUE(p.result->indexes[1].lock_wait.has_value());
  EXPECT_EQ(*p.result->indexes[1].lock_wait, std::chrono::seconds(0));  // give up at once
  EXPECT_EQ(Config().scheduler.lock_wait, std::chrono::seconds(600));  // 10m by default
  ExpectOneProblem("scheduler: { lock_wait: soon }\n", 1, 25, "scheduler.lock_wait");
  ExpectOneProblem("defaults: { lock_wait: 1m }\n", 1, 13, "lock_wait");
}

}  // namespace
}  // namespace frb
