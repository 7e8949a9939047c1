// VaultFs: see vault_fs.h. Each operation translates the kernel's request into Vault calls
// and the Status back into an errno; messages of unexpected errors go to the log, since the
// kernel passes on only the number.
#include "src/fuse/vault_fs.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <vector>

#include "src/common/log.h"

namespace vaultfs::fuse {
namespace {

using cluster::Attr;

VaultFs* Fs(fuse_req_t req) { return static_cast<VaultFs*>(fuse_req_userdata(req)); }

// The errno an application sees for `st`. Codes that only make sense between our own
// processes (bad server replies, corrupt data, no leader) become EIO, after logging why.
int ErrnoOf(const Status& st, const char* op) {
  const int code = st.code();
  switch (code) {
    case ENOENT:
    case EEXIST:
    case ENOTEMPTY:
    case ENOTDIR:
    case EISDIR:
    case EINVAL:
    case EPERM:
    case EACCES:
    case ENAMETOOLONG:
    case ENOSPC:
    case EXDEV:
    case EMLINK:
    case EFBIG:
      if (code == EACCES || code == EPERM || code == EINVAL) {
        VFS_LOG(kDebug) << op << ": " << st.ToString();
      }
      return code;
    default:
      VFS_LOG(kWarn) << op << ": " << st.ToString();
      return code == ENOTSUP || code == EROFS ? code : EIO;
  }
}

void ReplyErr(fuse_req_t req, const Status& st, const char* op) {
  fuse_reply_err(req, ErrnoOf(st, op));
}

bool NameTooLong(const char* name) { return strlen(name) > crypto::kMaxNameSize; }

struct Handle {
  std::shared_ptr<FileState> file;
  // This handle changed the file: its close() reports the commit. A reader's close does not
  // fail because of someone else's pending upload.
  bool wrote = false;
  bool read = false;  // for the access time (relatime rules) at release
};

Handle* HandleOf(fuse_file_info* fi) { return reinterpret_cast<Handle*>(fi->fh); }

// One open directory: entries fetched page by page as the kernel reads on, so a huge
// directory never has to be listed before the first entries show.
struct DirHandle {
  std::mutex mu;
  struct Entry {
    cluster::DirEntry entry;
    Attr attr;
  };
  std::vector<Entry> entries;  // guarded by mu
  std::string cursor;
  bool done = false;
};

mode_t TypeBits(const std::string& type) {
  if (type == "dir") return S_IFDIR;
  if (type == "symlink") return S_IFLNK;
  if (type == "fifo") return S_IFIFO;
  if (type == "socket") return S_IFSOCK;
  if (type == "chr") return S_IFCHR;
  if (type == "blk") return S_IFBLK;
  return S_IFREG;
}

timespec ToTimespec(int64_t ns) {
  timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    --ts.tv_sec;
  }
  return ts;
}

int64_t FromTimespec(const timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// New entries belong to the caller, except that a setgid directory passes on its group
// (and, to subdirectories, its setgid bit).
struct Owner {
  uint32_t uid, gid, extra_mode;
};
Result<Owner> OwnerFor(VaultFs* fs, fuse_req_t req, fuse_ino_t parent, bool is_dir) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  Owner o{ctx->uid, ctx->gid, 0};
  VFS_ASSIGN_OR_RETURN(Attr p, fs->DirAttr(fs->Real(parent)));
  if (p.mode & S_ISGID) {
    o.gid = p.gid;
    if (is_dir) o.extra_mode = S_ISGID;
  }
  return o;
}

fuse_entry_param EntryFor(VaultFs* fs, const Attr& a) {
  fuse_entry_param e;
  memset(&e, 0, sizeof(e));
  e.ino = fs->Fuse(a.ino);
  e.attr = fs->ToStat(a);
  e.attr_timeout = fs->options().attr_timeout;
  e.entry_timeout = fs->options().entry_timeout;
  return e;
}

void ReplyEntry(fuse_req_t req, VaultFs* fs, const Attr& a) {
  fs->RememberDir(a);
  fuse_entry_param e = EntryFor(fs, a);
  fuse_reply_entry(req, &e);
}

// ---- operations ----

void OpInit(void* userdata, fuse_conn_info* conn) {
  (void)userdata;
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  if (conn->capable & FUSE_CAP_EXPORT_SUPPORT) conn->want |= FUSE_CAP_EXPORT_SUPPORT;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // close() must see every write to commit it
  conn->max_write = 1 << 20;
  conn->max_readahead = 1 << 20;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  VaultFs* fs = Fs(req);
  if (NameTooLong(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  if (auto fresh = fs->files().Uncreated(fs->Real(parent), name))
    return ReplyEntry(req, fs, *fresh);
  auto a = fs->vault().tree().Lookup(fs->Real(parent), name);
  if (!a.ok()) {
    if (a.status().code() == ENOENT) {
      // A negative entry: the kernel may remember the name is free for a moment.
      fuse_entry_param e;
      memset(&e, 0, sizeof(e));
      e.entry_timeout = fs->options().entry_timeout;
      return (void)fuse_reply_entry(req, &e);
    }
    return ReplyErr(req, a.status(), "lookup");
  }
  if (a->type == "file") fs->files().NoteName(a->ino, fs->Real(parent), name);
  if (auto f = fs->files().Find(a->ino)) {
    std::lock_guard<std::timed_mutex> lock(f->mu);
    OpenFiles::Overlay(*f, &*a);
  }
  ReplyEntry(req, fs, *a);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  VaultFs* fs = Fs(req);
  auto a = fs->AttrOf(fs->Real(ino));
  if (!a.ok()) return ReplyErr(req, a.status(), "getattr");
  fs->RememberDir(*a);
  struct stat st = fs->ToStat(*a);
  fuse_reply_attr(req, &st, fs->options().attr_timeout);
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  VaultFs* fs = Fs(req);
  const uint64_t real = fs->Real(ino);
  cluster::AttrUpdate u;
  if (to_set & FUSE_SET_ATTR_MODE) u.mode = attr->st_mode & 07777;
  if (to_set & FUSE_SET_ATTR_UID) u.uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) u.gid = attr->st_gid;
  const int64_t now = NowNs();
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
    u.atime_ns = now;
  } else if (to_set & FUSE_SET_ATTR_ATIME) {
    u.atime_ns = FromTimespec(attr->st_atim);
  }
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
    u.mtime_ns = now;
  } else if (to_set & FUSE_SET_ATTR_MTIME) {
    u.mtime_ns = FromTimespec(attr->st_mtim);
  }

