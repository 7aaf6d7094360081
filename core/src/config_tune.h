// Private to the config module: the tuning keys, `search: { nprobe: auto }`
// (or efSearch) and the `tune:` mapping, kept apart from the YAML walk in
// config_parse.cc, which calls these at the few places the keys appear.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <string>

#include "frb/config.h"

namespace frb::config_internal {

// Receives each problem found, with where it is.
using ProblemFn = std::function<void(SourceLocation, const std::string&)>;

// The keys of a `tune:` mapping.
inline constexpr std::string_view kTuneKeys[] = {"target_recall", "max", "k", "use"};

// True when a search parameter's value is the scalar `auto`.
bool IsAutoValue(const YAML::Node& value);

// Records `search.<name>: auto` in ic->tune.param. Only nprobe and efSearch
// can be tuned, and only one per index; anything else is a problem at `where`.
void SetAutoSearchParam(const std::string& name, SourceLocation where, IndexConfig* ic,
                        const ProblemFn& add);

// Parses a `tune:` value (under defaults or an index) into `t`, key by key
// over what it already holds; `path` names it in messages ("tune"). Unknown
// and duplicate keys are the caller's to report (against kTuneKeys).
void ParseTune(const YAML::Node& value, SourceLocation where, const std::string& path,
               TuneConfig* t, const ProblemFn& add);

// The search parameters the factory check applies: `ic.search` plus the
// tuned one at its smallest value, so `efSearch: auto` on an IVF factory is
// refused like `efSearch: 64` would be.
std::map<std::string, double> SearchParamsToCheck(const IndexConfig& ic);

// Checks across keys once the index is parsed: the efSearch ladder starts at
// 16, so tune.max must reach it.
void CheckTune(const IndexConfig& ic, SourceLocation where, const ProblemFn& add);

}  // namespace frb::config_internal
