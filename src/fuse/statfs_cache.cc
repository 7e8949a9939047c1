// StatFsCache: see statfs_cache.h.
#include "src/fuse/statfs_cache.h"

namespace vaultfs::fuse {

Result<client::FsStats> StatFsCache::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (stats_.servers == 0 || now - at_ > std::chrono::seconds(5)) {
    VFS_ASSIGN_OR_RETURN(stats_, vault_->content().StatFs());
    at_ = now;
  }
  return stats_;
}

}  // namespace vaultfs::fuse
