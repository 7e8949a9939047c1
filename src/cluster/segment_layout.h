// Geometry of a file version on the data servers (DESIGN.md §3): plaintext is cut into
// segments of `segment_size` bytes (the last one short); each segment is sealed (ciphertext +
// 16-byte GCM tag), padded to a multiple of k and cut into k data blocks, and RS adds m parity
// blocks. Block i of every segment is appended to shard i, so every shard holds one block per
// segment and all blocks but the last segment's have the same size.
//
// Pure arithmetic, no I/O: both the writer and the reader (and the repairer, which has no
// keys) derive offsets from the same four numbers stored in the version record.
#pragma once

#include <cstdint>

#include "src/common/status.h"

namespace vaultfs::cluster {

inline constexpr uint32_t kSealTagSize = 16;  // AES-GCM tag appended to each segment

class SegmentLayout {
 public:
  // EINVAL for k < 1, m < 0, segment_size < 1.
  static Result<SegmentLayout> Make(uint64_t plain_size, uint32_t segment_size, int k, int m);

  uint64_t plain_size() const { return plain_size_; }
  uint32_t segment_size() const { return segment_size_; }
  int k() const { return k_; }
  int m() const { return m_; }

  // An empty file still has one (empty) segment, so its tag proves it is empty, not truncated.
  uint64_t segment_count() const { return segment_count_; }
  uint64_t segment_plain_offset(uint64_t seg) const { return seg * segment_size_; }
  uint64_t segment_plain_size(uint64_t seg) const;
  uint64_t segment_sealed_size(uint64_t seg) const {
    return segment_plain_size(seg) + kSealTagSize;
  }
  // Sealed size rounded up to a multiple of k: the bytes RS codes for this segment.
  uint64_t segment_padded_size(uint64_t seg) const { return block_size(seg) * k_; }
  uint64_t block_size(uint64_t seg) const;
  // Where segment seg's block starts inside every shard object.
  uint64_t block_offset(uint64_t seg) const { return seg * block_size(0); }
  // Bytes of blocks in one shard (the shard index trailer comes on top).
  uint64_t shard_data_size() const;
  bool is_last(uint64_t seg) const { return seg + 1 == segment_count_; }

  // Segments [first, last] that hold plaintext bytes [offset, offset+length); length > 0 and
  // offset + length <= plain_size, else EINVAL.
  Status SegmentsFor(uint64_t offset, uint64_t length, uint64_t* first, uint64_t* last) const;

 private:
  SegmentLayout() = default;
  uint64_t plain_size_ = 0;
  uint32_t segment_size_ = 0;
  int k_ = 0;
  int m_ = 0;
  uint64_t segment_count_ = 0;
};

}  // namespace vaultfs::cluster
