// VaultFs: one user's vault as a POSIX filesystem, the logic behind the FUSE daemon's
// operations (DESIGN.md §7). FUSE-free: fuse_ops.cc decodes the kernel's requests, calls one
// method here and turns the Status or Result into the reply, so this class never sees a
// fuse_req_t and can be driven directly.
//
// Inodes are the metadata service's inode numbers (fuse_ops.cc maps FUSE's root id 1 to the
// user's root), so the daemon keeps no inode table: lookups and attributes come from the
// service, with the kernel caching them for a second. Ownership and modes are stored per
// inode and the kernel enforces them (default_permissions). File content goes through
// OpenFiles: writes are staged locally and committed on close()/fsync(), whose errors reach
// the application. An open file answers getattr from its own state, which no upload blocks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "src/client/vault.h"
#include "src/common/status.h"
#include "src/fuse/dir_attr_cache.h"
#include "src/fuse/file_store.h"
#include "src/fuse/open_files.h"
#include "src/fuse/statfs_cache.h"

namespace vaultfs::fuse {

struct VaultFsOptions {
  double entry_timeout = 1.0;  // seconds the kernel may cache names and attributes
  double attr_timeout = 1.0;
  StagingArea* staging = nullptr;  // not owned; outlives the VaultFs
};

// Who asks: new entries belong to the caller (but see the setgid rule in VaultFs::OwnerFor).
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// One open(2) of a file. Owned by the kernel's file handle from Open/Create to Release.
class FileHandle {
 public:
  explicit FileHandle(std::shared_ptr<OpenFile> file, bool wrote)
      : file_(std::move(file)), wrote_(wrote) {}

 private:
  friend class VaultFs;
  std::shared_ptr<OpenFile> file_;
  // This handle changed the file: its close() reports the commit. A reader's close does not
  // fail because of someone else's pending upload.
  bool wrote_ = false;
  bool read_ = false;  // for the access time (relatime rules) at release
};

// One opendir(3): entries fetched page by page as the kernel reads on, so a huge directory
// never has to be listed before the first entries show.
class DirHandle {
 private:
  friend class VaultFs;
  struct Entry {
    client::DirEntry entry;
    client::Attr attr;
  };
  std::mutex mu_;
  std::vector<Entry> entries_;  // guarded by mu_
  std::string cursor_;          // guarded by mu_
  bool done_ = false;           // guarded by mu_
};

// One directory entry handed to ReadDir's `add`.
struct DirItem {
  std::string name;
  uint64_t ino = 0;  // metadata inode
  std::string type;  // "dir", "file", ...
  // readdirplus: the entry's attributes; null for "." and "..".
  const client::Attr* attr = nullptr;
  uint64_t next_offset = 0;  // where a later call continues after this entry
};

class VaultFs {
 public:
  VaultFs(client::Vault* vault, VaultFsOptions options);

  const VaultFsOptions& options() const { return options_; }
  uint64_t root() const { return vault_->root(); }
  OpenFiles& files() { return files_; }

  Result<client::Attr> Lookup(uint64_t parent, const std::string& name);
  // Attributes as this daemon sees them (with unflushed local changes).
  Result<client::Attr> GetAttr(uint64_t ino);
  // chmod/chown/utimens, and truncate if `size`; `h` is the handle of an ftruncate/fchmod.
  Result<client::Attr> SetAttr(uint64_t ino, const client::AttrUpdate& u,
                               std::optional<uint64_t> size, FileHandle* h);
  Result<std::string> ReadLink(uint64_t ino);
  Result<client::Attr> Mknod(uint64_t parent, const std::string& name, uint32_t mode, uint64_t rdev,
                             Caller caller);
  Result<client::Attr> Mkdir(uint64_t parent, const std::string& name, uint32_t mode,
                             Caller caller);
  Status Unlink(uint64_t parent, const std::string& name);
  Status Rmdir(uint64_t parent, const std::string& name);
  Result<client::Attr> Symlink(const std::string& target, uint64_t parent, const std::string& name,
                               Caller caller);
  Status Rename(uint64_t parent, const std::string& name, uint64_t newparent,
                const std::string& newname, unsigned int flags);
  Result<client::Attr> Link(uint64_t ino, uint64_t newparent, const std::string& newname);

