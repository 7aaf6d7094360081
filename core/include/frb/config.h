// The configuration file: typed structs, YAML loading with defaults and
// per-index overrides, and validation that reports every problem.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frb/env.h"
#include "frb/retrain.h"
#include "frb/source.h"
#include "frb/status.h"

namespace frb {

enum class Metric { kL2, kIP };
std::string_view MetricName(Metric m);  // "L2" | "IP"

struct ValidationConfig {
  int k = 10;
  int queries = 1000;          // sampled from the source
  std::string query_file;      // optional extra queries (same format rules)
  double min_recall = 0.90;
  double max_p99_ms = 50;
  int latency_queries = 200;   // single-query searches timed
  double max_count_change = 0.2;  // |new - live| / live, vs the live version
  double max_size_change = 0.5;   // file size change vs the live version
  // When set, fail if recall < live recall - margin (live measured on the
  // same queries).
  std::optional<double> max_recall_drop_vs_live;
  // IVF health gates (unset = no gate; not applied to other index types):
  // fail when the imbalance factor or the share of empty lists is over.
  std::optional<double> max_imbalance_factor;
  std::optional<double> max_empty_lists_ratio;
  uint64_t seed = 42;
};

struct BackupConfig {
  int keep_last = 7;
  int keep_daily = 7;
  int keep_weekly = 4;
  int zstd_level = 3;
  int zstd_workers = 0;  // 0 = number of cores
  bool byte_shuffle = false;
  // Decompress and check a new backup at once: a backup is only trusted
  // (and pinned by retention as the newest verified one) once verified.
  bool verify_after_create = true;
};

// The scrub: a periodic, bandwidth-limited verify of every on-disk version
// and backup of an index, which repairs a corrupt live version.
struct ScrubConfig {
  std::string schedule = "@weekly";  // cron expression; "" = never
  uint64_t max_bytes_per_second = 50'000'000;  // read rate; 0 = unlimited
  bool repair = true;  // re-publish an intact version when live is corrupt
};

struct SchedulerConfig {
  std::string timezone = "UTC";
  int max_concurrent_builds = 1;
  std::chrono::seconds failure_cooldown{30 * 60};
  std::string misfire = "run_once";  // run_once | skip
  // A daemon job finding its index locked by another job or process (a
  // `--local` run) waits this long for the lock before ending as busy.
  std::chrono::seconds lock_wait{10 * 60};
};

// `search: { nprobe: auto }` (or efSearch): each build measures recall@k at
// a ladder of values and keeps the smallest that meets the target.
struct TuneConfig {
  std::string param;           // "" = no tuning; "nprobe" | "efSearch"
  double target_recall = 0.95;
  int max = 1024;              // largest value tried (nprobe also <= nlist)
  int k = 0;                   // recall@k; 0 = validation.k
  bool use_lower_bound = true; // compare the 95% Wilson lower bound, else the estimate
};

struct SourceLocation {
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
};

struct IndexConfig {
  std::string name;
  std::string source_path;
  SourceFormat source_format = SourceFormat::kNpy;
  // `source.ids`: an int64 .npy of external ids, one per source row; ""
  // = row numbers are the ids.
  std::string source_ids_path;
  // `source.deltas_through`: the source already contains the logged deltas
  // up to this sequence number (see also the `<path>.deltas_through`
  // sidecar); full builds replay only later ones and retire these.
  int64_t source_deltas_through = 0;
  // `deltas: { on_unsupported: refuse | rebuild }`: what a delta job does
  // when the index cannot take a delta (HNSW removals).
  std::string deltas_on_unsupported = "refuse";
  int dimension = 0;
  Metric metric = Metric::kL2;
  std::string factory;
  int64_t train_sample = 100000;
  int64_t add_batch = 65536;
  // FAISS ParameterSpace settings applied for validation and search,
  // e.g. {"nprobe": 16} or {"efSearch": 64}.
  std::map<std::string, double> search;
  TuneConfig tune;        // tune.param is the `auto` entry of search:
  std::string schedule;   // cron expression; empty = manual only
  std::string timezone;   // IANA zone; empty = scheduler.timezone
  std::chrono::seconds timeout{4 * 3600};
  std::optional<std::chrono::seconds> lock_wait;  // unset: scheduler.lock_wait
  int threads = 0;        // OpenMP threads for the build; 0 = all cores
  int keep_versions = 3;  // version directories kept on disk (incl. live)
  // Refuse a build whose estimated peak memory exceeds what is available.
  bool memory_admission = true;
  ValidationConfig validation;
  // When a delta-updated version should be followed by a full rebuild.
  RetrainPolicy retrain;
  BackupConfig backups;
  ScrubConfig scrub;  // top-level `scrub:`, overridden per index
  SourceLocation location;  // where the entry starts in the file
};

// The object-storage repository faiss-rebuildd publishes every live version
// to (top-level `repository:`; parsed in config_repository.cc).
struct RepositoryConfig {
  std::string url;          // s3://BUCKET[/PREFIX]; "" = no repository
  std::string endpoint;     // "" = AWS; e.g. http://127.0.0.1:9000
  std::string region;       // "" = AWS_REGION / AWS_DEFAULT_REGION / us-east-1
  bool path_style = false;  // bucket in the path (most S3-compatible stores)
  uint64_t part_size = 16ull << 20;  // multipart part size (>= 5 MiB for AWS)
  int parallelism = 4;               // parts / ranges in flight per file
  int keep_versions = 5;             // versions kept in the repository
  // Versions and objects younger than this are never pruned: followers
  // still downloading them.
  std::chrono::seconds grace{3600};
  // Checks for a live version not yet in the repository (and retries a
  // failed upload) this often; each publish also triggers a check.
  std::chrono::seconds interval{60};
};

// Limits of one HTTP server (faiss-rebuildd's admin API under `http:`,
// faiss-searchd under `search_server:`). Defaults are the admin API's.
struct HttpLimits {
  int max_connections = 256;            // open connections; the excess gets 503 at once
  std::chrono::seconds request_timeout{30};  // a whole request: headers and body
  std::chrono::seconds keepalive_timeout{5}; // idle time between requests
  int64_t max_header_bytes = 16 * 1024;  // request line and headers (431 beyond)
  int max_header_count = 100;            // header lines (431 beyond)
  int64_t max_body_bytes = 64 * 1024;    // decoded body, chunked or not (413 beyond)
};

// The search server's defaults: many clients, bodies of large batches.
HttpLimits DefaultSearchLimits();

// The index-name rule: 1..64 of [A-Za-z0-9._-], starting alphanumeric (the
// name becomes a directory and a URL path segment).
bool IsValidIndexName(std::string_view name);

struct Config {
  std::string path;  // file it was loaded from ("" for a string)
  std::string data_dir = "/var/lib/faiss-rebuild";
  std::string backup_dir;  // default: <data_dir>/backups
  std::string http_listen = "127.0.0.1:9464";
  std::string http_token_file;
  std::string search_listen = "127.0.0.1:9465";
  // faiss-searchd asks faiss-rebuildd (at http.listen) to verify and repair
  // an index whose live version it cannot verify.
  bool search_report_corruption = true;
  // faiss-searchd follows this object-storage repository (s3://BUCKET/PREFIX)
  // instead of reading data_dir; "" = serve data_dir's live versions.
  std::string search_follow;
  // Where a follower keeps downloaded versions (a data_dir-like layout).
  std::string search_cache_dir;
  // How often a follower reads each index's pointer.
  std::chrono::seconds search_follow_interval{2};
  // Versions a follower keeps per index; live, its rollback target and the
  // version being served are kept even beyond this.
  int search_cache_versions = 2;
  HttpLimits http_limits;
  HttpLimits search_limits = DefaultSearchLimits();
  SchedulerConfig scheduler;
  RepositoryConfig repository;
  std::vector<IndexConfig> indexes;