  std::shared_ptr<FileState> f;
  bool temporary = false;  // opened here for a truncate(2) without a file handle
  if (fi != nullptr) {
    f = HandleOf(fi)->file;
    HandleOf(fi)->wrote = true;
  } else {
    f = fs->files().Find(real);
  }
  if ((to_set & FUSE_SET_ATTR_SIZE) && !f) {
    auto fresh = fs->vault().tree().GetAttr(real);
    if (!fresh.ok()) return ReplyErr(req, fresh.status(), "truncate");
    if (fresh->type != "file") return (void)fuse_reply_err(req, fresh->is_dir() ? EISDIR : EINVAL);
    auto opened = fs->files().Open(*fresh);
    if (!opened.ok()) return ReplyErr(req, opened.status(), "truncate");
    f = *opened;
    temporary = true;
  }
  Result<Attr> out = Status(EIO, "unset");
  if (f) {
    std::lock_guard<std::timed_mutex> lock(f->mu);
    Status st;
    if (to_set & FUSE_SET_ATTR_SIZE) st = fs->files().Truncate(*f, attr->st_size);
    if (st.ok() && !u.empty()) {
      if (f->dirty) {
        f->pending.Merge(u);  // goes with the commit
      } else {
        auto a = fs->vault().tree().SetAttr(real, u);
        if (a.ok()) {
          f->base = *a;
        } else {
          st = a.status();
        }
      }
    }
    // truncate(2) on a file nobody has open: nothing would flush it later.
    if (st.ok() && temporary) st = fs->files().Commit(*f);
    if (st.ok()) {
      Attr a = f->base;
      OpenFiles::Overlay(*f, &a);
      if (f->dirty) a.ctime_ns = now;
      out = a;
    } else {
      out = st;
    }
  } else {
    out = fs->vault().tree().SetAttr(real, u);
  }
  if (temporary) fs->files().Release(f);
  if (!out.ok()) return ReplyErr(req, out.status(), "setattr");
  fs->RememberDir(*out);
  struct stat st = fs->ToStat(*out);
  fuse_reply_attr(req, &st, fs->options().attr_timeout);
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  VaultFs* fs = Fs(req);
  auto t = fs->vault().tree().ReadLink(fs->Real(ino));
  if (!t.ok()) return ReplyErr(req, t.status(), "readlink");
  fuse_reply_readlink(req, t->c_str());
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  VaultFs* fs = Fs(req);
  fs->files().CreatePending();  // names the service checks or lists
  if (NameTooLong(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
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
      return (void)fuse_reply_err(req, EINVAL);
  }
  auto o = OwnerFor(fs, req, parent, false);
  if (!o.ok()) return ReplyErr(req, o.status(), "mknod");
  auto a =
      fs->vault().tree().Mknod(fs->Real(parent), name, type, mode & 07777, o->uid, o->gid, rdev);
  if (!a.ok()) return ReplyErr(req, a.status(), "mknod");
  ReplyEntry(req, fs, *a);
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  VaultFs* fs = Fs(req);
  fs->files().CreatePending();  // names the service checks or lists
  if (NameTooLong(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  auto o = OwnerFor(fs, req, parent, true);
  if (!o.ok()) return ReplyErr(req, o.status(), "mkdir");
  auto a = fs->vault().tree().Mkdir(fs->Real(parent), name, (mode & 07777) | o->extra_mode, o->uid,
                                    o->gid);
  if (!a.ok()) return ReplyErr(req, a.status(), "mkdir");
  ReplyEntry(req, fs, *a);
}

// The inode `name` in `parent` refers to, if a file of it is open here (whose link count
// must then follow an unlink or a rename over it).
std::optional<uint64_t> OpenInodeAt(VaultFs* fs, fuse_ino_t parent, const char* name) {
  if (!fs->files().AnyOpen()) return std::nullopt;
  auto a = fs->vault().tree().Lookup(fs->Real(parent), name);
  if (!a.ok() || !fs->files().Find(a->ino)) return std::nullopt;
  return a->ino;
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  VaultFs* fs = Fs(req);
  fs->files().CreatePending();  // names the service checks or lists
  const auto open = OpenInodeAt(fs, parent, name);
  Status st = fs->vault().tree().Unlink(fs->Real(parent), name);
  if (st.ok() && open) fs->files().NoteUnlinked(*open);
  if (st.ok()) fs->files().NoteGarbage();
  fuse_reply_err(req, st.ok() ? 0 : ErrnoOf(st, "unlink"));
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  VaultFs* fs = Fs(req);
  fs->files().CreatePending();  // names the service checks or lists
  Status st = fs->vault().tree().Rmdir(fs->Real(parent), name);
  fuse_reply_err(req, st.ok() ? 0 : ErrnoOf(st, "rmdir"));
}

void OpSymlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  VaultFs* fs = Fs(req);
  fs->files().CreatePending();  // names the service checks or lists
  if (NameTooLong(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  if (strlen(target) > crypto::kMaxSymlinkTargetSize) {
    return (void)fuse_reply_err(req, ENAMETOOLONG);
  }
  auto o = OwnerFor(fs, req, parent, false);
  if (!o.ok()) return ReplyErr(req, o.status(), "symlink");
  auto a = fs->vault().tree().Symlink(fs->Real(parent), name, target, o->uid, o->gid);
  if (!a.ok()) return ReplyErr(req, a.status(), "symlink");
  ReplyEntry(req, fs, *a);
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  VaultFs* fs = Fs(req);
  fs->files().CreatePending();  // names the service checks or lists
  if (NameTooLong(newname)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  // Linux: RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2 (the protocol's values); whiteouts are
  // for overlay filesystems.
  if (flags & ~3u) return (void)fuse_reply_err(req, EINVAL);
  const auto replaced = flags == 0 ? OpenInodeAt(fs, newparent, newname) : std::nullopt;
  Status st = fs->vault().tree().Rename(fs->Real(parent), name, fs->Real(newparent), newname,
                                        static_cast<int>(flags));
  if (st.ok() && replaced) fs->files().NoteUnlinked(*replaced);
  if (st.ok()) fs->files().NoteGarbage();  // a replaced target's content is garbage
  fuse_reply_err(req, st.ok() ? 0 : ErrnoOf(st, "rename"));
}

void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  VaultFs* fs = Fs(req);
  fs->files().CreatePending();  // names the service checks or lists
  if (NameTooLong(newname)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  auto a = fs->vault().tree().Link(fs->Real(ino), fs->Real(newparent), newname);
  if (!a.ok()) return ReplyErr(req, a.status(), "link");
  if (auto f = fs->files().Find(a->ino)) {
    std::lock_guard<std::timed_mutex> lock(f->mu);
    f->base.nlink = a->nlink;  // open files answer getattr locally
    f->base.ctime_ns = a->ctime_ns;
    OpenFiles::Overlay(*f, &*a);
  }
  ReplyEntry(req, fs, *a);
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  VaultFs* fs = Fs(req);
  // Close-to-open: fresh attributes from the service, unless the file exists only here yet.
  auto uncreated = fs->files().Uncreated(fs->Real(ino));
  auto a = uncreated ? Result<Attr>(*uncreated) : fs->vault().tree().GetAttr(fs->Real(ino));
  if (!a.ok()) return ReplyErr(req, a.status(), "open");
  if (a->type != "file") return (void)fuse_reply_err(req, a->is_dir() ? EISDIR : ENXIO);
  auto f = fs->files().Open(*a);
  if (!f.ok()) return ReplyErr(req, f.status(), "open");
  {
    std::lock_guard<std::timed_mutex> lock((*f)->mu);
    Status st = (fi->flags & O_TRUNC) ? fs->files().Truncate(**f, 0) : fs->files().PinVersion(**f);
    if (!st.ok()) {
      fs->files().Release(*f);
      return ReplyErr(req, st, "open");
    }
  }
  fi->fh = reinterpret_cast<uint64_t>(new Handle{*f, (fi->flags & O_TRUNC) != 0});
  fi->keep_cache = 0;  // close-to-open: the kernel drops cached pages of an earlier version
  fuse_reply_open(req, fi);
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  VaultFs* fs = Fs(req);
  if (NameTooLong(name)) return (void)fuse_reply_err(req, ENAMETOOLONG);
  auto o = OwnerFor(fs, req, parent, false);
  if (!o.ok()) return ReplyErr(req, o.status(), "create");
  // The metadata service learns of the file with its first commit (see OpenFiles).
  auto ino = fs->vault().tree().ReserveInode();
  if (!ino.ok()) return ReplyErr(req, ino.status(), "create");
  auto f = fs->files().OpenNew(*ino, {fs->Real(parent), name, mode & 07777, o->uid, o->gid});
  Attr a;
  {
    std::lock_guard<std::timed_mutex> lock(f->mu);
    a = f->base;
  }
  fi->fh = reinterpret_cast<uint64_t>(new Handle{std::move(f), true});
  fi->keep_cache = 0;
  fuse_entry_param entry = EntryFor(fs, a);
  fuse_reply_create(req, &entry, fi);
}

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  VaultFs* fs = Fs(req);
  FileState& f = *HandleOf(fi)->file;
  std::unique_ptr<char[]> buf(new char[size]);  // not zeroed: every byte handed back is written
  Result<size_t> n = size_t{0};
  {
    std::lock_guard<std::timed_mutex> lock(f.mu);
    n = fs->files().Read(f, static_cast<uint64_t>(off), size, buf.get());
  }
  if (!n.ok()) return ReplyErr(req, n.status(), "read");
  HandleOf(fi)->read = true;
  fuse_reply_buf(req, buf.get(), *n);
}

void OpWrite(fuse_req_t req, fuse_ino_t, const char* data, size_t size, off_t off,
             fuse_file_info* fi) {
  VaultFs* fs = Fs(req);
  FileState& f = *HandleOf(fi)->file;
  Status st;
  {
    std::lock_guard<std::timed_mutex> lock(f.mu);
    st = fs->files().Write(f, static_cast<uint64_t>(off), std::string_view(data, size));
  }
  HandleOf(fi)->wrote = true;
  if (!st.ok()) return ReplyErr(req, st, "write");
  fuse_reply_write(req, size);
}

// close() gets this result: the upload and commit happen here, not in release.
void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  VaultFs* fs = Fs(req);
  if (!HandleOf(fi)->wrote) return (void)fuse_reply_err(req, 0);
  FileState& f = *HandleOf(fi)->file;
  Status st;
  {
    std::lock_guard<std::timed_mutex> lock(f.mu);
    st = fs->files().Commit(f);
  }
  fuse_reply_err(req, st.ok() ? 0 : ErrnoOf(st, "close"));
}

void OpFsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  VaultFs* fs = Fs(req);
  FileState& f = *HandleOf(fi)->file;
  Status st;
  {
    std::lock_guard<std::timed_mutex> lock(f.mu);
    st = fs->files().Commit(f);
  }
  fuse_reply_err(req, st.ok() ? 0 : ErrnoOf(st, "fsync"));
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  VaultFs* fs = Fs(req);
  Handle* h = HandleOf(fi);
  {
    // Writes after the last flush (through a shared mapping) are committed here; a failure
    // is retried in the background, since release has no caller to tell.
    FileState& f = *h->file;
    std::lock_guard<std::timed_mutex> lock(f.mu);
    if (h->read) {
      // relatime: the access time moves when it is older than the last change, or a day old.
      const int64_t now = NowNs();
      Attr a = f.base;
      OpenFiles::Overlay(f, &a);
      if (a.atime_ns <= a.mtime_ns || a.atime_ns < now - 86400LL * 1000000000) {
        cluster::AttrUpdate u;
        u.atime_ns = now;
        f.pending.Merge(u);
      }
    }
    if ((f.dirty && !f.failed) || (!f.dirty && !f.pending.empty())) {
      (void)fs->files().Commit(f);
    }
  }
  fs->files().Release(h->file);
  delete h;
  fuse_reply_err(req, 0);
}

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  VaultFs* fs = Fs(req);
  fs->files().CreatePending();  // names the service checks or lists
  auto a = fs->vault().tree().GetAttr(fs->Real(ino));
  if (!a.ok()) return ReplyErr(req, a.status(), "opendir");
  if (!a->is_dir()) return (void)fuse_reply_err(req, ENOTDIR);
  fi->fh = reinterpret_cast<uint64_t>(new DirHandle());
  fuse_reply_open(req, fi);
}

// Fills `buf` with entries from `off` on; returns the bytes used. The caller replies after
// d->mu is released: once the reply is out the kernel may release (free) the handle.
Result<size_t> FillDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, DirHandle* d,
                       bool plus, std::string& buf) {
  VaultFs* fs = Fs(req);
  std::lock_guard<std::mutex> lock(d->mu);
  size_t used = 0;
  // Offsets: 0 ".", 1 "..", then entry i at i + 2; each entry carries the next one's offset.
  for (uint64_t pos = static_cast<uint64_t>(off);; ++pos) {
    const DirHandle::Entry* entry = nullptr;
    std::string name;
    struct stat st;
    memset(&st, 0, sizeof(st));
    if (pos < 2) {
      name = pos == 0 ? "." : "..";
      st.st_ino = pos == 0 ? ino : FUSE_ROOT_ID;
      st.st_mode = S_IFDIR;
    } else {
      const uint64_t i = pos - 2;
      while (i >= d->entries.size() && !d->done) {
        auto page = fs->vault().tree().ReadDirPage(fs->Real(ino), d->cursor, 1000, plus);
        if (!page.ok()) {
          if (used > 0) break;  // hand over what we have; the error comes with the next call
          return page.status();
        }
        for (auto& [e, a] : page->entries) d->entries.push_back({e, a});
        d->cursor = page->next;
        d->done = page->next.empty();
      }
      if (i >= d->entries.size()) break;
      entry = &d->entries[i];
      name = entry->entry.name;
      st.st_ino = fs->Fuse(entry->entry.ino);
      st.st_mode = TypeBits(entry->entry.type);
    }
    size_t n;
    if (plus) {
      fuse_entry_param e;
      memset(&e, 0, sizeof(e));
      if (entry != nullptr) {
        Attr a = entry->attr;
        if (a.type == "file") fs->files().NoteName(a.ino, fs->Real(ino), name);
        if (auto f = fs->files().Find(a.ino)) {
          std::lock_guard<std::timed_mutex> flock(f->mu);
          OpenFiles::Overlay(*f, &a);
        }
        e = EntryFor(fs, a);
      } else {
        e.attr = st;  // "." and "..": the kernel looks these up itself
      }
      n = fuse_add_direntry_plus(req, buf.data() + used, size - used, name.c_str(), &e,
                                 static_cast<off_t>(pos + 1));
    } else {
      n = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st,
                            static_cast<off_t>(pos + 1));
    }
    if (n > size - used) break;  // full: this entry comes with the next call
    used += n;
  }
  return used;
}

