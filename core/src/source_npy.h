// Internal: the .npy header parser behind VectorSource (see frb/source.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "frb/status.h"

namespace frb::internal {

// Where the rows of a float32 C-order 2-D .npy array are.
struct NpyLayout {
  uint64_t data_offset = 0;  // first byte after the header
  int64_t count = 0;
  int64_t dim = 0;
};

// Parses and checks the header of a .npy file of `file_size` bytes whose
// first `head_size` bytes (all of them, or at least the whole header) are in
// [head, head + head_size): magic, version 1.0/2.0/3.0, dtype '<f4', C
// order, 2-D shape, and that the file size matches the shape exactly. Messages do not name the file; the
// caller prefixes it. Unsupported or malformed -> kInvalidArgument; a file
// shorter or longer than its header promises -> kCorruption.
Result<NpyLayout> ParseNpy(const uint8_t* head, size_t head_size, uint64_t file_size);

// The same checks for an id file: dtype '<i8', shape (count,) or (count, 1);
// the layout's dim is 1.
Result<NpyLayout> ParseNpyIds(const uint8_t* head, size_t head_size, uint64_t file_size);

}  // namespace frb::internal
