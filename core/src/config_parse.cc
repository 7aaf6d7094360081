// YAML -> Config. Every value is type- and range-checked where it appears,
// and checking goes on after a problem, so `config validate` can list every
// mistake with its line and column in one run.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <span>
#include <system_error>

#include "config_internal.h"
#include "faiss_util.h"
#include "frb/config.h"
#include "frb/cron.h"
#include "frb/host_port.h"
#include "frb/timezone.h"

namespace frb {

namespace {

using config_internal::ClosestKey;
using config_internal::Lower;
using config_internal::ParseRepository;
using Keys = std::span<const std::string_view>;

constexpr std::string_view kTopKeys[] = {
    "data_dir",  "backup_dir", "http",   "search_server",
    "scheduler", "defaults",   "indexes", "scrub", "repository"};
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
    "keep_versions", "train_sample", "add_batch", "memory_admission"};
// Keys that make sense only for one index; named in the error when they
// appear under defaults.
constexpr std::string_view kIndexOnlyKeys[] = {
    "name",    "source", "dimension", "metric",
    "factory", "search", "schedule",  "timezone", "lock_wait"};
constexpr std::string_view kIndexKeys[] = {
    "name",         "source",    "dimension",     "metric",     "factory",
    "train_sample", "add_batch", "search",        "schedule",   "timezone",
    "timeout",      "threads",   "keep_versions", "validation", "backups",
    "scrub",        "lock_wait",    "memory_admission"};
constexpr std::string_view kSourceKeys[] = {"path", "format"};
constexpr std::string_view kValidationKeys[] = {"k",
                                                "queries",
                                                "query_file",
                                                "min_recall",
                                                "max_p99_ms",
                                                "latency_queries",
                                                "max_count_change",
                                                "max_size_change",
                                                "max_recall_drop_vs_live",
                                                "seed"};
constexpr std::string_view kScrubKeys[] = {"schedule", "max_bytes_per_second", "repair"};
constexpr std::string_view kBackupKeys[] = {"keep_last",    "keep_daily",
                                            "keep_weekly",  "zstd_level",
                                            "zstd_workers", "byte_shuffle",
                                            "verify_after_create"};

// The FAISS ParameterSpace names the validator and searchd apply.
struct SearchParamRule {
  std::string_view name;
  bool integer;
  double min;
  bool min_exclusive;
};
constexpr SearchParamRule kSearchParams[] = {
    {"nprobe", true, 1, false},    {"efSearch", true, 1, false},
    {"k_factor", false, 0, true},  {"ht", true, 0, false},
    {"max_codes", true, 0, false}, {"quantizer_efSearch", true, 1, false},
};
constexpr std::string_view kSearchParamNames[] = {
    "nprobe", "efSearch", "k_factor", "ht", "max_codes", "quantizer_efSearch"};

constexpr int64_t kIntMax = std::numeric_limits<int>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();
// FAISS has no limit, but a typo like 1280000 would make the factory check
// allocate per-dimension tables; no real embedding is this wide.
constexpr int64_t kMaxDimension = 65536;

bool Contains(Keys keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar: {
      std::string s = node.Scalar();
      if (s.size() > 60) s = s.substr(0, 60) + "...";
      return "'" + s + "'";
    }
    default:
      return "an undefined value";
  }
}

SourceLocation Loc(const YAML::Node& node) {
  YAML::Mark mark = node.Mark();
  if (mark.is_null()) return {};
  return {mark.line + 1, mark.column + 1};
}

// Records where documents start; ignores everything else.
class DocumentStarts : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Where a second YAML document starts, if there is one. Not YAML::LoadAll:
// yaml-cpp 0.7 reports documents forever, consuming nothing and allocating
// without bound, on some malformed input after a document end marker
// ("... &a { b: c }, d: e }"; found by fuzzing), so the parser is driven
// for two documents at most.
std::optional<SourceLocation> SecondDocument(const std::string& yaml) {
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  DocumentStarts docs;
  for (int i = 0; i < 2 && parser.HandleNextDocument(docs); ++i) {
  }
  if (docs.starts.size() < 2) return std::nullopt;
  return SourceLocation{docs.starts[1].line + 1, docs.starts[1].column + 1};
}

