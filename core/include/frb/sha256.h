// SHA-256, streaming, computed by OpenSSL's libcrypto (EVP), which picks the
// fastest code for the CPU (SHA extensions, AVX2, ...) at run time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "frb/env.h"
#include "frb/status.h"

// OpenSSL's EVP_MD_CTX, named here so this header needs no OpenSSL include.
struct evp_md_ctx_st;

namespace frb {

// Not thread-safe; one instance per stream. Movable, not copyable.
class Sha256 {
 public:
  // Throws std::bad_alloc when libcrypto cannot allocate its context.
  Sha256();
  void Update(const void* data, size_t n);
  // Finishes the stream; the object must not be updated afterwards.
  std::array<uint8_t, 32> Finish();
  // Finish() as 64 lowercase hex characters.
  std::string FinishHex();
  // One-shot helper.
  static std::string Hex(std::string_view data);

 private:
  struct CtxFree {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, CtxFree> ctx_;
};

// Hex SHA-256 of a whole file, read sequentially through `env`.
Result<std::string> Sha256File(Env* env, const std::string& path);

}  // namespace frb