  // nullptr when no index has that name.
  const IndexConfig* FindIndex(std::string_view name) const;
};

struct ConfigProblem {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  // "file:line:column: message" (line/column omitted when unknown).
  std::string ToString() const;
};

struct ConfigOptions {
  // Check that source files exist and are readable, and their header
  // dimension matches (off for `config generate` round trips in tests).
  bool check_sources = true;
  // When the file does not exist, this says where its path came from and
  // how to name another one (e.g. "the default path; pass --config FILE"),
  // instead of a bare "No such file or directory".
  std::string missing_hint;
};

// Parses YAML text. On any problem returns kInvalidArgument whose message
// lists every problem, one per line; `problems`, when given, receives them.
Result<Config> ParseConfig(std::string_view yaml, std::string_view filename,
                           Env* env, const ConfigOptions& options = {},
                           std::vector<ConfigProblem>* problems = nullptr);
// Reads and parses `path`.
Result<Config> LoadConfig(Env* env, const std::string& path,
                          const ConfigOptions& options = {},
                          std::vector<ConfigProblem>* problems = nullptr);

// A commented example configuration that passes validation (with
// check_sources off).
std::string ExampleConfig();

// A byte count or rate: plain bytes "1048576", or a number with a unit:
// "50MB", "50MiB", "1GB", "512KB" (decimal kB/MB/GB/TB, binary KiB/MiB/GiB/TiB).
Result<uint64_t> ParseByteSize(std::string_view text);

// "90s", "30m", "4h", "1d", "1h30m", plain seconds "45".
Result<std::chrono::seconds> ParseDuration(std::string_view text);

}  // namespace frb
