// Source embeddings: .npy, .fvecs, .bvecs and raw float32, read in place
// with pread in batches (never copied whole, never memory-mapped: a file
// rewritten under the reader fails the job instead of killing the process).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "frb/env.h"
#include "frb/json.h"
#include "frb/status.h"

namespace frb {

enum class SourceFormat { kNpy, kFvecs, kBvecs, kRawF32 };

// "npy" | "fvecs" | "bvecs" | "raw-f32".
Result<SourceFormat> ParseSourceFormat(std::string_view name);
std::string_view SourceFormatName(SourceFormat f);

// What a published version was built from (docs/architecture.md).
struct SourceFingerprint {
  std::string path;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string sha256;  // of the whole file
  int64_t count = 0;
  int dim = 0;
  // The `source.ids` file, when the source has one ("" otherwise).
  std::string ids_path;
  std::string ids_sha256;

  Json ToJson() const;
  static Result<SourceFingerprint> FromJson(const Json& j);
};

// Progress of a long pass: fraction in [0, 1].
using ProgressFn = std::function<void(double fraction)>;

// An opened source file. Thread safety: const methods may run concurrently.
class VectorSource {
 public:
  virtual ~VectorSource() = default;

  // Opens and checks the header and size. `dim` is required for raw-f32 and
  // otherwise, when > 0, must match the file. Errors name the file and the
  // problem (dtype, order, truncated tail, inconsistent row header...).
  static Result<std::unique_ptr<VectorSource>> Open(Env* env,
                                                    const std::string& path,
                                                    SourceFormat format,
                                                    int dim);

  virtual int64_t count() const = 0;
  virtual int dim() const = 0;
  virtual const std::string& path() const = 0;
  virtual SourceFormat format() const = 0;

  // Copies rows [begin, begin + n) as float32 into `out` (n * dim floats).
  // Rejects NaN/Inf with the file, row and byte offset.
  virtual Status Read(int64_t begin, int64_t n, float* out) const = 0;

  // Says rows [begin, begin + n) were consumed. The pread reader keeps no
  // copy of them, so there is nothing to drop; kept for readers that map.
  virtual void Release(int64_t begin, int64_t n) const = 0;

  // One sequential pass over the file: SHA-256 of its bytes, NaN/Inf scan,
  // plus size and mtime. Cancellable through `progress` only by the caller's
  // own checks afterwards.
  virtual Result<SourceFingerprint> Fingerprint(
      const ProgressFn& progress = nullptr) const = 0;

  // kFailedPrecondition naming the file when its size or mtime differ from
  // when it was opened: rows read so far may mix old and new data. A file
  // that shrinks is also caught by Read and Fingerprint (short read).
  virtual Status CheckUnchanged() const = 0;

  // Byte offset of row `row` in the file, for error messages.
  virtual uint64_t RowOffset(int64_t row) const = 0;
};

}  // namespace frb
