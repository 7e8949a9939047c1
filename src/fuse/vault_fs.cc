// VaultFs: see vault_fs.h. Each method turns one filesystem operation into Vault and OpenFile
// calls; errors are values, and fuse_ops.cc maps them to errnos.
#include "src/fuse/vault_fs.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "src/crypto/name_cipher.h"

namespace vaultfs::fuse {
namespace {

using client::Attr;

Status CheckName(const std::string& name) {
  if (name.size() > crypto::kMaxNameSize) return Status(ENAMETOOLONG, "name too long");
  return Status::Ok();
}

}  // namespace

VaultFs::VaultFs(client::Vault* vault, VaultFsOptions options)
    : vault_(vault),
      options_(std::move(options)),
      store_(vault),
      files_(&store_, options_.staging),
      dirs_(options_.attr_timeout),
      statfs_(vault) {}

Result<Attr> VaultFs::Seen(Result<Attr> a) {
  if (a.ok()) dirs_.Remember(*a);
  return a;
}

Result<Attr> VaultFs::DirAttr(uint64_t ino) {
  if (auto a = dirs_.Get(ino)) return *a;
  return Seen(vault_->tree().GetAttr(ino));
}

// New entries belong to the caller, except that a setgid directory passes on its group
// (and, to subdirectories, its setgid bit).
Result<VaultFs::Owner> VaultFs::OwnerFor(Caller caller, uint64_t parent, bool is_dir) {
  Owner o{caller.uid, caller.gid, 0};
  VFS_ASSIGN_OR_RETURN(Attr p, DirAttr(parent));
  if (p.mode & S_ISGID) {
    o.gid = p.gid;
    if (is_dir) o.extra_mode = S_ISGID;
  }
  return o;
}

Result<Attr> VaultFs::Lookup(uint64_t parent, const std::string& name) {
  VFS_RETURN_IF_ERROR(CheckName(name));
  if (auto fresh = files_.Uncreated(parent, name)) return Seen(*fresh);
  VFS_ASSIGN_OR_RETURN(Attr a, vault_->tree().Lookup(parent, name));
  if (a.type == "file") files_.NoteName(a.ino, parent, name);
  if (auto f = files_.Find(a.ino)) a = f->Attr();
  return Seen(a);
}

Result<Attr> VaultFs::GetAttr(uint64_t ino) {
  // An open file's attributes are known here (it was read fresh at open, and this daemon
  // makes its changes): no round trip, which matters for the kernel's revalidation during
  // writes, and no wait for an upload in flight.
  if (auto f = files_.Find(ino)) return f->Attr();
  return Seen(vault_->tree().GetAttr(ino));
}

Result<Attr> VaultFs::SetAttr(uint64_t ino, const client::AttrUpdate& u,
                              std::optional<uint64_t> size, FileHandle* h) {
  if (h != nullptr) {  // ftruncate, fchmod, futimens: the handle's close commits
    h->wrote_ = true;
    return Seen(h->file_->SetAttr(u, size));
  }
  // By name. An open file here takes the change, held like one more handle meanwhile: its
  // last handle's release may be under way, and a file that left the table would take the
  // change with it.
  std::shared_ptr<OpenFile> f = files_.Hold(ino);
  if (!f && !size) return Seen(vault_->tree().SetAttr(ino, u));
  if (!f) {
    VFS_ASSIGN_OR_RETURN(Attr fresh, vault_->tree().GetAttr(ino));
    if (fresh.type != "file") {
      return Status(fresh.is_dir() ? EISDIR : EINVAL, "truncate of a " + fresh.type);
    }
    f = files_.Open(fresh);
  }
  Result<Attr> out = f->SetAttr(u, size);
  if (out.ok() && size) {
    // truncate(2) commits at once: no descriptor's close() is bound to (a reader's does not).
    Status st = f->Commit();
    out = st.ok() ? Result<Attr>(f->Attr()) : Result<Attr>(st);
  }
  // Given back like a handle: attributes merged into uncommitted changes go with the commit
  // of the last one.
  if (files_.LastOpen(f) && f->NeedsCommitAtRelease()) (void)f->Commit();
  files_.Release(f);
  return Seen(std::move(out));
}

Result<std::string> VaultFs::ReadLink(uint64_t ino) { return vault_->tree().ReadLink(ino); }

// ---- extended attributes ----

Status VaultFs::CheckXattrName(const std::string& name) {
  constexpr std::string_view kUser = "user.";
  if (name.compare(0, kUser.size(), kUser) != 0) {
    return Status(ENOTSUP, "only user. extended attributes are stored, not '" + name + "'");
  }
  if (name.size() == kUser.size()) return InvalidArgument("extended attribute name 'user.'");
  return Status::Ok();
}

Status VaultFs::CheckXattrWritable(uint64_t ino) {
  VFS_ASSIGN_OR_RETURN(Attr a, GetAttr(ino));
  if (a.type != "file" && a.type != "dir") {
    return Status(EPERM,
                  "user. extended attributes belong on regular files and directories, "
                  "not on a " +
                      a.type);
  }
  // A file created here goes to the metadata service with its first close; its attributes
  // need it there now.
  if (files_.Uncreated(ino)) files_.CreatePending();
  return Status::Ok();
}

Status VaultFs::SetXattr(uint64_t ino, const std::string& name, std::string_view value, int flags) {
  VFS_RETURN_IF_ERROR(CheckXattrName(name));
  if (value.size() > crypto::kMaxXattrValueSize) {
    return Status(E2BIG, "extended attribute values are at most 64 KiB");
  }
  VFS_RETURN_IF_ERROR(CheckXattrWritable(ino));
  return vault_->tree().SetXattr(ino, name, value, flags);
}

Result<std::string> VaultFs::GetXattr(uint64_t ino, const std::string& name) {
  VFS_RETURN_IF_ERROR(CheckXattrName(name));
  if (files_.Uncreated(ino)) return Status(ENODATA, "no such extended attribute");
  return vault_->tree().GetXattr(ino, name);
}

Result<std::string> VaultFs::ListXattr(uint64_t ino) {
  if (files_.Uncreated(ino)) return std::string();
  VFS_ASSIGN_OR_RETURN(std::vector<std::string> names, vault_->tree().ListXattr(ino));
  std::string out;
  for (const std::string& n : names) {
    if (!CheckXattrName(n).ok()) continue;  // only user. ones are ever stored
    out += n;
    out.push_back('\0');
  }
  return out;
}

Status VaultFs::RemoveXattr(uint64_t ino, const std::string& name) {
  VFS_RETURN_IF_ERROR(CheckXattrName(name));
  VFS_RETURN_IF_ERROR(CheckXattrWritable(ino));
  return vault_->tree().RemoveXattr(ino, name);
}

Result<Attr> VaultFs::Mknod(uint64_t parent, const std::string& name, uint32_t mode, uint64_t rdev,
                            Caller caller) {
  files_.CreatePending();  // names the service checks or lists
  VFS_RETURN_IF_ERROR(CheckName(name));
  const char* type = nullptr;
  switch (mode & S_IFMT) {
    case S_IFREG:
      type = "file";
      break;
    case S_IFIFO:
      type = "fifo";
      break;
    case S_IFSOCK:
      type = "socket";
      break;
    case S_IFCHR:
      type = "chr";
      break;
    case S_IFBLK:
      type = "blk";
      break;
    default:
      return Status(EINVAL, "mknod of an unknown file type");
  }
  VFS_ASSIGN_OR_RETURN(Owner o, OwnerFor(caller, parent, false));
  return Seen(vault_->tree().Mknod(parent, name, type, mode & 07777, o.uid, o.gid, rdev));
}

Result<Attr> VaultFs::Mkdir(uint64_t parent, const std::string& name, uint32_t mode,
                            Caller caller) {
  files_.CreatePending();  // names the service checks or lists
  VFS_RETURN_IF_ERROR(CheckName(name));
  VFS_ASSIGN_OR_RETURN(Owner o, OwnerFor(caller, parent, true));
  return Seen(vault_->tree().Mkdir(parent, name, (mode & 07777) | o.extra_mode, o.uid, o.gid));
}

std::optional<uint64_t> VaultFs::OpenInodeAt(uint64_t parent, const std::string& name) {
  if (!files_.AnyOpen()) return std::nullopt;
  auto a = vault_->tree().Lookup(parent, name);
  if (!a.ok() || !files_.Find(a->ino)) return std::nullopt;
  return a->ino;
}

Status VaultFs::Unlink(uint64_t parent, const std::string& name) {
  files_.CreatePending();  // names the service checks or lists
  const auto open = OpenInodeAt(parent, name);
  VFS_RETURN_IF_ERROR(vault_->tree().Unlink(parent, name));
  if (open) files_.NoteUnlinked(*open);  // its link count, for fstat of the open file
  files_.NoteGarbage();
  return Status::Ok();
}

Status VaultFs::Rmdir(uint64_t parent, const std::string& name) {
  files_.CreatePending();  // names the service checks or lists
  return vault_->tree().Rmdir(parent, name);
}

Result<Attr> VaultFs::Symlink(const std::string& target, uint64_t parent, const std::string& name,
                              Caller caller) {
  files_.CreatePending();  // names the service checks or lists
  VFS_RETURN_IF_ERROR(CheckName(name));
  if (target.size() > crypto::kMaxSymlinkTargetSize) {
    return Status(ENAMETOOLONG, "symlink target too long");
  }
  VFS_ASSIGN_OR_RETURN(Owner o, OwnerFor(caller, parent, false));
  return Seen(vault_->tree().Symlink(parent, name, target, o.uid, o.gid));
}

Status VaultFs::Rename(uint64_t parent, const std::string& name, uint64_t newparent,
                       const std::string& newname, unsigned int flags) {
  files_.CreatePending();  // names the service checks or lists
  VFS_RETURN_IF_ERROR(CheckName(newname));
  // Linux: RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2 (the protocol's values); whiteouts are
  // for overlay filesystems.
  if (flags & ~3u) return Status(EINVAL, "unsupported rename flags");
  const auto replaced = flags == 0 ? OpenInodeAt(newparent, newname) : std::nullopt;
  VFS_RETURN_IF_ERROR(
      vault_->tree().Rename(parent, name, newparent, newname, static_cast<int>(flags)));
  if (replaced) files_.NoteUnlinked(*replaced);
  files_.NoteGarbage();  // a replaced target's content is garbage
  return Status::Ok();
}

Result<Attr> VaultFs::Link(uint64_t ino, uint64_t newparent, const std::string& newname) {
  files_.CreatePending();  // names the service checks or lists
  VFS_RETURN_IF_ERROR(CheckName(newname));
  VFS_ASSIGN_OR_RETURN(Attr a, vault_->tree().Link(ino, newparent, newname));
  if (auto f = files_.Find(a.ino)) {
    f->NoteLinked(a);  // open files answer getattr locally
    a = f->Attr();
  }
  return Seen(a);
}

Result<std::unique_ptr<FileHandle>> VaultFs::Open(uint64_t ino, int flags) {
  // Close-to-open: fresh attributes from the service, unless the file exists only here yet.
  auto uncreated = files_.Uncreated(ino);
  VFS_ASSIGN_OR_RETURN(Attr a, uncreated ? Result<Attr>(*uncreated) : vault_->tree().GetAttr(ino));
  if (a.type != "file") {
    return Status(a.is_dir() ? EISDIR : ENXIO, "open of a " + a.type + " as a file");
  }
  auto f = files_.Open(a);
  Status st = (flags & O_TRUNC) ? f->Truncate(0) : f->PinVersion();
  if (!st.ok()) {
    files_.Release(f);
    return st;
  }
  return std::make_unique<FileHandle>(std::move(f), (flags & O_TRUNC) != 0);
}

Result<VaultFs::Created> VaultFs::Create(uint64_t parent, const std::string& name, uint32_t mode,
                                         Caller caller) {
  VFS_RETURN_IF_ERROR(CheckName(name));
  VFS_ASSIGN_OR_RETURN(Owner o, OwnerFor(caller, parent, false));
  // The metadata service learns of the file with its first commit (see PendingCreates).
  VFS_ASSIGN_OR_RETURN(uint64_t ino, vault_->tree().ReserveInode());
  auto f = files_.OpenNew(ino, {parent, name, mode & 07777, o.uid, o.gid});
  Attr a = f->Attr();
  return Created{a, std::make_unique<FileHandle>(std::move(f), true)};
}

Result<size_t> VaultFs::Read(FileHandle* h, uint64_t offset, size_t n, char* out) {
  VFS_ASSIGN_OR_RETURN(size_t got, h->file_->Read(offset, n, out));
  h->read_ = true;
  return got;
}

Status VaultFs::Write(FileHandle* h, uint64_t offset, std::string_view data) {
  h->wrote_ = true;
  return h->file_->Write(offset, data);
}

Status VaultFs::Fallocate(FileHandle* h, int mode, uint64_t offset, uint64_t length) {
  h->wrote_ = true;
  return h->file_->Allocate(mode, offset, length);
}

Status VaultFs::Flush(FileHandle* h) {
  if (!h->wrote_) return Status::Ok();
  return h->file_->Commit();
}

Status VaultFs::Fsync(FileHandle* h) { return h->file_->Commit(); }

void VaultFs::Release(std::unique_ptr<FileHandle> h) {
  // Writes after the last flush (through a shared mapping) are committed here; a failure is
  // retried in the background, since release has no caller to tell. Only at the last
  // handle: the kernel releases asynchronously, so an earlier handle's late release must not
  // commit (and swallow the error of) writes that a still-open handle's close() reports.
  if (h->read_) h->file_->NoteRead();
  if (files_.LastOpen(h->file_) && h->file_->NeedsCommitAtRelease()) {
    (void)h->file_->Commit();
  }
  files_.Release(h->file_);
}

Result<std::unique_ptr<DirHandle>> VaultFs::OpenDir(uint64_t ino) {
  files_.CreatePending();  // names the service checks or lists
  VFS_ASSIGN_OR_RETURN(Attr a, vault_->tree().GetAttr(ino));
  if (!a.is_dir()) return Status(ENOTDIR, "opendir of a " + a.type);
  return std::make_unique<DirHandle>();
}

Status VaultFs::ReadDir(DirHandle* d, uint64_t ino, uint64_t offset, bool plus,
                        const std::function<bool(const DirItem&)>& add) {
  std::lock_guard<std::mutex> lock(d->mu_);
  bool added = false;
  for (uint64_t pos = offset;; ++pos) {
    DirItem item;
    item.next_offset = pos + 1;
    Attr attr;
    if (pos < 2) {
      item.name = pos == 0 ? "." : "..";
      item.ino = pos == 0 ? ino : vault_->root();
      item.type = "dir";
      item.attr = nullptr;  // the kernel looks these up itself
    } else {
      const uint64_t i = pos - 2;
      while (i >= d->entries_.size() && !d->done_) {
        auto page = vault_->tree().ReadDirPage(ino, d->cursor_, 1000, plus);
        if (!page.ok()) {
          if (added) return Status::Ok();  // hand over what we have; the error comes next time
          return page.status();
        }
        for (auto& [e, a] : page->entries) d->entries_.push_back({e, a});
        d->cursor_ = page->next;
        d->done_ = page->next.empty();
      }
      if (i >= d->entries_.size()) return Status::Ok();
      const DirHandle::Entry& entry = d->entries_[i];
      item.name = entry.entry.name;
      item.ino = entry.entry.ino;
      item.type = entry.entry.type;
      item.attr = nullptr;
      if (plus) {
        attr = entry.attr;
        if (attr.type == "file") files_.NoteName(attr.ino, ino, item.name);
        if (auto f = files_.Find(attr.ino)) attr = f->Attr();
        item.attr = &attr;
      }
    }
    if (!add(item)) return Status::Ok();
    added = true;
  }
}

}  // namespace vaultfs::fuse
