// The config API's entry points, durations, problem formatting and the
// example file. The YAML walk lives in config_parse.cc, checks on single
// values (FAISS, tzdata, source files) in config_validate.cc.
#include "frb/config.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <system_error>

#include "config_internal.h"

namespace frb {

std::string_view MetricName(Metric m) {
  switch (m) {
    case Metric::kL2:
      return "L2";
    case Metric::kIP:
      return "IP";
  }
  return "unknown";
}

HttpLimits DefaultSearchLimits() {
  HttpLimits l;
  l.max_connections = 4096;
  l.request_timeout = std::chrono::seconds(10);
  l.max_body_bytes = 64 << 20;  // a batch at the limit with long decimal floats
  return l;
}

bool IsValidIndexName(std::string_view name) { return config_internal::IsValidIndexName(name); }

const IndexConfig* Config::FindIndex(std::string_view name) const {
  for (const IndexConfig& index : indexes) {
    if (index.name == name) return &index;
  }
  return nullptr;
}

std::string ConfigProblem::ToString() const {
  std::string out;
  if (!file.empty()) out += file + ":";
  if (line > 0) {
    out += std::to_string(line) + ":";
    if (column > 0) out += std::to_string(column) + ":";
  }
  if (!out.empty()) out += " ";
  return out + message;
}

namespace {

// Problems in file order, each also in the status message, one per line.
Result<Config> Finish(Config cfg, std::vector<ConfigProblem> found,
                      std::vector<ConfigProblem>* problems) {
  std::stable_sort(found.begin(), found.end(),
                   [](const ConfigProblem& a, const ConfigProblem& b) {
                     return std::pair(a.line, a.column) <
                            std::pair(b.line, b.column);
                   });
  std::string message;
  for (const ConfigProblem& p : found) {
    if (!message.empty()) message += "\n";
    message += p.ToString();
  }
  if (problems != nullptr) *problems = found;
  if (!found.empty()) return InvalidArgument(message);
  return cfg;
}

Result<Config> ParseWithBase(std::string_view yaml, std::string_view filename,
                             const std::string& base_dir, Env* env,
                             const ConfigOptions& options,
                             std::vector<ConfigProblem>* problems) {
  Config cfg;
  cfg.path = std::string(filename);
  std::vector<ConfigProblem> found;
  config_internal::ParseYaml(yaml, cfg.path, base_dir,
                             env != nullptr ? env : Env::Default(), options,
                             &cfg, &found);
  return Finish(std::move(cfg), std::move(found), problems);
}

}  // namespace

Result<Config> ParseConfig(std::string_view yaml, std::string_view filename,
                           Env* env, const ConfigOptions& options,
                           std::vector<ConfigProblem>* problems) {
  // A bare file name means the working directory, which relative paths are
  // already relative to.
  std::string base =
      filename.find('/') == std::string_view::npos ? "" : DirName(filename);
  return ParseWithBase(yaml, filename, base, env, options, problems);
}

Result<Config> LoadConfig(Env* env, const std::string& path,
                          const ConfigOptions& options,
                          std::vector<ConfigProblem>* problems) {
  if (env == nullptr) env = Env::Default();
  auto text = ReadFileToString(env, path);
  if (!text.ok()) {
    // Env messages already start with the path; ToString adds it again.
    std::string reason = text.status().message();
    if (reason.rfind(path + ": ", 0) == 0)
      reason = reason.substr(path.size() + 2);
    reason = "cannot read config file: " + reason;
    if (text.status().code() == Code::kNotFound && !options.missing_hint.empty())
      reason = "no config file here (" + options.missing_hint + ")";
    return Finish(Config(), {{path, 0, 0, reason}}, problems);
  }
  // Absolute, so paths in the config stay valid if the daemon changes
  // directory later.
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  std::string base =
      ec ? DirName(path) : DirName(absolute.lexically_normal().string());
  return ParseWithBase(*text, path, base, env, options, problems);
}

namespace {

// Seconds per unit; units must appear largest first, each at most once, so
// "1h30m" is accepted and the ambiguous "30m1h" is not.
int64_t UnitSeconds(char unit) {
  switch (unit) {
    case 'd':
      return 86400;
    case 'h':
      return 3600;
    case 'm':
      return 60;
    case 's':
      return 1;
    default:
      return 0;
  }
}

// Far beyond any sensible timeout or cooldown, and small enough that adding
// it to a nanosecond clock reading (int64, ~292 years) cannot overflow.
constexpr int64_t kMaxDurationSeconds = int64_t{36500} * 86400;

Status BadDuration(std::string_view text, const std::string& why) {
  return InvalidArgument("invalid duration '" + std::string(text) +
                         "': " + why);
}

}  // namespace

Result<uint64_t> ParseByteSize(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("invalid size '" + std::string(text) + "': " + why);
  };
  size_t i = 0;
  uint64_t number = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (__builtin_mul_overflow(number, uint64_t{10}, &number) ||
        __builtin_add_overflow(number, uint64_t(text[i] - '0'), &number))
      return bad("too large");
    ++i;
  }
  if (i == 0) return bad("expected a whole number of bytes, optionally with a unit like MB");
  std::string unit = config_internal::Lower(text.substr(i));
  static const std::pair<std::string_view, uint64_t> kUnits[] = {
      {"", 1},           {"b", 1},
      {"kb", 1000},      {"kib", 1ull << 10},
      {"mb", 1000000},   {"mib", 1ull << 20},
      {"gb", 1000000000}, {"gib", 1ull << 30},
      {"tb", 1000000000000ull}, {"tib", 1ull << 40}};
  for (const auto& [name, mult] : kUnits) {
    if (unit != name) continue;
    uint64_t out = 0;
    if (__builtin_mul_overflow(number, mult, &out)) return bad("too large");
    return out;
  }
  return bad("unknown unit '" + std::string(text.substr(i)) +
             "' (use B, kB, MB, GB, TB or KiB, MiB, GiB, TiB)");
}

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  if (text.empty()) return BadDuration(text, "empty");
  if (text.front() == '-') return BadDuration(text, "must not be negative");
  int64_t total = 0;
  int64_t last_unit = std::numeric_limits<int64_t>::max();
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') {
      return BadDuration(
          text, "expected a number at '" + std::string(text.substr(i)) + "'");
    }
    int64_t number = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (__builtin_mul_overflow(number, int64_t{10}, &number) ||
          __builtin_add_overflow(number, int64_t{text[i] - '0'}, &number)) {
        return BadDuration(text, "too large");
      }
      ++i;
    }
    int64_t unit = 1;
    if (i == text.size()) {
      // A bare number is seconds, but only on its own: "1h30" is a typo.
      if (last_unit != std::numeric_limits<int64_t>::max()) {
        return BadDuration(text, "missing unit after the last number");
      }
    } else if (text[i] == '.') {
      return BadDuration(text,
                         "fractions are not supported (write 1h30m, not 1.5h)");
    } else {
      // The whole run of letters, so "10ms" reports 'ms', not a stray 's'.
      size_t end = i;
      while (end < text.size() && ((text[end] >= 'a' && text[end] <= 'z') ||
                                   (text[end] >= 'A' && text[end] <= 'Z'))) {
        ++end;
      }
      std::string_view token = text.substr(i, std::max<size_t>(end - i, 1));
      unit = token.size() == 1 ? UnitSeconds(token[0]) : 0;
      if (unit == 0) {
        return BadDuration(text, "unknown unit '" + std::string(token) +
                                     "' (use d, h, m or s)");
      }
      if (unit >= last_unit) {
        return BadDuration(text,
                           "units must go from largest to smallest, "
                           "each at most once");
      }
      ++i;
    }
    last_unit = unit;
    int64_t part = 0;
    if (__builtin_mul_overflow(number, unit, &part) ||
        __builtin_add_overflow(total, part, &total) ||
        total > kMaxDurationSeconds) {
      return BadDuration(text, "too large (at most 36500d)");
    }
  }
  return std::chrono::seconds(total);
}

