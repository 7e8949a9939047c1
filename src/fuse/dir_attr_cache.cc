// DirAttrCache: see dir_attr_cache.h.
#include "src/fuse/dir_attr_cache.h"

namespace vaultfs::fuse {

void DirAttrCache::Remember(const client::Attr& a) {
  if (!a.is_dir()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (dirs_.size() > 4096) dirs_.clear();
  dirs_[a.ino] = {a, std::chrono::steady_clock::now()};
}

std::optional<client::Attr> DirAttrCache::Get(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = dirs_.find(ino);
  if (it == dirs_.end() || std::chrono::steady_clock::now() - it->second.second >= ttl_) {
    return std::nullopt;
  }
  return it->second.first;
}

}  // namespace vaultfs::fuse
