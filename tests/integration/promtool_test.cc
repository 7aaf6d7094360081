// The ops kit's Prometheus side, checked by the real tools: the alert rules
// pass `promtool check rules` and their unit tests (`promtool test rules`),
// every PromQL expression of the Grafana dashboards parses, and alerts,
// alert tests and dashboards use only the metric and label names of the
// metrics contract (docs/runbooks/README.md), so a typo fails here rather
// than as a silently empty panel or an alert that can never fire.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "frb/build_info.h"
#include "frb/env.h"
#include "frb/json.h"
#include "synth.h"
#include "daemon_process.h"
#include "http_client.h"
#include "testutil.h"

namespace frb {
namespace {

const char* kPromtool = "/usr/bin/promtool";

std::string Src(const std::string& rel) { return std::string(FRB_SOURCE_DIR) + "/" + rel; }

const std::vector<std::string> kDashboards = {"dashboards/faiss-rebuild-overview.json",
                                              "dashboards/faiss-rebuild-index.json"};

// The metrics contract: faiss-rebuildd (faiss_rebuild_*), faiss-searchd
// (faiss_search_*), and `up` for the scrape jobs.
std::set<std::string> ContractMetrics() {
  std::set<std::string> names = {
      "up",
      "faiss_rebuild_builds_total",
      "faiss_rebuild_last_success_timestamp_seconds",
      "faiss_rebuild_consecutive_failures",
      "faiss_rebuild_live_version_info",
      "faiss_rebuild_live_version_created_timestamp_seconds",
      "faiss_rebuild_index_vectors",
      "faiss_rebuild_index_size_bytes",
      "faiss_rebuild_validation_recall",
      "faiss_rebuild_next_run_timestamp_seconds",
      "faiss_rebuild_schedule_interval_seconds",
      "faiss_rebuild_schedule_skipped_total",  // beyond the brief's list
      "faiss_rebuild_backups",
      "faiss_rebuild_backup_bytes",
      "faiss_rebuild_backup_verify_failures_total",
      "faiss_rebuild_rollbacks_total",
      "faiss_rebuild_disk_free_bytes",
      "faiss_rebuild_scrub_last_timestamp_seconds",
      "faiss_rebuild_scrub_bytes_total",
      "faiss_rebuild_corrupt_versions",
      "faiss_rebuild_repairs_total",
      "faiss_rebuild_quarantined_versions",
      "faiss_search_requests_total",
      "faiss_search_reloads_total",
      "faiss_search_index_version_info",
      "faiss_search_index_loaded_timestamp_seconds",
      "faiss_search_degraded",              // beyond the brief's list
      "faiss_search_config_reloads_total",  // beyond the brief's list
      "faiss_rebuild_tuned_nprobe",         // search: { nprobe: auto }
      "faiss_rebuild_tuned_efsearch",       // search: { efSearch: auto }
      "faiss_search_default_param",         // nprobe/efSearch served by default
      // Always 1; labels version, faiss_version, kernels.
      "faiss_rebuild_build_info",
      "faiss_search_build_info",
  };
  for (const char* histogram :
       {"faiss_rebuild_build_duration_seconds", "faiss_search_request_duration_seconds",
        "faiss_search_batch_size" /* beyond the brief's list */}) {
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      names.insert(std::string(histogram) + suffix);
  }
  // A summary: the quantile series carry the bare name.
  for (const char* suffix : {"", "_sum", "_count"})
    names.insert(std::string("faiss_rebuild_validation_latency_seconds") + suffix);
  return names;
}

const std::set<std::string> kContractLabels = {"index", "stage",   "result", "version", "quantile",
                                               "path",  "code",    "le",     "job",     "instance",
                                               "faiss_version", "kernels", "param", "__name__"};

bool HavePromtool() { return ::access(kPromtool, X_OK) == 0; }

// --- a small YAML line scanner (enough for alerts.yml's layout) -------------

// The `expr:` values of a rules file, block scalars (`expr: |`) joined.
std::vector<std::string> RuleExprs(const std::string& yaml) {
  std::vector<std::string> exprs;
  std::istringstream in(yaml);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  static const std::regex kExpr(R"(^(\s*)expr:\s*(.*)$)");
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_match(lines[i], m, kExpr)) continue;
    size_t indent = m[1].length();
    std::string value = m[2];
    if (value == "|" || value == ">" || value == "|-" || value == ">-") {
      value.clear();
      while (i + 1 < lines.size()) {
        const std::string& next = lines[i + 1];
        size_t first = next.find_first_not_of(' ');
        if (first != std::string::npos && first <= indent) break;
        value += next + "\n";
        ++i;
      }
    } else if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      value = std::regex_replace(value.substr(1, value.size() - 2), std::regex("''"), "'");
    }
    exprs.push_back(value);
  }
  return exprs;
}

