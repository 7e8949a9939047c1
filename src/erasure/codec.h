// Reed–Solomon erasure coding (DESIGN.md §3): k data blocks -> m parity blocks, and back.
//
// One interface, two engines that compute the *same* systematic code over GF(2^8) (polynomial
// 0x11d): Jerasure's Vandermonde coding matrix (reed_sol_vandermonde_coding_matrix, w=8).
//   - Engine::kJerasure runs Jerasure/gf-complete itself (the reference engine);
//   - Engine::kIsal feeds that same matrix to ISA-L's SIMD kernels (the default: about 9x
//     faster on this machine, and on par with raw ISA-L; see bench/erasure).
// Shards written by one engine decode with the other, byte for byte (tests/erasure).
//
// The core API works over caller-owned buffers: every block is `block_size` bytes (any size
// >= 1, any alignment). Encoding, and ISA-L decoding of an erasure pattern seen before, allocate
// nothing (tables are precomputed, decode plans cached); a new pattern builds its plan once.
// Jerasure's decoder mallocs its own small matrices per call. A Codec is immutable after
// construction apart from internal caches guarded by their own locks, so one object may be
// used from many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "src/common/status.h"

namespace vaultfs::erasure {

enum class Engine {
  kDefault,   // the fastest available engine (ISA-L)
  kIsal,      // ISA-L ec_encode_data with Jerasure's matrix
  kJerasure,  // Jerasure jerasure_matrix_encode/decode
};

// "isa-l" or "jerasure" (kDefault resolves to the engine it picks), for logs and benchmarks.
std::string_view EngineName(Engine engine);

// Largest k + m: GF(2^8) has 256 elements, and shard indices must fit in a byte.
inline constexpr int kMaxBlocks = 255;

class Codec {
 public:
  virtual ~Codec() = default;
  Codec(const Codec&) = delete;
  Codec& operator=(const Codec&) = delete;

  int k() const { return k_; }
  int m() const { return m_; }
  virtual Engine engine() const = 0;
  std::string_view engine_name() const { return EngineName(engine()); }

  // Computes the m parity blocks from the k data blocks. `data` holds k pointers, `parity` m
  // pointers (none may be null when m > 0); parity buffers must not overlap the data.
  Status Encode(const uint8_t* const* data, uint8_t* const* parity, size_t block_size) const;

  // `blocks` holds k + m pointers (data 0..k-1, then parity k..k+m-1). Every block whose index
  // is in `erased` (distinct indices, any order) is rebuilt in place from the others, whether
  // it is data or parity; the other blocks are only read. With more than m erasures nothing is
  // written and the result is EIO "need at least k of k+m blocks, have N". Duplicate or
  // out-of-range indices are EINVAL.
  Status Decode(uint8_t* const* blocks, std::span<const int> erased, size_t block_size) const;

 protected:
  Codec(int k, int m) : k_(k), m_(m) {}

  // Engine hooks, called with validated arguments: block_size in [1, INT_MAX], every pointer
  // non-null. `erased` is sorted ascending, distinct, 1..m entries.
  virtual void EncodeBlocks(const uint8_t* const* data, uint8_t* const* parity,
                            size_t block_size) const = 0;
  virtual Status DecodeBlocks(uint8_t* const* blocks, std::span<const int> erased,
                              size_t block_size) const = 0;

 private:
  const int k_;
  const int m_;
};

// Checks the shape (1 <= k, 0 <= m, k + m <= kMaxBlocks) and builds the engine's tables.
Result<std::unique_ptr<Codec>> MakeCodec(int k, int m, Engine engine = Engine::kDefault);

}  // namespace vaultfs::erasure
