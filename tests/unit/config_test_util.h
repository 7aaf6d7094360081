// What the config tests share: parsing YAML text without touching sources,
// and expecting one problem at a line and column.
#pragma once

#include "frb/config.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "testutil.h"

namespace frb {
namespace config_test {

using std::chrono::seconds;

// Raw strings start on the line after R"(, so YAML line 1 is the first line
// of text in the test.
inline std::string Y(const char* text) {
  std::string s(text);
  if (!s.empty() && s[0] == '\n') s.erase(0, 1);
  return s;
}

inline ConfigOptions NoSources() {
  ConfigOptions o;
  o.check_sources = false;
  return o;
}

struct Parsed {
  Result<Config> result;
  std::vector<ConfigProblem> problems;
};

inline Parsed Parse(const std::string& yaml,
             const ConfigOptions& options = NoSources(),
             const std::string& file = "/etc/frb/config.yaml") {
  std::vector<ConfigProblem> problems;
  Result<Config> r =
      ParseConfig(yaml, file, Env::Default(), options, &problems);
  return {std::move(r), std::move(problems)};
}

inline std::string Dump(const std::vector<ConfigProblem>& problems) {
  std::string out;
  for (const auto& p : problems) out += "\n  " + p.ToString();
  return out;
}

// Expects exactly one problem, at line:column, whose message contains `text`.
inline void ExpectOneProblem(const std::string& yaml, int line, int column,
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
inline int Col(const std::string& line, const std::string& token) {
  return static_cast<int>(line.rfind(token)) + 1;
}

// Expects one problem on line 6, the `extra` line appended to kIndexHead, at
// the last occurrence of `token`.
inline void ExpectIndexProblem(const std::string& extra, const std::string& token,
                        const std::string& text);

// One valid index on lines 2-5; tests append keys to it at line 6+.
inline const char* kIndexHead = R"(indexes:
  - name: a
    source: { path: /data/a.npy }
    dimension: 8
    factory: Flat
)";

inline std::string WithIndexKeys(const std::string& extra) {
  return kIndexHead + extra;
}

inline void ExpectIndexProblem(const std::string& extra, const std::string& token,
                        const std::string& text) {
  ExpectOneProblem(WithIndexKeys(extra + "\n"), 6, Col(extra, token), text);
}

}  // namespace config_test
}  // namespace frb
