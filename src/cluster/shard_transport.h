// ShardTransport: the seam between the object layer and the data servers. The object layer
// (object_writer, object_reader, the repairer) only ever talks to data servers through this
// interface, so fault tests can wrap the real one and drop, delay or corrupt traffic to chosen
// servers (FaultInjectingTransport) without any test branch in production code.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "src/cluster/data_client.h"
#include "src/common/cluster_config.h"
#include "src/common/status.h"

namespace vaultfs::cluster {

// Where one shard of a version lives.
struct ShardPlacement {
  int index = 0;        // 0..k+m-1; 0..k-1 hold data blocks
  uint64_t server = 0;  // data-server id (cluster.json)
  HostPort address;
  std::string chunk;  // object id on that server
};

// True for errors that say the server itself is unreachable or broken (as opposed to a
// request-level refusal), so the health view should back off from it.
bool IsServerFailure(const Status& st);

// One streamed shard upload of a size announced up front.
class ShardUpload {
 public:
  virtual ~ShardUpload() = default;
  virtual Status Write(std::string_view bytes) = 0;
  virtual Result<uint64_t> Finish() = 0;  // stored size
};

class ShardTransport {
 public:
  virtual ~ShardTransport() = default;
  virtual Result<std::unique_ptr<ShardUpload>> BeginUpload(const ShardPlacement& where,
                                                           const std::string& token,
                                                           uint64_t size) = 0;
  // Bytes [offset, offset+length) of the shard object.
  virtual std::future<Result<std::string>> Download(const ShardPlacement& where,
                                                    const std::string& token, uint64_t offset,
                                                    uint64_t length) = 0;
  virtual std::future<Status> Delete(const ShardPlacement& where, const std::string& token) = 0;
};

// The real thing: a DataClient (which must outlive the transport).
class DataClientTransport : public ShardTransport {
 public:
  explicit DataClientTransport(DataClient* client) : client_(client) {}
  Result<std::unique_ptr<ShardUpload>> BeginUpload(const ShardPlacement& where,
                                                   const std::string& token,
                                                   uint64_t size) override;
  std::future<Result<std::string>> Download(const ShardPlacement& where, const std::string& token,
                                            uint64_t offset, uint64_t length) override;
  std::future<Status> Delete(const ShardPlacement& where, const std::string& token) override;

 private:
  DataClient* client_;
};

// Wraps another transport and misbehaves for chosen servers: `dead` servers refuse every
// request (ECONNREFUSED) at once, `corrupt` servers flip one byte of every download. Used by
// fault tests; thread-safe.
class FaultInjectingTransport : public ShardTransport {
 public:
  explicit FaultInjectingTransport(ShardTransport* inner) : inner_(inner) {}

  void SetDead(std::set<uint64_t> servers);
  void SetCorrupt(std::set<uint64_t> servers);

  Result<std::unique_ptr<ShardUpload>> BeginUpload(const ShardPlacement& where,
                                                   const std::string& token,
                                                   uint64_t size) override;
  std::future<Result<std::string>> Download(const ShardPlacement& where, const std::string& token,
                                            uint64_t offset, uint64_t length) override;
  std::future<Status> Delete(const ShardPlacement& where, const std::string& token) override;

 private:
  bool IsDead(uint64_t server) const;
  bool IsCorrupt(uint64_t server) const;

  ShardTransport* inner_;
  mutable std::mutex mu_;
  std::set<uint64_t> dead_;     // guarded by mu_
  std::set<uint64_t> corrupt_;  // guarded by mu_
};

}  // namespace vaultfs::cluster