void ReadDirCommon(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                   bool plus) {
  std::string buf(size, '\0');
  auto used = FillDir(req, ino, size, off, reinterpret_cast<DirHandle*>(fi->fh), plus, buf);
  if (!used.ok()) return ReplyErr(req, used.status(), "readdir");
  fuse_reply_buf(req, buf.data(), *used);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ReadDirCommon(req, ino, size, off, fi, false);
}

void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ReadDirCommon(req, ino, size, off, fi, true);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<DirHandle*>(fi->fh);
  fuse_reply_err(req, 0);
}

void OpFsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  fuse_reply_err(req, 0);  // directory changes are committed by the metadata service already
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  VaultFs* fs = Fs(req);
  auto s = fs->StatFs();
  if (!s.ok()) return ReplyErr(req, s.status(), "statfs");
  struct statvfs v;
  memset(&v, 0, sizeof(v));
  v.f_bsize = 1 << 20;  // the preferred I/O size: a segment
  v.f_frsize = 4096;
  v.f_blocks = s->total_bytes / v.f_frsize;
  v.f_bfree = s->free_bytes / v.f_frsize;
  v.f_bavail = v.f_bfree;
  v.f_files = UINT32_MAX;  // inodes are rows in the metadata service: no fixed table
  v.f_ffree = UINT32_MAX;
  v.f_favail = UINT32_MAX;
  v.f_namemax = crypto::kMaxNameSize;
  fuse_reply_statfs(req, &v);
}

