// ShardTransport implementations: see shard_transport.h.
#include "src/cluster/shard_transport.h"

namespace vaultfs::cluster {
namespace {

class DataClientUpload : public ShardUpload {
 public:
  explicit DataClientUpload(std::unique_ptr<UploadStream> s) : stream_(std::move(s)) {}
  Status Write(std::string_view bytes) override { return stream_->Write(bytes); }
  Result<uint64_t> Finish() override { return stream_->Finish(); }

 private:
  std::unique_ptr<UploadStream> stream_;
};

}  // namespace

bool IsServerFailure(const Status& st) {
  switch (st.code()) {
    case ECONNREFUSED:
    case ECONNRESET:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETDOWN:
    case EPIPE:
    case EPROTO:
    case ECANCELED:
      return true;
    default:
      return false;
  }
}

Result<std::unique_ptr<ShardUpload>> DataClientTransport::BeginUpload(const ShardPlacement& where,
                                                                      const std::string& token,
                                                                      uint64_t size) {
  VFS_ASSIGN_OR_RETURN(auto stream, client_->BeginUpload(where.address, token, where.chunk, size));
  return std::unique_ptr<ShardUpload>(std::make_unique<DataClientUpload>(std::move(stream)));
}

std::future<Result<std::string>> DataClientTransport::Download(const ShardPlacement& where,
                                                               const std::string& token,
                                                               uint64_t offset, uint64_t length) {
  return client_->Download(where.address, token, where.chunk, offset, length);
}

std::future<Status> DataClientTransport::Delete(const ShardPlacement& where,
                                                const std::string& token) {
  return client_->Delete(where.address, token, where.chunk);
}

}  // namespace vaultfs::cluster
