// VaultFs: the FUSE low-level operations (libfuse3, multi-threaded; modelled on libfuse's
// passthrough_hp.cc) that present one user's vault as a POSIX filesystem (DESIGN.md §7).
//
// Inodes are the metadata service's inode numbers (FUSE's root id 1 stands for the user's
// root), so the daemon keeps no inode table: lookups and attributes come from the service,
// with the kernel caching them for a second. Ownership and modes are stored per inode and the
// kernel enforces them (default_permissions). File content goes through OpenFiles: writes are
// staged locally and committed on close()/fsync(), whose errors reach the application.
// Extended attributes are not supported (ENOTSUP), and say so in the log once.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "src/client/vault.h"
#include "src/fuse/open_files.h"

namespace vaultfs::fuse {

struct VaultFsOptions {
  double entry_timeout = 1.0;  // seconds the kernel may cache names and attributes
  double attr_timeout = 1.0;
  std::string staging_dir;
};

class VaultFs {
 public:
  VaultFs(cluster::Vault* vault, VaultFsOptions options);

  static const fuse_lowlevel_ops& Ops();
  OpenFiles& files() { return files_; }
  cluster::Vault& vault() { return *vault_; }
  const VaultFsOptions& options() const { return options_; }

  // FUSE inode <-> metadata inode (only the root differs).
  uint64_t Real(fuse_ino_t ino) const { return ino == FUSE_ROOT_ID ? vault_->root() : ino; }
  fuse_ino_t Fuse(uint64_t ino) const { return ino == vault_->root() ? FUSE_ROOT_ID : ino; }

  struct stat ToStat(const cluster::Attr& a) const;
  // Attributes as this daemon sees them (with unflushed local changes).
  Result<cluster::Attr> AttrOf(uint64_t real_ino);
  Result<cluster::FsStats> StatFs();

  // Recently seen directory attributes (for the owner and setgid rules of new entries),
  // trusted as long as the kernel trusts its own copy.
  void RememberDir(const cluster::Attr& a);
  Result<cluster::Attr> DirAttr(uint64_t real_ino);

 private:
  cluster::Vault* vault_;
  VaultFsOptions options_;
  OpenFiles files_;
  std::mutex statfs_mu_;
  std::chrono::steady_clock::time_point statfs_at_;
  cluster::FsStats statfs_;  // guarded by statfs_mu_
  std::mutex dirs_mu_;
  std::map<uint64_t, std::pair<cluster::Attr, std::chrono::steady_clock::time_point>>
      dirs_;  // guarded by dirs_mu_
};

}  // namespace vaultfs::fuse
