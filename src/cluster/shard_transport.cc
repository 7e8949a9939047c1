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

template <typename T>
std::future<T> Ready(T value) {
  std::promise<T> p;
  p.set_value(std::move(value));
  return p.get_future();
}

Status Refused(const ShardPlacement& where) {
  return Status(ECONNREFUSED, "connect to " + where.address.ToString() +
                                  ": refused (fault injection: server marked dead)");
}

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

void FaultInjectingTransport::SetDead(std::set<uint64_t> servers) {
  std::lock_guard<std::mutex> lock(mu_);
  dead_ = std::move(servers);
}

void FaultInjectingTransport::SetCorrupt(std::set<uint64_t> servers) {
  std::lock_guard<std::mutex> lock(mu_);
  corrupt_ = std::move(servers);
}

bool FaultInjectingTransport::IsDead(uint64_t server) const {
  std::lock_guard<std::mutex> lock(mu_);
  return dead_.count(server) > 0;
}

bool FaultInjectingTransport::IsCorrupt(uint64_t server) const {
  std::lock_guard<std::mutex> lock(mu_);
  return corrupt_.count(server) > 0;
}

Result<std::unique_ptr<ShardUpload>> FaultInjectingTransport::BeginUpload(
    const ShardPlacement& where, const std::string& token, uint64_t size) {
  if (IsDead(where.server)) return Refused(where);
  return inner_->BeginUpload(where, token, size);
}

std::future<Result<std::string>> FaultInjectingTransport::Download(const ShardPlacement& where,
                                                                   const std::string& token,
                                                                   uint64_t offset,
                                                                   uint64_t length) {
  if (IsDead(where.server)) return Ready<Result<std::string>>(Refused(where));
  auto inner = inner_->Download(where, token, offset, length);
  if (!IsCorrupt(where.server)) return inner;
  // On its own thread, not deferred: readers poll their futures for readiness.
  return std::async(std::launch::async, [f = std::move(inner)]() mutable {
    Result<std::string> r = f.get();
    if (r.ok() && !r->empty()) (*r)[r->size() / 2] ^= 0x5a;
    return r;
  });
}

std::future<Status> FaultInjectingTransport::Delete(const ShardPlacement& where,
                                                    const std::string& token) {
  if (IsDead(where.server)) return Ready<Status>(Refused(where));
  return inner_->Delete(where, token);
}

}  // namespace vaultfs::cluster
