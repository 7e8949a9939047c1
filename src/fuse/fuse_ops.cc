// FuseOps: see fuse_ops.h. Messages of unexpected errors go to the log, since the kernel
// passes on only the number.
#include "src/fuse/fuse_ops.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cstring>
#include <string>

#include "src/common/log.h"
#include "src/crypto/name_cipher.h"
#include "src/fuse/vault_fs.h"

namespace vaultfs::fuse {
namespace {

using client::Attr;

VaultFs* Fs(fuse_req_t req) { return static_cast<VaultFs*>(fuse_req_userdata(req)); }

// FUSE inode <-> metadata inode (only the root differs).
uint64_t Real(fuse_req_t req, fuse_ino_t ino) {
  return ino == FUSE_ROOT_ID ? Fs(req)->root() : ino;
}
fuse_ino_t Fuse(const VaultFs* fs, uint64_t ino) { return ino == fs->root() ? FUSE_ROOT_ID : ino; }

Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  return Caller{ctx->uid, ctx->gid};
}

FileHandle* HandleOf(fuse_file_info* fi) { return reinterpret_cast<FileHandle*>(fi->fh); }
DirHandle* DirOf(fuse_file_info* fi) { return reinterpret_cast<DirHandle*>(fi->fh); }

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
    case ENXIO:
    case ENODATA:  // the xattr answers: expected, and asked for on every write
    case ENOTSUP:
    case ERANGE:
    case E2BIG:
      if (code == EACCES || code == EPERM || code == EINVAL || code == ENOTSUP) {
        VFS_LOG(kDebug) << op << ": " << st.ToString();
      }
      return code;
    default:
      VFS_LOG(kWarn) << op << ": " << st.ToString();
      return code == EROFS ? code : EIO;
  }
}

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

struct stat ToStat(const VaultFs* fs, const Attr& a) {
  struct stat st;
  memset(&st, 0, sizeof(st));
  st.st_ino = Fuse(fs, a.ino);
  st.st_mode = TypeBits(a.type) | (a.mode & 07777);
  st.st_nlink = static_cast<nlink_t>(a.nlink);
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_rdev = static_cast<dev_t>(a.rdev);
  st.st_size = static_cast<off_t>(a.size);
  st.st_blksize = 1 << 20;
  st.st_blocks = static_cast<blkcnt_t>((a.size + 511) / 512);
  st.st_atim = ToTimespec(a.atime_ns);
  st.st_mtim = ToTimespec(a.mtime_ns);
  st.st_ctim = ToTimespec(a.ctime_ns);
  return st;
}

fuse_entry_param EntryFor(const VaultFs* fs, const Attr& a) {
  fuse_entry_param e;
  memset(&e, 0, sizeof(e));
  e.ino = Fuse(fs, a.ino);
  e.attr = ToStat(fs, a);
  e.attr_timeout = fs->options().attr_timeout;
  e.entry_timeout = fs->options().entry_timeout;
  return e;
}

// ---- replies: every callback ends in one of these ----

void Reply(fuse_req_t req, const Status& st, const char* op) {
  fuse_reply_err(req, st.ok() ? 0 : ErrnoOf(st, op));
}

void ReplyAttr(fuse_req_t req, const Result<Attr>& a, const char* op) {
  if (!a.ok()) return Reply(req, a.status(), op);
  struct stat st = ToStat(Fs(req), *a);
  fuse_reply_attr(req, &st, Fs(req)->options().attr_timeout);
}

void ReplyEntry(fuse_req_t req, const Result<Attr>& a, const char* op) {
  if (!a.ok()) return Reply(req, a.status(), op);
  fuse_entry_param e = EntryFor(Fs(req), *a);
  fuse_reply_entry(req, &e);
}

void ReplyOpen(fuse_req_t req, fuse_file_info* fi, Result<std::unique_ptr<FileHandle>> h,
               const char* op) {
  if (!h.ok()) return Reply(req, h.status(), op);
  fi->fh = reinterpret_cast<uint64_t>(h->release());
  fi->keep_cache = 0;  // close-to-open: the kernel drops cached pages of an earlier version
  fuse_reply_open(req, fi);
}

