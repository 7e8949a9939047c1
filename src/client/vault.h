// Vault: one user's logged-in view of the cluster — the layer the CLI, the FUSE daemon and
// the web gateway share. It holds the user's keys (master key, name keys) and never sends
// them anywhere; the metadata service sees only lookup keys, sealed names, wrapped keys and
// sealed content, the data servers only shard blocks.
//
//   Vault v(config);
//   v.Login("alice", password);
//   auto a = v.Resolve("/photos/cat.jpg");
//   v.ReadContent(*a, 0, a->size, sink);
//
// Accounts (DESIGN.md §6): the password runs through scrypt on this machine; HKDF splits the
// result into the auth key (sent at login; the server keeps a hash) and the KEK, which
// unwraps the master key the server stores for us. The master key is bound to the user name
// (the id does not exist yet when it is wrapped at registration).
//
// Content (DESIGN.md §3): each write is a new version with a fresh random file key, bound to
// (user id, inode, version); small files (sealed size <= the cluster's inline threshold) are
// stored inline in the version record, the rest go through ObjectWriter/ObjectReader. Commits
// are compare-and-swap on the inode's current version, so a concurrent writer gets ESTALE
// instead of silently losing an update.
//
// Thread-safe after Login: the tree and content calls may run from many threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "src/cluster/data_client.h"
#include "src/cluster/garbage_collector.h"
#include "src/cluster/meta_client.h"
#include "src/cluster/object_reader.h"
#include "src/cluster/object_writer.h"
#include "src/cluster/server_health.h"
#include "src/common/cluster_config.h"
#include "src/common/file_limits.h"
#include "src/common/status.h"
#include "src/crypto/key.h"
#include "src/crypto/name_cipher.h"
#include "src/crypto/password_kdf.h"
#include "src/erasure/codec.h"

namespace vaultfs::cluster {

struct Attr {
  uint64_t ino = 0;
  std::string type;  // file, dir, symlink, fifo, socket, chr, blk
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t rdev = 0;
  uint64_t nlink = 0;
  uint64_t size = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  std::string version;  // current content version; empty before the first write

  bool is_dir() const { return type == "dir"; }
  static Result<Attr> FromJson(const nlohmann::json& j);
};

struct DirEntry {
  std::string name;
  uint64_t ino = 0;
  std::string type;
};

// Client-side defaults: a dead data server costs one 1 s connect timeout, after which the
// health view skips it; a server that stops answering mid-transfer is given up after 10 s
// without progress (reads hedge to parity long before that).
inline DataClientOptions DefaultVaultDataOptions() {
  DataClientOptions o;
  o.connect_timeout = std::chrono::milliseconds(1000);
  o.request_timeout = std::chrono::milliseconds(10000);
  return o;
}

struct VaultOptions {
  crypto::KdfParams kdf;         // used when registering or changing the password
  crypto::KdfLimits kdf_limits;  // what this client accepts from the server
  DataClientOptions data = DefaultVaultDataOptions();
  ReaderOptions read;
  MetaClientOptions meta;
  ServerHealth::Options health;
  erasure::Engine engine = erasure::Engine::kDefault;
  // How often a large write renews its pending version while its shards upload, so the
  // repairer (--pending-grace, an hour by default) never expires a slow upload.
  std::chrono::milliseconds pending_renew_interval = std::chrono::minutes(5);
  // Where shards go and come from; not owned. Null: the data servers, through a DataClient of
  // the vault's own. Tests pass a transport that injects faults (tests/cluster).
  ShardTransport* transport = nullptr;
};

// Content read from or written to a version, for reports to the user (`status`, `get`).
struct ContentReport {
  std::vector<ShardProblem> problems;  // shards found missing or corrupt while reading
  int shards_missing = 0;              // shards that could not be stored while writing
};

// Attribute changes; unset fields stay as they are.
struct AttrUpdate {
  std::optional<uint32_t> mode;  // permission bits (07777); the type never changes
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<int64_t> atime_ns;
  std::optional<int64_t> mtime_ns;

  bool empty() const { return !mode && !uid && !gid && !atime_ns && !mtime_ns; }
  // Folds `later` over this one (later values win).
  void Merge(const AttrUpdate& later);
  void ApplyTo(Attr& a) const;
  void AddTo(nlohmann::json& args) const;
};

// A regular file to create with its first commit (WriteOptions::create), or at once with
// CreateReserved: the caller named it with a number from ReserveInode() before the metadata
// service knew it.
struct NewEntry {
  uint64_t parent = 0;
  std::string name;
  uint32_t mode = 0644;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

struct WriteOptions {
  // Applied atomically with the commit (the FUSE daemon sends a write's mtime and any
  // chmod/chown/utimens made while the file was open).
  AttrUpdate attrs;
  std::function<void(uint64_t)> progress;
  // Restarts the reader at byte 0. With it, a commit whose pending version was expired (ETIME)
  // is uploaded again under a new version instead of failing.
  std::function<Status()> rewind;
  ContentReport* report = nullptr;
  // Creates the file (inode attr.ino, reserved) in the same replicated entry as the commit of
  // a small file, or with the placement of a large one. EEXIST if the name is taken.
  std::optional<NewEntry> create;
};

struct FsStats {
  uint64_t total_bytes = 0;  // usable, after erasure-coding overhead
  uint64_t free_bytes = 0;
  int servers_up = 0;
  int servers = 0;
};

class VersionReader;

class Vault {
 public:
  explicit Vault(ClusterConfig config, VaultOptions options = {});
  ~Vault();
  Vault(const Vault&) = delete;
  Vault& operator=(const Vault&) = delete;

