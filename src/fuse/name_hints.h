// NameHints: the last name each file was seen under (lookup, readdirplus), so that a conflict
// copy of it lands beside it. A hint, not a table: bounded, and wrong only in where the copy
// goes.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace vaultfs::fuse {

class NameHints {
 public:
  void Note(uint64_t ino, uint64_t parent, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    if (names_.size() >= 65536) names_.clear();
    names_[ino] = {parent, name};
  }
  std::optional<std::pair<uint64_t, std::string>> Get(uint64_t ino) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = names_.find(ino);
    if (it == names_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::mutex mu_;  // a leaf lock: nothing else is taken under it
  std::map<uint64_t, std::pair<uint64_t, std::string>> names_;  // guarded by mu_
};

}  // namespace vaultfs::fuse
