// PendingCreates: see pending_creates.h.
#include "src/fuse/pending_creates.h"

#include <algorithm>

#include "src/crypto/name_cipher.h"

namespace vaultfs::fuse {

void PendingCreates::Add(uint64_t parent, const std::string& name, uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  names_[{parent, name}] = ino;
}

void PendingCreates::Remove(uint64_t parent, const std::string& name, uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = names_.find({parent, name});
  if (it != names_.end() && it->second == ino) names_.erase(it);
}

std::optional<uint64_t> PendingCreates::Find(uint64_t parent, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = names_.find({parent, name});
  if (it == names_.end()) return std::nullopt;
  return it->second;
}

std::vector<uint64_t> PendingCreates::All() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> out;
  for (const auto& [name, ino] : names_) out.push_back(ino);
  return out;
}

bool PendingCreates::empty() {
  std::lock_guard<std::mutex> lock(mu_);
  return names_.empty();
}

std::string PendingCreates::ConflictName(const std::string& name, uint64_t ino) {
  const std::string suffix = ".conflict-" + std::to_string(ino);
  return name.substr(0, std::min(name.size(), crypto::kMaxNameSize - suffix.size())) + suffix;
}

}  // namespace vaultfs::fuse
