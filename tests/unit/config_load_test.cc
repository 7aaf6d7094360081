// The configuration parser: schedules and zones, source checks, reporting
// every problem, odd input, loading files, and the example config.
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
}  // namespace config_test
}  // namespace frb
