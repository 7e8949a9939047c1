// MemoryTransport: a ShardTransport that keeps shard objects in memory instead of sending them
// to data servers, so the content path (write pipeline, erasure coding, reads, store under a
// name) can be tested without data-server processes. Faults go through the same seam:
// SetFailing makes every upload and download fail as if the servers were gone.
// Thread-safe (the object layer uploads shards from many threads).
#pragma once

#include <atomic>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "src/cluster/shard_transport.h"

namespace vaultfs::cluster {

class MemoryTransport : public ShardTransport {
 public:
  // While set, every request fails with ECONNREFUSED (a server failure, so the health view
  // backs off as it would from a dead server).
  void SetFailing(bool failing) { failing_ = failing; }
  // Shard objects stored (finished uploads not deleted since).
  size_t objects() const;

  Result<std::unique_ptr<ShardUpload>> BeginUpload(const ShardPlacement& where,
                                                   const std::string& token,
                                                   uint64_t size) override;
  std::future<Result<std::string>> Download(const ShardPlacement& where, const std::string& token,
                                            uint64_t offset, uint64_t length) override;
  std::future<Status> Delete(const ShardPlacement& where, const std::string& token) override;

 private:
  friend class MemoryUpload;
  using Key = std::pair<uint64_t, std::string>;  // (server, chunk)
  void Put(Key key, std::string bytes);

  std::atomic<bool> failing_{false};
  mutable std::mutex mu_;
  std::map<Key, std::string> objects_;  // guarded by mu_
};

}  // namespace vaultfs::cluster
