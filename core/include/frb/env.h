// The one filesystem interface of faiss-rebuild (modelled on LevelDB's Env).
// Every file the core reads or writes goes through an Env so tests can inject
// faults (ENOSPC, EIO, failed rename, a "crash" between two steps).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "frb/status.h"

namespace frb {

// Buffered sequential writer. Not thread-safe.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Buffers or writes `n` bytes; errors (ENOSPC, EIO) surface here or later.
  virtual Status Append(const void* data, size_t n) = 0;
  // Flushes the buffer and fsyncs; only after Sync is the data durable.
  virtual Status Sync() = 0;
  // Flushes and closes, reporting errors from close(2). Idempotent.
  virtual Status Close() = 0;
  virtual const std::string& path() const = 0;
};

// Sequential reader. Not thread-safe.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to `n` bytes into `buf`; *got == 0 means end of file.
  virtual Status Read(void* buf, size_t n, size_t* got) = 0;
  // Repositions to `offset` from the start.
  virtual Status Seek(uint64_t offset) = 0;
  virtual const std::string& path() const = 0;
};

// Positional reader (pread(2)) for large inputs read in place: a file that
// shrinks under the reader gives a short read, never a SIGBUS as a memory
// map does. Thread-safe: reads share no file position.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to `n` bytes at `offset` into `buf`; *got < n only at the end
  // of the file as it is now.
  virtual Status Read(uint64_t offset, size_t n, void* buf, size_t* got) const = 0;
  // Size when the file was opened.
  virtual uint64_t size() const = 0;
  // Asks the kernel to read [offset, offset+len) ahead, asynchronously.
  virtual void WillNeed(uint64_t offset, uint64_t len) const = 0;
  virtual const std::string& path() const = 0;
};

// A read-only memory map of a whole file. Thread-safe for reads.
class MappedFile {
 public:
  virtual ~MappedFile() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
  // Hints that [offset, offset+len) will be read sequentially soon.
  virtual void WillNeed(size_t offset, size_t len) const = 0;
  // Drops the range from this process's resident set (page cache keeps it),
  // so streaming a large file does not grow RSS.
  virtual void DontNeed(size_t offset, size_t len) const = 0;
  virtual const std::string& path() const = 0;
};

// An exclusive advisory lock (flock) released on destruction.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

struct FileInfo {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  bool is_dir = false;
  bool is_symlink = false;
  bool is_regular = false;
  // Identity and status-change time: with size and mtime they tell whether a
  // file was replaced or written since an earlier Stat (chmod changes ctime).
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t ctime_ns = 0;
};

struct DiskSpace {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;  // available to unprivileged users
};

// Thread-safe: all methods may be called concurrently.
class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX implementation. Never null; never destroyed.
  static Env* Default();

  // Creates or truncates `path` for writing (mode 0644).
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;
  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& path) = 0;
  // Opens `path` for pread with sequential read-ahead advised.
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;
  virtual Result<std::unique_ptr<MappedFile>> MapFile(
      const std::string& path) = 0;

  // rename(2): atomic replace within one filesystem.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  // Removes a directory tree; a missing path is not an error.
  virtual Status RemoveAll(const std::string& path) = 0;
  // mkdir -p.
  virtual Status CreateDirs(const std::string& path) = 0;
  // fsyncs a directory so renames and creations in it survive power loss.
  virtual Status SyncDir(const std::string& path) = 0;
  // Entry names (not paths) of a directory, without "." and "..", sorted.
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  // lstat(2): does not follow a final symlink.
  virtual Result<FileInfo> Stat(const std::string& path) = 0;
  bool Exists(const std::string& path) { return Stat(path).ok(); }
  virtual Status Symlink(const std::string& target,
                         const std::string& link) = 0;
  virtual Result<std::string> ReadLink(const std::string& path) = 0;
  // link(2): a second name for an existing file. Fails with EXDEV across
  // filesystems and EPERM where hard links are not allowed; callers that
  // can copy instead treat any failure as "copy".
  virtual Status LinkFile(const std::string& from, const std::string& to) = 0;
  // chmod a-w: marks a published file immutable for careless writers.
  virtual Status MakeReadOnly(const std::string& path) = 0;
  // flock(LOCK_EX) on `path` (created if missing). With wait=false returns
  // kBusy at once when another process or thread holds it.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path,
                                                     bool wait) = 0;
  virtual Result<DiskSpace> GetDiskSpace(const std::string& path) = 0;
};

