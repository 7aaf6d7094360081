// Writing and loading FAISS index files through Env, with checksums.
// FAISS 1.7.3 loads many bit-flipped files without complaint (and some crash
// on the first search), so every load verifies the SHA-256 first.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "frb/env.h"
#include "frb/status.h"

namespace faiss {
struct Index;
}

namespace frb {

struct FileDigest {
  uint64_t size = 0;
  std::string sha256;
};

// Serializes `index` to `path` through our own writer (never
// faiss::write_index(path), which can miss a full disk), hashing as it
// writes, then fsyncs and closes with checks. Does not fsync the directory.
Result<FileDigest> WriteIndexFile(Env* env, const faiss::Index& index,
                                  const std::string& path);

// Opens `path` once, checks size and SHA-256 against `expected` on that open
// file, then deserializes from the same descriptor so a concurrent rename
// cannot swap the bytes in between. kCorruption names the file on mismatch
// or when FAISS rejects it.
Result<std::unique_ptr<faiss::Index>> LoadVerifiedIndex(
    Env* env, const std::string& path, const FileDigest& expected);

}  // namespace frb
