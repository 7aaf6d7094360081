// External ids of source vectors and deltas: int64 .npy files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frb/env.h"
#include "frb/status.h"

namespace frb {

// Reads an int64 ('<i8') .npy file of shape (count,) or (count, 1) whole
// (8 bytes a row). Errors name the file and the problem.
Result<std::vector<int64_t>> ReadIdsFile(Env* env, const std::string& path);

// kInvalidArgument naming `origin`, the first id that repeats and both rows
// where it appears; ids must also be >= 0 (FAISS uses -1 for "no result").
Status CheckIds(const std::vector<int64_t>& ids, const std::string& origin);

// Reads the file, checks it and that it holds `expected_count` ids (the
// rows of the vectors it labels, named by `rows_origin`).
Result<std::vector<int64_t>> ReadCheckedIds(Env* env, const std::string& path,
                                            int64_t expected_count,
                                            const std::string& rows_origin);

}  // namespace frb
