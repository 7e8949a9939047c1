// ObjectReader: the read pipeline of DESIGN.md §3 for one committed file version.
//
// For each segment it fetches the k data blocks in parallel (the code is systematic, so the
// healthy path does no decoding) and opens the segment with AES-GCM. When a block is missing,
// corrupt or slow, it fetches parity blocks until it has k good ones and decodes; every block
// that goes into a decode is first checked against its shard's block hash. A shard's block
// hashes come from its trailer, which is itself checked against the shard root recorded by the
// metadata service, so a server can neither corrupt a block nor substitute a whole shard
// undetected.
//
// With the key, the k data blocks of a healthy segment are not hashed: GCM authenticates the
// whole segment under a per-version key (DESIGN.md §3), so a corrupt block cannot pass it.
// Only when a segment fails authentication is it fetched again with every block checked,
// which names the corrupt shard and replaces it with parity. Keyless reads always check.
//
// Sequential reads keep `readahead` segments in flight, and ask each shard for the blocks of
// several consecutive segments in one request: per-request work (a request, a file open, two
// thread-pool hops on the server) costs as much as the bytes on a small machine. Shards found
// missing or corrupt are remembered (problems()) so the caller can report them for repair; a shard
// that failed once is not asked again during this read. A segment fails with EIO only when fewer
// than k of its blocks are good.
//
// Without a cipher the reader is keyless: it can only hand out sealed segments (the k data
// blocks after decoding), which is all the repairer needs to re-encode lost shards.
//
// Not thread-safe: one reader per thread (it owns its SegmentSealer).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/cluster/segment_layout.h"
#include "src/cluster/server_health.h"
#include "src/cluster/shard_transport.h"
#include "src/common/shard_format.h"
#include "src/common/status.h"
#include "src/crypto/segment_sealer.h"
#include "src/erasure/codec.h"

namespace vaultfs::cluster {

struct ShardSource {
  ShardPlacement where;
  std::string root_hex;  // empty: the shard is known missing
};

struct ShardProblem {
  int index = 0;
  uint64_t server = 0;
  // "corrupt" (fails its hash or root, or is truncated), "missing" (the server says it has
  // no such object) or "unreachable" (the server did not answer: not the shard's fault).
  std::string state;
  std::string detail;
};

struct ReaderOptions {
  int readahead = 16;          // segments in flight during sequential reads
  int blocks_per_request = 8;  // consecutive segments' blocks fetched from a shard at once
                               // (fewer where that would pass ~1 MiB)
  // A block not answered within this time is treated as slow: parity is fetched instead.
  std::chrono::milliseconds hedge_after{1500};
};

using PlaintextSink = std::function<Status(std::string_view)>;
// Takes one whole segment's plaintext (segment `seg`), ownership included.
using SegmentSink = std::function<Status(uint64_t seg, std::string plain)>;

class ObjectReader {
 public:
  // `shards` holds k + m entries in index order. Everything passed by pointer must outlive
  // the reader. Without `cipher`, only the sealed reads below work.
  ObjectReader(ShardTransport* transport, ServerHealth* health, const erasure::Codec* codec,
               std::unique_ptr<crypto::SegmentSealer> cipher, SegmentLayout layout,
               std::vector<ShardSource> shards, std::string token, ReaderOptions options = {});

  // Hands plaintext bytes [offset, offset+length) to `sink` in order, in pieces.
  Status Read(uint64_t offset, uint64_t length, const PlaintextSink& sink);
  // Hands the plaintext of segments [first, last] to `sink` in order, with read-ahead. Each
  // segment is decrypted in the buffer its blocks arrived in and handed over without a copy.
  Status ReadSegments(uint64_t first, uint64_t last, const SegmentSink& sink);
  // Keyless: hands segments [first, last] to `sink` as their k data blocks laid end to end
  // (layout().segment_padded_size(seg) bytes: ciphertext, tag, padding), with read-ahead. The
  // sink may take the buffer.
  Status ReadSealed(uint64_t first, uint64_t last,
                    const std::function<Status(uint64_t seg, std::string& sealed)>& sink);

  const SegmentLayout& layout() const { return layout_; }
  const std::vector<ShardProblem>& problems() const { return problems_; }

 private:
  using Blocks = std::shared_future<Result<std::string>>;
  // One request for the blocks of segments [first, last] of a shard.
  struct Run {
    uint64_t first = 0, last = 0;
    Blocks blocks;
  };
  struct Fetch {
    int shard = 0;
    Blocks run;
    size_t offset = 0;  // of this segment's block in the run
  };
  struct SegmentFetch {
    uint64_t seg = 0;
    bool check_all = true;       // false: data blocks are left to GCM unless a decode needs them
    std::vector<Fetch> pending;  // launched, not yet collected
    std::map<int, std::string_view> good;  // into runs kept alive by `held`
    std::vector<Blocks> held;
    std::vector<int> unchecked;  // shards in `good` whose block hash was not checked
    std::vector<bool> tried;     // per shard: launched for this segment
  };

  void StartIndexLoads();
  // Verified block hashes of shard i, loading its trailer on first use; nullptr if bad.
  const ShardIndex* IndexOf(int shard);
  // `report`: tell the health view (false when the server was skipped, not tried).
  void MarkBad(int shard, const std::string& state, const Status& why, bool report = true);
  // False (and the shard marked bad) when the health view says its server is down.
  bool Usable(size_t shard);
  // Whether `block` is block `seg` of `shard` by the shard's verified hashes; marks it bad if not.
  bool CheckBlock(int shard, uint64_t seg, std::string_view block);
  // The request holding segment `seg`'s block of `shard`, started if none in flight has it.
  Fetch BlockOf(size_t shard, uint64_t seg);
  // Launches untried usable shards (data first) until `total` are good or pending.
  void Launch(SegmentFetch& f, size_t total);
  SegmentFetch Begin(uint64_t seg, bool check_all);
  // Whether some data block of the segment is not among its good blocks.
  bool NeedsDecode(const SegmentFetch& f) const;
  // The segment's k data blocks, decoded where needed.
  Result<std::string> CompleteSealed(SegmentFetch& f);
  Status ReadWindow(uint64_t first, uint64_t last, bool check_all,
                    const std::function<Status(uint64_t seg, std::string& sealed)>& sink);
  // Authenticates and decrypts one sealed segment in place (needs the cipher: callers check);
  // returns its plaintext.
  Result<std::string> Open(uint64_t seg, std::string sealed);

  ShardTransport* transport_;
  ServerHealth* health_;
  const erasure::Codec* codec_;
  std::unique_ptr<crypto::SegmentSealer> cipher_;
  SegmentLayout layout_;
  std::vector<ShardSource> shards_;
  std::string token_;
  ReaderOptions options_;
  uint64_t object_size_ = 0;

  std::vector<std::optional<std::future<Result<std::string>>>> trailer_fetch_;
  std::vector<std::optional<ShardIndex>> index_;
  std::vector<bool> bad_;
  std::vector<bool> slow_;     // missed a hedge deadline: asked only when nothing else is left
  std::vector<bool> cleared_;  // the health view let this reader try the shard's server
  std::vector<std::optional<Run>> runs_;  // per shard: its latest multi-segment request
  uint64_t window_last_ = 0;              // runs do not reach past the segment asked for last
  std::vector<ShardProblem> problems_;
};

}  // namespace vaultfs::cluster
