#include "frb/index_file.h"

#include <faiss/Index.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <chrono>
#include <exception>
#include <vector>

#include "frb/sha256.h"

namespace frb {
namespace {

// faiss::IOWriter over our WritableFile. faiss checks the item count it gets
// back, so an error turns into a FaissException we translate afterwards;
// the first Status is kept so the real reason (ENOSPC) is reported.
class EnvIOWriter final : public faiss::IOWriter {
 public:
  explicit EnvIOWriter(WritableFile* file) : file_(file) { name = file->path(); }
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    if (!status_.ok()) return 0;
    size_t bytes = size * nitems;
    status_ = file_->Append(ptr, bytes);
    if (!status_.ok()) return 0;
    sha_.Update(ptr, bytes);
    written_ += bytes;
    return nitems;
  }
  const Status& status() const { return status_; }
  uint64_t written() const { return written_; }
  std::string Digest() { return sha_.FinishHex(); }

 private:
  WritableFile* file_;
  Status status_;
  Sha256 sha_;
  uint64_t written_ = 0;
};

class EnvIOReader final : public faiss::IOReader {
 public:
  explicit EnvIOReader(SequentialFile* file) : file_(file) { name = file->path(); }
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0 || nitems == 0) return 0;
    size_t got = 0;
    Status s = file_->Read(ptr, size * nitems, &got);
    if (!s.ok()) {
      status_ = s;
      return 0;
    }
    return got / size;
  }
  const Status& status() const { return status_; }

 private:
  SequentialFile* file_;
  Status status_;
};

std::string OneLine(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return s;
}

}  // namespace

bool FileUnchanged(const FileInfo& then, const FileInfo& now) {
  return then.is_regular && now.is_regular && then.size == now.size &&
         then.mtime_ns == now.mtime_ns && then.ctime_ns == now.ctime_ns &&
         then.device == now.device && then.inode == now.inode;
}

Result<FileDigest> WriteIndexFile(Env* env, const faiss::Index& index,
                                  const std::string& path) {
  FRB_ASSIGN_OR_RETURN(auto file, env->NewWritableFile(path));
  EnvIOWriter writer(file.get());
  try {
    faiss::write_index(&index, &writer);
  } catch (const std::exception& e) {
    if (!writer.status().ok()) return writer.status();
    return Internal(path + ": FAISS could not serialize the index: " + OneLine(e.what()));
  }
  FRB_RETURN_IF_ERROR(writer.status());
  FRB_RETURN_IF_ERROR(file->Sync());
  FRB_RETURN_IF_ERROR(file->Close());
  return FileDigest{writer.written(), writer.Digest()};
}

namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The SHA-256 pass over `file` (from its start), against `expected`.
Status CheckDigest(SequentialFile* file, const std::string& path, const FileDigest& expected) {
  Sha256 sha;
  std::vector<uint8_t> buf(1 << 20);
  uint64_t total = 0;
  for (;;) {
    size_t got = 0;
    FRB_RETURN_IF_ERROR(file->Read(buf.data(), buf.size(), &got));
    if (got == 0) break;
    sha.Update(buf.data(), got);
    total += got;
  }
  if (total != expected.size) {
    return Corruption(path + ": size " + std::to_string(total) +
                      " bytes does not match the manifest's " +
                      std::to_string(expected.size));
  }
  std::string digest = sha.FinishHex();
  if (digest != expected.sha256) {
    return Corruption(path + ": SHA-256 " + digest.substr(0, 16) +
                      "... does not match the manifest's " +
                      expected.sha256.substr(0, 16) + "...");
  }
  return file->Seek(0);
}

// True when `path` is still the file `verified_as` describes, with the
// expected size.
bool StillVerified(Env* env, const std::string& path, const FileDigest& expected,
                   const FileInfo& verified_as) {
  auto now = env->Stat(path);
  return now.ok() && now->size == expected.size && FileUnchanged(verified_as, *now);
}

}  // namespace

Result<std::unique_ptr<faiss::Index>> LoadVerifiedIndex(
    Env* env, const std::string& path, const FileDigest& expected,
    const FileInfo* verified_as, LoadTimings* timings) {
  LoadTimings local;
  LoadTimings& t = timings != nullptr ? *timings : local;
  auto t0 = std::chrono::steady_clock::now();
  // Stat before the open: a file replaced or written after this check has
  // another inode or ctime, which the check after reading sees.
  const bool trusted =
      verified_as != nullptr && StillVerified(env, path, expected, *verified_as);
  FRB_ASSIGN_OR_RETURN(auto file, env->NewSequentialFile(path));
  t.hashed = !trusted;
  if (!trusted) FRB_RETURN_IF_ERROR(CheckDigest(file.get(), path, expected));
  t.verify_seconds = SecondsSince(t0);
  t0 = std::chrono::steady_clock::now();
  EnvIOReader reader(file.get());
  std::unique_ptr<faiss::Index> index;
  try {
    index.reset(faiss::read_index(&reader));
  } catch (const std::exception& e) {
    if (!reader.status().ok()) return reader.status();
    return Corruption(path + ": FAISS cannot read the index: " + OneLine(e.what()));
  }
  t.read_seconds = SecondsSince(t0);
  if (trusted && !StillVerified(env, path, expected, *verified_as))
    return Corruption(path + ": changed while it was read (its stat differs from the one " +
                      "recorded when its bytes were hashed)");
  return index;
}

}  // namespace frb
