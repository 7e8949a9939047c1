// Content: file content — the write pipeline (a new version per write), reads of a version,
// storing a stream under a name, garbage collection of replaced versions, usable capacity and
// probing of data servers that were down.
//
// Each write is a new version with a fresh random file key, bound to (user id, inode, version)
// (DESIGN.md §3); small files (sealed size <= the cluster's inline threshold) are stored inline
// in the version record, the rest go through ObjectWriter/ObjectReader to the data servers (or
// whatever ShardTransport the vault was given). Commits are compare-and-swap on the inode's
// current version, so a concurrent writer gets ESTALE instead of silently losing an update.
//
// The three front ends share it: `vaultfs put` and the web gateway's uploads call Store; the
// FUSE daemon, which creates a file lazily with its first commit, calls WriteContent with
// WriteOptions::create; all of them read through OpenVersion / ReadContent.
//
// Thread-safe after login: calls may run from many threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/client/cluster_health.h"
#include "src/client/session_keys.h"
#include "src/client/tree.h"
#include "src/client/vault_options.h"
#include "src/cluster/data_client.h"
#include "src/cluster/garbage_collector.h"
#include "src/cluster/meta_client.h"
#include "src/cluster/object_reader.h"
#include "src/cluster/object_writer.h"
#include "src/cluster/server_health.h"
#include "src/common/cluster_config.h"
#include "src/common/file_limits.h"
#include "src/common/status.h"
#include "src/erasure/codec.h"

namespace vaultfs::client {

// Content read from or written to a version, for reports to the user (`status`, `get`).
struct ContentReport {
  std::vector<cluster::ShardProblem> problems;  // shards found missing or corrupt while reading
  int shards_missing = 0;                       // shards that could not be stored while writing
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

// The prefix of the hidden name a new file is written under before Store renames it into
// place. Listings that show users their files (the web gateway) hide such names.
inline constexpr std::string_view kStoreTempPrefix = ".vaultfs-put-";

struct StoreOptions {
  uint32_t mode = 0644;  // of a new file
  std::function<void(uint64_t)> progress;
  ContentReport* report = nullptr;
};

// What Store did.
struct Stored {
  Attr attr;              // the file's attributes after the commit
  bool replaced = false;  // an existing file got a new version (its old shards await GC)
};

// The 64-bit number a hex version id binds into AAD: its first 16 hex digits. Ids are random
// 128-bit values, so two versions of one file never share it in practice, and each version
// also has its own random key.
Result<uint64_t> VersionNumber(std::string_view version_id);

class VersionReader;

class Content {
 public:
  // Everything but `config` belongs to the Vault and outlives this object; `transport` is
  // where shards go (the data servers, or a test's fake); `data` answers health checks.
  Content(const ClusterConfig* config, const VaultOptions* options, MetaClient* meta,
          cluster::ShardTransport* transport, cluster::DataClient* data,
          cluster::ServerHealth* health, const SessionKeys* keys, Tree* tree);
  ~Content();
  Content(const Content&) = delete;
  Content& operator=(const Content&) = delete;

  // The largest file this cluster stores (file_limits.h); larger writes fail with EFBIG.
  uint64_t max_file_size() const { return MaxFileSize(config_.segment_size, config_.k); }

  // Stores `size` bytes from `read` as the file `name` in directory `parent`, so that nobody
  // ever sees half a file:
  //  - `name` is a regular file: a new version of that inode, committed compare-and-swap on
  //    the version looked up (ESTALE if another writer committed meanwhile);
  //  - `name` does not exist: a new file under a hidden temporary name (kStoreTempPrefix),
  //    written, then renamed into place; on any failure the temporary name is unlinked;
  //  - `name` is a directory: EISDIR; anything else (symlink, device...): EEXIST.
  // The caller collects garbage after a replacement (Stored::replaced) when it suits it.
  Result<Stored> Store(uint64_t parent, std::string_view name, uint64_t size,
                       const cluster::PlaintextReader& read, const StoreOptions& options = {});

