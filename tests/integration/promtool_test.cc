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
#include "promtool_util.h"

namespace frb {
namespace promtool_test {
namespace {

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
        "faiss_search_default_param", "faiss_rebuild_repository_upload_failures_total",
        "faiss_rebuild_repository_lag_seconds", "faiss_search_follow_failures_total",
        "faiss_search_follow_lag_seconds", "faiss_search_follow_version_info",
        "faiss_rebuild_ivf_imbalance_factor", "faiss_rebuild_ivf_empty_lists_ratio"}) {
    bool found = false;
    for (const auto& u : used) found = found || u.rfind(family, 0) == 0;
    EXPECT_TRUE(found) << family << " is used by no dashboard or alert";
  }
}

}  // namespace
}  // namespace promtool_test
}  // namespace frb
