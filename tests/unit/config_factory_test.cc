// The configuration parser: factory strings and search parameters as FAISS
// sees them, ranges, index names and required keys.
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

}  // namespace
}  // namespace config_test
}  // namespace frb