  // Writes a new version of `ino` holding `size` bytes from `read` and commits it if the
  // inode's version is still `attr.version` (else ESTALE). Returns the new attributes.
  Result<Attr> WriteContent(const Attr& attr, uint64_t size, const cluster::PlaintextReader& read,
                            const std::function<void(uint64_t)>& progress = {},
                            ContentReport* report = nullptr);
  Result<Attr> WriteContent(const Attr& attr, uint64_t size, const cluster::PlaintextReader& read,
                            const WriteOptions& options);
  // A reader of version `attr.version` for many reads (the FUSE daemon keeps one per open
  // file): the version's placement and key are fetched once.
  Result<std::unique_ptr<VersionReader>> OpenVersion(const Attr& attr);
  // Reads [offset, offset+length) of the version `attr.version` (clipped to its size).
  // Shards found missing or corrupt are reported to the metadata service for repair.
  Status ReadContent(const Attr& attr, uint64_t offset, uint64_t length,
                     const cluster::PlaintextSink& sink,
                     const std::function<void(uint64_t)>& progress = {},
                     ContentReport* report = nullptr);

  // Deletes the shards of this user's replaced and deleted versions that the metadata
  // service queued for garbage collection at least `grace` ago, and tells it which are gone.
  // The grace keeps a replaced version readable for a reader that opened it elsewhere (another
  // mount, a download in the web gateway); the repairer collects with the same default.
  // Shards on servers that are down stay queued for the next pass. Returns how many were
  // removed.
  Result<size_t> CollectGarbage(std::chrono::seconds grace = cluster::kDefaultGcGrace);

  // Usable capacity of the data servers that answer, after erasure-coding overhead
  // (cluster_health.h: UsableCapacity).
  Result<FsStats> StatFs();

  // Asks every data server the health view marks down whether it is back (a health check
  // each, in parallel), so a retry after an outage does not wait out the back-off. Returns
  // how many are still down.
  int ProbeDownServers();

 private:
  friend class VersionReader;
  Result<const erasure::Codec*> CodecFor(int k, int m);
  Result<Attr> WriteContentOnce(const Attr& attr, uint64_t size,
                                const cluster::PlaintextReader& read, const WriteOptions& options);
  bool logged_in() const { return keys_->logged_in(); }

  const ClusterConfig& config_;
  const VaultOptions& options_;
  MetaClient* meta_;
  cluster::ShardTransport* transport_;
  cluster::DataClient* data_;
  cluster::ServerHealth* health_;
  const SessionKeys* keys_;
  Tree* tree_;

  std::mutex codec_mu_;
  std::map<std::pair<int, int>, std::unique_ptr<erasure::Codec>> codecs_;  // guarded
};

// Reads of one committed version (see Content::OpenVersion). Not thread-safe.
class VersionReader {
 public:
  ~VersionReader();
  uint64_t size() const { return size_; }
  // Plaintext bytes per segment (0 for inline content).
  uint64_t segment_size() const { return segment_size_; }
  // Hands [offset, offset+length) (clipped to the size) to `sink` in order.
  Status Read(uint64_t offset, uint64_t length, const cluster::PlaintextSink& sink);
  // Erasure-coded versions only: whole segments [first, last], each handed over without a copy.
  Status ReadSegments(uint64_t first, uint64_t last, const cluster::SegmentSink& sink);
  // Shards found missing or corrupt so far (also reported to the metadata service).
  std::vector<cluster::ShardProblem> problems() const;

 private:
  friend class Content;
  VersionReader() = default;
  void ReportNewProblems();

  MetaClient* meta_ = nullptr;
  Attr attr_;
  uint64_t size_ = 0;
  uint64_t segment_size_ = 0;
  std::optional<std::string> inline_plain_;
  std::unique_ptr<cluster::ObjectReader> reader_;
  size_t reported_ = 0;
};

}  // namespace vaultfs::client
