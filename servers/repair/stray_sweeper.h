// StraySweeper: finds and deletes objects that sit on a data server although no metadata row
// accounts for them (DESIGN.md §5 "L list ... the stray sweep"): an upload abandoned after its
// shards were stored, the new shards of a repairer killed mid-rebuild, an old version whose
// delete was lost, an object planted with a token.
//
// Per data server, per owner folder (the server stores <owner>/<chunk>): list the folder page
// by page (each object with its size and modification time), ask the metadata service which of
// the listed chunk ids it references (chunk_refs: placement of committed and pending versions,
// the GC queue, rebuilds in progress), and mark the rest whose age on the server's own clock
// is at least `grace` for deletion. Deletion starts only once the whole server has been
// listed and checked without a single error: a server or metadata answer that fails, or is
// incomplete, skips that server for this pass (logged), and nothing on it is deleted.
//
// The backend is the seam: the repairer's talks to the real services (ClusterSweepBackend);
// tests substitute one that fails on cue. Single-threaded; the backend calls block.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "src/cluster/data_client.h"
#include "src/cluster/meta_client.h"
#include "src/common/cluster_config.h"
#include "src/common/data_protocol.h"
#include "src/common/status.h"

namespace vaultfs::repair {

class SweepBackend {
 public:
  virtual ~SweepBackend() = default;

  struct Owner {
    std::string id;
    std::string token;  // data token for the owner's folder: list + delete
  };
  struct OwnerPage {
    std::vector<Owner> owners;
    std::string next;  // "" after the last page
  };
  // One page of owners after `cursor` ("" = from the start).
  virtual Result<OwnerPage> Owners(const std::string& cursor) = 0;
  // One page of the owner's objects on `server` after `cursor`.
  virtual Result<ListPage> List(const DataNodeConfig& server, const std::string& token,
                                const std::string& cursor) = 0;
  // The subset of `chunks` (of `owner`, on `server`) the metadata references, each with why
  // ("committed", "pending", "gc_queue", "rebuild"). An error unless the answer covers every
  // chunk asked about.
  virtual Result<std::map<std::string, std::string>> Referenced(
      uint64_t server, const std::string& owner, const std::vector<std::string>& chunks) = 0;
  virtual Status Delete(const DataNodeConfig& server, const std::string& token,
                        const std::string& chunk) = 0;
};

// The real services: the repairer's metadata session and data client.
class ClusterSweepBackend : public SweepBackend {
 public:
  // Both must outlive the backend; `meta` must hold a cluster session.
  ClusterSweepBackend(MetaClient* meta, cluster::DataClient* data) : meta_(meta), data_(data) {}
  Result<OwnerPage> Owners(const std::string& cursor) override;
  Result<ListPage> List(const DataNodeConfig& server, const std::string& token,
                        const std::string& cursor) override;
  Result<std::map<std::string, std::string>> Referenced(
      uint64_t server, const std::string& owner, const std::vector<std::string>& chunks) override;
  Status Delete(const DataNodeConfig& server, const std::string& token,
                const std::string& chunk) override;

 private:
  MetaClient* meta_;
  cluster::DataClient* data_;
};

struct SweepOptions {
  std::chrono::seconds grace{86400};
  // Unreferenced objects held for deletion per server and pass; the rest wait for the next
  // pass (bounded memory on a server full of strays).
  size_t max_deletes_per_server = 100000;
  std::function<bool(uint64_t server)> may_try;  // false: skip (the server is down); may be null
  std::function<bool()> stopping;                // may be null
};

struct SweepCounts {
  uint64_t seen = 0;     // objects listed
  uint64_t kept = 0;     // referenced, or younger than the grace
  uint64_t deleted = 0;  // unreferenced, older than the grace, deleted
  uint64_t skipped = 0;  // listed on a server whose sweep was abandoned, or not deleted
  uint64_t servers_skipped = 0;
  void Add(const SweepCounts& o);
};

struct SweepOutcome {
  SweepCounts counts;
  Status first_failure;  // the first reason a server was skipped, if any
};

// One sweep over `servers`.
SweepOutcome SweepStrays(SweepBackend* backend, const std::vector<DataNodeConfig>& servers,
                         const SweepOptions& options);

}  // namespace vaultfs::repair