struct Entry {
  std::string name;
  YAML::Node key;
  YAML::Node value;
};

// yaml-cpp gives an empty value ("dimension:") the mark of whatever token
// comes next, often the following line, so such problems point at the key.
SourceLocation ValueLoc(const Entry& e) {
  return e.value.IsNull() ? Loc(e.key) : Loc(e.value);
}

class MapView {
 public:
  const Entry* Find(std::string_view name) const {
    for (const Entry& e : entries) {
      if (e.name == name) return &e;
    }
    return nullptr;
  }
  std::vector<Entry> entries;
};

bool ParseInt(const std::string& s, int64_t* out) {
  const char* begin = s.data() + (!s.empty() && s[0] == '+' ? 1 : 0);
  auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && begin != ptr;
}

bool ParseDouble(const std::string& s, double* out) {
  const char* begin = s.data() + (!s.empty() && s[0] == '+' ? 1 : 0);
  auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && begin != ptr &&
         std::isfinite(*out);
}

std::string FormatNumber(double v) {
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, ptr) : std::to_string(v);
}

std::string Normalize(const std::string& path) {
  return std::filesystem::path(path).lexically_normal().string();
}

class Parser {
 public:
  Parser(std::string file, std::string base_dir, Env* env,
         const ConfigOptions& options, std::vector<ConfigProblem>* problems)
      : file_(std::move(file)),
        base_dir_(std::move(base_dir)),
        env_(env),
        options_(options),
        problems_(problems) {}

  void Parse(std::string_view yaml, Config* cfg);

 private:
  // Values are echoed into messages; escaping control characters keeps
  // every problem on one line whatever the file contains.
  void Add(SourceLocation loc, const std::string& message) {
    std::string clean;
    for (char c : message) {
      if (c == '\n') {
        clean += "\\n";
      } else if (static_cast<unsigned char>(c) < 0x20) {
        clean += ' ';
      } else {
        clean += c;
      }
    }
    problems_->push_back({file_, loc.line, loc.column, std::move(clean)});
  }

  std::optional<MapView> View(const YAML::Node& node, SourceLocation where,
                              const std::string& path, Keys known,
                              std::string_view noun = "key",
                              Keys elsewhere = {});
  std::optional<MapView> View(const Entry& e, const std::string& path,
                              Keys known, std::string_view noun = "key",
                              Keys elsewhere = {}) {
    return View(e.value, ValueLoc(e), path, known, noun, elsewhere);
  }

  std::optional<std::string> ScalarOf(const Entry& e, const std::string& path,
                                      std::string_view expect);
  bool Int(const Entry& e, const std::string& path, int64_t min, int64_t max,
           int64_t* out);
  // true/yes/on or false/no/off.
  void SetBool(const MapView& m, std::string_view key, const std::string& prefix, bool* out) {
    const Entry* e = m.Find(key);
    if (e == nullptr) return;
    std::string path = prefix + std::string(key);
    auto s = ScalarOf(*e, path, "true or false");
    if (!s) return;
    std::string lower = Lower(*s);
    if (lower == "true" || lower == "yes" || lower == "on") {
      *out = true;
    } else if (lower == "false" || lower == "no" || lower == "off") {
      *out = false;
    } else {
      Add(ValueLoc(*e), path + ": expected true or false, got " + Describe(e->value));
    }
  }
  template <typename T>
  void SetInt(const MapView& m, std::string_view key, const std::string& prefix,
              int64_t min, int64_t max, T* out) {
    int64_t v = 0;
    const Entry* e = m.Find(key);
    if (e != nullptr && Int(*e, prefix + std::string(key), min, max, &v)) {
      *out = static_cast<T>(v);
    }
  }
  bool Double(const Entry& e, const std::string& path, double min,
              bool min_exclusive, double max, double* out);
  void SetDouble(const MapView& m, std::string_view key,
                 const std::string& prefix, double min, bool min_exclusive,
                 double max, double* out) {
    const Entry* e = m.Find(key);
    if (e != nullptr)
      Double(*e, prefix + std::string(key), min, min_exclusive, max, out);
  }
  bool String(const MapView& m, std::string_view key, const std::string& prefix,
              bool allow_empty, std::string* out);
  bool Path(const MapView& m, std::string_view key, const std::string& prefix,
            bool allow_empty, std::string* out);
  void Duration(const MapView& m, std::string_view key,
                const std::string& prefix, bool allow_zero,
                std::chrono::seconds* out);
  void Listen(const MapView& m, const std::string& prefix, std::string* out);
  void Limits(const MapView& m, const std::string& prefix, HttpLimits* out);
  void Timezone(const MapView& m, const std::string& prefix, std::string* out);

