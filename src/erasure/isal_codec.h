// The fast engine: ISA-L's SIMD GF(2^8) kernels running Jerasure's Vandermonde code.
//
// Encoding uses tables expanded once from the coding matrix (ec_init_tables). Decoding needs
// tables for the inverse of the surviving rows, which depend on the erasure pattern; building
// them (a k x k inversion plus table expansion) costs about as much as decoding a 64 KiB
// segment, so they are cached per pattern ("decode plans"). The cache is bounded: when full
// it is emptied and refilled, which is cheap next to the decoding it saves.
#pragma once

#include <bitset>
#include <memory>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "src/erasure/codec.h"

namespace vaultfs::erasure {

class IsalCodec final : public Codec {
 public:
  // Patterns remembered; RS(10,4) has 1470 distinct non-empty patterns of <= 4 erasures.
  static constexpr size_t kDefaultPlanCacheSize = 2048;

  // 1 <= k, 0 <= m, k + m <= kMaxBlocks. plan_cache_size = 0 computes every plan per call
  // (the benchmark uses it to measure what the cache saves).
  static Result<std::unique_ptr<IsalCodec>> Create(int k, int m,
                                                   size_t plan_cache_size = kDefaultPlanCacheSize);

  Engine engine() const override { return Engine::kIsal; }

  // Number of cached decode plans right now (tests and diagnostics).
  size_t cached_plans() const;

 private:
  // Everything needed to rebuild one erasure pattern: which k surviving blocks to read and
  // the expanded tables producing the erased blocks (in ascending index order) from them.
  struct DecodePlan {
    std::vector<int> sources;     // k surviving block indices
    std::vector<uint8_t> tables;  // 32 * k * erasures bytes, from ec_init_tables
  };
  using Pattern = std::bitset<kMaxBlocks>;

  IsalCodec(int k, int m, std::vector<uint8_t> encode_matrix, size_t plan_cache_size);

  void EncodeBlocks(const uint8_t* const* data, uint8_t* const* parity,
                    size_t block_size) const override;
  Status DecodeBlocks(uint8_t* const* blocks, std::span<const int> erased,
                      size_t block_size) const override;

  Result<std::shared_ptr<const DecodePlan>> PlanFor(std::span<const int> erased) const;
  Result<std::shared_ptr<const DecodePlan>> BuildPlan(std::span<const int> erased) const;

  // (k + m) x k generator: identity on top, Jerasure's coding matrix below. Read-only.
  std::vector<uint8_t> encode_matrix_;
  // ec_init_tables of the bottom m rows: 32 * k * m bytes. Read-only.
  std::vector<uint8_t> encode_tables_;

  const size_t plan_cache_size_;
  mutable std::shared_mutex plans_mu_;
  // Guarded by plans_mu_. Plans are shared_ptr so a decode keeps its plan alive while another
  // thread empties the cache.
  mutable std::unordered_map<Pattern, std::shared_ptr<const DecodePlan>> plans_;
};

}  // namespace vaultfs::erasure