// Forwards every call to another Env; base for fault injection.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& p) override { return target_->NewWritableFile(p); }
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& p) override { return target_->NewSequentialFile(p); }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& p) override { return target_->NewRandomAccessFile(p); }
  Result<std::unique_ptr<MappedFile>> MapFile(const std::string& p) override {
    return target_->MapFile(p);
  }
  Status Rename(const std::string& f, const std::string& t) override {
    return target_->Rename(f, t);
  }
  Status RemoveFile(const std::string& p) override { return target_->RemoveFile(p); }
  Status RemoveAll(const std::string& p) override { return target_->RemoveAll(p); }
  Status CreateDirs(const std::string& p) override { return target_->CreateDirs(p); }
  Status SyncDir(const std::string& p) override { return target_->SyncDir(p); }
  Result<std::vector<std::string>> ListDir(const std::string& p) override {
    return target_->ListDir(p);
  }
  Result<FileInfo> Stat(const std::string& p) override { return target_->Stat(p); }
  Status Symlink(const std::string& t, const std::string& l) override {
    return target_->Symlink(t, l);
  }
  Result<std::string> ReadLink(const std::string& p) override {
    return target_->ReadLink(p);
  }
  Status LinkFile(const std::string& f, const std::string& t) override {
    return target_->LinkFile(f, t);
  }
  Status MakeReadOnly(const std::string& p) override { return target_->MakeReadOnly(p); }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& p, bool w) override {
    return target_->LockFile(p, w);
  }
  Result<DiskSpace> GetDiskSpace(const std::string& p) override {
    return target_->GetDiskSpace(p);
  }

 private:
  Env* target_;
};

// Operations a FaultEnv can fail.
enum class FsOp {
  kCreate, kAppend, kSync, kClose, kRead, kMap, kRename, kRemove, kMkdir,
  kSyncDir, kSymlink, kLock, kLink,
};
const char* FsOpName(FsOp op);

// An Env that asks a hook before each operation; a non-zero errno from the
// hook fails that operation as the OS would (e.g. ENOSPC on Append).
// Thread-safe if the hook is.
class FaultEnv : public EnvWrapper {
 public:
  using Hook = std::function<int(FsOp op, const std::string& path)>;
  FaultEnv(Env* target, Hook hook) : EnvWrapper(target), hook_(std::move(hook)) {}

  Result<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& p) override;
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& p) override;
  // kRead is asked at open and before every Read.
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& p) override;
  Result<std::unique_ptr<MappedFile>> MapFile(const std::string& p) override;
  Status Rename(const std::string& f, const std::string& t) override;
  Status RemoveFile(const std::string& p) override;
  Status RemoveAll(const std::string& p) override;
  Status CreateDirs(const std::string& p) override;
  Status SyncDir(const std::string& p) override;
  Status Symlink(const std::string& t, const std::string& l) override;
  Status LinkFile(const std::string& f, const std::string& t) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& p, bool w) override;

  // Returns the injected error for (op, path), or ok.
  Status Check(FsOp op, const std::string& path) const;

 private:
  Hook hook_;
};

// --- helpers built on Env ---

// Writes `data` to `path` crash-safely: temp file, fsync, close, rename,
// fsync the directory. Readers see the old or the new content, never a mix.
Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data);
Result<std::string> ReadFileToString(Env* env, const std::string& path);

// mkdir -p that also fsyncs the parent of every directory it creates, so
// the new entries survive a power cut (an fsync of the directory itself
// does not make its own entry durable). Existing directories cost a stat.
Status CreateDirsDurable(Env* env, const std::string& path);

// Atomically points symlink `link` at `target` (temp symlink + rename +
// directory fsync).
Status ReplaceSymlink(Env* env, const std::string& target,
                      const std::string& link);

// Path helpers.
std::string JoinPath(std::string_view a, std::string_view b);
std::string DirName(std::string_view path);
std::string BaseName(std::string_view path);

}  // namespace frb
