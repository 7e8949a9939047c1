// Replicator on Canonical's libraft (0.15, libuv I/O), sharing the node's event loop. Peers talk
// over mutual TLS (raft_tls_transport.h) when the options carry TLS contexts, over libraft's
// plain TCP transport only when they carry none (--insecure). The rules below were each learned as
// a data-loss or stall trap and are enforced here, in one place:
//   - every log entry is padded to a multiple of 8 bytes and carries its real length in an
//     8-byte-aligned header (libraft's on-disk batches assume 8-byte alignment);
//   - auto-recovery is off, so a damaged log fails the start loudly instead of being moved aside;
//   - fsm.apply always returns 0 (libraft would retry a failing entry forever); request errors
//     travel in the state machine's result;
//   - a proposal that fails after entering the log (RAFT_LEADERSHIPLOST, shutdown) is reported
//     as an unknown outcome: it may still commit, so clients retry with the same request id;
//   - pre-vote on, install-snapshot timeout of a few seconds, election/heartbeat configurable;
//   - the entry's log index (needed by the state machine to skip replays) is
//     raft_last_applied() + 1 during apply: libraft applies strictly in order and advances
//     last_applied right after fsm.apply returns;
//   - an entry the state machine cannot apply for lack of disk space (ENOSPC) is not lost and
//     does not stop the node: it and every entry after it wait, in order, in an in-memory
//     backlog (they stay in libraft's log too) and are applied again every kRetryMs until
//     space is back. Meanwhile the node is Stalled() (the service refuses writes) and takes
//     no snapshot (RAFT_BUSY), so the log keeps the waiting entries for a restart to replay.
//     Their proposals report an unknown outcome, never an error: they will still apply.
// The headers are C without extern "C" guards.
#pragma once

extern "C" {
#include <raft.h>
#include <raft/uv.h>
}
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "servers/meta/replicator.h"
#include "src/common/tls.h"

namespace vaultfs::meta {

struct RaftPeer {
  uint64_t id = 0;
  std::string raft_address;  // "host:port", IPv4
};

struct RaftOptions {
  uint64_t id = 0;
  std::string raft_address;
  std::string dir;              // libraft's log and snapshots (created if missing)
  std::vector<RaftPeer> peers;  // every voter, this node included
  unsigned election_timeout_ms = 1000;
  unsigned heartbeat_timeout_ms = 100;
  unsigned install_snapshot_timeout_ms = 5000;
  unsigned snapshot_threshold = 2048;  // entries between snapshots
  unsigned snapshot_trailing = 1024;   // entries kept after a snapshot for lagging followers
  // Both set: peer links are mutual TLS (server: ClientCerts::kRequired; client: presents this
  // node's certificate). Both null: plain TCP. One without the other is refused.
  std::shared_ptr<tls::TlsContext> tls_server, tls_client;
  // Bounds of the TLS links (raft_tls_transport.h; issue 20). libraft's plain TCP transport
  // has none of them.
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  size_t max_connections = 64;  // incoming, in all
  size_t max_per_address = 16;  // ...and from one IP address
};

// Entries between two snapshots after one of `image_bytes`: one per 16 KiB of image, within
// [configured, kMaxSnapshotInterval] (or just `configured` if that is larger).
inline constexpr unsigned kMaxSnapshotInterval = 8192;
unsigned SnapshotInterval(unsigned configured, uint64_t image_bytes);

class RaftReplicator : public Replicator {
 public:
  // Initializes, bootstraps (first start only) and starts the engine on `loop`. `sm` must
  // outlive the replicator. Fails with a clear message if the raft port is taken.
  static Result<std::unique_ptr<RaftReplicator>> Start(uv_loop_t* loop, const RaftOptions& opts,
                                                       StateMachine* sm);
  ~RaftReplicator() override;

  void Propose(std::string_view entry, ProposeCallback done) override;
  void Barrier(BarrierCallback done) override;
  bool IsLeader() const override;
  uint64_t LeaderId() const override;
  bool Stalled() const override { return !backlog_.empty(); }
  bool StaleForReads() const override;
  void Close(std::function<void()> done) override;

  // Entry framing, exposed for tests: header (magic, length, proposal tag) + body + padding.
  static std::string EncodeEntry(uint64_t tag, std::string_view body);
  static bool DecodeEntry(std::string_view raw, uint64_t* tag, std::string_view* body);

 private:
  struct Proposal;
  struct BarrierReq;

  RaftReplicator(StateMachine* sm) : sm_(sm) {}
  Status Init(uv_loop_t* loop, const RaftOptions& opts);

  static int FsmApply(struct raft_fsm* fsm, const struct raft_buffer* buf, void** result);
  static int FsmSnapshot(struct raft_fsm* fsm, struct raft_buffer* bufs[], unsigned* n_bufs);
  static int FsmRestore(struct raft_fsm* fsm, struct raft_buffer* buf);
  static void ApplyCb(struct raft_apply* req, int status, void* result);
  static void BarrierCb(struct raft_barrier* req, int status);
  static void CloseCb(struct raft* r);
  static void RetryCb(uv_timer_t* t);
  // Applies what waits in backlog_, in order, until it is empty or the disk is still full.
  void DrainBacklog();

  // A committed entry waiting for disk space (see the file comment).
  struct Waiting {
    uint64_t index = 0;
    std::string body;
    // Proposed by this node as leader in `term` (its proposal was still pending when the entry
    // committed), so no other node can have answered for it while the term lasts.
    bool own = false;
    uint64_t term = 0;
  };
  std::deque<Waiting> backlog_;
  uint64_t backlog_bytes_ = 0;
  uv_timer_t retry_timer_{};
  bool retry_timer_init_ = false;

  StateMachine* sm_;
  struct raft_uv_transport transport_ {};
  struct raft_io io_ {};
  struct raft_fsm fsm_ {};
  struct raft raft_ {};
  bool transport_init_ = false, io_init_ = false, raft_init_ = false, closing_ = false;
  bool tls_transport_ = false;
  std::function<void()> close_done_;
  unsigned snapshot_threshold_ = 0;  // the configured (smallest) snapshot interval
  uint64_t tag_base_ = 0;
  uint64_t next_tag_ = 0;
  std::unordered_map<uint64_t, Proposal*> proposals_;  // by tag; owned by libraft requests
};

}  // namespace vaultfs::meta