  // `flags` as open(2)'s. The handle goes back with Release.
  Result<std::unique_ptr<FileHandle>> Open(uint64_t ino, int flags);
  struct Created {
    client::Attr attr;
    std::unique_ptr<FileHandle> handle;
  };
  Result<Created> Create(uint64_t parent, const std::string& name, uint32_t mode, Caller caller);
  Result<size_t> Read(FileHandle* h, uint64_t offset, size_t n, char* out);
  Status Write(FileHandle* h, uint64_t offset, std::string_view data);
  // fallocate(2); see OpenFile::Allocate.
  Status Fallocate(FileHandle* h, int mode, uint64_t offset, uint64_t length);
  // close(): the upload and commit happen here, and close() gets their result.
  Status Flush(FileHandle* h);
  Status Fsync(FileHandle* h);
  void Release(std::unique_ptr<FileHandle> h);

  // Extended attributes (xattr(7)). Only the user. namespace is stored (sealed like names,
  // client::Tree::SetXattr); security., system., trusted. and anything else answer ENOTSUP at
  // once, with no round trip (the kernel asks for security.capability on every write), so
  // tools that copy attributes (cp -a, rsync -X) keep what they can. As on Linux, user.
  // attributes exist only on regular files and directories: setting or removing one on
  // anything else is EPERM, reading one ENODATA. Names are 1..255 bytes (ERANGE), "user."
  // alone is EINVAL, values at most 64 KiB (E2BIG); an inode holds at most 128 attributes and
  // 256 KiB sealed (ENOSPC). Modes are the kernel's to check (default_permissions).
  // flags: 0, XATTR_CREATE (EEXIST if present), XATTR_REPLACE (ENODATA if absent).
  Status SetXattr(uint64_t ino, const std::string& name, std::string_view value, int flags);
  Result<std::string> GetXattr(uint64_t ino, const std::string& name);
  // Every stored name, each followed by a NUL (listxattr(2)'s format).
  Result<std::string> ListXattr(uint64_t ino);
  Status RemoveXattr(uint64_t ino, const std::string& name);

  Result<std::unique_ptr<DirHandle>> OpenDir(uint64_t ino);
  // Entries of directory `ino` from `offset` on, each passed to `add` until it returns false
  // (full: that entry comes with the next call). Offsets: 0 ".", 1 "..", then entry i at
  // i + 2. An error after some entries were added is reported by the next call.
  Status ReadDir(DirHandle* d, uint64_t ino, uint64_t offset, bool plus,
                 const std::function<bool(const DirItem&)>& add);
  Result<client::FsStats> StatFs() { return statfs_.Get(); }
  // With default_permissions the kernel checks modes itself; this says whether it exists.
  Status Access(uint64_t ino) { return GetAttr(ino).status(); }

 private:
  struct Owner {
    uint32_t uid, gid, extra_mode;
  };
  Result<Owner> OwnerFor(Caller caller, uint64_t parent, bool is_dir);
  Result<client::Attr> DirAttr(uint64_t ino);
  // The inode `name` in `parent` refers to, if a file of it is open here.
  std::optional<uint64_t> OpenInodeAt(uint64_t parent, const std::string& name);
  // ENOTSUP unless `name` is a user. attribute name (EINVAL for "user." alone).
  static Status CheckXattrName(const std::string& name);
  // EPERM unless `ino` may carry user. attributes (a regular file or a directory); an
  // uncreated file (PendingCreates) is created in the metadata service first.
  Status CheckXattrWritable(uint64_t ino);
  // The attributes handed to the kernel: directories' are remembered for OwnerFor.
  Result<client::Attr> Seen(Result<client::Attr> a);

  client::Vault* vault_;
  VaultFsOptions options_;
  VaultFileStore store_;
  OpenFiles files_;
  DirAttrCache dirs_;
  StatFsCache statfs_;
};

}  // namespace vaultfs::fuse
