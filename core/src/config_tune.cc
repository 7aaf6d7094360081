#include "config_tune.h"

#include <charconv>
#include <cmath>
#include <system_error>

#include "config_internal.h"

namespace frb::config_internal {
namespace {

SourceLocation LocOf(const YAML::Node& node, SourceLocation fallback) {
  YAML::Mark mark = node.Mark();
  if (mark.is_null() || node.IsNull()) return fallback;
  return {mark.line + 1, mark.column + 1};
}

std::string Shown(const YAML::Node& node) {
  if (!node.IsScalar()) return node.IsNull() ? "nothing" : "a collection";
  std::string s = node.Scalar();
  if (s.size() > 60) s = s.substr(0, 60) + "...";
  return "'" + s + "'";
}

bool ToDouble(const YAML::Node& node, double* out) {
  if (!node.IsScalar()) return false;
  const std::string& s = node.Scalar();
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && !s.empty() && std::isfinite(*out);
}

bool ToInt(const YAML::Node& node, int64_t* out) {
  if (!node.IsScalar()) return false;
  const std::string& s = node.Scalar();
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
}

constexpr int kMinEfSearch = 16;  // the first rung of the efSearch ladder

}  // namespace

bool IsAutoValue(const YAML::Node& value) {
  return value.IsScalar() && Lower(value.Scalar()) == "auto";
}

void SetAutoSearchParam(const std::string& name, SourceLocation where, IndexConfig* ic,
                        const ProblemFn& add) {
  if (name != "nprobe" && name != "efSearch") {
    add(where, "search." + name + ": only nprobe and efSearch can be auto");
    return;
  }
  if (!ic->tune.param.empty() && ic->tune.param != name) {
    add(where, "search." + name + ": auto: " + ic->tune.param +
                   " is already auto; one search parameter per index can be tuned");
    return;
  }
  ic->tune.param = name;
}

void ParseTune(const YAML::Node& value, SourceLocation where, const std::string& path,
               TuneConfig* t, const ProblemFn& add) {
  if (value.IsNull()) return;
  if (!value.IsMap()) {
    add(where, path + ": expected a mapping, got " + Shown(value));
    return;
  }
  for (auto it = value.begin(); it != value.end(); ++it) {  // keys checked by the caller
    // Copies: the iterator's -> returns a temporary proxy.
    YAML::Node key = it->first;
    YAML::Node v = it->second;
    std::string name = key.IsScalar() ? key.Scalar() : "";
    SourceLocation key_loc = LocOf(key, where);
    SourceLocation at = LocOf(v, key_loc);
    std::string full = path + "." + name;
    if (name == "target_recall") {
      double d = 0;
      if (!ToDouble(v, &d) || d <= 0 || d > 1)
        add(at, full + ": expected a number in (0, 1], got " + Shown(v));
      else
        t->target_recall = d;
    } else if (name == "max" || name == "k") {
      int64_t n = 0;
      if (!ToInt(v, &n) || n < 1 || n > 1'000'000)
        add(at, full + ": expected an integer from 1 to 1000000, got " + Shown(v));
      else
        (name == "max" ? t->max : t->k) = static_cast<int>(n);
    } else if (name == "use") {
      std::string s = v.IsScalar() ? Lower(v.Scalar()) : "";
      if (s == "lower_bound" || s == "estimate")
        t->use_lower_bound = s == "lower_bound";
      else
        add(at, full + ": expected lower_bound or estimate, got " + Shown(v));
    }  // other keys: reported by the caller's key check
  }
}

std::map<std::string, double> SearchParamsToCheck(const IndexConfig& ic) {
  std::map<std::string, double> params = ic.search;
  if (ic.tune.param == "nprobe") params["nprobe"] = 1;
  if (ic.tune.param == "efSearch") params["efSearch"] = kMinEfSearch;
  return params;
}

void CheckTune(const IndexConfig& ic, SourceLocation where, const ProblemFn& add) {
  if (ic.tune.param == "efSearch" && ic.tune.max < kMinEfSearch)
    add(where, "tune.max: " + std::to_string(ic.tune.max) +
                   " is below 16, the smallest efSearch tried");
}

}  // namespace frb::config_internal
