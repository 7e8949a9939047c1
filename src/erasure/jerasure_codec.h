// The reference engine: Jerasure/gf-complete Reed–Solomon, w=8, Vandermonde matrix.
//
// gf-complete aborts the process when a region's source and destination pointers differ in
// alignment mod 16, so blocks whose addresses are not all congruent mod 16 are staged through
// an aligned per-thread scratch buffer (grown on demand, then reused: allocation-free in the
// steady state). Aligned callers take the direct path.
#pragma once

#include <memory>
#include <vector>

#include "src/erasure/codec.h"

namespace vaultfs::erasure {

class JerasureCodec final : public Codec {
 public:
  // 1 <= k, 0 <= m, k + m <= kMaxBlocks.
  static Result<std::unique_ptr<JerasureCodec>> Create(int k, int m);

  Engine engine() const override { return Engine::kJerasure; }

 private:
  JerasureCodec(int k, int m, std::vector<int> matrix);

  void EncodeBlocks(const uint8_t* const* data, uint8_t* const* parity,
                    size_t block_size) const override;
  Status DecodeBlocks(uint8_t* const* blocks, std::span<const int> erased,
                      size_t block_size) const override;

  // Runs jerasure_matrix_decode on pointers that satisfy gf-complete's alignment rule.
  Status DecodeAligned(char** data, char** coding, std::span<const int> erased,
                       size_t block_size) const;

  // m x k, as Jerasure wants it (int per coefficient). Read-only after construction.
  std::vector<int> matrix_;
};

}  // namespace vaultfs::erasure
