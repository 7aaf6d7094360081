#include "frb/memory.h"

#include <algorithm>
#include <charconv>
#include <string_view>
#include <vector>

namespace frb {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t' ||
                        s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::optional<uint64_t> ParseU64(std::string_view s) {
  s = Trim(s);
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr == s.data()) return std::nullopt;
  return v;
}

// Value of "key" in a "key value\n" or "key: value kB\n" file, or nullopt.
std::optional<std::string_view> Field(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.size() > key.size() && line.substr(0, key.size()) == key &&
        (line[key.size()] == ' ' || line[key.size()] == ':'))
      return line.substr(key.size() + 1);
  }
  return std::nullopt;
}

Result<uint64_t> MemAvailable(Env* env, const std::string& path) {
  FRB_ASSIGN_OR_RETURN(std::string text, ReadFileToString(env, path));
  auto field = Field(text, "MemAvailable");
  if (!field) return Corruption(path + ": no MemAvailable line");
  std::string_view v = Trim(*field);
  const bool kb = v.size() > 3 && v.substr(v.size() - 3) == " kB";
  if (kb) v.remove_suffix(3);
  auto n = ParseU64(v);
  if (!n) return Corruption(path + ": cannot parse MemAvailable '" + std::string(*field) + "'");
  return kb ? *n * 1024 : *n;
}

// memory.max - working set of one cgroup directory; nullopt when it has no
// limit (or no memory controller files, e.g. the root cgroup).
std::optional<uint64_t> Headroom(Env* env, const std::string& dir) {
  auto max = ReadFileToString(env, JoinPath(dir, "memory.max"));
  if (!max.ok() || Trim(*max) == "max") return std::nullopt;
  auto limit = ParseU64(*max);
  auto current_text = ReadFileToString(env, JoinPath(dir, "memory.current"));
  if (!limit || !current_text.ok()) return std::nullopt;
  uint64_t used = ParseU64(*current_text).value_or(0);
  if (auto stat = ReadFileToString(env, JoinPath(dir, "memory.stat")); stat.ok()) {
    if (auto f = Field(*stat, "inactive_file")) used -= std::min(used, ParseU64(*f).value_or(0));
  }
  return *limit > used ? *limit - used : 0;
}

// The cgroup v2 directories that bound this process, itself first.
std::vector<std::string> CgroupDirs(Env* env, const MemorySources& src) {
  if (!src.cgroup_dir.empty()) return {src.cgroup_dir};
  auto text = ReadFileToString(env, src.self_cgroup);
  if (!text.ok()) return {};
  // cgroup v2 is the line "0::/path"; v1 lines name their controllers.
  auto field = Field(*text, "0:");  // matches "0::" and yields "/path"
  if (!field || field->empty() || (*field)[0] != '/') return {};
  std::string rel(Trim(*field));
  std::vector<std::string> dirs;
  for (;;) {
    dirs.push_back(rel == "/" || rel.empty() ? src.cgroup_root
                                            : JoinPath(src.cgroup_root, rel.substr(1)));
    if (rel == "/" || rel.empty()) break;
    rel = DirName(rel);
  }
  return dirs;
}

}  // namespace

Result<AvailableMemory> ReadAvailableMemory(Env* env, const MemorySources& sources) {
  AvailableMemory out;
  auto mem = MemAvailable(env, sources.meminfo);
  if (mem.ok()) out.mem_available = *mem;
  for (const std::string& dir : CgroupDirs(env, sources)) {
    if (auto h = Headroom(env, dir))
      out.cgroup_headroom = std::min(out.cgroup_headroom.value_or(*h), *h);
  }
  if (!out.mem_available && !out.cgroup_headroom) return mem.status();
  out.bytes = std::min(out.mem_available.value_or(UINT64_MAX),
                       out.cgroup_headroom.value_or(UINT64_MAX));
  return out;
}

Result<uint64_t> AvailableMemoryBytes(Env* env, const MemorySources& sources) {
  FRB_ASSIGN_OR_RETURN(AvailableMemory m, ReadAvailableMemory(env, sources));
  return m.bytes;
}

}  // namespace frb