struct AlertBlock {
  std::string name;
  std::string text;
};

std::vector<AlertBlock> AlertBlocks(const std::string& yaml) {
  std::vector<AlertBlock> blocks;
  std::istringstream in(yaml);
  static const std::regex kAlert(R"(^\s*- alert:\s*(\S+)\s*$)");
  static const std::regex kGroup(R"(^\s*- name:)");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, kAlert)) {
      blocks.push_back({m[1], ""});
    } else if (std::regex_search(line, kGroup)) {
      blocks.push_back({"", ""});  // ends the previous alert
    } else if (!blocks.empty()) {
      blocks.back().text += line + "\n";
    }
  }
  std::erase_if(blocks, [](const AlertBlock& b) { return b.name.empty(); });
  return blocks;
}

// --- PromQL name extraction ---------------------------------------------------

struct Names {
  std::set<std::string> metrics;
  std::set<std::string> labels;
};

// Metric and label names of one PromQL expression: strings, label matchers,
// ranges and grouping clauses are taken out first; what is left that is an
// identifier, not a keyword and not called like a function, is a metric.
Names PromqlNames(std::string expr) {
  Names names;
  static const std::regex kString(R"("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')");
  expr = std::regex_replace(expr, kString, "\"\"");
  static const std::regex kMatchers(R"(\{([^}]*)\})");
  static const std::regex kLabelOp(R"(([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=))");
  for (std::sregex_iterator it(expr.begin(), expr.end(), kMatchers), end; it != end; ++it) {
    std::string inner = (*it)[1];
    for (std::sregex_iterator l(inner.begin(), inner.end(), kLabelOp); l != end; ++l)
      names.labels.insert((*l)[1]);
  }
  expr = std::regex_replace(expr, kMatchers, " ");
  expr = std::regex_replace(expr, std::regex(R"(\[[^\]]*\])"), " ");
  static const std::regex kGrouping(
      R"(\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\))");
  for (std::sregex_iterator it(expr.begin(), expr.end(), kGrouping), end; it != end; ++it) {
    std::string list = (*it)[2];
    static const std::regex kIdent("[a-zA-Z_][a-zA-Z0-9_]*");
    for (std::sregex_iterator l(list.begin(), list.end(), kIdent); l != end; ++l)
      names.labels.insert(l->str());
  }
  expr = std::regex_replace(expr, kGrouping, " ");
  static const std::set<std::string> kKeywords = {
      "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
      "group_left", "group_right", "inf", "Inf", "nan", "NaN"};
  size_t i = 0;
  while (i < expr.size()) {
    char c = expr[i];
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      // A number or a duration (1e9, 0.5, 6h, 1d): one token.
      while (i < expr.size() && (std::isalnum(static_cast<unsigned char>(expr[i])) ||
                                 expr[i] == '.' || expr[i] == '_'))
        ++i;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':') {
      size_t start = i;
      while (i < expr.size() && (std::isalnum(static_cast<unsigned char>(expr[i])) ||
                                 expr[i] == '_' || expr[i] == ':'))
        ++i;
      std::string ident = expr.substr(start, i - start);
      size_t next = expr.find_first_not_of(" \t\n", i);
      bool call = next != std::string::npos && expr[next] == '(';
      if (!call && kKeywords.count(ident) == 0) names.metrics.insert(ident);
      continue;
    }
    ++i;
  }
  return names;
}

// --- dashboards ---------------------------------------------------------------

Json LoadJson(const std::string& rel) {
  auto j = Json::Parse(test::ReadText(Src(rel)));
  EXPECT_TRUE(j.ok()) << rel << " is not valid JSON";
  return j.ok() ? *j : Json();
}

// Every target "expr" anywhere in the dashboard (panels, rows, library).
void CollectExprs(const Json& j, std::vector<std::string>* out) {
  if (j.is_array()) {
    for (const auto& e : j.as_array()) CollectExprs(e, out);
  } else if (j.is_object()) {
    for (const auto& [k, v] : j.as_object()) {
      if (k == "expr" && v.is_string()) out->push_back(v.as_string());
      else CollectExprs(v, out);
    }
  }
}

