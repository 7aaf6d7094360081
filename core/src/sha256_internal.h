// Private to the SHA-256 implementation and its tests.
#pragma once

#include <cstddef>
#include <cstdint>

namespace frb::internal {

// Both compress `nblocks` consecutive 64-byte blocks into `state`.
void Sha256CompressPortable(uint32_t state[8], const uint8_t* blocks,
                            size_t nblocks);
// Requires a CPU with SHA and SSE4.1; lives in sha256_ni.cc because only
// that file is compiled with -msha -msse4.1.
void Sha256CompressNi(uint32_t state[8], const uint8_t* blocks, size_t nblocks);

// True when the CPU supports the SHA-NI path (detected once).
bool Sha256NiSupported();
// Test hook: while set, every Sha256 uses the portable path even on a CPU
// with SHA-NI, so tests can cover both.
void Sha256ForcePortable(bool force);
// True when Sha256 currently compresses with SHA-NI.
bool Sha256UsingNi();

}  // namespace frb::internal
