// ObjectWriter: the write pipeline of DESIGN.md §3 for one file version.
//
//   plaintext -> segments -> AES-256-GCM (a SegmentSealer) -> pad to k -> RS(k, m) (Codec)
//             -> block i of every segment streamed to shard i, hashed on the way
//             -> each shard ends with its index trailer; its SHA-256 is the shard root
//
// All k+m uploads run at once over the ShardTransport, with bounded memory: one segment and
// its parity are in hand at a time, plus each upload stream's send window. A shard whose
// server is known down (ServerHealth), refuses, or fails mid-stream is recorded as missing;
// the write succeeds while at least `quorum` shards are durable and fails early with EIO as
// soon as that becomes impossible. Nothing here commits: the caller hands the result to the
// metadata service (commit_version), which queues missing shards for repair.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "src/cluster/segment_layout.h"
#include "src/cluster/server_health.h"
#include "src/cluster/shard_transport.h"
#include "src/common/status.h"
#include "src/crypto/segment_sealer.h"
#include "src/erasure/codec.h"

namespace vaultfs::cluster {

// Fills buf[0..n) with the next n plaintext bytes, or fails.
using PlaintextReader = std::function<Status(uint8_t* buf, size_t n)>;

struct ShardResult {
  int index = 0;
  bool ok = false;
  std::string root_hex;  // SHA-256 of the shard's trailer when ok
  Status error;          // why it is missing when !ok
};

struct WriteRequest {
  const SegmentLayout* layout = nullptr;
  std::vector<ShardPlacement> shards;  // k + m, shards[i].index == i
  std::string token;                   // data-server token with write rights
  int quorum = 0;                      // shards that must be durable
};

class ObjectWriter {
 public:
  // All three must outlive the writer.
  ObjectWriter(ShardTransport* transport, ServerHealth* health, const erasure::Codec* codec)
      : transport_(transport), health_(health), codec_(codec) {}

  // Streams layout->plain_size() bytes from `read`. `progress` (optional) gets the plaintext
  // bytes done so far after each segment.
  Result<std::vector<ShardResult>> Write(const WriteRequest& req, crypto::SegmentSealer& cipher,
                                         const PlaintextReader& read,
                                         const std::function<void(uint64_t)>& progress = {});

 private:
  ShardTransport* transport_;
  ServerHealth* health_;
  const erasure::Codec* codec_;
};

}  // namespace vaultfs::cluster
