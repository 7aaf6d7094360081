#include "frb/sha256.h"

#include <openssl/evp.h>

#include <new>

namespace frb {

void Sha256::CtxFree::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  // EVP fails here only when it cannot allocate.
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    throw std::bad_alloc();
  }
}

void Sha256::Update(const void* data, size_t n) {
  // FAISS writes empty arrays as (nullptr, 0); nothing to hash then.
  if (n == 0) return;
  // Cannot fail for SHA-256 on an initialised context.
  EVP_DigestUpdate(ctx_.get(), data, n);
}

std::array<uint8_t, 32> Sha256::Finish() {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_.get(), out.data(), &len);
  return out;
}

std::string Sha256::FinishHex() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::array<uint8_t, 32> digest = Finish();
  std::string out(64, '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

std::string Sha256::Hex(std::string_view data) {
  Sha256 h;
  h.Update(data.data(), data.size());
  return h.FinishHex();
}

Result<std::string> Sha256File(Env* env, const std::string& path) {
  constexpr size_t kChunk = 1 << 20;
  FRB_ASSIGN_OR_RETURN(std::unique_ptr<SequentialFile> file,
                       env->NewSequentialFile(path));
  // On the heap: 1 MiB would be a risky stack frame on worker threads.
  auto buf = std::make_unique_for_overwrite<uint8_t[]>(kChunk);
  Sha256 h;
  for (;;) {
    size_t got = 0;
    FRB_RETURN_IF_ERROR(file->Read(buf.get(), kChunk, &got));
    if (got == 0) break;
    h.Update(buf.get(), got);
  }
  return h.FinishHex();
}

}  // namespace frb
