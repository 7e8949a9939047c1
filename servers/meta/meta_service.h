// MetaService: the client protocol of DESIGN.md §4 on top of a Replicator and a MetaStore.
//
// A request is one JSON frame {"op", "id", ...}. The service validates the envelope, checks the
// session token (src/crypto/token.h, audience "meta"), and then:
//   - mutating ops (which must carry a client request id "rid") become a log command holding
//     the arguments plus every leader-chosen value (timestamps, new ids, placement, SHA-256 of
//     auth keys) and are proposed; the reply is the state machine's result. If the outcome is
//     unknown (leadership lost) the reply is EAGAIN and the client retries with the same rid,
//     which the store deduplicates;
//   - reads are served from the local database at once while this leader holds a read lease:
//     one of its own entries, proposed less than `read_lease` ago, has committed. A majority
//     heard from it after that proposal and (libraft has leader stickiness and pre-vote) none
//     of them votes for another leader until its election timer, at least one election
//     timeout, runs out; so with read_lease below the election timeout no other leader can
//     have committed anything since. Otherwise reads wait for a raft barrier proposed after
//     they arrived (batched), which also renews the lease;
//   - on a follower every op except node_info is answered with error code ENOTLEADER carrying
//     the leader's client address ("leader", null while unknown), which the client follows;
//   - without a session a peer learns only what a client needs before it logs in: node_info's
//     and cluster_map's leader and metadata nodes (k, m and the quorum are in cluster.json
//     anyway), get_salt's answer (a deterministic fake one for a name nobody registered), and
//     what register and login say; server state, the repair queue, digests and log indexes
//     need a session;
//   - a full disk: writes that add data are refused with ENOSPC below the free-space reserve,
//     every write while committed entries wait for space (Replicator::Stalled); reads go on.
// Secrets never enter the log: session tokens and auth keys are stripped from the command.
// Everything runs on the node's event-loop thread.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "servers/meta/meta_store.h"
#include "servers/meta/replicator.h"
#include "src/common/cluster_config.h"

namespace vaultfs::meta {

struct ServiceOptions {
  uint64_t node_id = 0;
  const ClusterConfig* config = nullptr;
  std::string secret;  // server-only secret: every token key is derived from it (token.h)
  int64_t session_ttl_s = 12 * 3600;
  // Data servers cannot learn that a password changed, so a data token outlives the session
  // that asked for it by up to this long: kept short (the mount reopens a version it reads
  // for longer, src/fuse/open_files.cc).
  int64_t data_token_ttl_s = 20 * 60;
  // Bytes of content each user may store (committed + pending versions) unless set_quota
  // gave them their own limit; 0: no limit.
  int64_t default_quota = 0;
  // New accounts (register) one client address, and the whole cluster, may create at once:
  // past that many within a quarter hour each further one waits a delay that doubles up to a
  // minute (EBUSY "retry in N s"). 0: no limit.
  int register_burst_per_address = 10;
  int register_burst = 100;
  // 0: every read waits for a barrier. Must stay below the raft election timeout.
  std::chrono::milliseconds read_lease{0};
  // Writes that add data are refused with ENOSPC while the filesystem of `data_dir` has fewer
  // than `reserve_bytes` available (statvfs); 0 disables the check. Deletes and the steps that
  // finish or clean up earlier work stay allowed, so space can be freed.
  std::string data_dir;
  uint64_t reserve_bytes = 0;
};

// The default metadata reserve for a filesystem of `total_bytes`: 1% of it, at least 64 MiB,
// at most 1 GiB (below the data server's default in each bound, see servers/data/README.md).
uint64_t DefaultMetaReserve(uint64_t total_bytes);

// Adapts the store to the replicator's StateMachine interface (JSON text in, JSON text out).
class StoreStateMachine : public StateMachine {
 public:
  explicit StoreStateMachine(MetaStore* store) : store_(store) {}
  Result<std::string> Apply(uint64_t index, std::string_view entry) override;
  Result<SnapshotImage> Snapshot() override { return store_->Serialize(); }
  Status Restore(std::string_view image) override { return store_->Restore(image); }

 private:
  MetaStore* store_;
};

// Who sent a request, as the transport knows it.
struct ClientPeer {
  std::string address;  // the client's IP (login throttling); "" when unknown
  bool node = true;     // may use a cluster session: it presented a cluster node certificate
                        // (or the listener runs without TLS)
};

class MetaService {
 public:
  using ReplyFn = std::function<void(std::string body)>;

  // `store` and `replicator` must outlive the service.
  MetaService(ServiceOptions opts, MetaStore* store, Replicator* replicator);

  // Handles one request frame body; `reply` is called exactly once, possibly synchronously.
  void Handle(std::string_view body, ReplyFn reply, const ClientPeer& peer = ClientPeer());

  // An error reply body, for the transport (e.g. oversized frames).
  static std::string ErrorBody(const Json& id, const std::string& code, const std::string& msg);

