#include <cstdio>

#include "cli.h"
#include "frb/env.h"

namespace frb::cli {

int CmdConfigValidate(const GlobalOptions& g, const std::string& file) {
  GlobalOptions opts = g;
  if (!file.empty()) opts.config_path = file;
  if (opts.config_path.empty()) opts.config_path = "/etc/faiss-rebuild/config.yaml";
  std::vector<ConfigProblem> problems;
  auto cfg = LoadConfig(Env::Default(), opts.config_path, ConfigOptions{}, &problems);
  if (g.json) {
    Json j = Json::MakeObject();
    j["file"] = opts.config_path;
    j["valid"] = cfg.ok();
    Json list = Json::MakeArray();
    for (const auto& p : problems) {
      Json e = Json::MakeObject();
      e["file"] = p.file;
      e["line"] = p.line;
      e["column"] = p.column;
      e["message"] = p.message;
      list.Push(std::move(e));
    }
    j["problems"] = std::move(list);
    if (cfg.ok()) j["indexes"] = static_cast<int64_t>(cfg->indexes.size());
    PrintJson(j);
    return cfg.ok() ? kExitOk : kExitError;
  }
  if (!cfg.ok()) {
    if (problems.empty()) return Fail(cfg.status());
    for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.ToString().c_str());
    std::fprintf(stderr, "faiss-rebuild: %s: %zu problem%s\n", opts.config_path.c_str(),
                 problems.size(), problems.size() == 1 ? "" : "s");
    return kExitError;
  }
  std::printf("%s: OK (%zu index%s)\n", opts.config_path.c_str(), cfg->indexes.size(),
              cfg->indexes.size() == 1 ? "" : "es");
  return kExitOk;
}

int CmdConfigGenerate() {
  std::fputs(ExampleConfig().c_str(), stdout);
  return kExitOk;
}

}  // namespace frb::cli