// ---- operations ----

void OpInit(void* userdata, fuse_conn_info* conn) {
  (void)userdata;
  // open(O_TRUNC) arrives as one open, not open + setattr: a truncation commits once.
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  // Inode numbers are the service's and stable: NFS re-export and open_by_handle work.
  if (conn->capable & FUSE_CAP_EXPORT_SUPPORT) conn->want |= FUSE_CAP_EXPORT_SUPPORT;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // close() must see every write to commit it
  conn->max_write = 1 << 20;                // a segment: fewer, larger staged writes
  conn->max_readahead = 1 << 20;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto a = Fs(req)->Lookup(Real(req, parent), name);
  if (!a.ok() && a.status().code() == ENOENT) {
    // A negative entry: the kernel may remember the name is free for a moment.
    fuse_entry_param e;
    memset(&e, 0, sizeof(e));
    e.entry_timeout = Fs(req)->options().entry_timeout;
    return (void)fuse_reply_entry(req, &e);
  }
  ReplyEntry(req, a, "lookup");
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  ReplyAttr(req, Fs(req)->GetAttr(Real(req, ino)), "getattr");
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  client::AttrUpdate u;
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
  std::optional<uint64_t> size;
  if (to_set & FUSE_SET_ATTR_SIZE) size = static_cast<uint64_t>(attr->st_size);
  ReplyAttr(req, Fs(req)->SetAttr(Real(req, ino), u, size, fi != nullptr ? HandleOf(fi) : nullptr),
            "setattr");
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  auto t = Fs(req)->ReadLink(Real(req, ino));
  if (!t.ok()) return Reply(req, t.status(), "readlink");
  fuse_reply_readlink(req, t->c_str());
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  ReplyEntry(req, Fs(req)->Mknod(Real(req, parent), name, mode, rdev, CallerOf(req)), "mknod");
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  ReplyEntry(req, Fs(req)->Mkdir(Real(req, parent), name, mode, CallerOf(req)), "mkdir");
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Reply(req, Fs(req)->Unlink(Real(req, parent), name), "unlink");
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Reply(req, Fs(req)->Rmdir(Real(req, parent), name), "rmdir");
}

void OpSymlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  ReplyEntry(req, Fs(req)->Symlink(target, Real(req, parent), name, CallerOf(req)), "symlink");
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  Reply(req, Fs(req)->Rename(Real(req, parent), name, Real(req, newparent), newname, flags),
        "rename");
}

void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  ReplyEntry(req, Fs(req)->Link(Real(req, ino), Real(req, newparent), newname), "link");
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  ReplyOpen(req, fi, Fs(req)->Open(Real(req, ino), fi->flags), "open");
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  auto c = Fs(req)->Create(Real(req, parent), name, mode, CallerOf(req));
  if (!c.ok()) return Reply(req, c.status(), "create");
  fi->fh = reinterpret_cast<uint64_t>(c->handle.release());
  fi->keep_cache = 0;
  fuse_entry_param entry = EntryFor(Fs(req), c->attr);
  fuse_reply_create(req, &entry, fi);
}

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  std::unique_ptr<char[]> buf(new char[size]);  // not zeroed: every byte handed back is written
  auto n = Fs(req)->Read(HandleOf(fi), static_cast<uint64_t>(off), size, buf.get());
  if (!n.ok()) return Reply(req, n.status(), "read");
  fuse_reply_buf(req, buf.get(), *n);
}

void OpWrite(fuse_req_t req, fuse_ino_t, const char* data, size_t size, off_t off,
             fuse_file_info* fi) {
  Status st = Fs(req)->Write(HandleOf(fi), static_cast<uint64_t>(off), {data, size});
  if (!st.ok()) return Reply(req, st, "write");
  fuse_reply_write(req, size);
}