void OpAccess(fuse_req_t req, fuse_ino_t ino, int) {
  // With default_permissions the kernel checks modes itself; this only says whether it exists.
  VaultFs* fs = Fs(req);
  auto a = fs->AttrOf(fs->Real(ino));
  fuse_reply_err(req, a.ok() ? 0 : ErrnoOf(a.status(), "access"));
}

// Extended attributes are not supported. ENOSYS tells the kernel so once and for all: it
// stops asking (the write path asks for security.capability on every write) and gives
// applications EOPNOTSUPP.
std::atomic<bool> xattr_logged{false};
void NoXattrs(fuse_req_t req) {
  if (!xattr_logged.exchange(true)) {
    VFS_LOG(kInfo) << "extended attributes are not supported (applications get ENOTSUP)";
  }
  fuse_reply_err(req, ENOSYS);
}

void OpSetxattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
  NoXattrs(req);
}
void OpGetxattr(fuse_req_t req, fuse_ino_t, const char*, size_t) { NoXattrs(req); }
void OpListxattr(fuse_req_t req, fuse_ino_t, size_t) { NoXattrs(req); }
void OpRemovexattr(fuse_req_t req, fuse_ino_t, const char*) { NoXattrs(req); }

}  // namespace

VaultFs::VaultFs(cluster::Vault* vault, VaultFsOptions options)
    : vault_(vault), options_(std::move(options)), files_(vault, options_.staging_dir) {}

