// The config sections other than `indexes` entries: the two HTTP servers,
// the scheduler, defaults (and what an index overrides of them), validation,
// backups and scrub.
#include <charconv>
#include <system_error>
#include <tuple>

#include "config_parser.h"
#include "frb/cron.h"

namespace frb {
namespace config_internal {

namespace {

constexpr std::string_view kHttpKeys[] = {
    "listen", "token_file", "max_connections", "request_timeout", "keepalive_timeout",
    "max_header_bytes", "max_header_count", "max_body_bytes"};
constexpr std::string_view kSearchServerKeys[] = {
    "listen", "report_corruption", "max_connections", "request_timeout",
    "keepalive_timeout", "max_header_bytes", "max_header_count", "max_body_bytes",
    "follow", "cache_dir", "follow_interval", "cache_versions"};
constexpr std::string_view kSchedulerKeys[] = {
    "timezone", "max_concurrent_builds", "failure_cooldown", "misfire",
    "lock_wait"};
constexpr std::string_view kDefaultsKeys[] = {
    "timeout",       "threads",      "validation", "backups",
    "keep_versions", "train_sample", "add_batch", "memory_admission", "tune", "retrain"};
// Keys that make sense only for one index; named in the error when they
// appear under defaults.
constexpr std::string_view kIndexOnlyKeys[] = {
    "name",    "source", "dimension", "metric",
    "factory", "search", "schedule",  "timezone", "lock_wait"};
constexpr std::string_view kValidationKeys[] = {"k",
                                                "queries",
                                                "query_file",
                                                "min_recall",
                                                "max_p99_ms",
                                                "latency_queries",
                                                "max_count_change",
                                                "max_size_change",
                                                "max_recall_drop_vs_live",
                                                "max_imbalance_factor",
                                                "max_empty_lists_ratio",
                                                "seed"};
constexpr std::string_view kRetrainKeys[] = {"max_delta_fraction", "max_imbalance_factor",
                                             "max_empty_lists_ratio"};
constexpr std::string_view kScrubKeys[] = {"schedule", "max_bytes_per_second", "repair"};
constexpr std::string_view kBackupKeys[] = {"keep_last",    "keep_daily",
                                            "keep_weekly",  "zstd_level",
                                            "zstd_workers", "byte_shuffle",
                                            "verify_after_create"};

}  // namespace

void ConfigParser::ParseServers(const MapView& top, Config* cfg) {
  if (const Entry* e = top.Find("http")) {
    if (auto http = View(*e, "http", kHttpKeys)) {
      Listen(*http, "http.", &cfg->http_listen);
      Limits(*http, "http.", &cfg->http_limits);
      Path(*http, "token_file", "http.", true, &cfg->http_token_file);
    }
  }
  if (const Entry* e = top.Find("search_server")) {
    if (auto server = View(*e, "search_server", kSearchServerKeys)) {
      Listen(*server, "search_server.", &cfg->search_listen);
      SetBool(*server, "report_corruption", "search_server.", &cfg->search_report_corruption);
      Limits(*server, "search_server.", &cfg->search_limits);
      if (String(*server, "follow", "search_server.", true, &cfg->search_follow) &&
          !cfg->search_follow.empty() &&
          (cfg->search_follow.rfind("s3://", 0) != 0 || cfg->search_follow.size() <= 5 ||
           cfg->search_follow[5] == '/'))
        Add(ValueLoc(*server->Find("follow")),
            "search_server.follow: expected s3://BUCKET/PREFIX, got '" + cfg->search_follow +
                "'");
      Path(*server, "cache_dir", "search_server.", true, &cfg->search_cache_dir);
      Duration(*server, "follow_interval", "search_server.", false,
               &cfg->search_follow_interval);
      SetInt(*server, "cache_versions", "search_server.", 2, 1000, &cfg->search_cache_versions);
    }
  }
}

void ConfigParser::ParseScheduler(const Entry& e, SchedulerConfig* s) {
  auto view = View(e, "scheduler", kSchedulerKeys);
  if (!view) return;
  const MapView& m = *view;
  Timezone(m, "scheduler.", &s->timezone);
  SetInt(m, "max_concurrent_builds", "scheduler.", 1, kIntMax,
         &s->max_concurrent_builds);
  Duration(m, "failure_cooldown", "scheduler.", true, &s->failure_cooldown);
  Duration(m, "lock_wait", "scheduler.", true, &s->lock_wait);
  std::string misfire;
  if (String(m, "misfire", "scheduler.", false, &misfire)) {
    if (misfire == "run_once" || misfire == "skip") {
      s->misfire = misfire;
    } else {
      Add(ValueLoc(*m.Find("misfire")),
          "scheduler.misfire: expected run_once or skip, got '" + misfire +
              "'");
    }
  }
}

void ConfigParser::ParseDefaults(const Entry& e, IndexConfig* defaults) {
  if (auto d = View(e, "defaults", kDefaultsKeys, "key", kIndexOnlyKeys)) {
    ParseCommon(*d, "defaults.", defaults);
  }
}

// The keys shared by defaults and indexes; an index starts from the parsed
// defaults, so applying its own map on top gives per-key overrides.
void ConfigParser::ParseCommon(const MapView& m, const std::string& prefix,
                         IndexConfig* ic) {
  Duration(m, "timeout", prefix, false, &ic->timeout);
  SetInt(m, "threads", prefix, 0, kIntMax, &ic->threads);
  SetInt(m, "keep_versions", prefix, 2, kIntMax, &ic->keep_versions);
  SetInt(m, "train_sample", prefix, 1, kInt64Max, &ic->train_sample);
  SetInt(m, "add_batch", prefix, 1, kInt64Max, &ic->add_batch);
  SetBool(m, "memory_admission", prefix, &ic->memory_admission);
  if (const Entry* e = m.Find("validation")) {
    if (auto v = View(*e, prefix + "validation", kValidationKeys)) {
      ParseValidation(*v, prefix + "validation.", &ic->validation);
    }
  }
  if (const Entry* e = m.Find("backups")) {
    if (auto b = View(*e, prefix + "backups", kBackupKeys)) {
      ParseBackups(*b, prefix + "backups.", &ic->backups);
    }
  }
  if (const Entry* e = m.Find("tune"); e && View(*e, prefix + "tune", kTuneKeys)) {
    ParseTune(e->value, ValueLoc(*e), prefix + "tune", &ic->tune, AddFn());
  }
  if (const Entry* e = m.Find("retrain")) {
    if (auto r = View(*e, prefix + "retrain", kRetrainKeys)) {
      ParseRetrain(*r, prefix + "retrain.", &ic->retrain);
    }
  }
}

// 0 switches a trigger off. An imbalance factor is never below 1, so a limit
// in (0, 1) would ask for a rebuild after every delta: refused.
void ConfigParser::ParseRetrain(const MapView& m, const std::string& prefix, RetrainPolicy* r) {
  SetDouble(m, "max_delta_fraction", prefix, 0, false, kInf, &r->max_delta_fraction);
  SetDouble(m, "max_empty_lists_ratio", prefix, 0, false, 1, &r->max_empty_lists_ratio);
  if (const Entry* e = m.Find("max_imbalance_factor")) {
    double f = 0;
    std::string path = prefix + "max_imbalance_factor";
    if (Double(*e, path, 0, false, kInf, &f)) {
      if (f > 0 && f < 1)
        Add(ValueLoc(*e), path + ": " + Describe(e->value) +
                              " is below 1, the factor of perfectly even lists "
                              "(0 switches the trigger off)");
      else
        r->max_imbalance_factor = f;
    }
  }
}

void ConfigParser::ParseValidation(const MapView& m, const std::string& prefix,
                             ValidationConfig* v) {
  SetInt(m, "k", prefix, 1, kIntMax, &v->k);
  SetInt(m, "queries", prefix, 1, kIntMax, &v->queries);
  if (Path(m, "query_file", prefix, true, &v->query_file) &&
      options_.check_sources && !v->query_file.empty()) {
    auto info = env_->Stat(v->query_file);
    if (!info.ok()) {
      Add(ValueLoc(*m.Find("query_file")),
          prefix + "query_file: " + info.status().message());
    }
  }
  SetDouble(m, "min_recall", prefix, 0, false, 1, &v->min_recall);
  SetDouble(m, "max_p99_ms", prefix, 0, true, kInf, &v->max_p99_ms);
  SetInt(m, "latency_queries", prefix, 1, kIntMax, &v->latency_queries);
  SetDouble(m, "max_count_change", prefix, 0, false, kInf,
            &v->max_count_change);
  SetDouble(m, "max_size_change", prefix, 0, false, kInf, &v->max_size_change);
  if (const Entry* e = m.Find("max_recall_drop_vs_live")) {
    double drop = 0;
    // An explicit null lets one index switch off a margin set in defaults.
    if (e->value.IsNull()) {
      v->max_recall_drop_vs_live.reset();
    } else if (Double(*e, prefix + "max_recall_drop_vs_live", 0, false, 1,
                      &drop)) {
      v->max_recall_drop_vs_live = drop;
    }
  }
  // Like max_recall_drop_vs_live: an explicit null switches off a gate set
  // in defaults. The imbalance factor is never below 1.
  for (auto [key, min, max, out] :
       {std::tuple{"max_imbalance_factor", 1.0, kInf, &v->max_imbalance_factor},
        std::tuple{"max_empty_lists_ratio", 0.0, 1.0, &v->max_empty_lists_ratio}}) {
    const Entry* e = m.Find(key);
    double limit = 0;
    if (e == nullptr) continue;
    if (e->value.IsNull()) {
      out->reset();
    } else if (Double(*e, prefix + key, min, false, max, &limit)) {
      *out = limit;
    }
  }
  if (const Entry* e = m.Find("seed")) {
    std::string path = prefix + "seed";
    if (auto s = ScalarOf(*e, path, "a non-negative integer")) {
      uint64_t seed = 0;
      auto [ptr, ec] = std::from_chars(s->data(), s->data() + s->size(), seed);
      if (ec == std::errc() && ptr == s->data() + s->size() && !s->empty()) {
        v->seed = seed;
      } else {
        Add(ValueLoc(*e), path + ": expected a non-negative integer, got " +
                              Describe(e->value));
      }
    }
  }
}

void ConfigParser::ParseBackups(const MapView& m, const std::string& prefix,
                          BackupConfig* b) {
  SetInt(m, "keep_last", prefix, 0, kIntMax, &b->keep_last);
  SetInt(m, "keep_daily", prefix, 0, kIntMax, &b->keep_daily);
  SetInt(m, "keep_weekly", prefix, 0, kIntMax, &b->keep_weekly);
  SetInt(m, "zstd_level", prefix, 1, 19, &b->zstd_level);
  SetInt(m, "zstd_workers", prefix, 0, kIntMax, &b->zstd_workers);
  SetBool(m, "byte_shuffle", prefix, &b->byte_shuffle);
  SetBool(m, "verify_after_create", prefix, &b->verify_after_create);
}

void ConfigParser::ParseScrub(const Entry& e, const std::string& prefix, ScrubConfig* s) {
  auto m = View(e, prefix, kScrubKeys);
  if (!m) return;
  if (String(*m, "schedule", prefix + ".", true, &s->schedule) && !s->schedule.empty()) {
    if (auto cron = CronExpr::Parse(s->schedule); !cron.ok())
      Add(ValueLoc(*m->Find("schedule")), prefix + ".schedule: " + cron.status().message());
  }
  if (const Entry* r = m->Find("max_bytes_per_second")) {
    std::string path = prefix + ".max_bytes_per_second";
    if (auto text = ScalarOf(*r, path, "a rate like \"50MB\"")) {
      auto rate = ParseByteSize(*text);
      if (rate.ok()) s->max_bytes_per_second = *rate;
      else Add(ValueLoc(*r), path + ": " + rate.status().message());
    }
  }
  SetBool(*m, "repair", prefix + ".", &s->repair);
}

}  // namespace config_internal
}  // namespace frb
