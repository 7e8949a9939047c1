// Shard transports for tests, wrapping the real one (cluster::DataClientTransport):
//   - FaultInjectingTransport misbehaves for chosen servers: `dead` servers refuse every request
//     (ECONNREFUSED) at once, `corrupt` servers flip one byte of every download;
//   - SwitchableTransport forwards to a target the test may change while a Vault uses it (the
//     Vault is built with it as VaultOptions::transport);
//   - ForwardingTransport passes everything through: a base for test hooks that override one
//     call.
// Thread-safe.
#pragma once

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "src/cluster/shard_transport.h"

namespace vaultfs::cluster {

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

class SwitchableTransport : public ShardTransport {
 public:
  explicit SwitchableTransport(ShardTransport* inner) : inner_(inner), target_(inner) {}

  // Routes everything through `t` from now on; null: back to the inner transport.
  void Set(ShardTransport* t) { target_ = t != nullptr ? t : inner_; }

  Result<std::unique_ptr<ShardUpload>> BeginUpload(const ShardPlacement& where,
                                                   const std::string& token,
                                                   uint64_t size) override {
    return target_.load()->BeginUpload(where, token, size);
  }
  std::future<Result<std::string>> Download(const ShardPlacement& where, const std::string& token,
                                            uint64_t offset, uint64_t length) override {
    return target_.load()->Download(where, token, offset, length);
  }
  std::future<Status> Delete(const ShardPlacement& where, const std::string& token) override {
    return target_.load()->Delete(where, token);
  }

 private:
  ShardTransport* inner_;
  std::atomic<ShardTransport*> target_;
};

class ForwardingTransport : public ShardTransport {
 public:
  explicit ForwardingTransport(ShardTransport* inner) : inner_(inner) {}

  Result<std::unique_ptr<ShardUpload>> BeginUpload(const ShardPlacement& where,
                                                   const std::string& token,
                                                   uint64_t size) override {
    return inner_->BeginUpload(where, token, size);
  }
  std::future<Result<std::string>> Download(const ShardPlacement& where, const std::string& token,
                                            uint64_t offset, uint64_t length) override {
    return inner_->Download(where, token, offset, length);
  }
  std::future<Status> Delete(const ShardPlacement& where, const std::string& token) override {
    return inner_->Delete(where, token);
  }

 protected:
  ShardTransport* const inner_;
};

}  // namespace vaultfs::cluster