struct stat VaultFs::ToStat(const Attr& a) const {
  struct stat st;
  memset(&st, 0, sizeof(st));
  st.st_ino = Fuse(a.ino);
  st.st_mode = TypeBits(a.type) | (a.mode & 07777);
  st.st_nlink = static_cast<nlink_t>(a.nlink);
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_rdev = static_cast<dev_t>(a.rdev);
  st.st_size = static_cast<off_t>(a.type == "symlink" ? a.size : a.size);
  st.st_blksize = 1 << 20;
  st.st_blocks = static_cast<blkcnt_t>((a.size + 511) / 512);
  st.st_atim = ToTimespec(a.atime_ns);
  st.st_mtim = ToTimespec(a.mtime_ns);
  st.st_ctim = ToTimespec(a.ctime_ns);
  return st;
}

Result<Attr> VaultFs::AttrOf(uint64_t real_ino) {
  // An open file's attributes are known here (it was read fresh at open, and this daemon
  // makes its changes): no round trip, which matters for the kernel's revalidation during
  // writes.
  if (auto f = files_.Find(real_ino)) {
    std::lock_guard<std::timed_mutex> lock(f->mu);
    Attr a = f->base;
    OpenFiles::Overlay(*f, &a);
    return a;
  }
  return vault_->tree().GetAttr(real_ino);
}