// Values the test gives Grafana's variables before parsing.
const std::map<std::string, std::string> kVariableValues = {
    {"__rate_interval", "5m"}, {"__interval", "1m"}, {"__range", "1h"},
    {"instance", "127.0.0.1:9464"}, {"index", "small"}, {"search_instance", "127.0.0.1:9465"},
};

// Replaces $var / ${var} / [[var]]; an unknown variable is reported.
std::string Substitute(const std::string& expr, std::vector<std::string>* unknown) {
  static const std::regex kVar(R"(\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\])");
  std::string out;
  auto begin = expr.cbegin();
  for (std::sregex_iterator it(expr.begin(), expr.end(), kVar), end; it != end; ++it) {
    const auto& m = *it;
    std::string name = m[1].matched ? m[1].str() : m[2].matched ? m[2].str() : m[3].str();
    out.append(begin, m[0].first);
    auto v = kVariableValues.find(name);
    if (v == kVariableValues.end()) {
      unknown->push_back(name);
      out += m[0].str();
    } else {
      out += v->second;
    }
    begin = m[0].second;
  }
  out.append(begin, expr.cend());
  return out;
}

struct Dashboard {
  std::string file;
  Json json;
  std::vector<std::string> exprs;            // panel targets, as written
  std::vector<std::string> variable_queries;  // label_values(...) selectors
  std::set<std::string> variables;
};

Dashboard LoadDashboard(const std::string& rel) {
  Dashboard d{rel, LoadJson(rel), {}, {}, {}};
  CollectExprs(d.json, &d.exprs);
  const Json* templating = d.json.is_object() ? d.json.Find("templating") : nullptr;
  const Json* list = templating ? templating->Find("list") : nullptr;
  if (list == nullptr || !list->is_array()) return d;
  static const std::regex kLabelValues(R"(^\s*label_values\((.*),\s*(\w+)\s*\)\s*$)");
  for (const auto& v : list->as_array()) {
    if (const Json* name = v.Find("name"); name && name->is_string())
      d.variables.insert(name->as_string());
    const Json* q = v.Find("query");
    if (q && q->is_object()) q = q->Find("query");
    if (q == nullptr || !q->is_string()) continue;
    std::smatch m;
    const std::string& query = q->as_string();
    if (std::regex_match(query, m, kLabelValues)) d.variable_queries.push_back(m[1]);
  }
  return d;
}

std::string QuoteYaml(const std::string& s) {
  return "'" + std::regex_replace(s, std::regex("'"), "''") + "'";
}

// ============================================================================

TEST(PromtoolTest, AlertRulesPassCheckRules) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  auto r = test::RunProcess({kPromtool, "check", "rules", Src("dashboards/alerts.yml")}, {}, 120);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("SUCCESS"), std::string::npos) << r.out << r.err;
}

TEST(PromtoolTest, AlertRuleUnitTestsPass) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  auto r = test::RunProcess({kPromtool, "test", "rules", Src("dashboards/alerts_test.yml")}, {},
                            240);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("SUCCESS"), std::string::npos) << r.out << r.err;
}

// Each alert: severity, summary, description and a runbook that exists;
// a unit test where it fires and one where it stays silent.
TEST(PromtoolTest, EveryAlertIsAnnotatedTestedBothWaysAndHasARunbook) {
  auto alerts = AlertBlocks(test::ReadText(Src("dashboards/alerts.yml")));
  ASSERT_GE(alerts.size(), 10u);
  std::string tests = test::ReadText(Src("dashboards/alerts_test.yml"));
  // alertname -> {has firing case, has silent case}
  std::map<std::string, std::pair<bool, bool>> cases;
  {
    std::istringstream in(tests);
    std::string current;
    static const std::regex kName(R"(^\s*(?:- )?alertname:\s*(\S+)\s*$)");
    static const std::regex kExp(R"(^\s*exp_alerts:\s*(.*)$)");
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (std::regex_match(line, m, kName)) {
        current = m[1];
      } else if (!current.empty() && std::regex_match(line, m, kExp)) {
        (m[1] == "[]" ? cases[current].second : cases[current].first) = true;
        current.clear();
      }
    }
  }
  std::string readme = test::ReadText(Src("docs/runbooks/README.md"));
  std::set<std::string> seen;
  for (const auto& a : alerts) {
    SCOPED_TRACE(a.name);
    EXPECT_TRUE(seen.insert(a.name).second) << "duplicate alert";
    EXPECT_TRUE(std::regex_search(a.text, std::regex(R"(\n\s+severity: (critical|warning|info)\n)")))
        << a.text;
    EXPECT_NE(a.text.find("summary:"), std::string::npos);
    EXPECT_NE(a.text.find("description:"), std::string::npos);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        a.text, m, std::regex(R"(runbook_url:\s*\S+/docs/runbooks/([A-Za-z0-9_.-]+\.md)\s)")))
        << a.text;
    EXPECT_EQ(m[1].str(), a.name + ".md");
    std::string runbook = Src("docs/runbooks/" + m[1].str());
    EXPECT_EQ(::access(runbook.c_str(), R_OK), 0) << runbook << " missing";
    if (::access(runbook.c_str(), R_OK) == 0) {
      std::string text = test::ReadText(runbook);
      EXPECT_NE(text.find("# " + a.name), std::string::npos) << runbook << " has no title";
      for (const char* section : {"## Meaning", "## Impact", "## First checks", "## Mitigation",
                                  "## Verify it is fixed"})
        EXPECT_NE(text.find(section), std::string::npos) << runbook << " lacks " << section;
    }
    EXPECT_NE(readme.find("(" + m[1].str() + ")"), std::string::npos)
        << "docs/runbooks/README.md does not link " << m[1];
    EXPECT_TRUE(cases[a.name].first) << "no alerts_test.yml case where it fires";
    EXPECT_TRUE(cases[a.name].second) << "no alerts_test.yml case where it stays silent";
  }
  for (const auto& [name, c] : cases)
    EXPECT_TRUE(seen.count(name)) << "alerts_test.yml tests unknown alert " << name;
}

