// The namespace: inodes and directory entries. A directory entry is (parent, lookup key) ->
// (sealed name, child); the key is the client's HMAC of the plaintext name, opaque here, so the
// server can look names up without learning them. Directories cannot be hard-linked, so a
// directory's parent is the unique entry pointing at it; rename walks those links upward to
// refuse moving a directory into its own subtree. Directory nlink = 2 + subdirectories.
#include <set>

#include "servers/meta/store_ops.h"
#include "src/common/file_limits.h"

namespace vaultfs::meta {
namespace {

constexpr size_t kMaxSealedName = 4096;
// A sealed symlink target: the client sends hex of the sealed blob (target padded to 4096
// bytes + 29) = 8250 chars for a 4095-byte target (PATH_MAX - 1); room to spare.
constexpr size_t kMaxTarget = 16384;
// Readdir stops a page early once its opaque strings (keys, names) pass this many bytes, so a
// page of long sealed names stays well inside a reply frame (the client accepts 8 MiB; JSON
// escaping can grow odd bytes up to 6x). Extended attributes live in their own table
// (store_xattrs.cc) and never ride along.
constexpr size_t kReaddirPageBytes = 1 << 20;

// The inode columns in the order InodeFromRow reads them, for a table aliased `i`.
constexpr const char* kInodeCols =
    "i.id, i.owner, i.type, i.mode, i.uid, i.gid, i.rdev, i.nlink, i.size, i.atime, i.mtime, "
    "i.ctime, i.version, i.target";

// Reads the kInodeCols columns starting at column `c`.
StoreOps::Inode InodeFromRow(const Stmt& st, int c) {
  StoreOps::Inode n;
  n.id = st.Int(c + 0);
  n.owner = st.Text(c + 1);
  n.type = st.Text(c + 2);
  n.mode = st.Int(c + 3);
  n.uid = st.Int(c + 4);
  n.gid = st.Int(c + 5);
  n.rdev = st.Int(c + 6);
  n.nlink = st.Int(c + 7);
  n.size = st.Int(c + 8);
  n.atime = st.Int(c + 9);
  n.mtime = st.Int(c + 10);
  n.ctime = st.Int(c + 11);
  n.version = st.OptText(c + 12);
  n.target = st.OptText(c + 13);
  return n;
}

struct Entry {
  std::string name;
  int64_t child = 0;
};

std::optional<Entry> FindEntry(SqliteDb& db, int64_t parent, const std::string& key) {
  Stmt st = db.Prepare("SELECT name, child FROM dentries WHERE parent=?1 AND key=?2");
  st.Bind(1, parent).Bind(2, key);
  if (!st.Step()) return std::nullopt;
  return Entry{st.Text(0), st.Int(1)};
}

bool HasChildren(SqliteDb& db, int64_t dir) {
  Stmt st = db.Prepare("SELECT 1 FROM dentries WHERE parent=?1 LIMIT 1");
  st.Bind(1, dir);
  return st.Step();
}

void AddNlink(SqliteDb& db, int64_t ino, int64_t delta) {
  Stmt st = db.Prepare("UPDATE inodes SET nlink=nlink+?1 WHERE id=?2");
  st.Bind(1, delta).Bind(2, ino).Run();
}

void InsertEntry(SqliteDb& db, int64_t parent, const std::string& key, const std::string& name,
                 int64_t child) {
  Stmt st = db.Prepare("INSERT INTO dentries(parent, key, name, child) VALUES(?1,?2,?3,?4)");
  st.Bind(1, parent).Bind(2, key).Bind(3, name).Bind(4, child).Run();
}

void DeleteEntry(SqliteDb& db, int64_t parent, const std::string& key) {
  Stmt st = db.Prepare("DELETE FROM dentries WHERE parent=?1 AND key=?2");
  st.Bind(1, parent).Bind(2, key).Run();
}

// True if `node` is `ancestor` or lies below it. Walks parent links of directories.
bool IsAncestorOrSelf(SqliteDb& db, int64_t ancestor, int64_t node) {
  std::set<int64_t> seen;
  int64_t cur = node;
  while (seen.insert(cur).second) {
    if (cur == ancestor) return true;
    Stmt st = db.Prepare("SELECT parent FROM dentries WHERE child=?1 LIMIT 1");
    st.Bind(1, cur);
    if (!st.Step()) return false;
    cur = st.Int(0);
  }
  return false;
}

bool IsDir(const StoreOps::Inode& n) { return n.type == "dir"; }

}  // namespace

StoreOps::Inode StoreOps::LoadInode(int64_t id) {
  Stmt st = db_.Prepare(std::string("SELECT ") + kInodeCols + " FROM inodes i WHERE i.id=?1");
  st.Bind(1, id);
  // Another user's inode answers exactly like a missing one: inode numbers are sequential,
  // so any other answer would let a user map who owns what.
  if (!st.Step()) throw OpError{ENOENT, "no inode " + std::to_string(id)};
  Inode n = InodeFromRow(st, 0);
  if (n.owner != user_) throw OpError{ENOENT, "no inode " + std::to_string(id)};
  return n;
}

StoreOps::Inode StoreOps::LoadDir(int64_t id) {
  Inode n = LoadInode(id);
  if (!IsDir(n)) throw OpError{ENOTDIR, "inode " + std::to_string(id) + " is not a directory"};
  return n;
}

Json StoreOps::InodeJson(const Inode& n) {
  Json j = {{"ino", n.id},      {"type", n.type},   {"mode", n.mode},   {"uid", n.uid},
            {"gid", n.gid},     {"rdev", n.rdev},   {"nlink", n.nlink}, {"size", n.size},
            {"atime", n.atime}, {"mtime", n.mtime}, {"ctime", n.ctime}};
  j["version"] = n.version ? Json(*n.version) : Json(nullptr);
  return j;
}

namespace {

bool InodeExists(SqliteDb& db, int64_t id) {
  Stmt st = db.Prepare("SELECT 1 FROM inodes WHERE id=?1");
  st.Bind(1, id);
  return st.Step();
}

bool OwnInodeExists(SqliteDb& db, int64_t id, const std::string& owner) {
  Stmt st = db.Prepare("SELECT 1 FROM inodes WHERE id=?1 AND owner=?2");
  st.Bind(1, id).Bind(2, owner);
  return st.Step();
}

// Takes `count` inode numbers from meta.next_ino; returns the first.
int64_t TakeInodeNumbers(SqliteDb& db, int64_t count) {
  Stmt next = db.Prepare("SELECT value FROM meta WHERE key='next_ino'");
  if (!next.Step()) throw SqlError("meta.next_ino is missing");
  int64_t id = next.Int(0);
  Stmt bump = db.Prepare("UPDATE meta SET value=?1 WHERE key='next_ino'");
  bump.Bind(1, id + count).Run();
  return id;
}

}  // namespace

int64_t StoreOps::NewInode(const std::string& type, int64_t mode, int64_t uid, int64_t gid,
                           int64_t rdev, const std::optional<std::string>& target,
                           std::optional<int64_t> reserved) {
  int64_t id = 0;
  if (reserved) {
    id = *reserved;
    Stmt r = db_.Prepare("SELECT 1 FROM ino_reservations WHERE owner=?1 AND lo<=?2 AND hi>=?2");
    r.Bind(1, user_).Bind(2, id);
    if (!r.Step()) {
      throw OpError{EINVAL, "inode number " + std::to_string(id) + " was not reserved by you"};
    }
    if (InodeExists(db_, id)) {
      throw OpError{EEXIST, "inode " + std::to_string(id) + " exists already"};
    }
  } else {
    id = TakeInodeNumbers(db_, 1);
  }
  Stmt ins = db_.Prepare(
      "INSERT INTO inodes(id, owner, type, mode, uid, gid, rdev, nlink, size, atime, mtime, ctime,"
      " version, target) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?10,?10,NULL,?11)");
  int64_t size = target ? static_cast<int64_t>(target->size()) : 0;
  ins.Bind(1, id).Bind(2, user_).Bind(3, type).Bind(4, mode).Bind(5, uid).Bind(6, gid);
  ins.Bind(7, rdev).Bind(8, type == "dir" ? 2 : 1).Bind(9, size).Bind(10, now_).Bind(11, target);
  ins.Run();
  return id;
}

void StoreOps::Touch(int64_t ino, bool mtime, bool ctime) {
  if (mtime) {
    Stmt st = db_.Prepare("UPDATE inodes SET mtime=?1 WHERE id=?2");
    st.Bind(1, now_).Bind(2, ino).Run();
  }
  if (ctime) {
    Stmt st = db_.Prepare("UPDATE inodes SET ctime=?1 WHERE id=?2");
    st.Bind(1, now_).Bind(2, ino).Run();
  }
}

void StoreOps::DropLink(int64_t ino) {
  Inode n = LoadInode(ino);
  if (!IsDir(n) && n.nlink > 1) {
    AddNlink(db_, ino, -1);
    Touch(ino, false, true);
    return;
  }
  DeleteVersions(ino, std::nullopt);
  DeleteXattrs(ino);
  Stmt st = db_.Prepare("DELETE FROM inodes WHERE id=?1");
  st.Bind(1, ino).Run();
}

Json StoreOps::Lookup(const Args& a) {
  LoadDir(a.Ino("parent"));
  auto e = FindEntry(db_, a.Ino("parent"), a.Key("key"));
  if (!e) throw OpError{ENOENT, "no such entry"};
  return Json{{"attr", InodeJson(LoadInode(e->child))}, {"name", e->name}};
}

Json StoreOps::GetAttr(const Args& a) { return Json{{"attr", InodeJson(LoadInode(a.Ino("ino")))}}; }

StoreOps::AttrChanges StoreOps::ParseAttrChanges(const Args& a) {
  AttrChanges c;
  c.mode = a.OptInt("mode", 0, 07777);
  c.uid = a.OptInt("uid", 0, UINT32_MAX);
  c.gid = a.OptInt("gid", 0, UINT32_MAX);
  c.atime = a.OptInt("atime", INT64_MIN, INT64_MAX);
  c.mtime = a.OptInt("mtime", INT64_MIN, INT64_MAX);
  return c;
}

Json StoreOps::SetAttr(const Args& a) {
  Inode n = LoadInode(a.Ino("ino"));
  AttrChanges c = ParseAttrChanges(a);
  auto size = a.OptInt("size", 0, INT64_MAX);
  if (size && IsDir(n)) throw OpError{EISDIR, "cannot set the size of a directory"};
  if (size && n.type != "file") throw OpError{EINVAL, "size applies to regular files only"};
  if (const ClusterConfig& cfg = store_->config();
      size && static_cast<uint64_t>(*size) > MaxFileSize(cfg.segment_size, cfg.k)) {
    throw OpError{EFBIG, "size " + std::to_string(*size) + " is above the largest file size (" +
                             std::to_string(MaxFileSize(cfg.segment_size, cfg.k)) + " bytes)"};
  }
  n.mode = c.mode.value_or(n.mode);
  n.uid = c.uid.value_or(n.uid);
  n.gid = c.gid.value_or(n.gid);
  n.atime = c.atime.value_or(n.atime);
  n.mtime = c.mtime.value_or(n.mtime);
  if (size) n.size = *size;
  n.ctime = now_;
  Stmt st = db_.Prepare(
      "UPDATE inodes SET mode=?1, uid=?2, gid=?3, size=?4, atime=?5, mtime=?6, ctime=?7 "
      "WHERE id=?8");
  st.Bind(1, n.mode).Bind(2, n.uid).Bind(3, n.gid).Bind(4, n.size).Bind(5, n.atime);
  st.Bind(6, n.mtime).Bind(7, n.ctime).Bind(8, n.id).Run();
  return Json{{"attr", InodeJson(n)}};
}

Json StoreOps::Mkdir(const Args& a) {
  int64_t parent = a.Ino("parent");
  std::string key = a.Key("key");
  std::string name = a.Str("name", kMaxSealedName);
  int64_t mode = a.OptInt("mode", 0, 07777).value_or(0755);
  int64_t uid = a.OptInt("uid", 0, UINT32_MAX).value_or(0);
  int64_t gid = a.OptInt("gid", 0, UINT32_MAX).value_or(0);
  std::optional<int64_t> reserved;
  if (a.Has("ino")) reserved = a.Ino("ino");
  LoadDir(parent);
  if (auto e = FindEntry(db_, parent, key)) {
    // A retried mkdir of a reserved number that landed (its reply was lost) succeeds again.
    if (!reserved || e->child != *reserved) throw OpError{EEXIST, "entry exists"};
    return Json{{"attr", InodeJson(LoadInode(*reserved))}};
  }
  int64_t id = NewInode("dir", mode, uid, gid, 0, std::nullopt, reserved);
  InsertEntry(db_, parent, key, name, id);
  AddNlink(db_, parent, 1);
  Touch(parent, true, true);
  return Json{{"attr", InodeJson(LoadInode(id))}};
}

// Numbers a client may give new files itself (create's and new_entry's "ino"), so that it can
// answer a create at once and send the file's entry with its first commit.
Json StoreOps::ReserveInodes(const Args& a) {
  const int64_t count = a.Int("count", 1, 65536);
  const int64_t first = TakeInodeNumbers(db_, count);
  Stmt ins = db_.Prepare("INSERT INTO ino_reservations(owner, lo, hi) VALUES(?1,?2,?3)");
  ins.Bind(1, user_).Bind(2, first).Bind(3, first + count - 1).Run();
  return Json{{"first", first}, {"count", count}};
}

StoreOps::Inode StoreOps::FileForWrite(const Args& a) {
  const int64_t ino = a.Ino("ino");
  if (a.Has("new_entry")) {
    // Present: an earlier attempt of this write created it (its reply was lost). Another
    // user's number goes to Create, which refuses it as unreserved, as it does a free one.
    if (!OwnInodeExists(db_, ino, user_)) {
      Json entry = a.Object("new_entry");
      entry["ino"] = ino;
      Create(Args(entry));
    }
  }
  return LoadInode(ino);
}

Json StoreOps::Create(const Args& a) {
  int64_t parent = a.Ino("parent");
  std::string key = a.Key("key");
  std::string name = a.Str("name", kMaxSealedName);
  std::string type = a.OptStr("type", 16).value_or("file");
  static const std::set<std::string> kTypes = {"file", "fifo", "socket", "chr", "blk"};
  if (!kTypes.count(type)) {
    throw OpError{EINVAL,
                  "create: type must be file, fifo, socket, chr or blk (use mkdir/symlink)"};
  }
  int64_t mode = a.OptInt("mode", 0, 07777).value_or(0644);
  int64_t uid = a.OptInt("uid", 0, UINT32_MAX).value_or(0);
  int64_t gid = a.OptInt("gid", 0, UINT32_MAX).value_or(0);
  int64_t rdev = a.OptInt("rdev", 0, INT64_MAX).value_or(0);
  std::optional<int64_t> reserved;
  if (a.Has("ino")) reserved = a.Ino("ino");
  LoadDir(parent);
  if (auto e = FindEntry(db_, parent, key)) {
    // A retried create of a reserved number that landed (its reply was lost) succeeds again.
    if (!reserved || e->child != *reserved) throw OpError{EEXIST, "entry exists"};
    return Json{{"attr", InodeJson(LoadInode(*reserved))}};
  }
  int64_t id = NewInode(type, mode, uid, gid, rdev, std::nullopt, reserved);
  InsertEntry(db_, parent, key, name, id);
  Touch(parent, true, true);
  return Json{{"attr", InodeJson(LoadInode(id))}};
}

Json StoreOps::Symlink(const Args& a) {
  int64_t parent = a.Ino("parent");
  std::string key = a.Key("key");
  std::string name = a.Str("name", kMaxSealedName);
  std::string target = a.Str("target", kMaxTarget);
  int64_t uid = a.OptInt("uid", 0, UINT32_MAX).value_or(0);
  int64_t gid = a.OptInt("gid", 0, UINT32_MAX).value_or(0);
  std::optional<int64_t> reserved;
  if (a.Has("ino")) reserved = a.Ino("ino");
  LoadDir(parent);
  if (auto e = FindEntry(db_, parent, key)) {
    if (!reserved || e->child != *reserved) throw OpError{EEXIST, "entry exists"};
    return Json{{"attr", InodeJson(LoadInode(*reserved))}};
  }
  int64_t id = NewInode("symlink", 0777, uid, gid, 0, target, reserved);
  InsertEntry(db_, parent, key, name, id);
  Touch(parent, true, true);
  return Json{{"attr", InodeJson(LoadInode(id))}};
}

Json StoreOps::Readlink(const Args& a) {
  Inode n = LoadInode(a.Ino("ino"));
  if (n.type != "symlink" || !n.target) throw OpError{EINVAL, "not a symbolic link"};
  return Json{{"target", *n.target}};
}

Json StoreOps::Link(const Args& a) {
  int64_t ino = a.Ino("ino");
  int64_t parent = a.Ino("parent");
  std::string key = a.Key("key");
  std::string name = a.Str("name", kMaxSealedName);
  Inode n = LoadInode(ino);
  if (IsDir(n)) throw OpError{EPERM, "cannot hard-link a directory"};
  LoadDir(parent);
  if (FindEntry(db_, parent, key)) throw OpError{EEXIST, "entry exists"};
  InsertEntry(db_, parent, key, name, ino);
  AddNlink(db_, ino, 1);
  Touch(ino, false, true);
  Touch(parent, true, true);
  return Json{{"attr", InodeJson(LoadInode(ino))}};
}

Json StoreOps::Unlink(const Args& a) {
  int64_t parent = a.Ino("parent");
  std::string key = a.Key("key");
  LoadDir(parent);
  auto e = FindEntry(db_, parent, key);
  if (!e) throw OpError{ENOENT, "no such entry"};
  Inode n = LoadInode(e->child);
  if (IsDir(n)) throw OpError{EISDIR, "is a directory (use rmdir)"};
  DeleteEntry(db_, parent, key);
  DropLink(n.id);
  Touch(parent, true, true);
  return Json::object();
}

Json StoreOps::Rmdir(const Args& a) {
  int64_t parent = a.Ino("parent");
  std::string key = a.Key("key");
  LoadDir(parent);
  auto e = FindEntry(db_, parent, key);
  if (!e) throw OpError{ENOENT, "no such entry"};
  Inode n = LoadInode(e->child);
  if (!IsDir(n)) throw OpError{ENOTDIR, "not a directory"};
  if (HasChildren(db_, n.id)) throw OpError{ENOTEMPTY, "directory not empty"};
  DeleteEntry(db_, parent, key);
  DropLink(n.id);
  AddNlink(db_, parent, -1);
  Touch(parent, true, true);
  return Json::object();
}

Json StoreOps::Rename(const Args& a) {
  constexpr int64_t kNoReplace = 1, kExchange = 2;
  int64_t sp = a.Ino("parent");
  std::string skey = a.Key("key");
  int64_t dp = a.Ino("new_parent");
  std::string dkey = a.Key("new_key");
  int64_t flags = a.OptInt("flags", 0, 3).value_or(0);
  if (flags == (kNoReplace | kExchange)) throw OpError{EINVAL, "NOREPLACE and EXCHANGE conflict"};
  LoadDir(sp);
  LoadDir(dp);
  auto src = FindEntry(db_, sp, skey);
  if (!src) throw OpError{ENOENT, "rename source does not exist"};
  // The client sealed the moved names for the inodes it looked up ("ino", "new_ino"); if the
  // entries changed since, those names would not open, so it must look them up again.
  if (a.Has("ino") && a.Ino("ino") != src->child) {
    throw OpError{ESTALE, "rename source changed since it was looked up; retry"};
  }
  Inode s = LoadInode(src->child);
  auto dst = FindEntry(db_, dp, dkey);

  if (flags & kExchange) {
    if (!dst) throw OpError{ENOENT, "exchange target does not exist"};
    if (a.Has("new_ino") && a.Ino("new_ino") != dst->child) {
      throw OpError{ESTALE, "exchange target changed since it was looked up; retry"};
    }
    if (sp == dp && skey == dkey) return Json::object();
    Inode d = LoadInode(dst->child);
    // Each entry keeps its key; its sealed name is replaced by one sealed for the inode it
    // points at now.
    auto src_name = a.OptStr("name", kMaxSealedName);
    auto dst_name = a.OptStr("new_name", kMaxSealedName);
    if (IsDir(s) && IsAncestorOrSelf(db_, s.id, dp)) {
      throw OpError{EINVAL, "cannot move a directory into itself"};
    }
    if (IsDir(d) && IsAncestorOrSelf(db_, d.id, sp)) {
      throw OpError{EINVAL, "cannot move a directory into itself"};
    }
    Stmt st = db_.Prepare(
        "UPDATE dentries SET child=?1, name=COALESCE(?4, name) WHERE parent=?2 AND key=?3");
    st.Bind(1, d.id).Bind(2, sp).Bind(3, skey).Bind(4, src_name).Run();
    Stmt st2 = db_.Prepare(
        "UPDATE dentries SET child=?1, name=COALESCE(?4, name) WHERE parent=?2 AND key=?3");
    st2.Bind(1, s.id).Bind(2, dp).Bind(3, dkey).Bind(4, dst_name).Run();
    if (sp != dp) {
      int64_t delta = (IsDir(s) ? 1 : 0) - (IsDir(d) ? 1 : 0);
      if (delta != 0) {
        AddNlink(db_, sp, -delta);
        AddNlink(db_, dp, delta);
      }
    }
    Touch(s.id, false, true);
    Touch(d.id, false, true);
    Touch(sp, true, true);
    Touch(dp, true, true);
    return Json::object();
  }

  std::string new_name = a.Str("new_name", kMaxSealedName);
  if (IsDir(s) && IsAncestorOrSelf(db_, s.id, dp)) {
    throw OpError{EINVAL, "cannot move a directory into itself"};
  }
  if (dst) {
    if (flags & kNoReplace) throw OpError{EEXIST, "rename target exists"};
    if (dst->child == s.id) return Json::object();  // same inode: POSIX says do nothing
    Inode d = LoadInode(dst->child);
    if (IsDir(s) && !IsDir(d)) throw OpError{ENOTDIR, "rename target is not a directory"};
    if (!IsDir(s) && IsDir(d)) throw OpError{EISDIR, "rename target is a directory"};
    if (IsDir(d)) {
      if (HasChildren(db_, d.id)) throw OpError{ENOTEMPTY, "rename target directory not empty"};
      AddNlink(db_, dp, -1);
    }
    DeleteEntry(db_, dp, dkey);
    DropLink(d.id);
  }
  DeleteEntry(db_, sp, skey);
  InsertEntry(db_, dp, dkey, new_name, s.id);
  if (IsDir(s) && sp != dp) {
    AddNlink(db_, sp, -1);
    AddNlink(db_, dp, 1);
  }
  Touch(s.id, false, true);
  Touch(sp, true, true);
  if (dp != sp) Touch(dp, true, true);
  return Json::object();
}

// With `attrs: true` every entry also carries the child's getattr object, so a client answers
// readdirplus (`ls -l`) with one round trip per page instead of one per entry. Directories
// hold only their owner's inodes, so the join needs no per-entry ownership check.
Json StoreOps::Readdir(const Args& a) {
  int64_t dir = a.Ino("ino");
  std::string cursor = a.OptStr("cursor", 128).value_or("");
  int64_t limit = a.OptInt("limit", 1, 1000).value_or(256);
  bool with_attrs = a.Bool("attrs", false);
  LoadDir(dir);
  // Plain pages read four columns; only attrs pages pay for whole inode rows (targets).
  Stmt st = db_.Prepare(std::string("SELECT d.key, d.name, ") +
                        (with_attrs ? kInodeCols : "i.id, i.type") +
                        " FROM dentries d JOIN inodes i ON i.id=d.child"
                        " WHERE d.parent=?1 AND d.key>?2 ORDER BY d.key LIMIT ?3");
  st.Bind(1, dir).Bind(2, cursor).Bind(3, limit + 1);
  Json entries = Json::array();
  Json next = nullptr;
  size_t bytes = 0;
  while (st.Step()) {
    if (static_cast<int64_t>(entries.size()) == limit || bytes >= kReaddirPageBytes) {
      next = entries.back()["key"];
      break;
    }
    Json e = {{"key", st.Text(0)}, {"name", st.Text(1)}, {"ino", st.Int(2)}};
    bytes += e["key"].get_ref<const std::string&>().size() +
             e["name"].get_ref<const std::string&>().size();
    if (with_attrs) {
      Inode child = InodeFromRow(st, 2);
      e["type"] = child.type;
      e["attr"] = InodeJson(child);
    } else {
      e["type"] = st.Text(3);
    }
    entries.push_back(std::move(e));
  }
  return Json{{"entries", std::move(entries)}, {"next", next}};
}

}  // namespace vaultfs::meta