void VaultFs::RememberDir(const Attr& a) {
  if (!a.is_dir()) return;
  std::lock_guard<std::mutex> lock(dirs_mu_);
  if (dirs_.size() > 4096) dirs_.clear();  // a cache, not a table: bounded
  dirs_[a.ino] = {a, std::chrono::steady_clock::now()};
}

Result<Attr> VaultFs::DirAttr(uint64_t real_ino) {
  {
    std::lock_guard<std::mutex> lock(dirs_mu_);
    auto it = dirs_.find(real_ino);
    if (it != dirs_.end() && std::chrono::steady_clock::now() - it->second.second <
                                 std::chrono::duration<double>(options_.attr_timeout)) {
      return it->second.first;
    }
  }
  VFS_ASSIGN_OR_RETURN(Attr a, vault_->tree().GetAttr(real_ino));
  RememberDir(a);
  return a;
}

Result<cluster::FsStats> VaultFs::StatFs() {
  std::lock_guard<std::mutex> lock(statfs_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (statfs_.servers == 0 || now - statfs_at_ > std::chrono::seconds(5)) {
    VFS_ASSIGN_OR_RETURN(statfs_, vault_->content().StatFs());
    statfs_at_ = now;
  }
  return statfs_;
}

const fuse_lowlevel_ops& VaultFs::Ops() {
  static const fuse_lowlevel_ops ops = [] {
    fuse_lowlevel_ops o;
    memset(&o, 0, sizeof(o));
    o.init = OpInit;
    o.lookup = OpLookup;
    o.getattr = OpGetattr;
    o.setattr = OpSetattr;
    o.readlink = OpReadlink;
    o.mknod = OpMknod;
    o.mkdir = OpMkdir;
    o.unlink = OpUnlink;
    o.rmdir = OpRmdir;
    o.symlink = OpSymlink;
    o.rename = OpRename;
    o.link = OpLink;
    o.open = OpOpen;
    o.read = OpRead;
    o.write = OpWrite;
    o.flush = OpFlush;
    o.release = OpRelease;
    o.fsync = OpFsync;
    o.opendir = OpOpendir;
    o.readdir = OpReaddir;
    o.readdirplus = OpReaddirplus;
    o.releasedir = OpReleasedir;
    o.fsyncdir = OpFsyncdir;
    o.statfs = OpStatfs;
    o.setxattr = OpSetxattr;
    o.getxattr = OpGetxattr;
    o.listxattr = OpListxattr;
    o.removexattr = OpRemovexattr;
    o.access = OpAccess;
    o.create = OpCreate;
    return o;
  }();
  return ops;
}

}  // namespace vaultfs::fuse
