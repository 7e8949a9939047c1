// ObjectReader: the read pipeline of DESIGN.md §3 for one committed file version.
//
// For each segment it fetches the k data blocks in parallel (the code is systematic, so the
// healthy path does no decoding), checks each against its shard's block hash, and when a block
// is missing, corrupt or slow, fetches parity blocks until it has k good ones, decodes, and
// opens the segment with AES-GCM. A shard's block hashes come from its trailer, which is
// itself checked against the shard root recorded by the metadata service, so a server can
// neither corrupt a block nor substitute a whole shard undetected.
//
// Sequential reads keep `readahead` segments in flight. Shards found missing or corrupt are
// remembered (problems()) so the caller can report them for repair; a shard that failed once
// is not asked again during this read. A segment fails with EIO only when fewer than k of its
// blocks are good.
//
// Without a cipher the reader is keyless: it can only hand out sealed segments (the k data
// blocks after decoding), which is all the repairer needs to re-encode lost shards.
//
// Not thread-safe: one reader per thread (it owns a SegmentCipher).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/cluster/segment_layout.h"
#include "src/cluster/server_health.h"
#include "src/cluster/shard_transport.h"
#include "src/common/shard_format.h"
#include "src/common/status.h"
#include "src/crypto/segment_cipher.h"
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
  int readahead = 16;  // segments in flight during sequential reads
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
               std::optional<crypto::SegmentCipher> cipher, SegmentLayout layout,
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
  struct Fetch {
    int shard = 0;
    std::future<Result<std::string>> block;
  };
  struct SegmentFetch {
    uint64_t seg = 0;
    std::vector<Fetch> pending;  // launched, not yet collected
    std::map<int, std::string> good;
    std::vector<bool> tried;  // per shard: launched for this segment
  };

  void StartIndexLoads();
  // Verified block hashes of shard i, loading its trailer on first use; nullptr if bad.
  const ShardIndex* IndexOf(int shard);
  // `report`: tell the health view (false when the server was skipped, not tried).
  void MarkBad(int shard, const std::string& state, const Status& why, bool report = true);
  // Launches untried usable shards (data first) until `total` are good or pending.
  void Launch(SegmentFetch& f, size_t total);
  SegmentFetch Begin(uint64_t seg);
  // The segment's k data blocks, decoded where needed.
  Result<std::string> CompleteSealed(SegmentFetch& f);
  // Authenticates and decrypts one sealed segment in place (needs the cipher: callers check);
  // returns its plaintext.
  Result<std::string> Open(uint64_t seg, std::string sealed);

  ShardTransport* transport_;
  ServerHealth* health_;
  const erasure::Codec* codec_;
  std::optional<crypto::SegmentCipher> cipher_;
  SegmentLayout layout_;
  std::vector<ShardSource> shards_;
  std::string token_;
  ReaderOptions options_;
  uint64_t object_size_ = 0;

  std::vector<std::optional<std::future<Result<std::string>>>> trailer_fetch_;
  std::vector<std::optional<ShardIndex>> index_;
  std::vector<bool> bad_;
  std::vector<bool> slow_;  // missed a hedge deadline: asked only when nothing else is left
  std::vector<ShardProblem> problems_;
};

}  // namespace vaultfs::cluster
