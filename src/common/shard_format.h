// The shard object format (DESIGN.md §3): how a data server lays out one shard on disk and how
// anyone holding the object finds and checks its block index. Pure format: no hashing here
// (src/common does not depend on src/crypto); callers hash blocks and the trailer with
// src/crypto/hash.h.
//
// An object is its blocks laid end to end, then a trailer:
//
//   [block 0][block 1]...[block n-1]                     data, `DataSize()` bytes
//   index body:
//     u32 format version (= kShardFormatVersion)
//     u64 block count n
//     u32 block size       (size of every block but the last; 0 iff n == 0)
//     u32 last block size  (1..block size; 0 iff n == 0)
//     n x 32-byte SHA-256 of each block
//   footer (kShardFooterSize bytes, at the very end of the object):
//     u32 index body length
//     u32 format version
//     8-byte magic "VFSHARD\0"
//
// All integers big-endian. A reader takes the footer from the object's end, then the index body
// just before it. The *shard root* is SHA-256 of the whole trailer (index body + footer) and is
// what the metadata service records per shard. Parsing is strict: every field is bounded and
// must agree with the object's total size, so a corrupt or hostile object is rejected before
// any block offset derived from it is used.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/common/status.h"

namespace vaultfs {

inline constexpr uint32_t kShardFormatVersion = 1;
inline constexpr size_t kShardHashSize = 32;
inline constexpr size_t kShardFooterSize = 16;
inline constexpr size_t kShardIndexFixedSize = 4 + 8 + 4 + 4;
inline constexpr char kShardMagic[8] = {'V', 'F', 'S', 'H', 'A', 'R', 'D', '\0'};
// Bounds that keep a hostile index from making a reader allocate or compute silly things.
inline constexpr uint32_t kShardMaxBlockSize = 64u << 20;  // 64 MiB
inline constexpr uint64_t kShardMaxBlockCount = 1u << 22;  // index body <= 128 MiB + 20 bytes

using ShardBlockHash = std::array<uint8_t, kShardHashSize>;

struct ShardIndex {
  uint64_t block_count = 0;
  uint32_t block_size = 0;
  uint32_t last_block_size = 0;
  std::vector<ShardBlockHash> block_hashes;  // one per block

  // Bytes of block data (everything before the trailer).
  uint64_t DataSize() const;
  // Length of the serialized index body (without the footer).
  uint64_t BodySize() const { return kShardIndexFixedSize + kShardHashSize * block_count; }
  // Total object size: data + index body + footer.
  uint64_t ObjectSize() const { return DataSize() + BodySize() + kShardFooterSize; }

  // Offset and length of block j inside the object. EINVAL if j >= block_count.
  struct Extent {
    uint64_t offset = 0;
    uint64_t length = 0;
  };
  Result<Extent> BlockExtent(uint64_t j) const;

  // Checks the fields against each other and the bounds above.
  Status Validate() const;
};

// Serializes index body + footer (the trailer; the shard root is SHA-256 of this). EINVAL if
// the index is inconsistent.
Result<std::string> SerializeShardTrailer(const ShardIndex& index);

// Parses the footer (the object's last kShardFooterSize bytes) and returns the index body
// length, after checking magic, version and that body + footer fit in `object_size`.
// EBADMSG on any inconsistency.
Result<uint64_t> ParseShardFooter(std::string_view footer, uint64_t object_size);

// Parses an index body (exactly the body, as located by ParseShardFooter) of an object of
// `object_size` bytes. EBADMSG unless every field is in bounds and the sizes add up exactly.
Result<ShardIndex> ParseShardIndexBody(std::string_view body, uint64_t object_size);

// Convenience: parses a whole trailer (body + footer) that ends an object of `object_size`.
Result<ShardIndex> ParseShardTrailer(std::string_view trailer, uint64_t object_size);

}  // namespace vaultfs
