// SHA-256, streaming. Uses the x86 SHA extensions when the CPU has them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "frb/env.h"
#include "frb/status.h"

namespace frb {

// Not thread-safe; one instance per stream.
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t n);
  // Finishes the stream; the object must not be updated afterwards.
  std::array<uint8_t, 32> Finish();
  // Finish() as 64 lowercase hex characters.
  std::string FinishHex();
  // One-shot helper.
  static std::string Hex(std::string_view data);

 private:
  void Compress(const uint8_t* blocks, size_t nblocks);
  uint32_t state_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

// Hex SHA-256 of a whole file, read sequentially through `env`.
Result<std::string> Sha256File(Env* env, const std::string& path);

}  // namespace frb
