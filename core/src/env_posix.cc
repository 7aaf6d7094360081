// POSIX implementation of Env.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "frb/env.h"

namespace frb {
namespace {

constexpr size_t kWriteBuffer = 1 << 20;
// Large files start writeback every this many bytes, so the final fsync
// finds little left to do instead of the whole file (as RocksDB's
// bytes_per_sync): a restore or backup then costs about what the copy does.
constexpr uint64_t kWritebackEvery = 8u << 20;

// Writes all of [p, p+n) to fd, retrying on EINTR and short writes.
Status WriteAll(int fd, const uint8_t* p, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write", path);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
    buf_.reserve(kWriteBuffer);
  }
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Append(const void* data, size_t n) override {
    if (fd_ < 0) return FailedPrecondition(path_ + ": append after close");
    const auto* p = static_cast<const uint8_t*>(data);
    if (buf_.size() + n <= kWriteBuffer) {
      buf_.insert(buf_.end(), p, p + n);
      return Status::Ok();
    }
    FRB_RETURN_IF_ERROR(Flush());
    if (n >= kWriteBuffer) return WriteDirect(p, n);
    buf_.insert(buf_.end(), p, p + n);
    return Status::Ok();
  }
  Status Sync() override {
    if (fd_ < 0) return FailedPrecondition(path_ + ": sync after close");
    FRB_RETURN_IF_ERROR(Flush());
    if (::fsync(fd_) != 0) return ErrnoStatus(errno, "fsync", path_);
    return Status::Ok();
  }
  Status Close() override {
    if (fd_ < 0) return Status::Ok();
    Status s = Flush();
    int rc = ::close(fd_);
    fd_ = -1;
    if (!s.ok()) return s;
    if (rc != 0) return ErrnoStatus(errno, "close", path_);
    return Status::Ok();
  }
  const std::string& path() const override { return path_; }

 private:
  Status Flush() {
    Status s = WriteAll(fd_, buf_.data(), buf_.size(), path_);
    written_ += buf_.size();
    buf_.clear();
    if (s.ok()) StartWriteback();
    return s;
  }
  Status WriteDirect(const uint8_t* p, size_t n) {
    Status s = WriteAll(fd_, p, n, path_);
    written_ += n;
    if (s.ok()) StartWriteback();
    return s;
  }
  // Only a hint: errors surface from fsync, which callers must call.
  void StartWriteback() {
    if (written_ - kicked_ < kWritebackEvery) return;
    (void)::sync_file_range(fd_, static_cast<off_t>(kicked_),
                            static_cast<off_t>(written_ - kicked_), SYNC_FILE_RANGE_WRITE);
    kicked_ = written_;
  }
  int fd_;
  uint64_t written_ = 0;
  uint64_t kicked_ = 0;
  std::string path_;
  std::vector<uint8_t> buf_;
};

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixSequentialFile() override { ::close(fd_); }
  Status Read(void* buf, size_t n, size_t* got) override {
    auto* p = static_cast<uint8_t*>(buf);
    size_t total = 0;
    while (total < n) {
      ssize_t r = ::read(fd_, p + total, n - total);
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "read", path_);
      }
      if (r == 0) break;
      total += static_cast<size_t>(r);
    }
    *got = total;
    return Status::Ok();
  }
  Status Seek(uint64_t offset) override {
    if (::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0)
      return ErrnoStatus(errno, "lseek", path_);
    return Status::Ok();
  }
  const std::string& path() const override { return path_; }

 private:
  int fd_;
  std::string path_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(int fd, uint64_t size, std::string path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }
  Status Read(uint64_t offset, size_t n, void* buf, size_t* got) const override {
    auto* p = static_cast<uint8_t*>(buf);
    size_t total = 0;
    while (total < n) {
      ssize_t r = ::pread(fd_, p + total, n - total, static_cast<off_t>(offset + total));
      if (r < 0) {
        if (errno == EINTR) continue;
        *got = total;
        return ErrnoStatus(errno, "read", path_);
      }
      if (r == 0) break;
      total += static_cast<size_t>(r);
    }
    *got = total;
    return Status::Ok();
  }
  uint64_t size() const override { return size_; }
  void WillNeed(uint64_t offset, uint64_t len) const override {
    Advise(offset, len, POSIX_FADV_WILLNEED);
  }
  const std::string& path() const override { return path_; }

 private:
  // Only hints: a failure changes speed, never results.
  void Advise(uint64_t offset, uint64_t len, int advice) const {
    if (len == 0 || offset >= size_) return;
    (void)::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(len), advice);
  }
  int fd_;
  uint64_t size_;
  std::string path_;
};

