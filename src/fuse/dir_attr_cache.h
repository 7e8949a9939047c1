// DirAttrCache: recently seen directory attributes, for the owner and setgid rules of new
// entries (mkdir, create, ...), trusted as long as the kernel trusts its own copy. A cache,
// not a table: bounded, and a miss costs one getattr.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "src/client/vault.h"

namespace vaultfs::fuse {

class DirAttrCache {
 public:
  explicit DirAttrCache(double ttl_seconds) : ttl_(ttl_seconds) {}

  // Remembers `a` if it is a directory's.
  void Remember(const client::Attr& a);
  std::optional<client::Attr> Get(uint64_t ino);

 private:
  const std::chrono::duration<double> ttl_;
  std::mutex mu_;  // a leaf lock
  std::map<uint64_t, std::pair<client::Attr, std::chrono::steady_clock::time_point>>
      dirs_;  // guarded by mu_
};

}  // namespace vaultfs::fuse
