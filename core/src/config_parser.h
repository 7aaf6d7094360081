// Private to the config module: the YAML walker behind ParseYaml, split by
// config section over config_parse.cc (document, mappings, scalar values),
// config_parse_sections.cc (servers, scheduler, defaults, validation,
// backups, scrub) and config_parse_index.cc (one entry of `indexes`).
// Not thread-safe: one ConfigParser per document.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config_internal.h"
#include "config_tune.h"
#include "frb/config.h"
#include "frb/env.h"

namespace frb {
namespace config_internal {

using Keys = std::span<const std::string_view>;

constexpr int64_t kIntMax = std::numeric_limits<int>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Entry {
  std::string name;
  YAML::Node key;
  YAML::Node value;
};

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

// "a list", "'text'"...: how a problem message names what was found.
std::string Describe(const YAML::Node& node);
// 1-based; {0, 0} when yaml-cpp has no mark.
SourceLocation Loc(const YAML::Node& node);
// yaml-cpp gives an empty value ("dimension:") the mark of whatever token
// comes next, often the following line, so such problems point at the key.
inline SourceLocation ValueLoc(const Entry& e) {
  return e.value.IsNull() ? Loc(e.key) : Loc(e.value);
}

class ConfigParser {
 public:
  ConfigParser(std::string file, std::string base_dir, Env* env,
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

  ProblemFn AddFn() {
    return [this](SourceLocation loc, const std::string& m) { Add(loc, m); };
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

  // Sections (config_parse_sections.cc).
  void ParseServers(const MapView& top, Config* cfg);
  void ParseScheduler(const Entry& e, SchedulerConfig* s);
  void ParseDefaults(const Entry& e, IndexConfig* defaults);
  void ParseCommon(const MapView& m, const std::string& prefix,
                   IndexConfig* ic);
  void ParseValidation(const MapView& m, const std::string& prefix,
                       ValidationConfig* v);
  void ParseBackups(const MapView& m, const std::string& prefix,
                    BackupConfig* b);
  void ParseRetrain(const MapView& m, const std::string& prefix, RetrainPolicy* r);
  void ParseScrub(const Entry& e, const std::string& prefix, ScrubConfig* s);
  // One entry of `indexes` (config_parse_index.cc).
  void ParseIndex(const YAML::Node& node, size_t position,
                  const IndexConfig& defaults, Config* cfg);
  void ParseIndexName(const MapView& m, IndexConfig* ic, std::string* label);
  // Whether source.path and source.format are usable for the file check.
  bool ParseSource(const MapView& m, const std::string& label, IndexConfig* ic,
                   SourceLocation* source_loc, SourceLocation* ids_loc);
  bool ParseMetric(const MapView& m, IndexConfig* ic);
  bool ParseFactory(const MapView& m, const std::string& label, IndexConfig* ic);
  void ParseSearch(const Entry& e, IndexConfig* ic,
                   std::map<std::string, SourceLocation>* locs);
  // FAISS's own verdict on the factory string and the search parameters.
  void CheckFactoryAndSearch(const MapView& m, const IndexConfig& ic,
                             const std::map<std::string, SourceLocation>& search_locs);
  void Missing(SourceLocation loc, const std::string& label, std::string_view key) {
    Add(loc, label + ": missing required key '" + std::string(key) + "'");
  }

  // Relative paths are relative to the config file's directory.
  std::string Resolve(const std::string& path) const;

  std::string file_;
  std::string base_dir_;
  Env* env_;
  ConfigOptions options_;
  std::vector<ConfigProblem>* problems_;
  std::map<std::string, SourceLocation> index_names_;
};

}  // namespace config_internal
}  // namespace frb
