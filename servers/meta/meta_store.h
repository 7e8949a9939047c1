// MetaStore: the metadata state machine — one SQLite database holding users, inodes, directory
// entries, file versions with shard placement, data-server state and the repair/GC queues
// (DESIGN.md §3, §4).
//
// Writes arrive only as committed log entries through Apply(index, command): each entry runs in
// one SQLite transaction that also records the entry's index (`last_applied`) and the request's
// result under (user, rid), so replaying an entry after a restart is skipped and a client retry
// of the same request id returns the original result without re-executing. Apply is
// deterministic: everything random or time-dependent (ids, timestamps, placement, key hashes)
// was chosen by the leader and travels inside the command. Request errors (ENOENT, EEXIST, ...)
// become error results and leave no partial change; an SQLite failure is fatal (the node stops
// rather than diverge from its peers), except a full disk: then the entry is rolled back whole
// and TryApply answers ENOSPC, so the caller can apply the same entry again later.
//
// Reads run on the same thread as Apply (the node's event loop); no locking.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "servers/meta/replicator.h"
#include "servers/meta/sqlite_db.h"
#include "src/common/cluster_config.h"
#include "src/common/status.h"

namespace vaultfs::meta {

using Json = nlohmann::json;

// The user name of cluster-maintenance sessions (repairer, GC, data-server health reports).
// Such tokens are minted with the server-only secret; no user can obtain one.
inline constexpr const char* kClusterUser = "_cluster";

// Failed logins under one throttle key ("u/<user name>", "a/<address>"): replicated through the
// log, so a fail-over keeps them (MetaService::ThrottleOf).
struct LoginFailures {
  int64_t failures = 0;
  int64_t last_ms = 0;  // unix ms of the last counted failure
  int64_t blocked_until_ms = 0;
};

struct UserRecord {
  std::string id;
  std::string name;
  std::string salt;
  std::string kdf;  // JSON text
  std::string auth_hash;
  std::string wrapped_master_key;
  int64_t root = 0;
  int64_t session_gen = 0;
};

class MetaStore {
 public:
  // `config` must outlive the store (data-server addresses, k, m, quorum).
  explicit MetaStore(const ClusterConfig* config) : config_(config) {}

  Status Open(const std::string& path);
  uint64_t last_applied() const { return last_applied_; }

  // Applies the committed command at log `index` (see file comment). Returns the result object:
  // {"ok":true,...} or {"ok":false,"error":{"code","message"}}. Entries at or below
  // last_applied() are skipped and return a null Json.
  Json Apply(uint64_t index, const Json& command);
  // Apply, except that an entry that cannot be applied for lack of disk space leaves no trace
  // and returns ENOSPC (last_applied() unchanged) instead of stopping the process.
  Result<Json> TryApply(uint64_t index, const Json& command);

  // Linearizable reads (the caller has passed a barrier). `user` is the session's user id.
  Json Read(const std::string& op, const std::string& user, const Json& args);

  std::optional<UserRecord> UserByName(const std::string& name);
  std::optional<LoginFailures> LoginFailuresOf(const std::string& key);
  std::optional<UserRecord> UserById(const std::string& id);

  // Leader-side placement: `count` distinct data servers that are up, most free space first;
  // ties broken by `seed` so load spreads. ENOSPC when fewer than `count` are up.
  Result<std::vector<uint64_t>> PlaceShards(int count, const std::string& seed);

  // Snapshot = the whole database image; Restore replaces the state with an image unless the
  // local database has already applied past it.
  Result<SnapshotImage> Serialize();
  Status Restore(std::string_view image);

  // SHA-256 (hex) over a canonical dump of every state table, for cross-node comparison.
  std::string Digest();

  const ClusterConfig& config() const { return *config_; }

 private:
  friend class StoreOps;
  void CreateSchema();
  void LoadMeta();

  const ClusterConfig* config_;
  SqliteDb db_;
  std::string path_;
  uint64_t last_applied_ = 0;
};

}  // namespace vaultfs::meta
