// What the Prometheus-side tests share: the metrics contract, a small
// scanner of alerts.yml, PromQL name extraction and dashboard loading.
#pragma once

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
namespace promtool_test {

inline const char* kPromtool = "/usr/bin/promtool";

inline std::string Src(const std::string& rel) { return std::string(FRB_SOURCE_DIR) + "/" + rel; }

inline const std::vector<std::string> kDashboards = {"dashboards/faiss-rebuild-overview.json",
                                              "dashboards/faiss-rebuild-index.json"};

// The metrics contract: faiss-rebuildd (faiss_rebuild_*), faiss-searchd
// (faiss_search_*), and `up` for the scrape jobs.
inline std::set<std::string> ContractMetrics() {
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
      "faiss_rebuild_schedule_skipped_total",  // added after the first metric set
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
      "faiss_search_degraded",              // added after the first metric set
      "faiss_search_config_reloads_total",  // added after the first metric set
      "faiss_rebuild_tuned_nprobe",         // search: { nprobe: auto }
      "faiss_rebuild_tuned_efsearch",       // search: { efSearch: auto }
      "faiss_search_default_param",         // nprobe/efSearch served by default
      "faiss_rebuild_deltas_total",             // delta jobs by result
      "faiss_rebuild_delta_rows_since_full",    // delta rows since the last full build
      "faiss_rebuild_ivf_imbalance_factor",   // IVF health of the live version
      "faiss_rebuild_ivf_empty_lists_ratio",
      // Always 1; labels version, faiss_version, kernels.
      "faiss_rebuild_build_info",
      "faiss_search_build_info",
      // With a `repository:` section (faiss-rebuildd) and on a follower
      // (faiss-searchd --follow).
      "faiss_rebuild_repository_upload_bytes_total",
      "faiss_rebuild_repository_upload_failures_total",
      "faiss_rebuild_repository_lag_seconds",
      "faiss_rebuild_repository_lag_versions",
      "faiss_search_follow_version_info",
      "faiss_search_follow_lag_seconds",
      "faiss_search_follow_pointer_read_timestamp_seconds",
      "faiss_search_follow_bytes_total",
      "faiss_search_follow_failures_total",
      "faiss_search_follow_installs_total",
  };
  for (const char* histogram :
       {"faiss_rebuild_build_duration_seconds", "faiss_search_request_duration_seconds",
        "faiss_rebuild_repository_upload_duration_seconds",
        "faiss_search_batch_size" /* added after the first metric set */}) {
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      names.insert(std::string(histogram) + suffix);
  }
  // A summary: the quantile series carry the bare name.
  for (const char* suffix : {"", "_sum", "_count"})
    names.insert(std::string("faiss_rebuild_validation_latency_seconds") + suffix);
  return names;
}

inline const std::set<std::string> kContractLabels = {"index", "stage",   "result", "version", "quantile",
                                               "path",  "code",    "le",     "job",     "instance",
                                               "faiss_version", "kernels", "param", "__name__"};

inline bool HavePromtool() { return ::access(kPromtool, X_OK) == 0; }

// --- a small YAML line scanner (enough for alerts.yml's layout) -------------

// The `expr:` values of a rules file, block scalars (`expr: |`) joined.
inline std::vector<std::string> RuleExprs(const std::string& yaml) {
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

inline std::vector<AlertBlock> AlertBlocks(const std::string& yaml) {
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
inline Names PromqlNames(std::string expr) {
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

inline Json LoadJson(const std::string& rel) {
  auto j = Json::Parse(test::ReadText(Src(rel)));
  EXPECT_TRUE(j.ok()) << rel << " is not valid JSON";
  return j.ok() ? *j : Json();
}

// Every target "expr" anywhere in the dashboard (panels, rows, library).
inline void CollectExprs(const Json& j, std::vector<std::string>* out) {
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
inline const std::map<std::string, std::string> kVariableValues = {
    {"__rate_interval", "5m"}, {"__interval", "1m"}, {"__range", "1h"},
    {"instance", "127.0.0.1:9464"}, {"index", "small"}, {"search_instance", "127.0.0.1:9465"},
};

// Replaces $var / ${var} / [[var]]; an unknown variable is reported.
inline std::string Substitute(const std::string& expr, std::vector<std::string>* unknown) {
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

inline Dashboard LoadDashboard(const std::string& rel) {
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

inline std::string QuoteYaml(const std::string& s) {
  return "'" + std::regex_replace(s, std::regex("'"), "''") + "'";
}

}  // namespace promtool_test
}  // namespace frb