  // ---- accounts ----
  // Creates the account; does not log in. EEXIST if the name is taken.
  Status Register(const std::string& user, const std::string& password);
  // EACCES for a wrong password, and for an unknown user (with a hint to register).
  Status Login(const std::string& user, const std::string& password);
  // Re-wraps the master key under the new password; file data is untouched.
  Status ChangePassword(const std::string& old_password, const std::string& new_password);

  bool logged_in() const { return master_ != nullptr; }
  const std::string& user_name() const { return user_name_; }
  const std::string& user_id() const { return user_id_; }
  uint64_t root() const { return root_; }
  const ClusterConfig& config() const { return config_; }
  // The largest file this cluster stores (file_limits.h); larger writes fail with EFBIG.
  uint64_t max_file_size() const { return MaxFileSize(config_.segment_size, config_.k); }

  // ---- tree (inode based; names are plaintext here and sealed on the way out) ----
  Result<Attr> Lookup(uint64_t parent, std::string_view name);
  Result<Attr> GetAttr(uint64_t ino);
  Result<Attr> Mkdir(uint64_t parent, std::string_view name, uint32_t mode, uint32_t uid = 0,
                     uint32_t gid = 0);
  Result<Attr> Create(uint64_t parent, std::string_view name, uint32_t mode, uint32_t uid = 0,
                      uint32_t gid = 0);
  // An inode number for a new file that only this client will use (from a batch reserved
  // in the metadata service), so the file can be named before it is created.
  Result<uint64_t> ReserveInode();
  // Creates `e` as inode `ino` (from ReserveInode). Repeating a create that landed succeeds.
  Result<Attr> CreateReserved(uint64_t ino, const NewEntry& e);
  // A FIFO, socket or device node (type fifo, socket, chr, blk): metadata only.
  Result<Attr> Mknod(uint64_t parent, std::string_view name, std::string_view type, uint32_t mode,
                     uint32_t uid, uint32_t gid, uint64_t rdev);
  Result<Attr> Symlink(uint64_t parent, std::string_view name, std::string_view target,
                       uint32_t uid = 0, uint32_t gid = 0);
  Result<std::string> ReadLink(uint64_t ino);
  // A new name for `ino` (not a directory) in `new_parent`.
  Result<Attr> Link(uint64_t ino, uint64_t new_parent, std::string_view new_name);
  Result<Attr> SetAttr(uint64_t ino, const AttrUpdate& update);
  Status Unlink(uint64_t parent, std::string_view name);
  Status Rmdir(uint64_t parent, std::string_view name);
  // Removes `name` (whose attributes are `a`) and, for a directory, everything below it.
  Status RemoveTree(uint64_t parent, std::string_view name, const Attr& a);
  // flags: 0, 1 = RENAME_NOREPLACE, 2 = RENAME_EXCHANGE.
  Status Rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                std::string_view new_name, int flags = 0);
  // Every entry of a directory (all pages), names opened. An entry whose sealed name fails to
  // open is skipped and logged (it cannot be ours).
  Result<std::vector<DirEntry>> ReadDir(uint64_t dir);
  // One page of a directory: entries after `cursor` ("" = from the start), with their
  // attributes if `with_attrs`, and the cursor of the next page ("" at the end).
  struct DirPage {
    std::vector<std::pair<DirEntry, Attr>> entries;
    std::string next;
  };
  Result<DirPage> ReadDirPage(uint64_t dir, const std::string& cursor, int limit, bool with_attrs);

  // ---- paths ("/a/b"; "" and "/" are the root) ----
  Result<Attr> Resolve(std::string_view path);
  // The directory that holds `path` and the last component. EINVAL for the root itself.
  Result<std::pair<Attr, std::string>> ResolveParent(std::string_view path);

