// An Env that counts the bytes read per path, for tests that count how many
// passes a stage makes over a file (hashing a multi-GB index is not free).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "frb/env.h"

namespace frb {

// Counts the bytes read through Env per path (sequential reads; a mapping
// counts as its whole size). Thread-safe.
class CountingEnv : public EnvWrapper {
 public:
  explicit CountingEnv(Env* target) : EnvWrapper(target) {}

  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& p) override {
    FRB_ASSIGN_OR_RETURN(auto file, target()->NewSequentialFile(p));
    return std::unique_ptr<SequentialFile>(new CountingFile(this, std::move(file)));
  }
  Result<std::unique_ptr<MappedFile>> MapFile(const std::string& p) override {
    FRB_ASSIGN_OR_RETURN(auto file, target()->MapFile(p));
    Add(p, file->size());
    return file;
  }

  // Bytes read from paths ending in `suffix` whose directory contains `dir_part`.
  uint64_t BytesRead(const std::string& dir_part, const std::string& suffix) {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t n = 0;
    for (const auto& [path, bytes] : read_)
      if (path.find(dir_part) != std::string::npos && path.ends_with(suffix)) n += bytes;
    return n;
  }
  void Reset() {
    std::lock_guard<std::mutex> lock(mu_);
    read_.clear();
  }

 private:
  class CountingFile : public SequentialFile {
   public:
    CountingFile(CountingEnv* env, std::unique_ptr<SequentialFile> base)
        : env_(env), base_(std::move(base)) {}
    Status Read(void* buf, size_t n, size_t* got) override {
      Status s = base_->Read(buf, n, got);
      if (s.ok()) env_->Add(base_->path(), *got);
      return s;
    }
    Status Seek(uint64_t offset) override { return base_->Seek(offset); }
    const std::string& path() const override { return base_->path(); }

   private:
    CountingEnv* env_;
    std::unique_ptr<SequentialFile> base_;
  };

  void Add(const std::string& path, uint64_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    read_[path] += n;
  }

  std::mutex mu_;
  std::map<std::string, uint64_t> read_;
};

}  // namespace frb
