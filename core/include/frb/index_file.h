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

// True when `now` is the same file in the same state as `then`, an earlier
// Stat: any write or chmod updates mtime or ctime (ctime cannot be set from
// user space) and a replacement changes the inode. Callers use it to trust
// bytes they hashed at `then`, in a read-only file only they write.
bool FileUnchanged(const FileInfo& then, const FileInfo& now);

// Where the time of a load went (seconds), for the log.
struct LoadTimings {
  bool hashed = false;       // false: the SHA-256 pass was skipped (verified_as)
  double verify_seconds = 0;  // the SHA-256 pass (or the stat comparison)
  double read_seconds = 0;    // FAISS deserializing
};

// Opens `path` once, checks size and SHA-256 against `expected` on that open
// file, then deserializes from the same descriptor so a concurrent rename
// cannot swap the bytes in between. kCorruption names the file on mismatch
// or when FAISS rejects it.
//
// `verified_as`, if given, is a Stat of `path` taken right after the caller
// hashed these very bytes against `expected` (it wrote them itself, read-only,
// in a directory under its lock): while the file's Stat still equals it
// (FileUnchanged, checked before and after reading) the SHA-256 pass is
// skipped. Any other state hashes as usual.
Result<std::unique_ptr<faiss::Index>> LoadVerifiedIndex(
    Env* env, const std::string& path, const FileDigest& expected,
    const FileInfo* verified_as = nullptr, LoadTimings* timings = nullptr);

}  // namespace frb
