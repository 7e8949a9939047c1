// ShardTransport: the seam between the object layer and the data servers. The object layer
// (object_writer, object_reader, the repairer) only ever talks to data servers through this
// interface, so tests can wrap the real one and drop, delay or corrupt traffic to chosen servers
// (tests/cluster/fault_injecting_transport.h) without any test branch in production code.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
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

}  // namespace vaultfs::cluster
