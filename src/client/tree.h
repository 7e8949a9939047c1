// Tree: the user's namespace — inode operations with name sealing, directory paging, exact
// symlink sizes, reserved inode numbers and path resolution.
//
// Names are plaintext here and sealed on the way out (DESIGN.md §6): the metadata service sees
// a lookup key per (directory, name) and a name sealed for the inode its entry points at, so it
// can neither read a name nor re-point an entry unnoticed (Lookup and ReadDirPage check that a
// sealed name opens for the inode it names).
//
// Thread-safe after login: calls may run from many threads at once.
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "src/client/session_keys.h"
#include "src/cluster/meta_client.h"
#include "src/common/status.h"

namespace vaultfs::client {

struct Attr {
  uint64_t ino = 0;
  std::string type;  // file, dir, symlink, fifo, socket, chr, blk
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t rdev = 0;
  uint64_t nlink = 0;
  uint64_t size = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  std::string version;  // current content version; empty before the first write

  bool is_dir() const { return type == "dir"; }
  static Result<Attr> FromJson(const nlohmann::json& j);
};

struct DirEntry {
  std::string name;
  uint64_t ino = 0;
  std::string type;
};

// Attribute changes; unset fields stay as they are.
struct AttrUpdate {
  std::optional<uint32_t> mode;  // permission bits (07777); the type never changes
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<int64_t> atime_ns;
  std::optional<int64_t> mtime_ns;

  bool empty() const { return !mode && !uid && !gid && !atime_ns && !mtime_ns; }
  // Folds `later` over this one (later values win).
  void Merge(const AttrUpdate& later);
  void ApplyTo(Attr& a) const;
  void AddTo(nlohmann::json& args) const;
};

// A regular file to create with its first commit (WriteOptions::create), or at once with
// CreateReserved: the caller named it with a number from ReserveInode() before the metadata
// service knew it.
struct NewEntry {
  uint64_t parent = 0;
  std::string name;
  uint32_t mode = 0644;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

class Tree {
 public:
  // `meta` and `keys` belong to the Vault and outlive this object.
  Tree(MetaClient* meta, const SessionKeys* keys) : meta_(meta), keys_(keys) {}
  Tree(const Tree&) = delete;
  Tree& operator=(const Tree&) = delete;

  // ---- inodes ----
  Result<Attr> Lookup(uint64_t parent, std::string_view name);
  Result<Attr> GetAttr(uint64_t ino);
  Result<Attr> Mkdir(uint64_t parent, std::string_view name, uint32_t mode, uint32_t uid = 0,
                     uint32_t gid = 0);
  Result<Attr> Create(uint64_t parent, std::string_view name, uint32_t mode, uint32_t uid = 0,
                      uint32_t gid = 0);
  // An inode number for a new file that only this client will use (from a batch reserved
  // in the metadata service), so the file can be named before it is created.
  Result<uint64_t> ReserveInode();
  // Creates `e` as inode `ino` (from ReserveInode). Repeating a create that landed succeeds.
  Result<Attr> CreateReserved(uint64_t ino, const NewEntry& e);
  // The metadata arguments that create `e` as inode `ino` (reserved): lookup key and name
  // sealed for `ino`. Content sends them with a first commit (WriteOptions::create).
  Result<nlohmann::json> NewEntryArgs(const NewEntry& e, uint64_t ino) const;
  // A FIFO, socket or device node (type fifo, socket, chr, blk): metadata only.
  Result<Attr> Mknod(uint64_t parent, std::string_view name, std::string_view type, uint32_t mode,
                     uint32_t uid, uint32_t gid, uint64_t rdev);
  Result<Attr> Symlink(uint64_t parent, std::string_view name, std::string_view target,
                       uint32_t uid = 0, uint32_t gid = 0);
  Result<std::string> ReadLink(uint64_t ino);
  // A new name for `ino` (not a directory) in `new_parent`.
  Result<Attr> Link(uint64_t ino, uint64_t new_parent, std::string_view new_name);
  Result<Attr> SetAttr(uint64_t ino, const AttrUpdate& update);
  Status Unlink(uint64_t parent, std::string_view name);
  Status Rmdir(uint64_t parent, std::string_view name);
  // Removes `name` (whose attributes are `a`) and, for a directory, everything below it.
  Status RemoveTree(uint64_t parent, std::string_view name, const Attr& a);
  // flags: 0, 1 = RENAME_NOREPLACE, 2 = RENAME_EXCHANGE.
  Status Rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                std::string_view new_name, int flags = 0);

  // ---- directories ----
  // Every entry of a directory (all pages), names opened. An entry whose sealed name fails to
  // open is skipped and logged (it cannot be ours).
  Result<std::vector<DirEntry>> ReadDir(uint64_t dir);
  // One page of a directory: entries after `cursor` ("" = from the start), with their
  // attributes if `with_attrs`, and the cursor of the next page ("" at the end).
  struct DirPage {
    std::vector<std::pair<DirEntry, Attr>> entries;
    std::string next;
  };
  Result<DirPage> ReadDirPage(uint64_t dir, const std::string& cursor, int limit, bool with_attrs);

  // ---- extended attributes ----
  // Names and values are plaintext here (any namespace: the caller decides which it stores);
  // the service gets a lookup key per (inode, name), the name sealed for the inode and the
  // value sealed for the inode and name (src/crypto/name_cipher.h), so it can neither read
  // them nor move a value to another name or inode unnoticed (EIO, logged). Names are 1..255
  // bytes without NUL (else ERANGE), values at most 64 KiB (else E2BIG). The service caps an
  // inode at 128 attributes and 256 KiB sealed (ENOSPC).
  // flags: 0, 1 = XATTR_CREATE (EEXIST if present), 2 = XATTR_REPLACE (ENODATA if absent).
  Status SetXattr(uint64_t ino, std::string_view name, std::string_view value, int flags = 0);
  // ENODATA if `ino` has no attribute `name`.
  Result<std::string> GetXattr(uint64_t ino, std::string_view name);
  // The names of `ino`'s attributes, ordered by lookup key (not by name). One that fails to
  // open is left out and logged, as ReadDirPage does with names.
  Result<std::vector<std::string>> ListXattr(uint64_t ino);
  Status RemoveXattr(uint64_t ino, std::string_view name);

  // ---- paths ("/a/b"; "" and "/" are the root) ----
  Result<Attr> Resolve(std::string_view path);
  // The directory that holds `path` and the last component. EINVAL for the root itself.
  Result<std::pair<Attr, std::string>> ResolveParent(std::string_view path);

 private:
  Result<std::string> NameKey(uint64_t parent, std::string_view name) const;
  // The lookup key (raw) of xattr `name` of `ino`; ERANGE for a name of 0 or over 255 bytes.
  Result<std::string> XattrKey(uint64_t ino, std::string_view name) const;
  Result<Attr> CallForAttr(const char* op, nlohmann::json args);
  // Replaces a symlink's padded size (all the service knows) with its target's length.
  void ExactSymlinkSize(Attr& a);
  void RememberSymlinkSize(uint64_t ino, uint64_t size);
  bool logged_in() const { return keys_->logged_in(); }

  MetaClient* meta_;
  const SessionKeys* keys_;

  std::mutex ino_mu_;
  uint64_t next_reserved_ = 0, reserved_end_ = 0;  // [next, end) unused; guarded by ino_mu_

  std::mutex symlink_mu_;
  std::unordered_map<uint64_t, uint64_t> symlink_sizes_;  // ino -> target length; guarded
};

}  // namespace vaultfs::client
