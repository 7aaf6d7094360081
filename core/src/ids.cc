#include "frb/ids.h"

#include <cstring>
#include <unordered_map>

#include "source_npy.h"

namespace frb {

Result<std::vector<int64_t>> ReadIdsFile(Env* env, const std::string& path) {
  FRB_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(env, path));
  auto layout = internal::ParseNpyIds(reinterpret_cast<const uint8_t*>(bytes.data()),
                                      bytes.size(), bytes.size());
  if (!layout.ok()) return Status(layout.status().code(), path + ": " + layout.status().message());
  std::vector<int64_t> ids(static_cast<size_t>(layout->count));
  if (!ids.empty())
    std::memcpy(ids.data(), bytes.data() + layout->data_offset, ids.size() * sizeof(int64_t));
  return ids;
}

Status CheckIds(const std::vector<int64_t>& ids, const std::string& origin) {
  std::unordered_map<int64_t, size_t> first_row;
  first_row.reserve(ids.size());
  for (size_t row = 0; row < ids.size(); ++row) {
    if (ids[row] < 0)
      return InvalidArgument(origin + ": id " + std::to_string(ids[row]) + " at row " +
                             std::to_string(row) + " is negative (ids must be >= 0)");
    auto [it, inserted] = first_row.emplace(ids[row], row);
    if (!inserted)
      return InvalidArgument(origin + ": duplicate id " + std::to_string(ids[row]) +
                             " at rows " + std::to_string(it->second) + " and " +
                             std::to_string(row));
  }
  return Status::Ok();
}

Result<std::vector<int64_t>> ReadCheckedIds(Env* env, const std::string& path,
                                            int64_t expected_count,
                                            const std::string& rows_origin) {
  FRB_ASSIGN_OR_RETURN(std::vector<int64_t> ids, ReadIdsFile(env, path));
  if (static_cast<int64_t>(ids.size()) != expected_count)
    return InvalidArgument(path + ": " + std::to_string(ids.size()) + " ids for the " +
                           std::to_string(expected_count) + " vectors of " + rows_origin +
                           " (need one id per row)");
  FRB_RETURN_IF_ERROR(CheckIds(ids, path));
  return ids;
}

}  // namespace frb
