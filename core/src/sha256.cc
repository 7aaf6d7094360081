// Streaming SHA-256 (FIPS 180-4) with a run-time choice between a portable
// block function and the x86 SHA extensions.
#include "frb/sha256.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "sha256_internal.h"

namespace frb {
namespace internal {
namespace {

inline uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

inline uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

bool DetectNi() {
#if defined(__x86_64__) || defined(__i386__)
  // CPUID directly: clang 14's __builtin_cpu_supports does not know "sha".
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool sse41 = (c & (1u << 19)) != 0;             // CPUID.1:ECX.SSE4_1
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return sse41 && (b & (1u << 29)) != 0;                // CPUID.7.0:EBX.SHA
#else
  return false;
#endif
}

// Relaxed is enough: tests flip it between hashes on one thread, and any
// value seen by another thread gives a correct digest either way.
std::atomic<bool> g_force_portable{false};

}  // namespace

void Sha256CompressPortable(uint32_t state[8], const uint8_t* blocks,
                            size_t nblocks) {
  for (; nblocks > 0; --nblocks, blocks += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) w[i] = LoadBe32(blocks + 4 * i);
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t s1 = Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25);
      uint32_t ch = (e & f) ^ (~e & g);
      uint32_t t1 = h + s1 + ch + kK[i] + w[i];
      uint32_t s0 = Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22);
      uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
      uint32_t t2 = s0 + maj;
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
  }
}

bool Sha256NiSupported() {
  static const bool supported = DetectNi();
  return supported;
}

void Sha256ForcePortable(bool force) {
  g_force_portable.store(force, std::memory_order_relaxed);
}

bool Sha256UsingNi() {
  return Sha256NiSupported() &&
         !g_force_portable.load(std::memory_order_relaxed);
}

}  // namespace internal

Sha256::Sha256()
    : state_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19},
      buf_{} {}

void Sha256::Compress(const uint8_t* blocks, size_t nblocks) {
  if (internal::Sha256UsingNi()) {
    internal::Sha256CompressNi(state_, blocks, nblocks);
  } else {
    internal::Sha256CompressPortable(state_, blocks, nblocks);
  }
}

void Sha256::Update(const void* data, size_t n) {
  // FAISS writes empty arrays as (nullptr, 0); memcpy from null is undefined
  // even for zero bytes (UBSan, found by tests/fuzz search_request).
  if (n == 0) return;
  const auto* p = static_cast<const uint8_t*>(data);
  total_ += n;
  if (buf_len_ > 0) {
    size_t take = std::min(n, sizeof(buf_) - buf_len_);
    std::memcpy(buf_ + buf_len_, p, take);
    buf_len_ += take;
    p += take;
    n -= take;
    if (buf_len_ < sizeof(buf_)) return;
    Compress(buf_, 1);
    buf_len_ = 0;
  }
  // Whole blocks straight from the caller's memory: no copy on the hot path.
  if (n >= 64) {
    Compress(p, n / 64);
    p += n / 64 * 64;
    n %= 64;
  }
  if (n > 0) {
    std::memcpy(buf_, p, n);
    buf_len_ = n;
  }
}

std::array<uint8_t, 32> Sha256::Finish() {
  const uint64_t bit_len = total_ * 8;
  // 0x80, zeros up to 56 mod 64, then the 64-bit big-endian bit length.
  uint8_t pad[72] = {0x80};
  size_t pad_len = (buf_len_ < 56 ? 56 : 120) - buf_len_;
  for (int i = 0; i < 8; ++i) {
    pad[pad_len + i] = static_cast<uint8_t>(bit_len >> (56 - 8 * i));
  }
  Update(pad, pad_len + 8);
  std::array<uint8_t, 32> out;
  for (int i = 0; i < 8; ++i) {
    out[4 * i] = static_cast<uint8_t>(state_[i] >> 24);
    out[4 * i + 1] = static_cast<uint8_t>(state_[i] >> 16);
    out[4 * i + 2] = static_cast<uint8_t>(state_[i] >> 8);
    out[4 * i + 3] = static_cast<uint8_t>(state_[i]);
  }
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
