// FileStore: what open files need from the vault (content, attributes, deferred creation,
// retries and garbage collection), as an interface: the seam between OpenFile/OpenFiles and
// client::Vault, so their logic is unit-tested over an in-memory fake
// (tests/fuse/open_file_test.cc) without a cluster or /dev/fuse. VaultFileStore is the real
// one. BaseReader is a committed version's content as an open file reads it.
#pragma once

#include <cstdint>
#include <memory>

#include "src/client/vault.h"
#include "src/common/status.h"

namespace vaultfs::fuse {

// Reads of one committed version. Safe to call from several threads at once.
class BaseReader {
 public:
  virtual ~BaseReader() = default;
  virtual uint64_t size() const = 0;
  // Copies [offset, offset+n) (the caller keeps it inside size()) to `out`.
  virtual Status Read(uint64_t offset, size_t n, char* out) = 0;
};

class FileStore {
 public:
  virtual ~FileStore() = default;
  virtual uint64_t root() const = 0;
  virtual uint64_t max_file_size() const = 0;
  virtual Result<client::Attr> GetAttr(uint64_t ino) = 0;
  virtual Result<client::Attr> SetAttr(uint64_t ino, const client::AttrUpdate& u) = 0;
  virtual Result<uint64_t> ReserveInode() = 0;
  virtual Result<client::Attr> CreateReserved(uint64_t ino, const client::NewEntry& e) = 0;
  // Commits a new version of `base.ino` if its version is still `base.version` (else ESTALE);
  // see client::Vault::WriteContent.
  virtual Result<client::Attr> WriteContent(const client::Attr& base, uint64_t size,
                                            const cluster::PlaintextReader& source,
                                            const client::WriteOptions& o) = 0;
  // A reader of version `a.version` (a metadata round trip; reads fetch from data servers).
  virtual Result<std::shared_ptr<BaseReader>> OpenVersion(const client::Attr& a) = 0;
  virtual void ProbeDownServers() = 0;
  virtual Result<size_t> CollectGarbage() = 0;
};

// The real store: a logged-in Vault (not owned); versions are read through a SegmentCache.
class VaultFileStore : public FileStore {
 public:
  explicit VaultFileStore(client::Vault* vault) : vault_(vault) {}
  uint64_t root() const override { return vault_->root(); }
  uint64_t max_file_size() const override { return vault_->max_file_size(); }
  Result<client::Attr> GetAttr(uint64_t ino) override { return vault_->tree().GetAttr(ino); }
  Result<client::Attr> SetAttr(uint64_t ino, const client::AttrUpdate& u) override {
    return vault_->tree().SetAttr(ino, u);
  }
  Result<uint64_t> ReserveInode() override { return vault_->tree().ReserveInode(); }
  Result<client::Attr> CreateReserved(uint64_t ino, const client::NewEntry& e) override {
    return vault_->tree().CreateReserved(ino, e);
  }
  Result<client::Attr> WriteContent(const client::Attr& base, uint64_t size,
                                    const cluster::PlaintextReader& source,
                                    const client::WriteOptions& o) override {
    return vault_->content().WriteContent(base, size, source, o);
  }
  Result<std::shared_ptr<BaseReader>> OpenVersion(const client::Attr& a) override;
  void ProbeDownServers() override { vault_->content().ProbeDownServers(); }
  Result<size_t> CollectGarbage() override { return vault_->content().CollectGarbage(); }

 private:
  client::Vault* const vault_;
};

}  // namespace vaultfs::fuse