  void ParseScheduler(const MapView& m, SchedulerConfig* s);
  void ParseCommon(const MapView& m, const std::string& prefix,
                   IndexConfig* ic);
  void ParseValidation(const MapView& m, const std::string& prefix,
                       ValidationConfig* v);
  void ParseBackups(const MapView& m, const std::string& prefix,
                    BackupConfig* b);
  void ParseScrub(const Entry& e, const std::string& prefix, ScrubConfig* s);
  void ParseIndex(const YAML::Node& node, size_t position,
                  const IndexConfig& defaults, Config* cfg);
  void ParseSearch(const Entry& e, IndexConfig* ic,
                   std::map<std::string, SourceLocation>* locs);

  std::string Resolve(const std::string& path) const {
    if (path.empty() || path[0] == '/' || base_dir_.empty()) return path;
    return Normalize(JoinPath(base_dir_, path));
  }

  std::string file_;
  std::string base_dir_;
  Env* env_;
  ConfigOptions options_;
  std::vector<ConfigProblem>* problems_;
  std::map<std::string, SourceLocation> index_names_;
};

std::optional<MapView> Parser::View(const YAML::Node& node,
                                    SourceLocation where,
                                    const std::string& path, Keys known,
                                    std::string_view noun, Keys elsewhere) {
  MapView view;
  // "validation:" with nothing under it means "no overrides", not an error.
  if (node.IsNull()) return view;
  if (!node.IsMap()) {
    Add(where, (path.empty() ? "top level" : path) +
                   ": expected a mapping, got " + Describe(node));
    return std::nullopt;
  }
  for (YAML::const_iterator it = node.begin(); it != node.end(); ++it) {
    // Copies: the iterator's -> returns a temporary proxy.
    YAML::Node key = it->first;
    if (!key.IsScalar()) {
      Add(Loc(key),
          "expected a plain " + std::string(noun) + ", got " + Describe(key));
      continue;
    }
    Entry e{key.Scalar(), key, it->second};
    if (const Entry* first = view.Find(e.name)) {
      Add(Loc(key), "duplicate " + std::string(noun) + " '" + e.name +
                        "' (first at line " +
                        std::to_string(Loc(first->key).line) + ")");
      continue;
    }
    if (!Contains(known, e.name)) {
      if (Contains(elsewhere, e.name)) {
        Add(Loc(key),
            "'" + e.name + "' can only be set per index, not in " + path);
      } else {
        std::string message =
            "unknown " + std::string(noun) + " '" + e.name + "'";
        std::string hint = ClosestKey(e.name, known);
        if (!hint.empty()) message += " (did you mean '" + hint + "'?)";
        Add(Loc(key), message);
      }
      continue;
    }
    view.entries.push_back(std::move(e));
  }
  return view;
}

std::optional<std::string> Parser::ScalarOf(const Entry& e,
                                            const std::string& path,
                                            std::string_view expect) {
  if (e.value.IsScalar()) return e.value.Scalar();
  Add(ValueLoc(e), path + ": expected " + std::string(expect) + ", got " +
                       Describe(e.value));
  return std::nullopt;
}

