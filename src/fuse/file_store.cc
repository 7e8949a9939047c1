// VaultFileStore: see file_store.h.
#include "src/fuse/file_store.h"

#include "src/fuse/segment_cache.h"

namespace vaultfs::fuse {

Result<std::shared_ptr<BaseReader>> VaultFileStore::OpenVersion(const client::Attr& a) {
  VFS_ASSIGN_OR_RETURN(auto reader, vault_->content().OpenVersion(a));
  return std::shared_ptr<BaseReader>(
      std::make_shared<SegmentCache>(std::move(reader), SegmentCache::Options{}));
}

}  // namespace vaultfs::fuse
