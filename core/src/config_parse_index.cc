// One entry of `indexes`: it starts from the parsed defaults, adds its own
// keys, and is checked against FAISS (factory string, search parameters)
// and, when asked, against its source file.
#include <map>

#include "config_parser.h"
#include "config_tune.h"
#include "faiss_util.h"
#include "frb/cron.h"
#include "frb/source.h"

namespace frb {
namespace config_internal {

namespace {

constexpr std::string_view kIndexKeys[] = {
    "name",         "source",    "dimension",     "metric",     "factory",
    "train_sample", "add_batch", "search",        "schedule",   "timezone",
    "timeout",      "threads",   "keep_versions", "validation", "backups",
    "scrub",        "lock_wait",    "memory_admission", "tune",
    "deltas",       "retrain"};
constexpr std::string_view kDeltaKeys[] = {"on_unsupported"};
constexpr std::string_view kSourceKeys[] = {"path", "format", "ids", "deltas_through"};

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

// FAISS has no limit, but a typo like 1280000 would make the factory check
// allocate per-dimension tables; no real embedding is this wide.
constexpr int64_t kMaxDimension = 65536;

}  // namespace

void ConfigParser::ParseSearch(const Entry& e, IndexConfig* ic,
                               std::map<std::string, SourceLocation>* locs) {
  auto m = View(e, "search", kSearchParamNames, "search parameter");
  if (!m) return;
  for (const Entry& p : m->entries) {
    const SearchParamRule* rule = nullptr;
    for (const SearchParamRule& r : kSearchParams) {
      if (r.name == p.name) rule = &r;
    }
    std::string path = "search." + p.name;
    (*locs)[p.name] = Loc(p.key);
    if (IsAutoValue(p.value)) {
      SetAutoSearchParam(p.name, Loc(p.key), ic, AddFn());
      continue;
    }
    double value = 0;
    if (rule->integer) {
      int64_t n = 0;
      if (!Int(p, path, static_cast<int64_t>(rule->min), kIntMax, &n)) continue;
      value = static_cast<double>(n);
    } else if (!Double(p, path, rule->min, rule->min_exclusive, kInf, &value)) {
      continue;
    }
    ic->search[p.name] = value;
  }
}

void ConfigParser::ParseIndex(const YAML::Node& node, size_t position,
                              const IndexConfig& defaults, Config* cfg) {
  IndexConfig ic = defaults;
  ic.location = Loc(node);
  std::string label = "indexes[" + std::to_string(position) + "]";
  auto m = View(node, ic.location, label, kIndexKeys);
  if (!m) return;

  ParseIndexName(*m, &ic, &label);
  SourceLocation source_loc;
  SourceLocation ids_loc;
  const bool source_ok = ParseSource(*m, label, &ic, &source_loc, &ids_loc);
  bool dimension_ok = false;
  if (const Entry* e = m->Find("dimension")) {
    int64_t d = 0;
    dimension_ok = Int(*e, "dimension", 1, kMaxDimension, &d);
    if (dimension_ok) ic.dimension = static_cast<int>(d);
  } else {
    Missing(ic.location, label, "dimension");
  }
  const bool metric_ok = ParseMetric(*m, &ic);
  const bool factory_ok = ParseFactory(*m, label, &ic);

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
  if (const Entry* e = m->Find("deltas")) {
    if (auto d = View(*e, "deltas", kDeltaKeys)) {
      std::string v;
      if (const Entry* u = d->Find("on_unsupported");
          u != nullptr && String(*d, "on_unsupported", "deltas.", false, &v)) {
        if (v == "refuse" || v == "rebuild") ic.deltas_on_unsupported = v;
        else Add(ValueLoc(*u), "deltas.on_unsupported: expected refuse or rebuild, got '" + v + "'");
      }
    }
  }
  if (m->Find("lock_wait")) {
    std::chrono::seconds wait{0};
    Duration(*m, "lock_wait", "", true, &wait);
    ic.lock_wait = wait;
  }

  if (dimension_ok && metric_ok && factory_ok) CheckFactoryAndSearch(*m, ic, search_locs);
  // raw-f32 has no header, so without a valid dimension there is nothing to
  // check the file against.
  if (options_.check_sources && source_ok &&
      (dimension_ok || ic.source_format != SourceFormat::kRawF32)) {
    std::string error = config_internal::CheckSource(
        env_, ic.source_path, ic.source_format, ic.dimension);
    if (!error.empty()) Add(source_loc, "source.path: " + error);
    if (error.empty() && !ic.source_ids_path.empty()) {
      std::string ids_error = config_internal::CheckIdsFile(
          env_, ic.source_ids_path, ic.source_path, ic.source_format, ic.dimension);
      if (!ids_error.empty()) Add(ids_loc, "source.ids: " + ids_error);
    }
  }
  cfg->indexes.push_back(std::move(ic));
}

void ConfigParser::ParseIndexName(const MapView& m, IndexConfig* ic, std::string* label) {
  const Entry* e = m.Find("name");
  if (e == nullptr) {
    Missing(ic->location, *label, "name");
    return;
  }
  std::string name;
  if (!String(m, "name", "", false, &name)) return;
  if (!IsValidIndexName(name)) {
    Add(ValueLoc(*e), "name: invalid index name '" + name +
                          "' (1-64 letters, digits, '.', '_' or '-', starting with a "
                          "letter or digit)");
  } else if (auto [it, inserted] = index_names_.emplace(name, ValueLoc(*e)); !inserted) {
    Add(ValueLoc(*e), "duplicate index name '" + name + "' (first defined at line " +
                          std::to_string(it->second.line) + ", column " +
                          std::to_string(it->second.column) + ")");
  }
  ic->name = name;
  *label = "index '" + name + "'";
}

bool ConfigParser::ParseSource(const MapView& m, const std::string& label, IndexConfig* ic,
                               SourceLocation* source_loc, SourceLocation* ids_loc) {
  const Entry* e = m.Find("source");
  if (e == nullptr) {
    Missing(ic->location, label, "source.path");
    return false;
  }
  auto s = View(*e, "source", kSourceKeys);
  if (!s) return false;
  bool have_source = false;
  if (const Entry* p = s->Find("path")) {
    have_source = Path(*s, "path", "source.", false, &ic->source_path);
    *source_loc = ValueLoc(*p);
  } else {
    Missing(ValueLoc(*e), label, "source.path");
  }
  // Without a format, a .fvecs/.bvecs name says what it is; read as .npy
  // they would fail with a confusing "no NUMPY magic".
  if (have_source && ic->source_path.ends_with(".fvecs")) ic->source_format = SourceFormat::kFvecs;
  if (have_source && ic->source_path.ends_with(".bvecs")) ic->source_format = SourceFormat::kBvecs;
  if (const Entry* ids = s->Find("ids")) {
    Path(*s, "ids", "source.", false, &ic->source_ids_path);
    *ids_loc = ValueLoc(*ids);
  }
  SetInt(*s, "deltas_through", "source.", 0, INT64_MAX, &ic->source_deltas_through);
  bool format_ok = true;
  if (const Entry* f = s->Find("format")) {
    format_ok = false;
    if (auto name = ScalarOf(*f, "source.format", "a source format")) {
      auto format = ParseSourceFormat(*name);
      if (format.ok()) {
        ic->source_format = *format;
        format_ok = true;
      } else {
        Add(ValueLoc(*f), "source.format: " + format.status().message());
      }
    }
  }
  return have_source && format_ok;
}

bool ConfigParser::ParseMetric(const MapView& m, IndexConfig* ic) {
  std::string metric;
  if (!String(m, "metric", "", false, &metric)) return m.Find("metric") == nullptr;
  std::string lower = Lower(metric);
  if (lower == "l2") {
    ic->metric = Metric::kL2;
  } else if (lower == "ip") {
    ic->metric = Metric::kIP;
  } else {
    Add(ValueLoc(*m.Find("metric")), "metric: unknown metric '" + metric + "' (expected L2 or IP)");
    return false;
  }
  return true;
}

bool ConfigParser::ParseFactory(const MapView& m, const std::string& label, IndexConfig* ic) {
  if (m.Find("factory") == nullptr) {
    Missing(ic->location, label, "factory");
    return false;
  }
  if (!String(m, "factory", "", false, &ic->factory)) return false;
  if (std::string why = FactoryStringProblem(ic->factory); !why.empty()) {
    Add(ValueLoc(*m.Find("factory")), "factory: the string " + why);
    return false;
  }
  return true;
}

void ConfigParser::CheckFactoryAndSearch(
    const MapView& m, const IndexConfig& ic,
    const std::map<std::string, SourceLocation>& search_locs) {
  std::map<std::string, std::string> param_errors;
  std::string error =
      CheckFactory(ic.dimension, ic.metric, ic.factory, SearchParamsToCheck(ic), &param_errors);
  CheckTune(ic, ic.location, AddFn());
  if (!error.empty()) {
    Add(ValueLoc(*m.Find("factory")), "factory: FAISS rejects '" + ic.factory +
                                          "' for dimension " + std::to_string(ic.dimension) +
                                          ": " + error);
  }
  for (const auto& [name, message] : param_errors) {
    // "could not set parameter" is FAISS's only way to say "not for this
    // index type"; anything else it says is worth passing on.
    std::string detail = message.find("could not set parameter") == std::string::npos
                             ? " (" + message + ")"
                             : "";
    auto loc = search_locs.find(name);
    Add(loc != search_locs.end() ? loc->second : SourceLocation{},
        "search." + name + ": does not apply to factory '" + ic.factory + "'" + detail);
  }
}

}  // namespace config_internal
}  // namespace frb
