// Shared helpers of the fuzz targets (tests/fuzz/README.md).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "frb/env.h"
#include "frb/status.h"

// A property every input must satisfy; a violation aborts so libFuzzer (and
// the corpus replay under ctest) reports it with the input.
#define FRB_FUZZ_CHECK(cond, what)                                          \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s (%s)\n",        \
                   __FILE__, __LINE__, #cond, std::string(what).c_str());   \
      std::abort();                                                         \
    }                                                                       \
  } while (0)

namespace frb::fuzz {

// An Env holding a few read-only in-memory files and nothing else: fuzz
// targets never touch the real filesystem, whatever paths the input names.
class MemEnv : public Env {
 public:
  // `data` must outlive every file mapped from it.
  void Put(const std::string& path, std::string_view data) { files_[path] = data; }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    return ReadOnly(p);
  }
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& p) override {
    auto it = files_.find(p);
    if (it == files_.end()) return Missing(p);
    return std::unique_ptr<SequentialFile>(new MemSequential(p, it->second));
  }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& p) override {
    auto it = files_.find(p);
    if (it == files_.end()) return Missing(p);
    return std::unique_ptr<RandomAccessFile>(new MemRandomAccess(p, it->second));
  }
  Result<std::unique_ptr<MappedFile>> MapFile(const std::string& p) override {
    auto it = files_.find(p);
    if (it == files_.end()) return Missing(p);
    return std::unique_ptr<MappedFile>(new MemMapped(p, it->second));
  }
  Status Rename(const std::string& f, const std::string&) override { return ReadOnly(f); }
  Status RemoveFile(const std::string& p) override { return ReadOnly(p); }
  Status RemoveAll(const std::string& p) override { return ReadOnly(p); }
  Status CreateDirs(const std::string& p) override { return ReadOnly(p); }
  Status SyncDir(const std::string& p) override { return ReadOnly(p); }
  Result<std::vector<std::string>> ListDir(const std::string& p) override { return Missing(p); }
  Result<FileInfo> Stat(const std::string& p) override {
    auto it = files_.find(p);
    if (it == files_.end()) return Missing(p);
    FileInfo info;
    info.size = it->second.size();
    info.mtime_ns = 1'700'000'000'000'000'000;
    info.is_regular = true;
    return info;
  }
  Status Symlink(const std::string&, const std::string& l) override { return ReadOnly(l); }
  Result<std::string> ReadLink(const std::string& p) override { return Missing(p); }
  Status LinkFile(const std::string& f, const std::string&) override { return ReadOnly(f); }
  Status MakeReadOnly(const std::string& p) override { return ReadOnly(p); }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& p, bool) override {
    return ReadOnly(p);
  }
  Result<DiskSpace> GetDiskSpace(const std::string&) override {
    return DiskSpace{1ull << 40, 1ull << 39};
  }

 private:
  static Status Missing(const std::string& p) { return NotFound(p + ": No such file or directory"); }
  static Status ReadOnly(const std::string& p) {
    return Status(Code::kPermissionDenied, p + ": read-only fuzz environment");
  }

  class MemMapped : public MappedFile {
   public:
    MemMapped(std::string path, std::string_view data) : path_(std::move(path)), data_(data) {}
    const uint8_t* data() const override {
      return reinterpret_cast<const uint8_t*>(data_.data());
    }
    size_t size() const override { return data_.size(); }
    void WillNeed(size_t, size_t) const override {}
    void DontNeed(size_t, size_t) const override {}
    const std::string& path() const override { return path_; }

   private:
    std::string path_;
    std::string_view data_;
  };

  class MemRandomAccess : public RandomAccessFile {
   public:
    MemRandomAccess(std::string path, std::string_view data)
        : path_(std::move(path)), data_(data) {}
    Status Read(uint64_t offset, size_t n, void* buf, size_t* got) const override {
      size_t take = offset < data_.size() ? std::min<uint64_t>(n, data_.size() - offset) : 0;
      if (take) std::memcpy(buf, data_.data() + offset, take);
      *got = take;
      return Status::Ok();
    }
    uint64_t size() const override { return data_.size(); }
    void WillNeed(uint64_t, uint64_t) const override {}
    const std::string& path() const override { return path_; }

   private:
    std::string path_;
    std::string_view data_;
  };

  class MemSequential : public SequentialFile {
   public:
    MemSequential(std::string path, std::string_view data) : path_(std::move(path)), data_(data) {}
    Status Read(void* buf, size_t n, size_t* got) override {
      size_t take = pos_ < data_.size() ? std::min(n, data_.size() - pos_) : 0;
      if (take) std::memcpy(buf, data_.data() + pos_, take);
      pos_ += take;
      *got = take;
      return Status::Ok();
    }
    Status Seek(uint64_t offset) override {
      pos_ = offset;
      return Status::Ok();
    }
    const std::string& path() const override { return path_; }

   private:
    std::string path_;
    std::string_view data_;
    size_t pos_ = 0;
  };

  std::map<std::string, std::string_view> files_;
};

}  // namespace frb::fuzz
