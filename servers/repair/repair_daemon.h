// RepairDaemon: the cluster's self-healing worker (DESIGN.md §3 "Repair and scrub", §8). It
// holds no user key: it talks to the metadata service with a `_cluster` session it mints with
// the cluster token key (cluster-secret: cluster sessions only, which can call no user
// operation and no data server), and moves only ciphertext between data servers with the per-owner
// data tokens the service hands out. One pass, repeated every `interval`:
//
//   1. servers  probe every data server (health op); report up/down, capacity, free space and
//               the storage folder's identity. A new identity means the disk was wiped, so the
//               service marks every shard it held missing. A server down for `lost_after` is
//               declared lost, with the same effect. A server an operator drains (--drain)
//               keeps serving its shards while they are copied elsewhere; once none is left
//               the status says "drained" and it can be removed.
//   2. repair   versions in the repair queue: rebuild each missing or corrupt shard from k
//               verified blocks per segment onto a healthy server that holds no other shard of
//               that version (shard_rebuilder.h), then record the new placement (repair_done).
//               Rate-limited to `rate_bytes_per_s`.
//   3. gc       versions begun but never committed for `pending_grace` are expired; chunks of
//               replaced and deleted versions queued for `gc_grace` are deleted.
//   4. scrub    every `scrub_interval` (or on request), each server verifies every shard the
//               metadata places on it against the shard's own block hashes, and the trailer
//               against the recorded root; bad and missing shards go to the repair queue.
//   5. strays   every `stray_interval` (or on request: SIGUSR2, --sweep-now), every object on
//               every up server that no metadata row references (chunk_refs) and that is at
//               least `stray_grace` old is deleted (stray_sweeper.h); a server or metadata
//               error skips that server for the pass, deleting nothing there.
//
// Progress is written as JSON to `status_file` (tools/mkcluster status prints it) and reported
// to the metadata service (report_repair) for `vaultfs status`; `vaultfs scrub` leaves a
// request there (request_scrub) that the next pass picks up. The daemon
// is single-threaded apart from the DataClient's I/O thread; decoding runs on this thread,
// never on an event loop. Several daemons may run at once: every step is idempotent and the
// metadata service settles races (repair_done of a version repaired twice just replaces the
// placement, and the loser's chunks are collected as garbage).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "servers/repair/stray_sweeper.h"
#include "src/cluster/data_client.h"
#include "src/cluster/garbage_collector.h"
#include "src/cluster/meta_client.h"
#include "src/cluster/server_health.h"
#include "src/cluster/shard_transport.h"
#include "src/common/cluster_config.h"
#include "src/common/status.h"
#include "src/erasure/codec.h"

namespace vaultfs::repair {

struct RepairOptions {
  ClusterConfig config;
  std::string secret;  // the cluster token key (crypto/token.h TokenKey(.., "cluster"))
  std::chrono::seconds interval{10};
  std::chrono::seconds lost_after{600};
  std::chrono::seconds gc_grace = cluster::kDefaultGcGrace;
  std::chrono::seconds pending_grace{3600};
  std::chrono::seconds scrub_interval{86400};  // 0: only on request
  std::chrono::seconds stray_interval{86400};  // 0: only on request
  // Age below which an unreferenced object is left alone: longer than any upload or rebuild
  // still running (a rebuild's chunks are referenced only from its repair_done on).
  std::chrono::seconds stray_grace{86400};
  uint64_t rate_bytes_per_s = 64ull << 20;  // 0: unlimited
  std::string status_file;
  // TLS client context presenting the repairer's node certificate (tls::ClientContext); null
  // only for an "insecure" cluster.
  std::shared_ptr<tls::TlsContext> tls;
};

// Counters since start, and the state of the current pass (written to the status file).
struct RepairStats {
  uint64_t passes = 0;
  uint64_t versions_repaired = 0;
  uint64_t shards_rebuilt = 0;
  uint64_t bytes_rebuilt = 0;
  uint64_t repair_failures = 0;
  uint64_t queue = 0;        // versions waiting, as of the last look (first page)
  uint64_t queue_bytes = 0;  // estimated bytes to rebuild for them
  double rate_bytes_per_s = 0;
  uint64_t gc_chunks_removed = 0;
  uint64_t pending_expired = 0;
  uint64_t scrub_passes = 0;
  uint64_t scrub_checked = 0;
  uint64_t scrub_bad = 0;
  int64_t scrub_last_start = 0;  // unix s
  int64_t scrub_last_end = 0;    // unix s
  uint64_t stray_passes = 0;
  SweepCounts stray_total;                  // since start
  SweepCounts stray_last;                   // the last pass
  int64_t stray_last_start = 0;             // unix s
  int64_t stray_last_end = 0;               // unix s
  std::map<uint64_t, std::string> servers;  // id -> up/down/lost
  std::string last_error;
};

class RepairDaemon {
 public:
  explicit RepairDaemon(RepairOptions options);
  ~RepairDaemon();

  // Runs passes until Stop().
  void Run();
  // One full pass (servers, repair, gc, then scrub and the stray sweep if due or forced).
  Status RunPass(bool force_scrub, bool force_sweep = false);
  void Stop();
  void RequestScrub();
  void RequestSweep();

  // Operator actions (one-shot, tools/mkcluster drain/remove): mark a server draining, and
  // ask whether any committed version still has a shard there.
  Status Drain(uint64_t server);
  Result<bool> Drained(uint64_t server);

  RepairStats stats() const;

 private:
  Status Login();
  Status ProbeServers();
  Status RepairQueue();
  Status RepairVersion(const nlohmann::json& item);
  Status CollectGarbage();
  Status Scrub();
  Status ScrubServer(uint64_t server, const HostPort& address);
  Status SweepStrays();
  // Sleeps so that `bytes` more fit the rate limit; false if stopping.
  bool Throttle(uint64_t bytes);
  nlohmann::json StatusJson() const;
  void WriteStatus();
  bool stopping() const { return stop_.load(); }

  RepairOptions opt_;
  MetaClient meta_;
  cluster::DataClient data_;
  cluster::DataClientTransport transport_;
  cluster::ServerHealth health_;
  std::map<std::pair<int, int>, std::unique_ptr<erasure::Codec>> codecs_;

  struct ServerView {
    bool up = true;
    int failed_probes = 0;  // in a row
    bool reported_lost = false;
    bool draining = false;  // an operator asked to move its shards away
    std::string reported_state;
    std::chrono::steady_clock::time_point down_since{};
    uint64_t free = 0;
  };
  std::map<uint64_t, ServerView> servers_;
  std::map<uint64_t, std::string> recorded_;  // state per server in the metadata, this pass
  // Versions whose repair failed recently, and when to try again.
  std::map<std::string, std::chrono::steady_clock::time_point> retry_at_;
  std::chrono::steady_clock::time_point next_scrub_{};
  std::chrono::steady_clock::time_point next_sweep_{};
  int64_t scrub_request_seen_ = -1;  // -1: not looked yet
  std::chrono::steady_clock::time_point session_renew_{};
  std::chrono::steady_clock::time_point bucket_start_{};
  uint64_t bucket_bytes_ = 0;

  std::atomic<bool> stop_{false};
  std::atomic<bool> scrub_requested_{false};
  std::atomic<bool> sweep_requested_{false};
  mutable std::mutex mu_;  // guards stats_ and the wake-up below
  std::condition_variable cv_;
  RepairStats stats_;
};

}  // namespace vaultfs::repair
