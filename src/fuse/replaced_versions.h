// ReplacedVersions: the versions this daemon's commits replaced lately, per inode. A version
// is never current again once replaced, so attributes that name one were read before that
// commit ended: an open holding them reads them again instead of going back to the old
// content (OpenFiles::Open). Bounded: the race it closes lasts one metadata round trip.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace vaultfs::fuse {

class ReplacedVersions {
 public:
  void Note(uint64_t ino, const std::string& version) {
    std::lock_guard<std::mutex> lock(mu_);
    if (versions_.size() >= 4096) versions_.clear();
    versions_.insert({ino, version});
  }
  bool Contains(uint64_t ino, const std::string& version) {
    std::lock_guard<std::mutex> lock(mu_);
    return versions_.count({ino, version}) > 0;
  }

 private:
  std::mutex mu_;  // a leaf lock: nothing else is taken under it
  std::set<std::pair<uint64_t, std::string>> versions_;  // guarded by mu_
};

}  // namespace vaultfs::fuse