bool Parser::Int(const Entry& e, const std::string& path, int64_t min,
                 int64_t max, int64_t* out) {
  std::string_view expect = min == 1   ? "a positive integer"
                            : min == 0 ? "a non-negative integer"
                                       : "an integer";
  auto s = ScalarOf(e, path, expect);
  if (!s) return false;
  int64_t v = 0;
  if (!ParseInt(*s, &v)) {
    Add(ValueLoc(e), path + ": expected " + std::string(expect) + ", got " +
                         Describe(e.value));
    return false;
  }
  if (v < min || v > max) {
    std::string range = max < kIntMax
                            ? "must be between " + std::to_string(min) +
                                  " and " + std::to_string(max)
                        : v < min ? "must be at least " + std::to_string(min)
                                  : "must be at most " + std::to_string(max);
    Add(ValueLoc(e), path + ": " + range + ", got " + *s);
    return false;
  }
  *out = v;
  return true;
}

bool Parser::Double(const Entry& e, const std::string& path, double min,
                    bool min_exclusive, double max, double* out) {
  auto s = ScalarOf(e, path, "a number");
  if (!s) return false;
  double v = 0;
  if (!ParseDouble(*s, &v)) {
    Add(ValueLoc(e), path + ": expected a number, got " + Describe(e.value));
    return false;
  }
  if (v < min || (min_exclusive && v == min) || v > max) {
    std::string range = max != kInf ? "must be between " + FormatNumber(min) +
                                          " and " + FormatNumber(max)
                        : min_exclusive
                            ? "must be greater than " + FormatNumber(min)
                            : "must be at least " + FormatNumber(min);
    Add(ValueLoc(e), path + ": " + range + ", got " + *s);
    return false;
  }
  *out = v;
  return true;
}

bool Parser::String(const MapView& m, std::string_view key,
                    const std::string& prefix, bool allow_empty,
                    std::string* out) {
  const Entry* e = m.Find(key);
  if (e == nullptr) return false;
  std::string path = prefix + std::string(key);
  if (allow_empty && e->value.IsNull()) {
    out->clear();
    return true;
  }
  auto s = ScalarOf(*e, path, "a string");
  if (!s) return false;
  if (s->empty() && !allow_empty) {
    Add(ValueLoc(*e), path + ": must not be empty");
    return false;
  }
  *out = *s;
  return true;
}

bool Parser::Path(const MapView& m, std::string_view key,
                  const std::string& prefix, bool allow_empty,
                  std::string* out) {
  if (!String(m, key, prefix, allow_empty, out)) return false;
  *out = Resolve(*out);
  return true;
}

void Parser::Duration(const MapView& m, std::string_view key,
                      const std::string& prefix, bool allow_zero,
                      std::chrono::seconds* out) {
  const Entry* e = m.Find(key);
  if (e == nullptr) return;
  std::string path = prefix + std::string(key);
  auto s = ScalarOf(*e, path, "a duration like \"30m\"");
  if (!s) return;
  auto d = ParseDuration(*s);
  if (!d.ok()) {
    Add(ValueLoc(*e), path + ": " + d.status().message());
  } else if (!allow_zero && d->count() == 0) {
    Add(ValueLoc(*e), path + ": must be greater than 0");
  } else {
    *out = *d;
  }
}

void Parser::Listen(const MapView& m, const std::string& prefix,
                    std::string* out) {
  std::string value;
  if (!String(m, "listen", prefix, false, &value)) return;
  auto hp = ParseHostPort(value);
  if (!hp.ok()) {
    Add(ValueLoc(*m.Find("listen")), prefix + "listen: expected HOST:PORT with a port in "
                                                  "1..65535, got '" + value + "': " +
                                                  hp.status().message());
    return;
  }
  *out = value;
}

