// The largest file a cluster can store. Every shard of a version is one object on a data
// server, which accepts objects of at most kDataDefaultMaxObject bytes (4 GiB, its
// `--max-object-size`). A version of n segments puts into each shard object n blocks of
// ceil((segment_size + 16-byte tag) / k) bytes, a 32-byte hash per block and a fixed index and
// footer (shard_format.h). The mount, the CLI and the metadata service all refuse sizes above
// this with EFBIG, instead of failing later at upload.
#pragma once

#include <algorithm>
#include <cstdint>

#include "src/common/data_protocol.h"
#include "src/common/shard_format.h"

namespace vaultfs {

inline constexpr uint64_t MaxFileSize(uint64_t segment_size, uint64_t k,
                                      uint64_t max_object = kDataDefaultMaxObject) {
  if (segment_size == 0 || k == 0) return 0;
  const uint64_t block = (segment_size + 16 + k - 1) / k;
  const uint64_t fixed = kShardIndexFixedSize + kShardFooterSize;
  if (max_object <= fixed) return 0;
  const uint64_t segments =
      std::min<uint64_t>(kShardMaxBlockCount, (max_object - fixed) / (block + kShardHashSize));
  return segments * segment_size;
}

// With the default layout (RS(10,4), 1 MiB segments): 40946 MiB, just under 40 GiB.
static_assert(MaxFileSize(1u << 20, 10) == 40946ull << 20);

}  // namespace vaultfs