// Every expression of both dashboards (targets and variable queries), with
// the template variables given concrete values, parses: written as recording
// rules into a throwaway file, which `promtool check rules` parses as PromQL.
TEST(PromtoolTest, DashboardExpressionsParse) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  test::TempDir dir;
  std::string rules = "groups:\n";
  size_t total = 0;
  for (const auto& file : kDashboards) {
    Dashboard d = LoadDashboard(file);
    ASSERT_GE(d.exprs.size(), 10u) << file;
    rules += "  - name: " + QuoteYaml(file) + "\n    rules:\n";
    std::vector<std::string> all = d.exprs;
    all.insert(all.end(), d.variable_queries.begin(), d.variable_queries.end());
    for (size_t i = 0; i < all.size(); ++i) {
      std::vector<std::string> unknown;
      std::string expr = Substitute(all[i], &unknown);
      for (const auto& var : unknown)
        ADD_FAILURE() << file << ": unknown variable $" << var << " in " << all[i];
      rules += "      - record: dashboard:expr_" + std::to_string(total) + "\n        expr: " +
               QuoteYaml(expr) + "\n";
      ++total;
    }
  }
  std::string path = dir.Sub("dashboard_exprs.yml");
  test::WriteText(path, rules);
  auto r = test::RunProcess({kPromtool, "check", "rules", path}, {}, 120);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << "\n" << rules;
  EXPECT_NE(r.out.find("SUCCESS: " + std::to_string(total) + " rules found"), std::string::npos)
      << r.out << r.err;
}

