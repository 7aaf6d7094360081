// SHA-256 block function on the x86 SHA extensions. Compiled with
// -msha -msse4.1; callers must check the CPU first (see sha256.cc).
#include <immintrin.h>

#include "sha256_internal.h"

namespace frb::internal {
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
