#include "frb/memory.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>

namespace frb {
namespace {

std::optional<uint64_t> ParseU64(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "MemAvailable:   123456 kB" -> bytes.
std::optional<uint64_t> MemAvailable(Env* env) {
  auto text = ReadFileToString(env, "/proc/meminfo");
  if (!text.ok()) return std::nullopt;
  size_t pos = text->find("MemAvailable:");
  if (pos == std::string::npos) return std::nullopt;
  size_t begin = text->find_first_of("0123456789", pos);
  size_t end = text->find_first_not_of("0123456789", begin);
  if (begin == std::string::npos) return std::nullopt;
  auto kb = ParseU64(std::string_view(*text).substr(begin, end - begin));
  if (!kb) return std::nullopt;
  return *kb * 1024;
}

// Smallest memory.max - memory.current from the process's cgroup up to the
// root; nullopt without cgroup v2 or without any limit.
std::optional<uint64_t> CgroupHeadroom(Env* env) {
  auto self = ReadFileToString(env, "/proc/self/cgroup");
  if (!self.ok()) return std::nullopt;
  size_t pos = self->find("0::");
  if (pos == std::string::npos) return std::nullopt;
  std::string rel = self->substr(pos + 3, self->find('\n', pos) - pos - 3);
  std::optional<uint64_t> best;
  for (std::string dir = "/sys/fs/cgroup" + (rel == "/" ? "" : rel);;) {
    auto max = ReadFileToString(env, JoinPath(dir, "memory.max"));
    auto cur = ReadFileToString(env, JoinPath(dir, "memory.current"));
    if (max.ok() && cur.ok()) {
      auto m = ParseU64(*max);  // "max" (no limit) does not parse
      auto c = ParseU64(*cur);
      if (m && c) {
        uint64_t room = *m > *c ? *m - *c : 0;
        best = best ? std::min(*best, room) : room;
      }
    }
    if (dir == "/sys/fs/cgroup" || dir.size() <= 14) break;
    dir = DirName(dir);
  }
  return best;
}

}  // namespace

Result<uint64_t> AvailableMemoryBytes(Env* env) {
  std::optional<uint64_t> avail = MemAvailable(env);
  std::optional<uint64_t> cgroup = CgroupHeadroom(env);
  if (avail && cgroup) return std::min(*avail, *cgroup);
  if (avail) return *avail;
  if (cgroup) return *cgroup;
  return FailedPrecondition("available memory unknown: neither /proc/meminfo nor a cgroup v2 "
                            "memory limit could be read");
}

}  // namespace frb