  // A maintenance session for repair/GC tools, signed with the cluster token key
  // (crypto::TokenKey(secret, "cluster"), the file cluster-secret).
  static Result<std::string> MintClusterToken(std::string_view cluster_key, int64_t ttl_s);

 private:
  struct Session {
    std::string user;  // user id, or kClusterUser
    std::string peer;  // the client's address
  };
  void HandleWrite(const std::string& op, Json id, Json req, const Session& s, ReplyFn reply);
  // register: refused with EBUSY while the caller's address or the whole cluster has made too
  // many accounts lately (ServiceOptions::register_burst*); else counted (replicated, like
  // login failures) and then handled.
  void HandleRegister(Json id, Json req, const Session& s, ReplyFn reply);
  // get_salt's answer for a user name nobody registered: a salt and KDF parameters shaped like
  // a real account's, derived from the name with unknown_user_key_, so every node answers the
  // same, every time, and the answer does not tell that the account is missing.
  Json UnknownUserSalt(const std::string& name) const;
  // node_info and cluster_map, the parts any peer may see: who leads the metadata group.
  Json PublicNodeInfo(const Json& id) const;
  void PublicClusterMap(Json* out) const;
  // ENOSPC if `op` must wait for disk space (see ServiceOptions::reserve_bytes, and
  // Replicator::Stalled).
  Status CheckSpace(const std::string& op) const;
  void HandleRead(const std::string& op, Json id, Json req, const Session& s, ReplyFn reply);
  void RunRead(const std::string& op, const Json& id, const Json& req, const Session& s,
               const ReplyFn& reply);
  Result<Session> CheckSession(const Json& req, bool cluster_ok, const ClientPeer& peer);
  Result<Json> LeaderValues(const std::string& op, const Json& req);
  void Finish(const std::string& op, const Json& id, Json result, const Session& s,
              const ReplyFn& reply);
  std::string Redirect(const Json& id) const;
  Result<std::string> SessionToken(const std::string& user_id, int64_t gen);
  // A data token; write rights need a non-empty chunk `scope` (crypto::ScopeCovers).
  Result<std::string> DataToken(const std::string& user_id, uint32_t rights,
                                const std::string& scope = "");
  // Rebuilds in progress write under scopes handed out with repair_list and recorded nowhere
  // else until repair_done: the leader remembers them (at most kMaxRebuildScopes, each for
  // twice the data-token lifetime) so chunk_refs counts their chunks as referenced. A new
  // leader starts with none; the sweeper's grace covers that gap.
  void RememberRebuildScope(const std::string& scope, const std::string& owner);
  void AddRebuildRefs(const Json& args, Json* result);
  static constexpr size_t kMaxRebuildScopes = 200000;
  std::unordered_map<std::string, std::string> rebuild_scopes_;  // scope -> owner
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> rebuild_order_;

  void WhenReadable(std::function<void(Status)> fn);
  void StartBarrier();

  // Failed-login throttles, keyed "u/<user name>" and "a/<address>": past a number of free
  // failures each checked attempt must wait an exponentially growing delay, capped at a
  // minute; forgotten after a quiet quarter hour. Kept in the replicated store (a fail-over
  // keeps them; the store keeps the newest 100,000); a record proposed but not yet applied is
  // in throttle_pending_ (with the sequence number of its proposal) so the next attempt sees
  // it at once.
  static void CountFailure(LoginFailures* r, int64_t now_ms, int free_failures);
  LoginFailures ThrottleOf(const std::string& key);
  void RecordThrottle(std::vector<std::pair<std::string, LoginFailures>> set,
                      std::vector<std::string> clear, std::function<void()> done);
  std::unordered_map<std::string, std::pair<LoginFailures, uint64_t>> throttle_pending_;
  uint64_t throttle_seq_ = 0;
  // Wrong old passwords given to passwd, per user id (the same rule; leader memory: a session
  // is needed to try at all), and the users with a passwd being applied (one at a time each).
  std::unordered_map<std::string, LoginFailures> passwd_throttle_;
  std::unordered_set<std::string> passwd_in_flight_;

  ServiceOptions opts_;
  // One token key per audience, derived from opts_.secret ("" if it could not be: then every
  // token is refused).
  std::string meta_key_, data_key_, cluster_key_;
  // HMAC key of UnknownUserSalt (labels::kUnknownUserSalt of the secret; no token key).
  std::string unknown_user_key_;
  MetaStore* store_;
  Replicator* repl_;
  // Reads waiting for the next barrier, and whether one is in flight.
  std::vector<std::function<void(Status)>> waiting_reads_;
  bool barrier_in_flight_ = false;
  // Proposal time of the newest own entry known committed (see read_lease).
  std::chrono::steady_clock::time_point lease_from_{};
  void RenewLease(std::chrono::steady_clock::time_point proposed_at);
};

}  // namespace vaultfs::meta
