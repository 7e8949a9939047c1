// Internal to MetaStore: the operations themselves, one method per protocol op, split by
// concern over store_users.cc (accounts and sessions), store_tree.cc (inodes and directory
// entries), store_data.cc (versions, placement, data servers, repair and GC queues),
// store_xattrs.cc (extended attributes).
//
// Each op reads its arguments through Args, which throws OpError(EINVAL) naming the field for
// a missing or mistyped one; semantic failures throw OpError with their errno. MetaStore turns
// OpError into an error result and rolls the op's savepoint back. Every inode an op touches is
// checked against the session's user (another user's inode or version answers as a missing one).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "servers/meta/meta_store.h"

namespace vaultfs::meta {

struct OpError {
  int code;
  std::string message;
};

// Typed, validating access to a request's JSON arguments.
class Args {
 public:
  explicit Args(const Json& j) : j_(j) {}
  const Json& json() const { return j_; }
  bool Has(const char* key) const {
    return j_.is_object() && j_.contains(key) && !j_[key].is_null();
  }
  std::string Str(const char* key, size_t max_len = 4096, bool allow_empty = false) const;
  std::optional<std::string> OptStr(const char* key, size_t max_len = 4096) const;
  int64_t Int(const char* key, int64_t min, int64_t max) const;
  std::optional<int64_t> OptInt(const char* key, int64_t min, int64_t max) const;
  bool Bool(const char* key, bool dflt) const;
  int64_t Ino(const char* key) const { return Int(key, 1, INT64_MAX); }
  // A name lookup key: lowercase hex, 2..128 chars (HMAC of the name, opaque to us).
  std::string Key(const char* key) const;
  const Json& Array(const char* key, size_t max_items) const;
  const Json& Object(const char* key) const;

 private:
  const Json& Field(const char* key) const;
  const Json& j_;
};

// Op context: the database, the session's user and the leader-chosen clock.
class StoreOps {
 public:
  StoreOps(MetaStore* store, std::string user, int64_t now_ns)
      : store_(store), db_(store->db_), user_(std::move(user)), now_(now_ns) {}

  // Accounts (store_users.cc).
  Json Register(const Args& a, const Args& gen);
  Json Passwd(const Args& a, const Args& gen);
  // The leader's new login-throttle records ("set") and cleared keys ("clear"); keeps at most
  // kMaxLoginThrottles records, dropping the oldest.
  Json LoginThrottle(const Args& gen);
  Json GetSalt(const Args& a);

  // Tree (store_tree.cc).
  Json Lookup(const Args& a);
  Json GetAttr(const Args& a);
  Json SetAttr(const Args& a);
  Json Mkdir(const Args& a);
  Json Create(const Args& a);
  Json ReserveInodes(const Args& a);
  Json Symlink(const Args& a);
  Json Readlink(const Args& a);
  Json Link(const Args& a);
  Json Unlink(const Args& a);
  Json Rmdir(const Args& a);
  Json Rename(const Args& a);
  Json Readdir(const Args& a);

  // Extended attributes (store_xattrs.cc).
  Json SetXattr(const Args& a);
  Json GetXattr(const Args& a);
  Json ListXattr(const Args& a);
  Json RemoveXattr(const Args& a);

  // Data (store_data.cc).
  Json BeginVersion(const Args& a, const Args& gen);
  Json CommitVersion(const Args& a, const Args& gen);
  Json RenewPending(const Args& a);
  Json WriteInline(const Args& a, const Args& gen);
  Json SetQuota(const Args& a);
  Json GetVersion(const Args& a);
  Json ReportShard(const Args& a);
  Json ReportServer(const Args& a);
  Json Statfs(const Args& a);
  Json ServerList();
  Json ClusterMap();  // ServerList + the repair backlog
  Json GcList(const Args& a);
  Json GcDone(const Args& a);
  Json RepairList(const Args& a);
  Json RepairDone(const Args& a);
  Json ExpirePending(const Args& a);
  Json ServerShards(const Args& a);
  Json ChunkRefs(const Args& a);
  Json SweepOwners(const Args& a);
  Json ReportRepair(const Args& a);
  Json RequestScrub(const Args& a);

  // Shared helpers.
  // The optional attribute fields of setattr that a content commit (commit_version,
  // write_inline) may also carry, so that closing a file is one log entry. One parser, so
  // every op validates them alike: mode 0..07777 (permission bits only; the type is separate),
  // uid/gid uint32, times in ns.
  struct AttrChanges {
    std::optional<int64_t> mode, uid, gid, atime, mtime;
  };
  static AttrChanges ParseAttrChanges(const Args& a);

  struct Inode {
    int64_t id = 0;
    std::string owner;
    std::string type;
    int64_t mode = 0, uid = 0, gid = 0, rdev = 0, nlink = 0, size = 0;
    int64_t atime = 0, mtime = 0, ctime = 0;
    std::optional<std::string> version;
    std::optional<std::string> target;
  };
  // Loads an inode of the session's user: ENOENT if absent or another user's (alike).
  Inode LoadInode(int64_t id);
  Inode LoadDir(int64_t id);  // + ENOTDIR
  static Json InodeJson(const Inode& n);
  // `id`: a number the client reserved (reserve_inodes); otherwise the next free one.
  int64_t NewInode(const std::string& type, int64_t mode, int64_t uid, int64_t gid, int64_t rdev,
                   const std::optional<std::string>& target, std::optional<int64_t> id = {});
  // The file a content write (write_inline, begin_version) goes to: inode `ino`, created
  // first from the write's "new_entry" (create's fields) when the client named a file it
  // has not created yet with a reserved number (the FUSE daemon folds create into the
  // first commit of a new file).
  Inode FileForWrite(const Args& a);
  // Drops one link to `ino`; at zero links deletes it and queues its chunks for GC.
  void DropLink(int64_t ino);
  // Deletes every extended attribute of `ino` (the inode is going away).
  void DeleteXattrs(int64_t ino);
  // Queues every chunk of every version of `ino` (or just `version`) for GC and deletes them.
  void DeleteVersions(int64_t ino, const std::optional<std::string>& only_version);
  void Touch(int64_t ino, bool mtime, bool ctime);
  bool IsCluster() const { return user_ == kClusterUser; }
  // Storage accounting (store_data.cc): bytes of `owner`'s versions, committed and pending.
  int64_t UsedBytes(const std::string& owner);
  // The per-user quota set by set_quota, if any (0: none, whatever the default).
  std::optional<int64_t> QuotaOf(const std::string& owner);
  // EDQUOT if usage grows from `before` to `after` past the caller's quota.
  void CheckQuota(int64_t before, int64_t after, const Args& gen);
  // Queues every committed version with a shard on `server` for repair. With mark_missing
  // (the server was declared lost, or its storage was wiped) those shards are marked missing;
  // without (the server is draining) they stay readable until the repairer has moved them.
  void QueueServerShards(int64_t server, bool mark_missing);

 private:
  // Throws unless `vid` is a pending version of `n` (ETIME if it expired).
  void PendingVersion(const Inode& n, const std::string& vid);
  // Commits version `vid` (`size` bytes) as `n`'s content: the replaced version goes to GC,
  // mtime becomes now unless `attrs` sets it, ctime becomes now. Returns the reply ({attr}).
  Json SwitchVersion(const Inode& n, const std::string& vid, int64_t size,
                     const AttrChanges& attrs);

  MetaStore* store_;
  SqliteDb& db_;
  std::string user_;
  int64_t now_;
};

}  // namespace vaultfs::meta
