// FaultInjectingTransport: see fault_injecting_transport.h.
#include "tests/cluster/fault_injecting_transport.h"

namespace vaultfs::cluster {
namespace {

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
