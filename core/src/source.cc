// One memory-mapped reader serves every format: they differ only in where
// the rows start, an optional int32 dim before each row and the element type.
#include "frb/source.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "frb/sha256.h"
#include "source_npy.h"

namespace frb {
namespace {

// Far above any embedding model; turns a garbage .fvecs row header into a
// clear error instead of an absurd row size.
constexpr int64_t kMaxDim = 1 << 20;
constexpr size_t kNoBad = std::numeric_limits<size_t>::max();
constexpr size_t kFingerprintChunk = size_t{8} << 20;

// Non-zero iff the float with these bits is NaN or Inf: an all-ones exponent
// carries into bit 31 when one is added to it. Branch-free so it vectorizes.
inline uint32_t NonFiniteBit(uint32_t bits) {
  return ((bits & 0x7fffffffu) + 0x00800000u) & 0x80000000u;
}

// Copies `n` float32 from `src` (any alignment) to `dst` when kCopy, and
// returns the index of the first NaN/Inf or kNoBad. Fixed-size blocks
// because GCC's -O2 vectorizer only takes loops with a known trip count;
// checking while copying reads the mapped pages once.
template <bool kCopy>
size_t CopyFloats(const uint8_t* __restrict src, size_t n, float* __restrict dst) {
  constexpr size_t kBlock = 64;
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    uint32_t w[kBlock];
    std::memcpy(w, src + 4 * i, sizeof(w));
    uint32_t bad = 0;
    for (size_t k = 0; k < kBlock; ++k) bad |= NonFiniteBit(w[k]);
    if constexpr (kCopy) std::memcpy(dst + i, w, sizeof(w));
    if (bad != 0) break;  // the loop below pins down which element
  }
  for (; i < n; ++i) {
    uint32_t w;
    std::memcpy(&w, src + 4 * i, 4);
    if constexpr (kCopy) std::memcpy(dst + i, &w, 4);
    if (NonFiniteBit(w) != 0) return i;
  }
  return kNoBad;
}

struct Layout {
  uint64_t data_offset = 0;  // first row
  uint64_t row_bytes = 0;    // stride, including any prefix
  bool row_prefix = false;   // fvecs/bvecs: int32 dim before each row
  bool u8 = false;           // bvecs
  int64_t count = 0;
  int64_t dim = 0;
};

Status Prefixed(const std::string& path, const Status& s) {
  return Status(s.code(), "source " + path + ": " + s.message());
}

// Env errors already start with the path they concern.
Status EnvError(const std::string& path, const Status& s) {
  if (s.message().rfind(path + ":", 0) == 0)
    return Status(s.code(), "source " + s.message());
  return Prefixed(path, s);
}

// Env::Stat is lstat(2), but sources are often symlinks into a dataset
// directory and it is the target's size and mtime that identify the data.
Result<FileInfo> StatFollow(Env* env, const std::string& path) {
  std::string p = path;
  for (int hops = 0; hops < 40; ++hops) {
    auto info = env->Stat(p);
    if (!info.ok()) return EnvError(path, info.status());
    if (!info->is_symlink) return *info;
    auto target = env->ReadLink(p);
    if (!target.ok()) return EnvError(path, target.status());
    p = !target->empty() && (*target)[0] == '/' ? *target
                                                 : JoinPath(DirName(p), *target);
  }
  return InvalidArgument("source " + path + ": too many levels of symbolic links");
}

Result<Layout> VecsLayout(const MappedFile& file, bool u8) {
  const uint8_t* p = file.data();
  const size_t size = file.size();
  const char* ext = u8 ? ".bvecs" : ".fvecs";
  if (size >= 6 && std::memcmp(p, "\x93NUMPY", 6) == 0)
    return InvalidArgument(std::string("this is a .npy file, not ") + ext + "; use format npy");
  if (size < 4) {
    return Corruption("truncated: " + std::to_string(size) +
                      " bytes, less than the first row's 4-byte dim header");
  }
  int32_t d;
  std::memcpy(&d, p, 4);
  if (d <= 0 || d > kMaxDim) {
    return InvalidArgument("first row header says dim " + std::to_string(d) +
                           ", not a valid " + ext + " file (need 1.." +
                           std::to_string(kMaxDim) + ")");
  }
  Layout l;
  l.row_prefix = true;
  l.u8 = u8;
  l.dim = d;
  l.row_bytes = 4 + static_cast<uint64_t>(d) * (u8 ? 1 : 4);
  l.count = static_cast<int64_t>(size / l.row_bytes);
  if (uint64_t tail = size % l.row_bytes; tail != 0) {
    return Corruption("truncated: partial row " + std::to_string(l.count) +
                      " at byte offset " + std::to_string(l.count * l.row_bytes) +
                      " (" + std::to_string(tail) + " of " +
                      std::to_string(l.row_bytes) + " bytes)");
  }
  return l;
}

Result<Layout> RawLayout(size_t size, int dim) {
  if (dim <= 0) return InvalidArgument("format raw-f32 needs the dimension (dim > 0)");
  Layout l;
  l.dim = dim;
  l.row_bytes = static_cast<uint64_t>(dim) * 4;
  l.count = static_cast<int64_t>(size / l.row_bytes);
  if (uint64_t tail = size % l.row_bytes; tail != 0) {
    return Corruption("truncated: size " + std::to_string(size) +
                      " is not a multiple of the row size " +
                      std::to_string(l.row_bytes) + " (dim " + std::to_string(dim) +
                      " x 4 bytes); partial row " + std::to_string(l.count) +
                      " at byte offset " + std::to_string(l.count * l.row_bytes));
  }
  return l;
}

Result<Layout> ParseLayout(const MappedFile& file, SourceFormat format, int dim) {
  switch (format) {
    case SourceFormat::kNpy: {
      FRB_ASSIGN_OR_RETURN(internal::NpyLayout npy,
                           internal::ParseNpy(file.data(), file.size()));
      Layout l;
      l.data_offset = npy.data_offset;
      l.row_bytes = static_cast<uint64_t>(npy.dim) * 4;
      l.count = npy.count;
      l.dim = npy.dim;
      return l;
    }
    case SourceFormat::kFvecs: return VecsLayout(file, false);
    case SourceFormat::kBvecs: return VecsLayout(file, true);
    case SourceFormat::kRawF32: return RawLayout(file.size(), dim);
  }
  return InvalidArgument("unknown source format " +
                         std::to_string(static_cast<int>(format)));
}

class MappedSource final : public VectorSource {
 public:
  MappedSource(Env* env, std::string path, SourceFormat format,
               std::unique_ptr<MappedFile> file, const Layout& layout)
      : env_(env), path_(std::move(path)), format_(format),
        file_(std::move(file)), layout_(layout) {}