std::string ExampleConfig() {
  return R"(# faiss-rebuild configuration.
#
# Durations are plain seconds ("45") or numbers with units d, h, m, s,
# largest first ("90s", "30m", "4h", "1d", "1h30m").
# Relative paths are resolved against the directory of this file.

# Live versions, staging areas and per-index state.
data_dir: /var/lib/faiss-rebuild
# Compressed backups; defaults to <data_dir>/backups. A separate disk
# keeps backups alive when the data disk dies.
backup_dir: /var/lib/faiss-rebuild/backups

http:
  # Admin API and /metrics of faiss-rebuildd, as HOST:PORT.
  listen: "127.0.0.1:9464"
  # File holding the bearer token required by mutating API calls;
  # empty means no token (keep listen on loopback then).
  token_file: /etc/faiss-rebuild/api-token
  # Protections against slow or oversized requests (both servers take
  # the same keys): open connections (the excess is refused with 503),
  # the time for a whole request (headers and body; 408 after it), idle
  # time between keep-alive requests, request head size and line count
  # (431 beyond), and the body (413 beyond, chunked or not).
  max_connections: 256
  request_timeout: "30s"
  keepalive_timeout: "5s"
  max_header_bytes: 16384
  max_header_count: 100
  max_body_bytes: 65536

search_server:
  # Where faiss-searchd answers k-NN queries, as HOST:PORT.
  listen: "127.0.0.1:9465"
  # Ask faiss-rebuildd (at http.listen, with http.token_file) to verify
  # and repair an index whose live version fails verification.
  report_corruption: true
  # Serve what an object-storage repository publishes instead of data_dir:
  # poll each index's pointer (endpoint, region and path style come from
  # repository:), keep downloaded versions in cache_dir.
  # follow: "s3://my-bucket/faiss"
  # cache_dir: /var/cache/faiss-searchd
  # follow_interval: "2s"
  # cache_versions: 2
  max_connections: 4096
  request_timeout: "10s"
  max_body_bytes: 67108864

scheduler:
  # IANA time zone for schedules of indexes that set none themselves.
  timezone: "UTC"
  # Builds allowed to run at the same time across all indexes.
  max_concurrent_builds: 1
  # After a failed build, scheduled runs of that index wait this long.
  failure_cooldown: "30m"
  # Runs missed while the daemon was down: run_once catches up with a
  # single run, skip waits for the next scheduled time.
  misfire: run_once
  # A job finding its index locked by another job or process (e.g. a
  # `faiss-rebuild --local` run) waits this long for it, then ends as
  # "busy" (not counted as a failure). Indexes may set their own lock_wait.
  lock_wait: "10m"

# Every on-disk version and backup is re-read and checked against its
# checksums on this schedule; a corrupt live version is replaced by the
# newest intact one. Any index may override these with its own scrub map.
scrub:
  # Cron expression (as for schedule:); "" never scrubs.
  schedule: "@weekly"
  # Read rate limit, so searches on the same disk do not suffer; 0 = none.
  max_bytes_per_second: 50MB
  # Re-publish the newest intact version when live is found corrupt.
  repair: true

# Settings every index inherits; any index may override any of them, and
# the validation and backups maps are merged key by key.
defaults:
  # A build still running after this long is stopped as timed_out.
  timeout: "4h"
  # OpenMP threads per build; 0 uses all cores.
  threads: 0
  # Version directories kept on disk, the live one included (at least 2,
  # so there is always a rollback target).
  keep_versions: 3
  # Vectors sampled from the source to train IVF/PQ/OPQ stages.
  train_sample: 100000
  # Vectors handed to FAISS per add() call; bounds memory while adding.
  add_batch: 65536
  # Refuse a build whose estimated peak memory (training sample + index)
  # exceeds MemAvailable or the cgroup limit; false builds anyway.
  memory_admission: true
  # The gate a candidate must pass before it is published.
  validation:
    # Recall is measured as recall@k.
    k: 10
    # Queries sampled from the source for the recall estimate.
    queries: 1000
    # Optional extra queries, in the same format as the source; "" = none.
    query_file: ""
    # Reject the candidate when estimated recall@k is below this (0..1).
    min_recall: 0.90
    # Reject when single-query p99 latency exceeds this, in milliseconds.
    max_p99_ms: 50
    # Single-query searches timed for the latency gate.
    latency_queries: 200
    # Reject when the vector count differs from live by more than this
    # fraction (a truncated source must not replace a full index).
    max_count_change: 0.2
    # Reject when the index file size differs from live by more than this
    # fraction.
    max_size_change: 0.5
    # Reject when recall is more than this below the live version's on the
    # same queries; leave the key out to skip the comparison.
    max_recall_drop_vs_live: 0.02
    # IVF indexes only, unset by default: reject when the imbalance factor
    # (nlist * sum(list size^2) / ntotal^2; 1 = even lists) is over this
    # (at least 1), or when more than this share of the lists is empty.
    # max_imbalance_factor: 3
    # max_empty_lists_ratio: 0.1
    # Seed for sampling queries, so reruns measure the same queries.
    seed: 42
  # For an index whose search: sets nprobe or efSearch to auto: each build
  # measures recall@k at nprobe 1, 2, 4, ... (efSearch 16, 32, 64, ...) and
  # keeps the smallest value that meets target_recall; faiss-searchd serves
  # each version with its own value.
  tune:
    # Recall@k the chosen value must reach (0..1]; if no value up to max
    # does, the build fails validation and live stays as it is.
    target_recall: 0.95
    # Largest value tried (nprobe is also capped at the index's nlist).
    max: 1024
    # Recall is measured as recall@k; leave out to use validation.k.
    k: 10
    # lower_bound: the 95% confidence lower bound must reach the target;
    # estimate: the measured recall must.
    use: lower_bound
  # When a full rebuild (retraining the IVF centroids) should follow a
  # version updated by deltas: past this fraction of delta rows since the
  # last full build, or past these IVF health limits. 0 switches one off.
  retrain:
    max_delta_fraction: 0.1
    max_imbalance_factor: 3
    max_empty_lists_ratio: 0.1
  # Retention and compression of backups.
  backups:
    # Newest backups always kept.
    keep_last: 7
    # Additionally keep the newest backup of each of the last N days.
    keep_daily: 7
    # Additionally keep the newest backup of each of the last N weeks.
    keep_weekly: 4
    # zstd level 1..19: higher is smaller and slower.
    zstd_level: 3
    # zstd compression threads; 0 uses all cores.
    zstd_workers: 0
    # Group the bytes of each float before compressing; often smaller
    # for Flat and SQ indexes, useless for PQ codes.
    byte_shuffle: false
    # Decompress and check every new backup right after writing it, so a
    # bad disk or a bug is caught now, not at restore time (costs about one
    # decompression; retention pins the newest verified backup).
    verify_after_create: true

indexes:
  # name becomes a directory: letters, digits, '.', '_', '-', at most 64.
  - name: horizon-24h
    source:
      # The embeddings to build from; re-read on every rebuild.
      path: /data/embeddings/24h.npy
      # npy | fvecs | bvecs | raw-f32
      format: npy
    # Vector dimension; must match the source file.
    dimension: 128
    # L2 (Euclidean) or IP (inner product; normalize for cosine).
    metric: L2
    # Any faiss::index_factory string valid for this dimension.
    factory: "IVF1024,Flat"
    # Overrides defaults.train_sample for this index.
    train_sample: 100000
    # FAISS search parameters used by validation and faiss-searchd:
    # nprobe, efSearch, k_factor, ht, max_codes, quantizer_efSearch;
    # nprobe or efSearch may be auto (see defaults.tune).
    search:
      nprobe: 16
    # Cron: 5 fields (or 6 with seconds) or @hourly/@daily/@weekly/
    # @monthly; leave out for manual rebuilds only.
    schedule: "0 3 * * *"
    # IANA zone the schedule is read in; DST changes are handled.
    timezone: "Australia/Adelaide"
    # Only min_recall changes; the other validation keys come from defaults.
    validation:
      min_recall: 0.95

  # A graph index rebuilt hourly with its own limits and retention.
  - name: products-hnsw
    source: { path: /data/embeddings/products.fvecs, format: fvecs }
    dimension: 768
    metric: IP
    factory: "HNSW32,Flat"
    # Tuned on every build: the smallest efSearch meeting tune.target_recall.
    search: { efSearch: auto }
    tune: { target_recall: 0.9, max: 512 }
    schedule: "@hourly"
    timeout: "1h"
    threads: 8
    keep_versions: 5
    validation: { k: 20, max_p99_ms: 10 }
    backups: { keep_last: 24, zstd_level: 5 }
)";
}

}  // namespace frb
