// The one coding matrix both engines use: Jerasure's systematic Vandermonde matrix over
// GF(2^8). Keeping it in one place is what makes the engines produce identical shards.
#pragma once

#include <cstdint>
#include <vector>

#include "src/common/status.h"

namespace vaultfs::erasure {

// The m x k coding matrix, row-major (row i, column j at [i * k + j]): parity block i is the
// GF(2^8) dot product of row i with the k data blocks. Requires 1 <= k, 1 <= m,
// k + m <= kMaxBlocks. Thread-safe.
Result<std::vector<uint8_t>> VandermondeCodingMatrix(int k, int m);

// Makes sure gf-complete's default w=8 field exists before any thread uses it: Jerasure
// creates it lazily and without a lock on first use. Cheap after the first call.
void InitGaloisField();

}  // namespace vaultfs::erasure