  int64_t count() const override { return layout_.count; }
  int dim() const override { return static_cast<int>(layout_.dim); }
  const std::string& path() const override { return path_; }
  SourceFormat format() const override { return format_; }
  uint64_t RowOffset(int64_t row) const override {
    return layout_.data_offset + static_cast<uint64_t>(row) * layout_.row_bytes;
  }

  Status Read(int64_t begin, int64_t n, float* out) const override {
    if (begin < 0 || n < 0 || begin > layout_.count - n) {
      return InvalidArgument("source " + path_ + ": read of " + std::to_string(n) +
                             " rows at row " + std::to_string(begin) +
                             " is out of range (count " +
                             std::to_string(layout_.count) + ")");
    }
    if (n == 0) return Status::Ok();
    if (out == nullptr) return InvalidArgument("source " + path_ + ": null output buffer");
    // Batches are sequential: get the next one off the disk while this one
    // is being converted and indexed.
    // Single-row reads (sampling) are random: no read-ahead hint for them.
    int64_t end = begin + n;
    int64_t next = std::min(n, layout_.count - end);
    if (n > 1 && next > 0) file_->WillNeed(RowOffset(end), RowOffset(end + next) - RowOffset(end));
    return Scan(begin, n, out);
  }

  void Release(int64_t begin, int64_t n) const override {
    if (begin < 0 || n <= 0 || begin >= layout_.count) return;
    n = std::min(n, layout_.count - begin);
    file_->DontNeed(RowOffset(begin), RowOffset(begin + n) - RowOffset(begin));
  }

  Result<SourceFingerprint> Fingerprint(const ProgressFn& progress) const override;

 private:
  // Copies rows [begin, begin + n) to `out`, or only checks them when `out`
  // is null. The range must be valid.
  Status Scan(int64_t begin, int64_t n, float* out) const;
  Status NonFinite(int64_t row, size_t col, const uint8_t* value) const;

  Env* env_;
  std::string path_;
  SourceFormat format_;
  std::unique_ptr<MappedFile> file_;
  Layout layout_;
};

Status MappedSource::Scan(int64_t begin, int64_t n, float* out) const {
  const uint8_t* base = file_->data();
  const size_t d = static_cast<size_t>(layout_.dim);
  if (!layout_.row_prefix) {
    const uint8_t* src = base + RowOffset(begin);
    size_t total = static_cast<size_t>(n) * d;
    size_t bad = out != nullptr ? CopyFloats<true>(src, total, out)
                                : CopyFloats<false>(src, total, nullptr);
    if (bad == kNoBad) return Status::Ok();
    return NonFinite(begin + static_cast<int64_t>(bad / d), bad % d, src + 4 * bad);
  }
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* row = base + RowOffset(begin + r);
    int32_t header;
    std::memcpy(&header, row, 4);
    if (header != layout_.dim) {
      return InvalidArgument(
          "source " + path_ + ": row " + std::to_string(begin + r) + " (byte offset " +
          std::to_string(RowOffset(begin + r)) + ") has dim header " +
          std::to_string(header) + " but the first row has " +
          std::to_string(layout_.dim) + "; all rows must have the same dim");
    }
    float* dst = out != nullptr ? out + static_cast<size_t>(r) * d : nullptr;
    if (layout_.u8) {
      for (size_t j = 0; dst != nullptr && j < d; ++j) dst[j] = row[4 + j];
      continue;
    }
    size_t bad = dst != nullptr ? CopyFloats<true>(row + 4, d, dst)
                                : CopyFloats<false>(row + 4, d, nullptr);
    if (bad != kNoBad) return NonFinite(begin + r, bad, row + 4 + 4 * bad);
  }
  return Status::Ok();
}

