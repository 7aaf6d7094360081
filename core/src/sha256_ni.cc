// SHA-256 block function on the x86 SHA extensions. Compiled with
// -msha -msse4.1; callers must check the CPU first (see sha256.cc).
#include <immintrin.h>

#include "sha256_internal.h"

namespace frb::internal {
namespace {

alignas(16) constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

}  // namespace

void Sha256CompressNi(uint32_t state[8], const uint8_t* blocks,
                      size_t nblocks) {
  // Byte swap of each 32-bit word: the message is big-endian.
  const __m128i kBswap =
      _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);

  // The instructions want the state as ABEF / CDGH rather than ABCD / EFGH.
  __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state));
  __m128i s1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state + 4));
  tmp = _mm_shuffle_epi32(tmp, 0xB1);
  s1 = _mm_shuffle_epi32(s1, 0x1B);
  __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);
  s1 = _mm_blend_epi16(s1, tmp, 0xF0);

  for (; nblocks > 0; --nblocks, blocks += 64) {
    const __m128i abef_save = s0;
    const __m128i cdgh_save = s1;
    // w[q % 4] holds schedule words 4q..4q+3. Fully unrolled, the indices
    // are constants and the array lives in registers.
    __m128i w[4];
#pragma GCC unroll 16
    for (int q = 0; q < 16; ++q) {
      if (q < 4) {
        w[q] = _mm_shuffle_epi8(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks + 16 * q)),
            kBswap);
      }
      __m128i msg = _mm_add_epi32(
          w[q % 4],
          _mm_load_si128(reinterpret_cast<const __m128i*>(kK + 4 * q)));
      s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
      if (q >= 3 && q <= 14) {
        // Finish words 4(q+1).. from the partial sums msg1 left there.
        __m128i& next = w[(q + 1) % 4];
        next =
            _mm_add_epi32(next, _mm_alignr_epi8(w[q % 4], w[(q + 3) % 4], 4));
        next = _mm_sha256msg2_epu32(next, w[q % 4]);
      }
      msg = _mm_shuffle_epi32(msg, 0x0E);
      s0 = _mm_sha256rnds2_epu32(s0, s1, msg);
      if (q >= 1 && q <= 12) {
        w[(q + 3) % 4] = _mm_sha256msg1_epu32(w[(q + 3) % 4], w[q % 4]);
      }
    }
    s0 = _mm_add_epi32(s0, abef_save);
    s1 = _mm_add_epi32(s1, cdgh_save);
  }

  tmp = _mm_shuffle_epi32(s0, 0x1B);
  s1 = _mm_shuffle_epi32(s1, 0xB1);
  s0 = _mm_blend_epi16(tmp, s1, 0xF0);
  s1 = _mm_alignr_epi8(s1, tmp, 8);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state), s0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state + 4), s1);
}

}  // namespace frb::internal