class PosixMappedFile final : public MappedFile {
 public:
  PosixMappedFile(void* base, size_t size, std::string path)
      : base_(base), size_(size), path_(std::move(path)) {}
  ~PosixMappedFile() override {
    if (base_ != nullptr) ::munmap(base_, size_);
  }
  const uint8_t* data() const override {
    return static_cast<const uint8_t*>(base_);
  }
  size_t size() const override { return size_; }
  void WillNeed(size_t offset, size_t len) const override {
    Advise(offset, len, MADV_WILLNEED);
  }
  void DontNeed(size_t offset, size_t len) const override {
    Advise(offset, len, MADV_DONTNEED);
  }
  const std::string& path() const override { return path_; }

 private:
  void Advise(size_t offset, size_t len, int advice) const {
    if (base_ == nullptr || offset >= size_) return;
    static const size_t kPage = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    size_t start = offset / kPage * kPage;
    size_t end = std::min(size_, offset + len);
    if (advice == MADV_DONTNEED) end = end / kPage * kPage;  // whole pages only
    if (end <= start) return;
    ::madvise(static_cast<uint8_t*>(base_) + start, end - start, advice);
  }
  void* base_;
  size_t size_;
  std::string path_;
};

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(errno, "open for writing", path);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path));
  }
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open", path);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return std::unique_ptr<SequentialFile>(new PosixSequentialFile(fd, path));
  }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open", path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus(err, "fstat", path);
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return std::unique_ptr<RandomAccessFile>(
        new PosixRandomAccessFile(fd, static_cast<uint64_t>(st.st_size), path));
  }
  Result<std::unique_ptr<MappedFile>> MapFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open", path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus(err, "fstat", path);
    }
    size_t size = static_cast<size_t>(st.st_size);
    void* base = nullptr;
    if (size > 0) {
      base = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      if (base == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        return ErrnoStatus(err, "mmap", path);
      }
    }
    ::close(fd);
    return std::unique_ptr<MappedFile>(new PosixMappedFile(base, size, path));
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0)
      return ErrnoStatus(errno, "rename to " + to, from);
    return Status::Ok();
  }
  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "unlink", path);
    return Status::Ok();
  }
  Status RemoveAll(const std::string& path) override {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) return ErrnoStatus(ec.value(), "remove", path);
    return Status::Ok();
  }
  Status CreateDirs(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return ErrnoStatus(ec.value(), "mkdir", path);
    return Status::Ok();
  }
  Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open directory", path);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus(err, "fsync directory", path);
    return Status::Ok();
  }
  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return ErrnoStatus(errno, "opendir", path);
    std::vector<std::string> out;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(std::move(name));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }
  Result<FileInfo> Stat(const std::string& path) override {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
    FileInfo info;
    info.size = static_cast<uint64_t>(st.st_size);
    info.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                    st.st_mtim.tv_nsec;
    info.is_dir = S_ISDIR(st.st_mode);
    info.is_symlink = S_ISLNK(st.st_mode);
    info.is_regular = S_ISREG(st.st_mode);
    info.device = static_cast<uint64_t>(st.st_dev);
    info.inode = static_cast<uint64_t>(st.st_ino);
    info.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    return info;
  }
  Status LinkFile(const std::string& from, const std::string& to) override {
    if (::link(from.c_str(), to.c_str()) != 0) return ErrnoStatus(errno, "link", to);
    return Status::Ok();
  }
  Status Symlink(const std::string& target, const std::string& link) override {
    if (::symlink(target.c_str(), link.c_str()) != 0)
      return ErrnoStatus(errno, "symlink", link);
    return Status::Ok();
  }
  Result<std::string> ReadLink(const std::string& path) override {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf) - 1);
    if (n < 0) return ErrnoStatus(errno, "readlink", path);
    return std::string(buf, static_cast<size_t>(n));
  }
  Status MakeReadOnly(const std::string& path) override {
    if (::chmod(path.c_str(), 0444) != 0) return ErrnoStatus(errno, "chmod", path);
    return Status::Ok();
  }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path,
                                             bool wait) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(errno, "open lock file", path);
    int rc;
    do {
      rc = ::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK)
        return Busy(path + ": locked by another job or process");
      return ErrnoStatus(err, "flock", path);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }
  Result<DiskSpace> GetDiskSpace(const std::string& path) override {
    struct statvfs sv;
    if (::statvfs(path.c_str(), &sv) != 0)
      return ErrnoStatus(errno, "statvfs", path);
    DiskSpace ds;
    ds.total_bytes = static_cast<uint64_t>(sv.f_blocks) * sv.f_frsize;
    ds.free_bytes = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
    return ds;
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();  // never destroyed: used at exit
  return env;
}

}  // namespace frb
