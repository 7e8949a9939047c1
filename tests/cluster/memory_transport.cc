// MemoryTransport: see memory_transport.h.
#include "tests/cluster/memory_transport.h"

namespace vaultfs::cluster {

namespace {

Status Refused(const ShardPlacement& where) {
  return Status(ECONNREFUSED, "data server " + std::to_string(where.server) +
                                  " refused (MemoryTransport set failing)");
}

template <typename T>
std::future<T> Ready(T value) {
  std::promise<T> p;
  p.set_value(std::move(value));
  return p.get_future();
}

}  // namespace

// Collects one shard object; it becomes visible only when finished with the announced size,
// like an upload to a data server.
class MemoryUpload : public ShardUpload {
 public:
  MemoryUpload(MemoryTransport* t, ShardPlacement where, uint64_t size)
      : t_(t), where_(std::move(where)), size_(size) {}
  Status Write(std::string_view bytes) override {
    if (t_->failing_) return Refused(where_);
    if (bytes.size() > size_ - buf_.size()) return InvalidArgument("upload exceeds its size");
    buf_.append(bytes);
    return Status::Ok();
  }
  Result<uint64_t> Finish() override {
    if (t_->failing_) return Refused(where_);
    if (buf_.size() != size_) return InvalidArgument("upload shorter than its size");
    t_->Put({where_.server, where_.chunk}, std::move(buf_));
    return size_;
  }

 private:
  MemoryTransport* t_;
  ShardPlacement where_;
  uint64_t size_;
  std::string buf_;
};

size_t MemoryTransport::objects() const {
  std::lock_guard<std::mutex> lock(mu_);
  return objects_.size();
}

void MemoryTransport::Put(Key key, std::string bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  objects_[std::move(key)] = std::move(bytes);
}

Result<std::unique_ptr<ShardUpload>> MemoryTransport::BeginUpload(const ShardPlacement& where,
                                                                  const std::string&,
                                                                  uint64_t size) {
  if (failing_) return Refused(where);
  return std::unique_ptr<ShardUpload>(new MemoryUpload(this, where, size));
}

std::future<Result<std::string>> MemoryTransport::Download(const ShardPlacement& where,
                                                           const std::string&, uint64_t offset,
                                                           uint64_t length) {
  if (failing_) return Ready<Result<std::string>>(Refused(where));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find({where.server, where.chunk});
  if (it == objects_.end()) {
    return Ready<Result<std::string>>(NotFound("no such chunk " + where.chunk));
  }
  const std::string& obj = it->second;
  if (offset > obj.size()) return Ready<Result<std::string>>(Status(ERANGE, "offset past the end"));
  return Ready<Result<std::string>>(obj.substr(offset, length));
}

std::future<Status> MemoryTransport::Delete(const ShardPlacement& where, const std::string&) {
  if (failing_) return Ready<Status>(Refused(where));
  std::lock_guard<std::mutex> lock(mu_);
  objects_.erase({where.server, where.chunk});
  return Ready<Status>(Status::Ok());
}

}  // namespace vaultfs::cluster
