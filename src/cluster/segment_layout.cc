// Segment geometry: see segment_layout.h.
#include "src/cluster/segment_layout.h"

#include <string>

namespace vaultfs::cluster {

Result<SegmentLayout> SegmentLayout::Make(uint64_t plain_size, uint32_t segment_size, int k,
                                          int m) {
  if (k < 1 || m < 0 || k + m > 255) return InvalidArgument("bad erasure shape k/m");
  if (segment_size < 1) return InvalidArgument("segment size must be positive");
  SegmentLayout l;
  l.plain_size_ = plain_size;
  l.segment_size_ = segment_size;
  l.k_ = k;
  l.m_ = m;
  l.segment_count_ = plain_size == 0 ? 1 : (plain_size + segment_size - 1) / segment_size;
  return l;
}

uint64_t SegmentLayout::segment_plain_size(uint64_t seg) const {
  if (seg + 1 < segment_count_) return segment_size_;
  return plain_size_ - seg * static_cast<uint64_t>(segment_size_);
}

uint64_t SegmentLayout::block_size(uint64_t seg) const {
  uint64_t sealed = segment_sealed_size(seg);
  return (sealed + static_cast<uint64_t>(k_) - 1) / static_cast<uint64_t>(k_);
}

uint64_t SegmentLayout::shard_data_size() const {
  uint64_t last = segment_count_ - 1;
  return block_offset(last) + block_size(last);
}

Status SegmentLayout::SegmentsFor(uint64_t offset, uint64_t length, uint64_t* first,
                                  uint64_t* last) const {
  if (length == 0 || offset > plain_size_ || length > plain_size_ - offset) {
    return InvalidArgument("range " + std::to_string(offset) + "+" + std::to_string(length) +
                           " is outside a file of " + std::to_string(plain_size_) + " bytes");
  }
  *first = offset / segment_size_;
  *last = (offset + length - 1) / segment_size_;
  return Status::Ok();
}

}  // namespace vaultfs::cluster
