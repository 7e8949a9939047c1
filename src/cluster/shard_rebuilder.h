// ShardRebuilder: keyless repair of one file version (DESIGN.md §3, "Repair and scrub").
//
// Reads k verified blocks per segment through a keyless ObjectReader (so a corrupt or missing
// source shard is detected by its hashes and replaced by parity, as on any read), re-encodes
// the parity, and streams the lost shards' blocks to their new servers, each followed by its
// index trailer. It never sees plaintext: the blocks it moves are ciphertext, and the shard
// roots it returns are SHA-256 over the new trailers, exactly as the writer computes them.
//
// Memory is bounded by the reader's read-ahead window plus one segment's parity.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "src/cluster/object_reader.h"
#include "src/cluster/segment_layout.h"
#include "src/cluster/server_health.h"
#include "src/cluster/shard_transport.h"
#include "src/common/status.h"
#include "src/erasure/codec.h"

namespace vaultfs::cluster {

struct RebuiltShard {
  int index = 0;
  ShardPlacement where;  // the new home
  bool ok = false;
  std::string root_hex;  // of the new trailer, when ok
  Status error;          // why this one could not be stored
};

struct RebuildRequest {
  const SegmentLayout* layout = nullptr;
  std::vector<ShardSource> sources;     // k + m in index order; empty root = known bad
  std::vector<ShardPlacement> targets;  // shards to rebuild, at their new homes
  std::string token;                    // data token of the owner: reads the sources
  std::string write_token;              // writes the targets: scoped to their chunk ids
  ReaderOptions reader;
  // Called with the bytes moved after each segment; returning an error stops the rebuild
  // (e.g. the repair daemon shutting down). Used for rate limiting and progress.
  std::function<Status(uint64_t bytes)> on_segment;
};

struct RebuildOutcome {
  std::vector<RebuiltShard> shards;    // one per target
  std::vector<ShardProblem> problems;  // source shards found bad on the way
};

// Fails (with nothing stored) when fewer than k source blocks of some segment are good, or
// when no target could be written; individual target failures are reported per shard.
Result<RebuildOutcome> RebuildShards(ShardTransport* transport, ServerHealth* health,
                                     const erasure::Codec* codec, const RebuildRequest& req);

}  // namespace vaultfs::cluster