void OpFallocate(fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length,
                 fuse_file_info* fi) {
  if (offset < 0 || length <= 0) return Reply(req, InvalidArgument("bad range"), "fallocate");
  Reply(req,
        Fs(req)->Fallocate(HandleOf(fi), mode, static_cast<uint64_t>(offset),
                           static_cast<uint64_t>(length)),
        "fallocate");
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Reply(req, Fs(req)->Flush(HandleOf(fi)), "close");
}

void OpFsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  Reply(req, Fs(req)->Fsync(HandleOf(fi)), "fsync");
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Fs(req)->Release(std::unique_ptr<FileHandle>(HandleOf(fi)));
  Reply(req, Status::Ok(), "release");
}

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto d = Fs(req)->OpenDir(Real(req, ino));
  if (!d.ok()) return Reply(req, d.status(), "opendir");
  fi->fh = reinterpret_cast<uint64_t>(d->release());
  fuse_reply_open(req, fi);
}

// Packs entries into the kernel's buffer. The reply goes out after ReadDir returns (and
// the handle's lock is released): once it is out the kernel may release the handle.
void ReadDirCommon(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                   bool plus) {
  VaultFs* fs = Fs(req);
  std::string buf(size, '\0');
  size_t used = 0;
  auto add = [&](const DirItem& item) {
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_ino = Fuse(fs, item.ino);
    st.st_mode = TypeBits(item.type);
    const off_t next = static_cast<off_t>(item.next_offset);
    size_t n;
    if (plus) {
      fuse_entry_param e;
      memset(&e, 0, sizeof(e));
      if (item.attr != nullptr) {
        e = EntryFor(fs, *item.attr);
      } else {
        e.attr = st;  // "." and "..": the kernel looks these up itself
      }
      n = fuse_add_direntry_plus(req, buf.data() + used, size - used, item.name.c_str(), &e, next);
    } else {
      n = fuse_add_direntry(req, buf.data() + used, size - used, item.name.c_str(), &st, next);
    }
    if (n > size - used) return false;  // full: this entry comes with the next call
    used += n;
    return true;
  };
  Status st = fs->ReadDir(DirOf(fi), Real(req, ino), static_cast<uint64_t>(off), plus, add);
  if (!st.ok()) return Reply(req, st, "readdir");
  fuse_reply_buf(req, buf.data(), used);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ReadDirCommon(req, ino, size, off, fi, false);
}

void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ReadDirCommon(req, ino, size, off, fi, true);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete DirOf(fi);
  Reply(req, Status::Ok(), "releasedir");
}

void OpFsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  // Directory changes are committed by the metadata service already.
  Reply(req, Status::Ok(), "fsyncdir");
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  auto s = Fs(req)->StatFs();
  if (!s.ok()) return Reply(req, s.status(), "statfs");
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
  Reply(req, Fs(req)->Access(Real(req, ino)), "access");
}

// Extended attributes: VaultFs keeps the user. namespace and answers ENOTSUP for the rest.
// getxattr and listxattr follow the size protocol: size 0 asks for the length, a buffer too
// small is ERANGE.
void ReplyXattr(fuse_req_t req, const Result<std::string>& data, size_t size, const char* op) {
  if (!data.ok()) return Reply(req, data.status(), op);
  if (size == 0) return (void)fuse_reply_xattr(req, data->size());
  if (data->size() > size) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, data->data(), data->size());
}

void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags) {
  Reply(req, Fs(req)->SetXattr(Real(req, ino), name, {value, size}, flags), "setxattr");
}

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  ReplyXattr(req, Fs(req)->GetXattr(Real(req, ino), name), size, "getxattr");
}

void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  ReplyXattr(req, Fs(req)->ListXattr(Real(req, ino)), size, "listxattr");
}

void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Reply(req, Fs(req)->RemoveXattr(Real(req, ino), name), "removexattr");
}

}  // namespace

const fuse_lowlevel_ops& FuseOps() {
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
    o.fallocate = OpFallocate;
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
