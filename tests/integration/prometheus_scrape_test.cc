// A real Prometheus scraping the real daemons: every dashboard panel shows
// data (see promtool_test.cc for the static checks).
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
  // with a fixed nprobe, the repository and follower families of a daemon
  // without a repository) have data.
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
                          raw.find("faiss_rebuild_tuned_") != std::string::npos ||
                          // Only with a repository: section and on a follower
                          // (tests/integration/fleet_e2e_test.cc checks those).
                          raw.find("faiss_rebuild_repository_") != std::string::npos ||
                          raw.find("faiss_search_follow_") != std::string::npos;
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
}  // namespace promtool_test
}  // namespace frb