// Dashboards are importable and portable: a datasource variable used by every
// panel and target, $instance and $index from label_values, a recent schema,
// and only variables that are defined.
TEST(PromtoolTest, DashboardsAreTemplated) {
  for (const auto& file : kDashboards) {
    SCOPED_TRACE(file);
    Dashboard d = LoadDashboard(file);
    ASSERT_TRUE(d.json.is_object());
    const Json* schema = d.json.Find("schemaVersion");
    ASSERT_TRUE(schema && schema->is_number());
    EXPECT_GE(schema->as_int(), 36);
    for (const char* var : {"datasource", "instance", "index"})
      EXPECT_TRUE(d.variables.count(var)) << "no $" << var << " variable";
    EXPECT_GE(d.variable_queries.size(), 2u) << "variables should come from label_values()";
    for (const auto& expr : d.exprs) {
      static const std::regex kVar(R"(\$\{?(\w+)\}?)");
      for (std::sregex_iterator it(expr.begin(), expr.end(), kVar), end; it != end; ++it) {
        std::string name = (*it)[1];
        if (name.rfind("__", 0) == 0) continue;  // Grafana built-ins
        EXPECT_TRUE(d.variables.count(name)) << "undefined $" << name << " in " << expr;
      }
    }
    // Panels: unique ids, a title, a place on the grid, and queries with
    // distinct refIds.
    const Json* panels = d.json.Find("panels");
    ASSERT_TRUE(panels && panels->is_array());
    std::set<int64_t> ids;
    for (const auto& p : panels->as_array()) {
      EXPECT_TRUE(ids.insert(p.GetInt("id", -1)).second) << "duplicate panel id " << p.GetInt("id");
      EXPECT_FALSE(p.GetString("title").empty());
      EXPECT_NE(p.Find("gridPos"), nullptr) << p.GetString("title");
      if (p.GetString("type") == "row") continue;
      const Json* targets = p.Find("targets");
      ASSERT_TRUE(targets && targets->is_array() && targets->size() > 0) << p.GetString("title");
      std::set<std::string> refs;
      for (const auto& t : targets->as_array())
        EXPECT_TRUE(refs.insert(t.GetString("refId")).second) << p.GetString("title");
    }
    // Every datasource reference is the variable, never a fixed uid.
    std::string text = test::ReadText(Src(file));
    static const std::regex kUid(R"re("uid":\s*"([^"]*)")re");
    for (std::sregex_iterator it(text.begin(), text.end(), kUid), end; it != end; ++it) {
      std::string uid = (*it)[1];
      EXPECT_TRUE(uid == "${datasource}" || uid == "-- Grafana --" || uid == "faiss-rebuild-overview" ||
                  uid == "faiss-rebuild-index")
          << "hard-coded datasource uid " << uid;
    }
  }
}

// A typo in a metric or label name yields an empty panel or an alert that
// never fires, and promtool cannot see it: check every name against the
// contract.
TEST(PromtoolTest, OnlyContractMetricAndLabelNames) {
  const auto contract = ContractMetrics();
  std::vector<std::pair<std::string, std::string>> exprs;  // (where, expr)
  for (const auto& e : RuleExprs(test::ReadText(Src("dashboards/alerts.yml"))))
    exprs.push_back({"dashboards/alerts.yml", e});
  ASSERT_GE(exprs.size(), 10u);
  for (const auto& file : kDashboards) {
    Dashboard d = LoadDashboard(file);
    for (const auto& e : d.exprs) exprs.push_back({file, e});
    for (const auto& e : d.variable_queries) exprs.push_back({file, e});
  }
  // The alert tests' input series must be contract series too, or a test
  // could pass against a metric the daemons never export.
  std::string tests = test::ReadText(Src("dashboards/alerts_test.yml"));
  static const std::regex kSeries(R"(series:\s*'([^']*)')");
  for (std::sregex_iterator it(tests.begin(), tests.end(), kSeries), end; it != end; ++it)
    exprs.push_back({"dashboards/alerts_test.yml", (*it)[1]});

  std::set<std::string> used;
  for (const auto& [where, raw] : exprs) {
    std::vector<std::string> unknown;
    Names names = PromqlNames(Substitute(raw, &unknown));
    EXPECT_FALSE(names.metrics.empty()) << where << ": no metric in " << raw;
    for (const auto& m : names.metrics) {
      EXPECT_TRUE(contract.count(m)) << where << ": '" << m << "' is not a contract metric, in: "
                                     << raw;
      used.insert(m);
    }
    for (const auto& l : names.labels)
      EXPECT_TRUE(kContractLabels.count(l)) << where << ": '" << l
                                            << "' is not a contract label, in: " << raw;
  }
  // The extractor itself: it must see through grouping, matchers and ranges.
  Names probe = PromqlNames(
      "sum by (index) (rate(faiss_search_requests_totl{code=~\"5..\"}[5m])) / on (index) "
      "group_left () max(faiss_rebuild_backups offset 1d) > 2 * 1e9");
  EXPECT_EQ(probe.metrics,
            (std::set<std::string>{"faiss_search_requests_totl", "faiss_rebuild_backups"}));
  EXPECT_EQ(probe.labels, (std::set<std::string>{"index", "code"}));
  // The kit covers the contract: every daemon and search metric appears
  // somewhere (a histogram or summary through any of its series).
  for (const char* family :
       {"faiss_rebuild_builds_total", "faiss_rebuild_build_duration_seconds",
        "faiss_rebuild_last_success_timestamp_seconds", "faiss_rebuild_consecutive_failures",
        "faiss_rebuild_live_version_info", "faiss_rebuild_live_version_created_timestamp_seconds",
        "faiss_rebuild_index_vectors", "faiss_rebuild_index_size_bytes",
        "faiss_rebuild_validation_recall", "faiss_rebuild_validation_latency_seconds",
        "faiss_rebuild_next_run_timestamp_seconds", "faiss_rebuild_schedule_interval_seconds",
        "faiss_rebuild_backups", "faiss_rebuild_backup_bytes",
        "faiss_rebuild_backup_verify_failures_total", "faiss_rebuild_rollbacks_total",
        "faiss_rebuild_disk_free_bytes", "faiss_rebuild_corrupt_versions",
        "faiss_rebuild_repairs_total", "faiss_rebuild_quarantined_versions",
        "faiss_rebuild_scrub_last_timestamp_seconds", "faiss_rebuild_scrub_bytes_total",
        "faiss_search_requests_total",
        "faiss_search_request_duration_seconds", "faiss_search_reloads_total",
        "faiss_search_index_version_info", "faiss_search_index_loaded_timestamp_seconds",
        "faiss_search_degraded", "faiss_rebuild_tuned_nprobe", "faiss_rebuild_tuned_efsearch",
        "faiss_search_default_param"}) {
    bool found = false;
    for (const auto& u : used) found = found || u.rfind(family, 0) == 0;
    EXPECT_TRUE(found) << family << " is used by no dashboard or alert";
  }
}


// --- stretch: a real Prometheus scraping the real daemons ---------------------

using Clock = std::chrono::steady_clock;

using test::Http;
constexpr char kJson[] = "Content-Type: application/json\r\n";
constexpr char kForm[] = "Content-Type: application/x-www-form-urlencoded\r\n";

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[4];
      std::snprintf(hex, sizeof(hex), "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

// A child process with stdout+stderr in `log`; SIGTERM, then SIGKILL, on
// destruction.
class Child : public test::ChildProcess {
 public:
  Child(std::vector<std::string> args, const std::string& log)
      : ChildProcess(std::move(args), log, Options()) {}

 private:
  static test::ChildOptions Options() {
    test::ChildOptions o;
    o.term_grace_ms = 5000;
    return o;
  }
};

bool WaitUntil(int timeout_s, const std::function<bool()>& done) {
  for (auto deadline = Clock::now() + std::chrono::seconds(timeout_s); Clock::now() < deadline;) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

// Instant query; the number of series in the result (-1 on error).
int QueryCount(int port, const std::string& expr, std::string* error) {
  error->clear();
  auto r = Http(port, "POST", "/api/v1/query", "query=" + UrlEncode(expr),
                kForm);
  auto j = Json::Parse(r.body);
  if (r.status != 200 || !j.ok() || j->GetString("status") != "success") {
    *error = std::to_string(r.status) + " " + r.body;
    return -1;
  }
  const Json* data = j->Find("data");
  const Json* result = data ? data->Find("result") : nullptr;
  if (result == nullptr) return -1;
  if (result->is_array()) return static_cast<int>(result->size());
  return 1;  // scalar / string
}

// faiss-rebuildd builds an index, faiss-searchd serves it, a real Prometheus
// (loopback, 1 s scrapes, the alert rules loaded) scrapes both; every
// dashboard expression must run, and the core panels must show data.
TEST(PromtoolTest, DashboardsShowDataFromLiveDaemons) {
  const std::string prometheus = "/usr/bin/prometheus";
  const std::string rebuildd = test::BinPath("daemon/rebuildd/faiss-rebuildd");
  const std::string searchd = test::BinPath("daemon/searchd/faiss-searchd");
  for (const auto& bin : {prometheus, rebuildd, searchd})
    if (::access(bin.c_str(), X_OK) != 0) GTEST_SKIP() << bin << " not available";
  const auto start = Clock::now();
  test::TempDir dir;
  const std::string source = dir.Sub("vecs.npy");
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), source, 4000, 16, 3).ok());
  const std::string config = dir.Sub("config.yaml");
  test::WriteText(config, "data_dir: " + dir.Sub("data") +
                              "\n"
                              "indexes:\n"
                              "  - name: small\n"
                              "    source: { path: " + source + ", format: npy }\n"
                              "    dimension: 16\n"
                              "    metric: L2\n"
                              "    factory: \"IVF16,Flat\"\n"
                              "    train_sample: 2000\n"
                              "    search: { nprobe: 4 }\n"
                              "    schedule: \"0 3 * * *\"\n"
                              "    validation: { queries: 50, latency_queries: 20,"
                              " min_recall: 0.3, max_p99_ms: 1000 }\n");

  // The daemon, on an ephemeral port read back from its log.
  Child daemon({rebuildd, "--config", config, "--listen", "127.0.0.1:0"}, dir.Sub("rebuildd.log"));
  const int dport = daemon.WaitForPort();
  ASSERT_TRUE(dport != 0) << daemon.Log();
  auto queued = Json::Parse(Http(dport, "POST", "/api/v1/indexes/small/rebuild").body);
  ASSERT_TRUE(queued.ok());
  std::string job = queued->GetString("job_id");
  ASSERT_FALSE(job.empty());
  std::string state;
  ASSERT_TRUE(WaitUntil(40, [&] {
    auto j = Json::Parse(Http(dport, "GET", "/api/v1/jobs/" + job).body);
    if (j.ok()) state = j->GetString("state");
    return j.ok() && j->Find("finished_unix_ms") != nullptr;
  })) << daemon.Log();
  ASSERT_EQ(state, "done") << daemon.Log();

  // The search server, port from --port-file; a few searches for traffic.
  const std::string port_file = dir.Sub("searchd.port");
  Child search({searchd, "--config", config, "--listen", "127.0.0.1:0", "--port-file", port_file},
               dir.Sub("searchd.log"));
  int sport = 0;
  ASSERT_TRUE(WaitUntil(20, [&] {
    if (Env::Default()->Exists(port_file)) sport = std::atoi(test::ReadText(port_file).c_str());
    return (sport != 0 && Http(sport, "GET", "/readyz").status == 200) || !search.Alive();
  }) && sport != 0) << search.Log();
  std::string vector = "[";
  for (int i = 0; i < 16; ++i) vector += (i ? ",0." : "0.") + std::to_string(i);
  vector += "]";
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(Http(sport, "POST", "/api/v1/indexes/small/search",
                   "{\"vector\":" + vector + ",\"k\":5}", kJson).status, 200);

  // Prometheus with the alert rules, scraping both every second.
  const int pport = test::FreePort();
  const std::string prom_config = dir.Sub("prometheus.yml");
  test::WriteText(prom_config,
                  "global: { scrape_interval: 1s, evaluation_interval: 1s }\n"
                  "rule_files: ['" + Src("dashboards/alerts.yml") + "']\n"
                  "scrape_configs:\n"
                  "  - job_name: faiss-rebuildd\n"
                  "    static_configs: [{ targets: ['127.0.0.1:" + std::to_string(dport) + "'] }]\n"
                  "  - job_name: faiss-searchd\n"
                  "    static_configs: [{ targets: ['127.0.0.1:" + std::to_string(sport) + "'] }]\n");
  Child prom({prometheus, "--config.file=" + prom_config, "--storage.tsdb.path=" + dir.Sub("tsdb"),
              "--web.listen-address=127.0.0.1:" + std::to_string(pport), "--log.level=warn"},
             dir.Sub("prometheus.log"));
  std::string error;
  ASSERT_TRUE(WaitUntil(30, [&] {
    return QueryCount(pport, "up == 1", &error) == 2 || !prom.Alive();
  })) << "targets not up: " << error << "\n" << prom.Log();
  // Enough scrapes for rate() and predict_linear() to have two samples each;
  // a few more searches land between scrapes.
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    Http(sport, "POST", "/api/v1/indexes/small/search", "{\"vector\":" + vector + ",\"k\":5}",
         kJson);
  }

  // The alert rules loaded and evaluate without errors.
  auto rules = Json::Parse(Http(pport, "GET", "/api/v1/rules").body);
  ASSERT_TRUE(rules.ok());
  EXPECT_EQ(rules->Dump().find("\"health\":\"err\""), std::string::npos) << rules->Dump();
  EXPECT_NE(rules->Dump().find("FaissSearchStaleVersion"), std::string::npos);

  // Every series the alerts and panels need after a successful scheduled
  // build is exported (counters that appear only on events aside:
  // validation_failed results, backup verify failures, failed reloads).
  {
    auto r = Http(pport, "POST", "/api/v1/query",
                  "query=" + UrlEncode("group by (__name__) ({__name__=~\"faiss_.+\"})"),
                  kForm);
    auto j = Json::Parse(r.body);
    ASSERT_TRUE(j.ok()) << r.body;
    std::set<std::string> exported;
    const Json* data = j->Find("data");
    const Json* result = data ? data->Find("result") : nullptr;
    ASSERT_TRUE(result && result->is_array()) << r.body;
    for (const auto& series : result->as_array()) {
      if (const Json* metric = series.Find("metric")) exported.insert(metric->GetString("__name__"));
    }
    for (const char* name :
         {"faiss_rebuild_builds_total", "faiss_rebuild_build_duration_seconds_bucket",
          "faiss_rebuild_last_success_timestamp_seconds", "faiss_rebuild_consecutive_failures",
          "faiss_rebuild_live_version_info", "faiss_rebuild_live_version_created_timestamp_seconds",
          "faiss_rebuild_index_vectors", "faiss_rebuild_index_size_bytes",
          "faiss_rebuild_validation_recall", "faiss_rebuild_validation_latency_seconds",
          "faiss_rebuild_next_run_timestamp_seconds", "faiss_rebuild_schedule_interval_seconds",
          "faiss_rebuild_backups", "faiss_rebuild_backup_bytes", "faiss_rebuild_rollbacks_total",
          "faiss_rebuild_disk_free_bytes", "faiss_search_requests_total",
          "faiss_search_request_duration_seconds_bucket", "faiss_search_index_version_info",
          "faiss_search_index_loaded_timestamp_seconds", "faiss_search_degraded"})
      EXPECT_TRUE(exported.count(name)) << name << " is not exported by the running daemons; "
                                        << "an alert or a panel depends on it";
    for (const auto& name : exported)
      EXPECT_TRUE(ContractMetrics().count(name)) << name << " is exported but not in the contract";
  }
  // Counters behind increase() alerts exist at 0 before their first event:
  // increase() cannot see a series' first sample as an increase, so a
  // counter born at 1 (the first validation failure after a daemon start)
  // would never fire FaissRebuildValidationGateFailing,
  // FaissRebuildBackupVerifyFailing or FaissSearchReloadFailing.
  for (const char* series :
       {"faiss_rebuild_builds_total{index=\"small\",result=\"validation_failed\"}",
        "faiss_rebuild_builds_total{index=\"small\",result=\"failed\"}",
        "faiss_rebuild_backup_verify_failures_total{index=\"small\"}",
        "faiss_search_reloads_total{index=\"small\",result=\"failed\"}"})
    EXPECT_EQ(QueryCount(pport, series, &error), 1)
        << series << " should be exported (at 0) from the start: " << error;

  // Both programs say what they are: version, FAISS version and kernels.
  for (const char* family : {"faiss_rebuild_build_info", "faiss_search_build_info"})
    EXPECT_EQ(QueryCount(pport,
                         std::string(family) + "{version=\"" + ProgramVersion() +
                             "\",faiss_version=\"" + FaissVersion() + "\",kernels=\"" +
                             FaissKernels() + "\"} == 1",
                         &error),
              1)
        << family << ": " << error;
  // The version join of FaissSearchStaleVersion matches real label values.
  EXPECT_EQ(QueryCount(pport,
                       "faiss_search_index_version_info and on (index, version) "
                       "faiss_rebuild_live_version_info",
                       &error),
            1)
      << error;
  EXPECT_EQ(QueryCount(pport, "ALERTS{alertstate=\"firing\"}", &error), 0) << error;

  // Every dashboard expression runs; all but the ones that are empty on a
  // healthy, idle system (5xx ratio, reloads before any new version, time
  // since the last verify before the first scrub, tuned values of an index
  // with a fixed nprobe) have data.
  const std::map<std::string, std::string> values = {
      {"__rate_interval", "1m"}, {"__interval", "1s"}, {"__range", "1h"},
      {"instance", "127.0.0.1:" + std::to_string(dport)}, {"index", "small"},
      {"search_instance", "127.0.0.1:" + std::to_string(sport)}};
  int checked = 0;
  for (const auto& file : kDashboards) {
    Dashboard d = LoadDashboard(file);
    std::vector<std::string> all = d.exprs;
    all.insert(all.end(), d.variable_queries.begin(), d.variable_queries.end());
    for (const auto& raw : all) {
      std::string expr = raw;
      for (const auto& [name, value] : values) {
        expr = std::regex_replace(expr, std::regex("\\$\\{" + name + "\\}"), value);
        expr = std::regex_replace(expr, std::regex("\\$" + name + "\\b"), value);
      }
      int n = QueryCount(pport, expr, &error);
      EXPECT_GE(n, 0) << file << ": " << expr << ": " << error;
      bool may_be_empty = raw.find("code=~\"5..\"") != std::string::npos ||
                          raw.find("faiss_search_reloads_total") != std::string::npos ||
                          raw.find("faiss_rebuild_scrub_last_timestamp_seconds") != std::string::npos ||
                          raw.find("faiss_rebuild_tuned_") != std::string::npos;
      if (!may_be_empty) {
        EXPECT_GT(n, 0) << file << ": no data for " << expr;
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 40);
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count();
  std::printf("%d dashboard expressions queried against live daemons in %llds\n", checked,
              static_cast<long long>(seconds));
  EXPECT_LT(seconds, 60);
}

}  // namespace
}  // namespace frb