  // ---- content ----
  // Writes a new version of `ino` holding `size` bytes from `read` and commits it if the
  // inode's version is still `attr.version` (else ESTALE). Returns the new attributes.
  Result<Attr> WriteContent(const Attr& attr, uint64_t size, const PlaintextReader& read,
                            const std::function<void(uint64_t)>& progress = {},
                            ContentReport* report = nullptr);
  Result<Attr> WriteContent(const Attr& attr, uint64_t size, const PlaintextReader& read,
                            const WriteOptions& options);
  // A reader of version `attr.version` for many reads (the FUSE daemon keeps one per open
  // file): the version's placement and key are fetched once.
  Result<std::unique_ptr<VersionReader>> OpenVersion(const Attr& attr);
  // Reads [offset, offset+length) of the version `attr.version` (clipped to its size).
  // Shards found missing or corrupt are reported to the metadata service for repair.
  Status ReadContent(const Attr& attr, uint64_t offset, uint64_t length, const PlaintextSink& sink,
                     const std::function<void(uint64_t)>& progress = {},
                     ContentReport* report = nullptr);

  // Deletes the shards of this user's replaced and deleted versions that the metadata
  // service queued for garbage collection at least `grace` ago, and tells it which are gone.
  // The grace keeps a replaced version readable for a reader that opened it elsewhere (another
  // mount, a download in the web gateway); the repairer collects with the same default.
  // Shards on servers that are down stay queued for the next pass. Returns how many were
  // removed.
  Result<size_t> CollectGarbage(std::chrono::seconds grace = kDefaultGcGrace);

  // Usable capacity of the data servers that answer, after erasure-coding overhead: with n
  // servers and RS(k,m), min(per-server free) * n * k/(k+m) (placement is uniform).
  Result<FsStats> StatFs();

  // Asks every data server the health view marks down whether it is back (a health check
  // each, in parallel), so a retry after an outage does not wait out the back-off. Returns
  // how many are still down.
  int ProbeDownServers();

  // ---- cluster ----
  MetaClient& meta() { return *meta_; }
  ServerHealth& health() { return health_; }

 private:
  Result<std::string> NameKey(uint64_t parent, std::string_view name) const;
  Result<const erasure::Codec*> CodecFor(int k, int m);
  ShardTransport* transport();
  Result<Attr> CallForAttr(const char* op, nlohmann::json args);
  Result<Attr> WriteContentOnce(const Attr& attr, uint64_t size, const PlaintextReader& read,
                                const WriteOptions& options);
  // create's arguments for `e` as inode `ino` (reserved): lookup key, name sealed for `ino`.
  Result<nlohmann::json> EntryArgs(const NewEntry& e, uint64_t ino) const;
  // Replaces a symlink's padded size (all the service knows) with its target's length.
  void ExactSymlinkSize(Attr& a);
  void RememberSymlinkSize(uint64_t ino, uint64_t size);
  friend class VersionReader;

  ClusterConfig config_;
  VaultOptions options_;
  std::unique_ptr<MetaClient> meta_;
  std::unique_ptr<DataClient> data_;
  std::unique_ptr<DataClientTransport> real_transport_;
  ServerHealth health_;

  std::string user_name_;
  std::string user_id_;
  uint64_t root_ = 0;
  std::unique_ptr<crypto::Key> master_;
  std::unique_ptr<crypto::Key> auth_key_;  // to renew an expired session
  std::unique_ptr<crypto::NameCipher> names_;

  std::mutex ino_mu_;
  uint64_t next_reserved_ = 0, reserved_end_ = 0;  // [next, end) unused; guarded by ino_mu_

  std::mutex symlink_mu_;
  std::unordered_map<uint64_t, uint64_t> symlink_sizes_;  // ino -> target length; guarded

  std::mutex codec_mu_;
  std::map<std::pair<int, int>, std::unique_ptr<erasure::Codec>> codecs_;  // guarded
};

// The 64-bit number a hex version id binds into AAD: its first 16 hex digits. Ids are random
// 128-bit values, so two versions of one file never share it in practice, and each version
// also has its own random key.
Result<uint64_t> VersionNumber(std::string_view version_id);

// Reads of one committed version (see Vault::OpenVersion). Not thread-safe.
class VersionReader {
 public:
  ~VersionReader();
  uint64_t size() const { return size_; }
  // Plaintext bytes per segment (0 for inline content).
  uint64_t segment_size() const { return segment_size_; }
  // Hands [offset, offset+length) (clipped to the size) to `sink` in order.
  Status Read(uint64_t offset, uint64_t length, const PlaintextSink& sink);
  // Erasure-coded versions only: whole segments [first, last], each handed over without a copy.
  Status ReadSegments(uint64_t first, uint64_t last, const SegmentSink& sink);
  // Shards found missing or corrupt so far (also reported to the metadata service).
  std::vector<ShardProblem> problems() const;

 private:
  friend class Vault;
  VersionReader() = default;
  void ReportNewProblems();

  Vault* vault_ = nullptr;
  Attr attr_;
  uint64_t size_ = 0;
  uint64_t segment_size_ = 0;
  std::optional<std::string> inline_plain_;
  std::unique_ptr<ObjectReader> reader_;
  size_t reported_ = 0;
};

}  // namespace vaultfs::cluster
