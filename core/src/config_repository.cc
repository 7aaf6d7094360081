// The `repository:` section of the configuration: where faiss-rebuildd
// publishes every live version (object storage, see frb/repository.h).
#include <yaml-cpp/yaml.h>

#include <charconv>

#include "config_internal.h"
#include "frb/config.h"
#include "frb/s3.h"

namespace frb::config_internal {
namespace {

constexpr std::string_view kRepositoryKeys[] = {"url",           "endpoint",    "region",
                                                "path_style",    "part_size",   "parallelism",
                                                "keep_versions", "grace",       "interval"};

class SectionParser {
 public:
  SectionParser(const std::string& file, std::vector<ConfigProblem>* problems)
      : file_(file), problems_(problems) {}
  void Add(const YAML::Node& at, const std::string& msg) {
    YAML::Mark m = at.Mark();
    problems_->push_back({file_, m.is_null() ? 0 : m.line + 1, m.is_null() ? 0 : m.column + 1,
                          "repository." + msg});
  }
  bool Scalar(const YAML::Node& v, const std::string& key, std::string* out) {
    if (!v.IsScalar()) {
      Add(v, key + ": expected a value");
      return false;
    }
    *out = v.Scalar();
    return true;
  }

 private:
  const std::string& file_;
  std::vector<ConfigProblem>* problems_;
};

}  // namespace

void ParseRepository(const YAML::Node& node, const std::string& file, RepositoryConfig* out,
                     std::vector<ConfigProblem>* problems, bool url_optional) {
  SectionParser p(file, problems);
  if (node.IsNull()) return;
  if (!node.IsMap()) {
    problems->push_back({file, node.Mark().line + 1, node.Mark().column + 1,
                         "repository: expected a mapping (url, endpoint, region, ...)"});
    return;
  }
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    std::string s;
    if (std::find(std::begin(kRepositoryKeys), std::end(kRepositoryKeys), key) ==
        std::end(kRepositoryKeys)) {
      std::string near = ClosestKey(key, kRepositoryKeys);
      p.Add(kv.first, key + ": unknown key" + (near.empty() ? "" : " (did you mean " + near + "?)"));
      continue;
    }
    if (!p.Scalar(v, key, &s)) continue;
    if (key == "url") {
      if (auto loc = ParseS3Url(s); !loc.ok()) p.Add(v, "url: " + loc.status().message());
      else out->url = loc->ToUrl();
    } else if (key == "endpoint") {
      if (!s.starts_with("http://") && !s.starts_with("https://"))
        p.Add(v, "endpoint: expected http://HOST[:PORT] or https://..., got '" + s + "'");
      else out->endpoint = s;
    } else if (key == "region") {
      out->region = s;
    } else if (key == "path_style") {
      std::string l = Lower(s);
      if (l == "true" || l == "yes" || l == "on") out->path_style = true;
      else if (l == "false" || l == "no" || l == "off") out->path_style = false;
      else p.Add(v, "path_style: expected true or false, got '" + s + "'");
    } else if (key == "part_size") {
      auto b = ParseByteSize(s);
      if (!b.ok() || *b < (5ull << 20) || *b > (5ull << 30))
        p.Add(v, "part_size: expected a size from 5MiB to 5GiB, got '" + s + "'");
      else out->part_size = *b;
    } else if (key == "parallelism" || key == "keep_versions") {
      int n = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      int lo = key == "parallelism" ? 1 : 2;  // live and its rollback target
      if (ec != std::errc() || ptr != s.data() + s.size() || n < lo || n > 1000) {
        p.Add(v, key + ": expected an integer from " + std::to_string(lo) + " to 1000, got '" +
                     s + "'");
        continue;
      }
      (key == "parallelism" ? out->parallelism : out->keep_versions) = n;
    } else {  // grace, interval
      auto d = ParseDuration(s);
      if (!d.ok() || (key == "interval" && d->count() < 1)) {
        p.Add(v, key + ": expected a duration like 30s, 10m or 1h, got '" + s + "'");
        continue;
      }
      (key == "grace" ? out->grace : out->interval) = *d;
    }
  }
  // Without url the section may still name the store of an s3:// backup_dir.
  if (out->url.empty() && node.size() > 0 && !node["url"] && !url_optional)
    p.Add(node, "url: required (s3://BUCKET[/PREFIX])");
}

}  // namespace frb::config_internal
