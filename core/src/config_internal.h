// Private to the config module: helpers shared by config.cc,
// config_parse.cc and config_validate.cc.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/source.h"

namespace YAML {
class Node;
}

namespace frb {
namespace config_internal {
// Defined in config_validate.cc.
std::string CheckFactory(int dim, Metric metric, const std::string& factory,
                         const std::map<std::string, double>& search,
                         std::map<std::string, std::string>* param_errors);
// "" when `ids_path` is an int64 .npy with one unique id per row of the
// source at `source_path`, else the problem.
std::string CheckIdsFile(Env* env, const std::string& ids_path, const std::string& source_path,
                         SourceFormat format, int dim);
std::string CheckSource(Env* env, const std::string& path, SourceFormat format,
                        int dim);
bool IsValidIndexName(std::string_view name);
std::string ClosestKey(std::string_view key,
                       std::span<const std::string_view> known);
std::string Lower(std::string_view s);
// Defined in config_parse.cc; called by ParseConfig and LoadConfig.
void ParseYaml(std::string_view yaml, const std::string& file,
               const std::string& base_dir, Env* env,
               const ConfigOptions& options, Config* cfg,
               std::vector<ConfigProblem>* problems);
// Defined in config_repository.cc: the top-level `repository:` section;
// `url_optional` when backup_dir is s3:// (the section may then only name
// the store of the backups).
void ParseRepository(const YAML::Node& node, const std::string& file, RepositoryConfig* out,
                     std::vector<ConfigProblem>* problems,
                     bool url_optional = false);
}  // namespace config_internal
}  // namespace frb
