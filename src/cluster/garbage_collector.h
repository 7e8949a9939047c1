// Garbage collection of shards (DESIGN.md §3, §4): the metadata service queues the chunks of
// replaced and deleted versions; whoever collects pages through that queue (gc_list), deletes
// each chunk on its data server with the delete-only token the item carries, and reports the
// chunks that are gone (gc_done). The vault (a user's own chunks) and the repairer (everyone's)
// share this loop.
//
// Items whose server the caller does not want to try (known down) stay queued; the listing
// pages on past them with a cursor, so a down server's backlog never stalls the rest.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "src/cluster/meta_client.h"
#include "src/cluster/shard_transport.h"
#include "src/common/status.h"

namespace vaultfs::cluster {

// How long a replaced or deleted version stays readable before its shards go: a reader that
// opened it elsewhere (another mount, a download) keeps working meanwhile. Clients and the
// repairer collect with the same default.
inline constexpr std::chrono::seconds kDefaultGcGrace{300};

struct GcOptions {
  std::chrono::seconds grace = kDefaultGcGrace;  // only items queued at least this long ago
  int page = 1000;                               // items per gc_list
  int max_pages = 100;                           // a bound on one pass (0: none)
  std::function<bool(uint64_t server)> may_try;  // false: leave it queued (default: try all)
  std::function<bool()> stopping;                // true: end the pass early
};

struct GcOutcome {
  size_t removed = 0;    // chunks deleted (or found already gone) and reported
  Status first_failure;  // the first delete that failed (its item stays queued)
};

// One pass over the queue. Fails only when the metadata service does (or answers malformed);
// failed deletes are retried by a later pass and reported in the outcome.
Result<GcOutcome> CollectGarbage(MetaClient& meta, ShardTransport& transport,
                                 const GcOptions& options);

}  // namespace vaultfs::cluster
