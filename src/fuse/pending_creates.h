// PendingCreates: the names of files created by this daemon that the metadata service does
// not know yet (DESIGN.md §7, deferred creation). A new file gets a reserved inode number and
// is created by its first commit (one replicated entry for a small file instead of two); until
// then this daemon answers lookups of its name from here. If another client takes the name
// meanwhile, the file moves to "<name>.conflict-<ino>" beside it (ConflictName).
//
// Only the (parent, name) -> inode map lives here; the entry itself (client::NewEntry) is the
// OpenFile's, which creates itself (OpenFile::CreateReserved).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vaultfs::fuse {

class PendingCreates {
 public:
  void Add(uint64_t parent, const std::string& name, uint64_t ino);
  // The file is created (or never will be): its name is the service's to answer.
  void Remove(uint64_t parent, const std::string& name, uint64_t ino);
  std::optional<uint64_t> Find(uint64_t parent, const std::string& name);
  std::vector<uint64_t> All();
  bool empty();

  // "<name>.conflict-<ino>", cut so that it stays a valid name.
  static std::string ConflictName(const std::string& name, uint64_t ino);

 private:
  std::mutex mu_;  // a leaf lock: nothing else is taken under it
  std::map<std::pair<uint64_t, std::string>, uint64_t> names_;  // guarded by mu_
};

}  // namespace vaultfs::fuse