void Parser::Limits(const MapView& m, const std::string& prefix, HttpLimits* out) {
  SetInt(m, "max_connections", prefix, 1, 1 << 20, &out->max_connections);
  Duration(m, "request_timeout", prefix, false, &out->request_timeout);
  Duration(m, "keepalive_timeout", prefix, false, &out->keepalive_timeout);
  SetInt(m, "max_header_bytes", prefix, 1024, 1 << 20, &out->max_header_bytes);
  SetInt(m, "max_header_count", prefix, 8, 10000, &out->max_header_count);
  SetInt(m, "max_body_bytes", prefix, 1024, int64_t{1} << 32, &out->max_body_bytes);
}

void Parser::Timezone(const MapView& m, const std::string& prefix,
                      std::string* out) {
  std::string zone;
  if (!String(m, "timezone", prefix, true, &zone)) return;
  if (!zone.empty()) {
    if (auto tz = TimeZone::Load(zone); !tz.ok()) {
      Add(ValueLoc(*m.Find("timezone")), prefix + "timezone: " + tz.status().message());
      return;
    }
  }
  *out = zone;
}

void Parser::Parse(std::string_view yaml, Config* cfg) {
  const std::string text(yaml);
  YAML::Node doc = YAML::Load(text);  // the first document only
  std::optional<SourceLocation> second = SecondDocument(text);
  if (doc.IsNull() && !second) {
    Add({1, 1}, "the configuration is empty");
    return;
  }
  if (second) Add(*second, "only one YAML document is allowed");
  auto top = View(doc, Loc(doc), "", kTopKeys);
  if (!top) return;

  Path(*top, "data_dir", "", false, &cfg->data_dir);
  if (!Path(*top, "backup_dir", "", false, &cfg->backup_dir)) {
    cfg->backup_dir = JoinPath(cfg->data_dir, "backups");
  }
  if (const Entry* e = top->Find("http")) {
    if (auto http = View(*e, "http", kHttpKeys)) {
      Listen(*http, "http.", &cfg->http_listen);
      Limits(*http, "http.", &cfg->http_limits);
      Path(*http, "token_file", "http.", true, &cfg->http_token_file);
    }
  }
  if (const Entry* e = top->Find("search_server")) {
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
  if (const Entry* e = top->Find("scheduler")) {
    if (auto scheduler = View(*e, "scheduler", kSchedulerKeys)) {
      ParseScheduler(*scheduler, &cfg->scheduler);
    }
  }
  if (const Entry* e = top->Find("repository"))
    ParseRepository(e->value, file_, &cfg->repository, problems_);
  IndexConfig defaults;
  if (const Entry* e = top->Find("scrub")) ParseScrub(*e, "scrub", &defaults.scrub);
  if (const Entry* e = top->Find("defaults")) {
    if (auto d = View(*e, "defaults", kDefaultsKeys, "key", kIndexOnlyKeys)) {
      ParseCommon(*d, "defaults.", &defaults);
    }
  }
  if (const Entry* e = top->Find("indexes")) {
    if (e->value.IsSequence()) {
      for (size_t i = 0; i < e->value.size(); ++i)
        ParseIndex(e->value[i], i, defaults, cfg);
    } else if (!e->value.IsNull()) {
      Add(ValueLoc(*e),
          "indexes: expected a list of indexes, got " + Describe(e->value));
    }
  }
}

void Parser::ParseScheduler(const MapView& m, SchedulerConfig* s) {
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

// The keys shared by defaults and indexes; an index starts from the parsed
// defaults, so applying its own map on top gives per-key overrides.
void Parser::ParseCommon(const MapView& m, const std::string& prefix,
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
}

void Parser::ParseValidation(const MapView& m, const std::string& prefix,
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

void Parser::ParseBackups(const MapView& m, const std::string& prefix,
                          BackupConfig* b) {
  SetInt(m, "keep_last", prefix, 0, kIntMax, &b->keep_last);
  SetInt(m, "keep_daily", prefix, 0, kIntMax, &b->keep_daily);
  SetInt(m, "keep_weekly", prefix, 0, kIntMax, &b->keep_weekly);
  SetInt(m, "zstd_level", prefix, 1, 19, &b->zstd_level);
  SetInt(m, "zstd_workers", prefix, 0, kIntMax, &b->zstd_workers);
  SetBool(m, "byte_shuffle", prefix, &b->byte_shuffle);
  SetBool(m, "verify_after_create", prefix, &b->verify_after_create);
}

void Parser::ParseScrub(const Entry& e, const std::string& prefix, ScrubConfig* s) {
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

void Parser::ParseSearch(const Entry& e, IndexConfig* ic,
                         std::map<std::string, SourceLocation>* locs) {
  auto m = View(e, "search", kSearchParamNames, "search parameter");
  if (!m) return;
  for (const Entry& p : m->entries) {
    const SearchParamRule* rule = nullptr;
    for (const SearchParamRule& r : kSearchParams) {
      if (r.name == p.name) rule = &r;
    }
    std::string path = "search." + p.name;
    double value = 0;
    if (rule->integer) {
      int64_t n = 0;
      if (!Int(p, path, static_cast<int64_t>(rule->min), kIntMax, &n)) continue;
      value = static_cast<double>(n);
    } else if (!Double(p, path, rule->min, rule->min_exclusive, kInf, &value)) {
      continue;
    }
    ic->search[p.name] = value;
    (*locs)[p.name] = Loc(p.key);
  }
}

void Parser::ParseIndex(const YAML::Node& node, size_t position,
                        const IndexConfig& defaults, Config* cfg) {
  IndexConfig ic = defaults;
  ic.location = Loc(node);
  std::string label = "indexes[" + std::to_string(position) + "]";
  auto m = View(node, ic.location, label, kIndexKeys);
  if (!m) return;
  auto missing = [&](SourceLocation loc, std::string_view key) {
    Add(loc, label + ": missing required key '" + std::string(key) + "'");
  };

  if (const Entry* e = m->Find("name")) {
    std::string name;
    if (String(*m, "name", "", false, &name)) {
      if (!config_internal::IsValidIndexName(name)) {
        Add(ValueLoc(*e),
            "name: invalid index name '" + name +
                "' (1-64 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit)");
      } else if (auto [it, inserted] = index_names_.emplace(name, ValueLoc(*e));
                 !inserted) {
        Add(ValueLoc(*e), "duplicate index name '" + name +
                              "' (first defined at line " +
                              std::to_string(it->second.line) + ", column " +
                              std::to_string(it->second.column) + ")");
      }
      ic.name = name;
      label = "index '" + name + "'";
    }
  } else {
    missing(ic.location, "name");
  }

  bool have_source = false;
  bool format_ok = true;
  SourceLocation source_loc;
  if (const Entry* e = m->Find("source")) {
    if (auto s = View(*e, "source", kSourceKeys)) {
      if (const Entry* p = s->Find("path")) {
        have_source = Path(*s, "path", "source.", false, &ic.source_path);
        source_loc = ValueLoc(*p);
      } else {
        missing(ValueLoc(*e), "source.path");
      }
      // Without a format, a .fvecs/.bvecs name says what it is; read as .npy
      // they would fail with a confusing "no NUMPY magic".
      if (have_source && ic.source_path.ends_with(".fvecs"))
        ic.source_format = SourceFormat::kFvecs;
      if (have_source && ic.source_path.ends_with(".bvecs"))
        ic.source_format = SourceFormat::kBvecs;
      if (const Entry* f = s->Find("format")) {
        format_ok = false;
        if (auto name = ScalarOf(*f, "source.format", "a source format")) {
          auto format = ParseSourceFormat(*name);
          if (format.ok()) {
            ic.source_format = *format;
            format_ok = true;
          } else {
            Add(ValueLoc(*f), "source.format: " + format.status().message());
          }
        }
      }
    }
  } else {
    missing(ic.location, "source.path");
  }

  bool dimension_ok = false;
  if (const Entry* e = m->Find("dimension")) {
    int64_t d = 0;
    dimension_ok = Int(*e, "dimension", 1, kMaxDimension, &d);
    if (dimension_ok) ic.dimension = static_cast<int>(d);
  } else {
    missing(ic.location, "dimension");
  }

  bool metric_ok = true;
  std::string metric;
  if (String(*m, "metric", "", false, &metric)) {
    std::string lower = Lower(metric);
    if (lower == "l2") {
      ic.metric = Metric::kL2;
    } else if (lower == "ip") {
      ic.metric = Metric::kIP;
    } else {
      metric_ok = false;
      Add(ValueLoc(*m->Find("metric")),
          "metric: unknown metric '" + metric + "' (expected L2 or IP)");
    }
  } else if (m->Find("metric") != nullptr) {
    metric_ok = false;
  }

  bool factory_ok = false;
  if (m->Find("factory") != nullptr) {
    factory_ok = String(*m, "factory", "", false, &ic.factory);
    if (factory_ok) {
      if (std::string why = FactoryStringProblem(ic.factory); !why.empty()) {
        factory_ok = false;
        Add(ValueLoc(*m->Find("factory")), "factory: the string " + why);
      }
    }
  } else {
    missing(ic.location, "factory");
  }

  ParseCommon(*m, "", &ic);
  std::map<std::string, SourceLocation> search_locs;
  if (const Entry* e = m->Find("search")) ParseSearch(*e, &ic, &search_locs);
  if (String(*m, "schedule", "", true, &ic.schedule) && !ic.schedule.empty()) {
    if (auto cron = CronExpr::Parse(ic.schedule); !cron.ok()) {
      Add(ValueLoc(*m->Find("schedule")), "schedule: " + cron.status().message());
    }
  }
  Timezone(*m, "", &ic.timezone);
  if (const Entry* e = m->Find("scrub")) ParseScrub(*e, "scrub", &ic.scrub);
  if (m->Find("lock_wait")) {
    std::chrono::seconds wait{0};
    Duration(*m, "lock_wait", "", true, &wait);
    ic.lock_wait = wait;
  }

  if (dimension_ok && metric_ok && factory_ok) {
    std::map<std::string, std::string> param_errors;
    std::string error = config_internal::CheckFactory(
        ic.dimension, ic.metric, ic.factory, ic.search, &param_errors);
    if (!error.empty()) {
      Add(ValueLoc(*m->Find("factory")),
          "factory: FAISS rejects '" + ic.factory + "' for dimension " +
              std::to_string(ic.dimension) + ": " + error);
    }
    for (const auto& [name, message] : param_errors) {
      // "could not set parameter" is FAISS's only way to say "not for this
      // index type"; anything else it says is worth passing on.
      std::string detail =
          message.find("could not set parameter") == std::string::npos
              ? " (" + message + ")"
              : "";
      Add(search_locs[name], "search." + name +
                                 ": does not apply to factory '" + ic.factory +
                                 "'" + detail);
    }
  }

  // raw-f32 has no header, so without a valid dimension there is nothing to
  // check the file against.
  if (options_.check_sources && have_source && format_ok &&
      (dimension_ok || ic.source_format != SourceFormat::kRawF32)) {
    std::string error = config_internal::CheckSource(
        env_, ic.source_path, ic.source_format, ic.dimension);
    if (!error.empty()) Add(source_loc, "source.path: " + error);
  }
  cfg->indexes.push_back(std::move(ic));
}

}  // namespace

namespace config_internal {

void ParseYaml(std::string_view yaml, const std::string& file,
               const std::string& base_dir, Env* env,
               const ConfigOptions& options, Config* cfg,
               std::vector<ConfigProblem>* problems) {
  try {
    Parser(file, base_dir, env, options, problems).Parse(yaml, cfg);
  } catch (const YAML::Exception& e) {
    SourceLocation loc;
    if (!e.mark.is_null()) loc = {e.mark.line + 1, e.mark.column + 1};
    problems->push_back(
        {file, loc.line, loc.column, "YAML syntax error: " + e.msg});
  } catch (const std::exception& e) {
    problems->push_back(
        {file, 0, 0, std::string("cannot read configuration: ") + e.what()});
  }
}

}  // namespace config_internal
}  // namespace frb
