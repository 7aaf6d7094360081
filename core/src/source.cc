// One pread-based reader serves every format: they differ only in where
// the rows start, an optional int32 dim before each row and the element type.
#include "frb/source.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "frb/sha256.h"
#include "source_npy.h"

namespace frb {
namespace {

// Far above any embedding model; turns a garbage .fvecs row header into a
// clear error instead of an absurd row size.
constexpr int64_t kMaxDim = 1 << 20;
constexpr size_t kNoBad = std::numeric_limits<size_t>::max();
// Unit of the fingerprint pass and of reads through the scratch buffer.
constexpr size_t kReadChunk = size_t{8} << 20;
// A .npy header is a few hundred bytes; numpy itself caps it far below this.
constexpr size_t kMaxHead = size_t{1} << 20;

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

// `head` is the start of the file (at least 4 bytes when the file has them).
Result<Layout> VecsLayout(const uint8_t* p, size_t head_size, uint64_t size, bool u8) {
  const char* ext = u8 ? ".bvecs" : ".fvecs";
  if (head_size >= 6 && std::memcmp(p, "\x93NUMPY", 6) == 0)
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

Result<Layout> RawLayout(uint64_t size, int dim) {
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

Result<Layout> ParseLayout(const uint8_t* head, size_t head_size, uint64_t size,
                           SourceFormat format, int dim) {
  switch (format) {
    case SourceFormat::kNpy: {
      FRB_ASSIGN_OR_RETURN(internal::NpyLayout npy,
                           internal::ParseNpy(head, head_size, size));
      Layout l;
      l.data_offset = npy.data_offset;
      l.row_bytes = static_cast<uint64_t>(npy.dim) * 4;
      l.count = npy.count;
      l.dim = npy.dim;
      return l;
    }
    case SourceFormat::kFvecs: return VecsLayout(head, head_size, size, false);
    case SourceFormat::kBvecs: return VecsLayout(head, head_size, size, true);
    case SourceFormat::kRawF32: return RawLayout(size, dim);
  }
  return InvalidArgument("unknown source format " +
                         std::to_string(static_cast<int>(format)));
}

// Reads with pread rather than a memory map: a source rewritten in place
// (cp or np.save over it) then shows up as a short read and fails the job,
// where touching a mapped page past the new end of file is a SIGBUS that
// kills the whole process.
class FileSource final : public VectorSource {
 public:
  FileSource(Env* env, std::string path, SourceFormat format,
             std::unique_ptr<RandomAccessFile> file, const Layout& layout,
             const FileInfo& opened)
      : env_(env), path_(std::move(path)), format_(format),
        file_(std::move(file)), layout_(layout), opened_(opened) {}

  int64_t count() const override { return layout_.count; }
  int dim() const override { return static_cast<int>(layout_.dim); }
  const std::string& path() const override { return path_; }
  SourceFormat format() const override { return format_; }
  uint64_t RowOffset(int64_t row) const override {
    return layout_.data_offset + static_cast<uint64_t>(row) * layout_.row_bytes;
  }

  Status Read(int64_t begin, int64_t n, float* out) const override;

  // Rows read with pread were never in this process's resident set, and
  // the page cache keeps them for the next pass (fingerprint, sample, add
  // and validation each read the file): dropping it would make every pass
  // go to the disk again. The kernel evicts it under memory pressure.
  void Release(int64_t, int64_t) const override {}

  Result<SourceFingerprint> Fingerprint(const ProgressFn& progress) const override;
  Status CheckUnchanged() const override;

 private:
  // Reads exactly [offset, offset + n) into `buf`; a short read means the
  // file shrank since it was opened.
  Status ReadBytes(uint64_t offset, size_t n, uint8_t* buf) const;
  Status Changed(uint64_t now_size) const;
  // Checks rows [begin, begin + n) held in `rows` as laid out in the file,
  // copying them as float32 to `out` unless it is null.
  Status CheckRows(const uint8_t* rows, int64_t begin, int64_t n, float* out) const;
  Status NonFinite(int64_t row, size_t col, const uint8_t* value) const;

  Env* env_;
  std::string path_;
  SourceFormat format_;
  std::unique_ptr<RandomAccessFile> file_;
  Layout layout_;
  FileInfo opened_;  // of the file behind any symlink, at Open
};

Status FileSource::Changed(uint64_t now_size) const {
  return FailedPrecondition("source " + path_ + " changed during the build (" +
                            std::to_string(now_size) + " bytes, expected " +
                            std::to_string(opened_.size) + ")");
}

Status FileSource::ReadBytes(uint64_t offset, size_t n, uint8_t* buf) const {
  size_t got = 0;
  Status s = file_->Read(offset, n, buf, &got);
  if (!s.ok()) return EnvError(path_, s);
  if (got == n) return Status::Ok();
  auto now = StatFollow(env_, path_);
  return Changed(now.ok() ? now->size : offset + got);
}

Status FileSource::CheckUnchanged() const {
  auto now = StatFollow(env_, path_);
  if (!now.ok()) return now.status();
  if (now->size != opened_.size) return Changed(now->size);
  if (now->mtime_ns != opened_.mtime_ns)
    return FailedPrecondition("source " + path_ +
                              " changed during the build (modified in place, same size " +
                              std::to_string(now->size) + " bytes)");
  return Status::Ok();
}

Status FileSource::Read(int64_t begin, int64_t n, float* out) const {
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
  const size_t d = static_cast<size_t>(layout_.dim);
  if (!layout_.row_prefix) {
    // The rows are the floats: read them straight into the caller's buffer.
    auto* bytes = reinterpret_cast<uint8_t*>(out);
    FRB_RETURN_IF_ERROR(ReadBytes(RowOffset(begin), static_cast<size_t>(n) * d * 4, bytes));
    return CheckRows(bytes, begin, n, nullptr);
  }
  // Rows with a header (and bvecs' bytes) go through a bounded scratch buffer.
  const int64_t per = std::max<int64_t>(1, static_cast<int64_t>(kReadChunk / layout_.row_bytes));
  std::vector<uint8_t> scratch(static_cast<size_t>(std::min(per, n) * layout_.row_bytes));
  for (int64_t r = begin; r < end; r += per) {
    int64_t k = std::min(per, end - r);
    FRB_RETURN_IF_ERROR(ReadBytes(RowOffset(r), static_cast<size_t>(k * layout_.row_bytes),
                                  scratch.data()));
    FRB_RETURN_IF_ERROR(CheckRows(scratch.data(), r, k, out + static_cast<size_t>(r - begin) * d));
  }
  return Status::Ok();
}

Status FileSource::CheckRows(const uint8_t* rows, int64_t begin, int64_t n, float* out) const {
  const size_t d = static_cast<size_t>(layout_.dim);
  if (!layout_.row_prefix) {
    size_t total = static_cast<size_t>(n) * d;
    size_t bad = out != nullptr ? CopyFloats<true>(rows, total, out)
                                : CopyFloats<false>(rows, total, nullptr);
    if (bad == kNoBad) return Status::Ok();
    return NonFinite(begin + static_cast<int64_t>(bad / d), bad % d, rows + 4 * bad);
  }
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* row = rows + static_cast<size_t>(r) * layout_.row_bytes;
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

Status FileSource::NonFinite(int64_t row, size_t col, const uint8_t* value) const {
  uint32_t bits;
  std::memcpy(&bits, value, 4);
  const char* what = (bits & 0x007fffffu) != 0 ? "NaN" : "Inf";
  return InvalidArgument("source " + path_ + ": row " + std::to_string(row) +
                         " (byte offset " + std::to_string(RowOffset(row)) +
                         ") contains " + what + " in column " + std::to_string(col));
}

Result<SourceFingerprint> FileSource::Fingerprint(const ProgressFn& progress) const {
  FRB_RETURN_IF_ERROR(CheckUnchanged());
  const uint64_t size = file_->size();
  Sha256 sha;
  // The header, then chunks of whole rows so each can be checked as read.
  std::vector<uint8_t> buf(static_cast<size_t>(
      std::max<uint64_t>(layout_.data_offset,
                         std::max<uint64_t>(1, kReadChunk / layout_.row_bytes) *
                             layout_.row_bytes)));
  if (layout_.data_offset > 0) {
    FRB_RETURN_IF_ERROR(ReadBytes(0, static_cast<size_t>(layout_.data_offset), buf.data()));
    sha.Update(buf.data(), static_cast<size_t>(layout_.data_offset));
  }
  const int64_t per = static_cast<int64_t>(buf.size() / layout_.row_bytes);
  for (int64_t r = 0; r < layout_.count; r += per) {
    int64_t k = std::min(per, layout_.count - r);
    uint64_t off = RowOffset(r);
    size_t len = static_cast<size_t>(k * layout_.row_bytes);
    file_->WillNeed(off + len, len);
    FRB_RETURN_IF_ERROR(ReadBytes(off, len, buf.data()));
    sha.Update(buf.data(), len);
    FRB_RETURN_IF_ERROR(CheckRows(buf.data(), r, k, nullptr));
    if (progress) progress(static_cast<double>(off + len) / static_cast<double>(size));
  }
  // Bytes past the last row would mean the file grew since it was opened.
  FRB_RETURN_IF_ERROR(CheckUnchanged());
  SourceFingerprint fp;
  fp.path = path_;
  fp.size = size;
  fp.mtime_ns = opened_.mtime_ns;
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
  // Checked before opening: opening a FIFO would block.
  FRB_ASSIGN_OR_RETURN(FileInfo info, StatFollow(env, path));
  if (!info.is_regular) {
    return InvalidArgument("source " + path + ": not a regular file" +
                           (info.is_dir ? " (a directory)" : ""));
  }
  auto file = env->NewRandomAccessFile(path);
  if (!file.ok()) return EnvError(path, file.status());
  const uint64_t size = (*file)->size();
  if (size == 0) return InvalidArgument("source " + path + ": file is empty");
  std::vector<uint8_t> head(static_cast<size_t>(std::min<uint64_t>(size, kMaxHead)));
  size_t got = 0;
  if (Status s = (*file)->Read(0, head.size(), head.data(), &got); !s.ok())
    return EnvError(path, s);
  if (got < head.size()) {
    return FailedPrecondition("source " + path + " changed while being opened (" +
                              std::to_string(got) + " bytes, expected " +
                              std::to_string(size) + ")");
  }
  // What identifies the data is the file as opened, not a later stat.
  info.size = size;
  auto layout = ParseLayout(head.data(), head.size(), size, format, dim);
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
      new FileSource(env, path, format, std::move(*file), *layout, info));
}

}  // namespace frb
