// YAML -> Config. Every value is type- and range-checked where it appears,
// and checking goes on after a problem, so `config validate` can list every
// mistake with its line and column in one run. This file: the document, the
// mappings and the scalar readers; the sections are in config_parse_sections.cc
// and config_parse_index.cc.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <optional>
#include <sstream>
#include <system_error>

#include "config_parser.h"
#include "frb/s3.h"
#include "frb/host_port.h"
#include "frb/timezone.h"

namespace frb {
namespace config_internal {

namespace {

constexpr std::string_view kTopKeys[] = {
    "data_dir",  "backup_dir", "http",   "search_server",
    "scheduler", "defaults",   "indexes", "scrub", "repository"};

bool Contains(Keys keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
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

}  // namespace

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

std::optional<MapView> ConfigParser::View(const YAML::Node& node,
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

std::optional<std::string> ConfigParser::ScalarOf(const Entry& e,
                                            const std::string& path,
                                            std::string_view expect) {
  if (e.value.IsScalar()) return e.value.Scalar();
  Add(ValueLoc(e), path + ": expected " + std::string(expect) + ", got " +
                       Describe(e.value));
  return std::nullopt;
}

bool ConfigParser::Int(const Entry& e, const std::string& path, int64_t min,
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

bool ConfigParser::Double(const Entry& e, const std::string& path, double min,
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

bool ConfigParser::String(const MapView& m, std::string_view key,
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

bool ConfigParser::Path(const MapView& m, std::string_view key,
                  const std::string& prefix, bool allow_empty,
                  std::string* out) {
  if (!String(m, key, prefix, allow_empty, out)) return false;
  *out = Resolve(*out);
  return true;
}

void ConfigParser::Duration(const MapView& m, std::string_view key,
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

void ConfigParser::Listen(const MapView& m, const std::string& prefix,
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

void ConfigParser::Limits(const MapView& m, const std::string& prefix, HttpLimits* out) {
  SetInt(m, "max_connections", prefix, 1, 1 << 20, &out->max_connections);
  Duration(m, "request_timeout", prefix, false, &out->request_timeout);
  Duration(m, "keepalive_timeout", prefix, false, &out->keepalive_timeout);
  SetInt(m, "max_header_bytes", prefix, 1024, 1 << 20, &out->max_header_bytes);
  SetInt(m, "max_header_count", prefix, 8, 10000, &out->max_header_count);
  SetInt(m, "max_body_bytes", prefix, 1024, int64_t{1} << 32, &out->max_body_bytes);
}

void ConfigParser::Timezone(const MapView& m, const std::string& prefix,
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

std::string ConfigParser::Resolve(const std::string& path) const {
  if (path.empty() || path[0] == '/' || base_dir_.empty()) return path;
  return Normalize(JoinPath(base_dir_, path));
}

void ConfigParser::Parse(std::string_view yaml, Config* cfg) {
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
  if (!String(*top, "backup_dir", "", false, &cfg->backup_dir)) {
    cfg->backup_dir = JoinPath(cfg->data_dir, "backups");
  } else if (IsS3Url(cfg->backup_dir)) {
    // Offsite backups: an object-storage prefix, not a path to resolve.
    if (auto loc = ParseS3Url(cfg->backup_dir); !loc.ok())
      Add(ValueLoc(*top->Find("backup_dir")), "backup_dir: " + loc.status().message());
    else
      cfg->backup_dir = loc->ToUrl();
  } else {
    cfg->backup_dir = Resolve(cfg->backup_dir);
  }
  ParseServers(*top, cfg);
  if (const Entry* e = top->Find("scheduler")) ParseScheduler(*e, &cfg->scheduler);
  if (const Entry* e = top->Find("repository"))
    ParseRepository(e->value, file_, &cfg->repository, problems_, IsS3Url(cfg->backup_dir));
  IndexConfig defaults;
  if (const Entry* e = top->Find("scrub")) ParseScrub(*e, "scrub", &defaults.scrub);
  if (const Entry* e = top->Find("defaults")) ParseDefaults(*e, &defaults);
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

void ParseYaml(std::string_view yaml, const std::string& file,
               const std::string& base_dir, Env* env,
               const ConfigOptions& options, Config* cfg,
               std::vector<ConfigProblem>* problems) {
  try {
    ConfigParser(file, base_dir, env, options, problems).Parse(yaml, cfg);
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