Status MappedSource::NonFinite(int64_t row, size_t col, const uint8_t* value) const {
  uint32_t bits;
  std::memcpy(&bits, value, 4);
  const char* what = (bits & 0x007fffffu) != 0 ? "NaN" : "Inf";
  return InvalidArgument("source " + path_ + ": row " + std::to_string(row) +
                         " (byte offset " + std::to_string(RowOffset(row)) +
                         ") contains " + what + " in column " + std::to_string(col));
}

Result<SourceFingerprint> MappedSource::Fingerprint(const ProgressFn& progress) const {
  FRB_ASSIGN_OR_RETURN(FileInfo before, StatFollow(env_, path_));
  const size_t size = file_->size();
  if (before.size != size) {
    return FailedPrecondition("source " + path_ + ": file changed since it was opened (" +
                              std::to_string(size) + " bytes, now " +
                              std::to_string(before.size) + ")");
  }
  const uint8_t* data = file_->data();
  Sha256 sha;
  int64_t next_row = 0;
  uint64_t dropped = 0;
  for (size_t off = 0; off < size; off += kFingerprintChunk) {
    size_t len = std::min(kFingerprintChunk, size - off);
    file_->WillNeed(off + len, kFingerprintChunk);
    sha.Update(data + off, len);
    // Scan the rows that end inside what has been hashed so far, while the
    // chunk is still hot in the cache.
    uint64_t hashed = off + len;
    int64_t done = hashed < layout_.data_offset
                       ? 0
                       : static_cast<int64_t>((hashed - layout_.data_offset) /
                                              layout_.row_bytes);
    done = std::min(done, layout_.count);
    if (done > next_row) {
      FRB_RETURN_IF_ERROR(Scan(next_row, done - next_row, nullptr));
      next_row = done;
    }
    // Only up to the first unscanned row: dropping the page of a row that
    // straddles the chunk end would fault it (and its neighbours) back in,
    // and those would never be dropped again.
    uint64_t drop_end = next_row == layout_.count ? size : RowOffset(next_row);
    drop_end = std::min<uint64_t>(drop_end, hashed);
    if (drop_end > dropped) {
      file_->DontNeed(dropped, drop_end - dropped);
      dropped = drop_end;
    }
    if (progress) progress(static_cast<double>(hashed) / static_cast<double>(size));
  }
  FRB_ASSIGN_OR_RETURN(FileInfo after, StatFollow(env_, path_));
  if (after.size != before.size || after.mtime_ns != before.mtime_ns) {
    return FailedPrecondition("source " + path_ +
                              ": file was modified while being fingerprinted");
  }
  SourceFingerprint fp;
  fp.path = path_;
  fp.size = size;
  fp.mtime_ns = before.mtime_ns;
  fp.sha256 = sha.FinishHex();
  fp.count = layout_.count;
  fp.dim = static_cast<int>(layout_.dim);
  return fp;
}

}  // namespace

Result<std::unique_ptr<VectorSource>> VectorSource::Open(Env* env,
                                                         const std::string& path,
                                                         SourceFormat format,
                                                         int dim) {
  if (dim < 0) {
    return InvalidArgument("source " + path + ": dim must be >= 0 (0 = from the file), got " +
                           std::to_string(dim));
  }
  // Checked before mapping: opening a FIFO would block, and mmap of a
  // directory fails with an unhelpful "No such device".
  FRB_ASSIGN_OR_RETURN(FileInfo info, StatFollow(env, path));
  if (!info.is_regular) {
    return InvalidArgument("source " + path + ": not a regular file" +
                           (info.is_dir ? " (a directory)" : ""));
  }
  auto file = env->MapFile(path);
  if (!file.ok()) return EnvError(path, file.status());
  if ((*file)->size() == 0) return InvalidArgument("source " + path + ": file is empty");
  auto layout = ParseLayout(**file, format, dim);
  if (!layout.ok()) return Prefixed(path, layout.status());
  if (layout->count == 0) return InvalidArgument("source " + path + ": file has no rows");
  if (layout->dim <= 0 || layout->dim > kMaxDim) {
    return InvalidArgument("source " + path + ": dim " + std::to_string(layout->dim) +
                           " is out of range (1.." + std::to_string(kMaxDim) + ")");
  }
  if (dim > 0 && layout->dim != dim) {
    return InvalidArgument("source " + path + ": file has dim " +
                           std::to_string(layout->dim) + " but dim " +
                           std::to_string(dim) + " was expected");
  }
  return std::unique_ptr<VectorSource>(
      new MappedSource(env, path, format, std::move(*file), *layout));
}

}  // namespace frb
