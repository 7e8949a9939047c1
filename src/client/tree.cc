// Tree: see tree.h.
#include "src/client/tree.h"

#include "src/cluster/reply_field.h"
#include "src/common/hex.h"
#include "src/common/log.h"
#include "src/crypto/aead.h"

namespace vaultfs::client {

using nlohmann::json;

namespace {

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) {
      std::string_view part = path.substr(i, j - i);
      if (part != ".") parts.emplace_back(part);
    }
    i = j + 1;
  }
  return parts;
}

}  // namespace

Result<Attr> Attr::FromJson(const json& j) {
  Attr a;
  try {
    a.ino = j.at("ino").get<uint64_t>();
    a.type = j.at("type").get<std::string>();
    a.mode = j.at("mode").get<uint32_t>();
    a.uid = j.value("uid", 0u);
    a.gid = j.value("gid", 0u);
    a.rdev = j.value("rdev", uint64_t{0});
    a.nlink = j.value("nlink", uint64_t{1});
    a.size = j.value("size", uint64_t{0});
    a.atime_ns = j.value("atime", int64_t{0});
    a.mtime_ns = j.value("mtime", int64_t{0});
    a.ctime_ns = j.value("ctime", int64_t{0});
    if (auto v = j.find("version"); v != j.end() && v->is_string())
      a.version = v->get<std::string>();
    // The service stores a symlink's size as the length of what we sent (Tree::Symlink): the
    // hex of the sealed, padded target. That gives the padded length only; the Vault replaces
    // it with the exact one (Tree::ExactSymlinkSize).
    constexpr uint64_t kSealedOverhead = 2 * crypto::kBlobOverhead;
    if (a.type == "symlink" && a.size >= kSealedOverhead) a.size = (a.size - kSealedOverhead) / 2;
  } catch (const json::exception& e) {
    return Status(EPROTO, std::string("malformed attributes from the server: ") + e.what());
  }
  return a;
}

void AttrUpdate::Merge(const AttrUpdate& later) {
  if (later.mode) mode = later.mode;
  if (later.uid) uid = later.uid;
  if (later.gid) gid = later.gid;
  if (later.atime_ns) atime_ns = later.atime_ns;
  if (later.mtime_ns) mtime_ns = later.mtime_ns;
}

void AttrUpdate::ApplyTo(Attr& a) const {
  if (mode) a.mode = *mode;
  if (uid) a.uid = *uid;
  if (gid) a.gid = *gid;
  if (atime_ns) a.atime_ns = *atime_ns;
  if (mtime_ns) a.mtime_ns = *mtime_ns;
}

void AttrUpdate::AddTo(json& args) const {
  if (mode) args["mode"] = *mode;
  if (uid) args["uid"] = *uid;
  if (gid) args["gid"] = *gid;
  if (atime_ns) args["atime"] = *atime_ns;
  if (mtime_ns) args["mtime"] = *mtime_ns;
}

// ---- tree ----

Result<std::string> Tree::NameKey(uint64_t parent, std::string_view name) const {
  VFS_ASSIGN_OR_RETURN(std::string key, keys_->names->LookupKey(parent, name));
  return HexEncode(key);
}

Result<Attr> Tree::Lookup(uint64_t parent, std::string_view name) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, keys_->names->LookupKey(parent, name));
  auto r = meta_->Call("lookup", {{"parent", parent}, {"key", HexEncode(key)}});
  if (!r.ok()) return r.status();
  VFS_ASSIGN_OR_RETURN(Attr a, Attr::FromJson((*r)["attr"]));
  // The entry's sealed name opens only for the inode it was sealed for: a metadata service
  // that pointed the name at another inode is caught here.
  auto sealed = cluster::HexField(*r, "name");
  if (!sealed.ok()) return Status(EPROTO, "lookup reply without a sealed name");
  auto opened = keys_->names->OpenName(parent, a.ino, key, *sealed);
  if (!opened.ok()) {
    VFS_LOG(kError) << "directory " << parent << ": the entry for a name points at inode " << a.ino
                    << " but its sealed name does not open for that inode ("
                    << opened.status().message()
                    << "); the metadata service altered or re-pointed it; refused";
    return Status(EIO, "directory " + std::to_string(parent) +
                           ": an entry's sealed name does not match the inode it points at "
                           "(altered by the metadata service?)");
  }
  ExactSymlinkSize(a);
  return a;
}

Result<Attr> Tree::GetAttr(uint64_t ino) {
  auto r = meta_->Call("getattr", {{"ino", ino}});
  if (!r.ok()) return r.status();
  VFS_ASSIGN_OR_RETURN(Attr a, Attr::FromJson((*r)["attr"]));
  if (a.ino != ino) {
    return Status(EIO, "getattr of inode " + std::to_string(ino) + " answered inode " +
                           std::to_string(a.ino));
  }
  ExactSymlinkSize(a);
  return a;
}

// The service knows a symlink's target length only padded to 32 bytes; lstat must give the
// exact one, so the first sight of a symlink reads its target (symlinks never change, so the
// length is remembered for good). Best effort: a link whose target can't be read keeps the
// padded size, so it can still be looked up and removed.
void Tree::ExactSymlinkSize(Attr& a) {
  if (a.type != "symlink") return;
  {
    std::lock_guard<std::mutex> lock(symlink_mu_);
    auto it = symlink_sizes_.find(a.ino);
    if (it != symlink_sizes_.end()) {
      a.size = it->second;
      return;
    }
  }
  auto target = ReadLink(a.ino);  // remembers the length
  if (target.ok()) {
    a.size = target->size();
  } else {
    VFS_LOG(kWarn) << "symlink " << a.ino << ": " << target.status().ToString()
                   << "; its size is shown padded to 32 bytes";
  }
}

void Tree::RememberSymlinkSize(uint64_t ino, uint64_t size) {
  std::lock_guard<std::mutex> lock(symlink_mu_);
  if (symlink_sizes_.size() >= 65536) symlink_sizes_.clear();  // a cache, not a table: bounded
  symlink_sizes_[ino] = size;
}

Result<Attr> Tree::Mkdir(uint64_t parent, std::string_view name, uint32_t mode, uint32_t uid,
                         uint32_t gid) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(parent, name));
  // The name is sealed for the new inode, so its number is picked before the service sees it.
  VFS_ASSIGN_OR_RETURN(uint64_t ino, ReserveInode());
  VFS_ASSIGN_OR_RETURN(std::string sealed, keys_->names->SealName(parent, ino, name));
  auto r = meta_->Call("mkdir", {{"parent", parent},
                                 {"key", key},
                                 {"name", HexEncode(sealed)},
                                 {"mode", mode},
                                 {"uid", uid},
                                 {"gid", gid},
                                 {"ino", ino}});
  if (!r.ok()) return r.status();
  return Attr::FromJson((*r)["attr"]);
}

Result<Attr> Tree::Create(uint64_t parent, std::string_view name, uint32_t mode, uint32_t uid,
                          uint32_t gid) {
  if (!logged_in()) return PermissionDenied("log in first");
  NewEntry e{parent, std::string(name), mode, uid, gid};
  VFS_RETURN_IF_ERROR(NameKey(parent, name).status());  // a bad name wastes no number
  VFS_ASSIGN_OR_RETURN(uint64_t ino, ReserveInode());
  VFS_ASSIGN_OR_RETURN(json args, NewEntryArgs(e, ino));
  return CallForAttr("create", std::move(args));
}

Result<json> Tree::NewEntryArgs(const NewEntry& e, uint64_t ino) const {
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(e.parent, e.name));
  VFS_ASSIGN_OR_RETURN(std::string sealed, keys_->names->SealName(e.parent, ino, e.name));
  json args = {{"parent", e.parent}, {"key", key},     {"name", HexEncode(sealed)},
               {"type", "file"},     {"mode", e.mode}, {"uid", e.uid},
               {"gid", e.gid},       {"ino", ino}};
  return args;
}

Result<uint64_t> Tree::ReserveInode() {
  if (!logged_in()) return PermissionDenied("log in first");
  std::lock_guard<std::mutex> lock(ino_mu_);
  if (next_reserved_ == reserved_end_) {
    // One replicated entry per batch; numbers a daemon never uses are simply skipped.
    VFS_ASSIGN_OR_RETURN(json r, meta_->Call("reserve_inodes", {{"count", 256}}));
    VFS_ASSIGN_OR_RETURN(uint64_t first, cluster::Field<uint64_t>(r, "first"));
    VFS_ASSIGN_OR_RETURN(uint64_t count, cluster::Field<uint64_t>(r, "count"));
    if (count == 0) return Status(EPROTO, "reserve_inodes returned no numbers");
    next_reserved_ = first;
    reserved_end_ = first + count;
  }
  return next_reserved_++;
}

Result<Attr> Tree::CreateReserved(uint64_t ino, const NewEntry& e) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(json args, NewEntryArgs(e, ino));
  return CallForAttr("create", std::move(args));
}

Result<Attr> Tree::CallForAttr(const char* op, json args) {
  if (!logged_in()) return PermissionDenied("log in first");
  auto r = meta_->Call(op, std::move(args));
  if (!r.ok()) return r.status();
  VFS_ASSIGN_OR_RETURN(Attr a, Attr::FromJson((*r)["attr"]));
  ExactSymlinkSize(a);
  return a;
}

Result<Attr> Tree::Mknod(uint64_t parent, std::string_view name, std::string_view type,
                         uint32_t mode, uint32_t uid, uint32_t gid, uint64_t rdev) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(parent, name));
  VFS_ASSIGN_OR_RETURN(uint64_t ino, ReserveInode());
  VFS_ASSIGN_OR_RETURN(std::string sealed, keys_->names->SealName(parent, ino, name));
  return CallForAttr("create", {{"parent", parent},
                                {"key", key},
                                {"name", HexEncode(sealed)},
                                {"type", type},
                                {"mode", mode},
                                {"uid", uid},
                                {"gid", gid},
                                {"rdev", rdev},
                                {"ino", ino}});
}

// The symlink's inode number is reserved first, so its name and its target are both sealed
// for it (DESIGN.md §6): the server can't read, alter, move or swap a target.
Result<Attr> Tree::Symlink(uint64_t parent, std::string_view name, std::string_view target,
                           uint32_t uid, uint32_t gid) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(parent, name));
  VFS_ASSIGN_OR_RETURN(uint64_t ino, ReserveInode());
  VFS_ASSIGN_OR_RETURN(std::string sealed_name, keys_->names->SealName(parent, ino, name));
  VFS_ASSIGN_OR_RETURN(std::string sealed_target, keys_->names->SealSymlinkTarget(ino, target));
  RememberSymlinkSize(ino, target.size());
  return CallForAttr("symlink", {{"parent", parent},
                                 {"key", key},
                                 {"name", HexEncode(sealed_name)},
                                 {"target", HexEncode(sealed_target)},
                                 {"uid", uid},
                                 {"gid", gid},
                                 {"ino", ino}});
}

Result<std::string> Tree::ReadLink(uint64_t ino) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(json r, meta_->Call("readlink", {{"ino", ino}}));
  VFS_ASSIGN_OR_RETURN(std::string stored, cluster::Field<std::string>(r, "target"));
  auto sealed = HexDecode(stored);
  if (!sealed.ok()) return Corruption("symlink " + std::to_string(ino) + ": target is not hex");
  auto target = keys_->names->OpenSymlinkTarget(ino, *sealed);
  if (!target.ok()) {
    return Corruption("symlink " + std::to_string(ino) + ": target does not open (" +
                      target.status().message() + ")");
  }
  RememberSymlinkSize(ino, target->size());
  return target;
}

Result<Attr> Tree::Link(uint64_t ino, uint64_t new_parent, std::string_view new_name) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(new_parent, new_name));
  // The new entry points at the same inode, so its name is sealed for that inode.
  VFS_ASSIGN_OR_RETURN(std::string sealed, keys_->names->SealName(new_parent, ino, new_name));
  return CallForAttr(
      "link", {{"ino", ino}, {"parent", new_parent}, {"key", key}, {"name", HexEncode(sealed)}});
}

Result<Attr> Tree::SetAttr(uint64_t ino, const AttrUpdate& update) {
  json args = {{"ino", ino}};
  update.AddTo(args);
  return CallForAttr("setattr", std::move(args));
}

Status Tree::Unlink(uint64_t parent, std::string_view name) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(parent, name));
  return meta_->Call("unlink", {{"parent", parent}, {"key", key}}).status();
}

Status Tree::Rmdir(uint64_t parent, std::string_view name) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(parent, name));
  return meta_->Call("rmdir", {{"parent", parent}, {"key", key}}).status();
}

Status Tree::RemoveTree(uint64_t parent, std::string_view name, const Attr& a) {
  if (!a.is_dir()) return Unlink(parent, name);
  VFS_ASSIGN_OR_RETURN(auto entries, ReadDir(a.ino));
  for (const auto& e : entries) {
    VFS_ASSIGN_OR_RETURN(Attr child, GetAttr(e.ino));
    VFS_RETURN_IF_ERROR(RemoveTree(a.ino, e.name, child));
  }
  return Rmdir(parent, name);
}

Status Tree::Rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                    std::string_view new_name, int flags) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(parent, name));
  VFS_ASSIGN_OR_RETURN(std::string new_key, NameKey(new_parent, new_name));
  // Names are sealed for the inode their entry points at, so the moved entries get names
  // sealed for the inodes looked up here; the service refuses (ESTALE) if another client
  // changed those entries meanwhile, and we look again.
  for (int attempt = 0;; ++attempt) {
    VFS_ASSIGN_OR_RETURN(Attr src, Lookup(parent, name));
    VFS_ASSIGN_OR_RETURN(std::string sealed, keys_->names->SealName(new_parent, src.ino, new_name));
    json args = {{"parent", parent},   {"key", key},     {"new_parent", new_parent},
                 {"new_key", new_key}, {"flags", flags}, {"new_name", HexEncode(sealed)},
                 {"ino", src.ino}};
    if (flags & 2) {  // EXCHANGE: each entry keeps its key and points at the other inode
      VFS_ASSIGN_OR_RETURN(Attr dst, Lookup(new_parent, new_name));
      VFS_ASSIGN_OR_RETURN(std::string src_sealed, keys_->names->SealName(parent, dst.ino, name));
      args["new_ino"] = dst.ino;
      args["name"] = HexEncode(src_sealed);
    }
    auto r = meta_->Call("rename", std::move(args));
    if (r.ok() || r.status().code() != ESTALE || attempt >= 3) return r.status();
  }
}

Result<std::vector<DirEntry>> Tree::ReadDir(uint64_t dir) {
  std::vector<DirEntry> out;
  std::string cursor;
  do {
    VFS_ASSIGN_OR_RETURN(DirPage page, ReadDirPage(dir, cursor, 1000, false));
    for (auto& entry : page.entries) out.push_back(std::move(entry.first));
    cursor = std::move(page.next);
  } while (!cursor.empty());
  return out;
}

Result<Tree::DirPage> Tree::ReadDirPage(uint64_t dir, const std::string& cursor, int limit,
                                        bool with_attrs) {
  if (!logged_in()) return PermissionDenied("log in first");
  json args = {{"ino", dir}, {"limit", limit}};
  if (with_attrs) args["attrs"] = true;
  if (!cursor.empty()) args["cursor"] = cursor;
  VFS_ASSIGN_OR_RETURN(json page, meta_->Call("readdir", std::move(args)));
  VFS_ASSIGN_OR_RETURN(json entries, cluster::Field<json>(page, "entries"));
  DirPage out;
  for (const json& e : entries) {
    auto key = cluster::HexField(e, "key");
    auto sealed = cluster::HexField(e, "name");
    auto ino = cluster::Field<uint64_t>(e, "ino");
    if (!key.ok() || !sealed.ok() || !ino.ok()) return Status(EPROTO, "malformed readdir entry");
    auto name = keys_->names->OpenName(dir, *ino, *key, *sealed);
    if (!name.ok()) {
      VFS_LOG(kError) << "directory " << dir << ": the entry pointing at inode " << *ino
                      << " has a name that does not open for this directory and inode ("
                      << name.status().message()
                      << "); altered or re-pointed by the metadata service? skipped";
      continue;
    }
    Attr attr;
    attr.ino = *ino;
    if (auto a = e.find("attr"); a != e.end()) {
      VFS_ASSIGN_OR_RETURN(attr, Attr::FromJson(*a));
      if (attr.ino != *ino) return Status(EIO, "readdir entry's attributes are another inode's");
      ExactSymlinkSize(attr);
    } else if (with_attrs) {  // a server without attrs in readdir: one getattr each
      VFS_ASSIGN_OR_RETURN(attr, GetAttr(*ino));
    }
    out.entries.push_back({DirEntry{*name, *ino, e.value("type", std::string())}, attr});
  }
  auto next = page.find("next");
  if (next != page.end() && next->is_string()) out.next = next->get<std::string>();
  return out;
}

// ---- extended attributes ----

Result<std::string> Tree::XattrKey(uint64_t ino, std::string_view name) const {
  if (name.empty() || name.size() > crypto::kMaxNameSize) {
    return Status(ERANGE, "extended attribute names are 1 to " +
                              std::to_string(crypto::kMaxNameSize) + " bytes, not " +
                              std::to_string(name.size()));
  }
  return keys_->names->XattrLookupKey(ino, name);
}

Status Tree::SetXattr(uint64_t ino, std::string_view name, std::string_view value, int flags) {
  if (!logged_in()) return PermissionDenied("log in first");
  if (value.size() > crypto::kMaxXattrValueSize) {
    return Status(E2BIG, "extended attribute values are at most " +
                             std::to_string(crypto::kMaxXattrValueSize) + " bytes, not " +
                             std::to_string(value.size()));
  }
  VFS_ASSIGN_OR_RETURN(std::string key, XattrKey(ino, name));
  VFS_ASSIGN_OR_RETURN(std::string sealed_name, keys_->names->SealXattrName(ino, name));
  VFS_ASSIGN_OR_RETURN(std::string sealed_value, keys_->names->SealXattrValue(ino, name, value));
  json args = {{"ino", ino},
               {"key", HexEncode(key)},
               {"name", HexEncode(sealed_name)},
               {"value", HexEncode(sealed_value)}};
  if (flags != 0) args["flags"] = flags;
  return meta_->Call("setxattr", std::move(args)).status();
}

Result<std::string> Tree::GetXattr(uint64_t ino, std::string_view name) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, XattrKey(ino, name));
  VFS_ASSIGN_OR_RETURN(json r, meta_->Call("getxattr", {{"ino", ino}, {"key", HexEncode(key)}}));
  auto sealed_name = cluster::HexField(r, "name");
  auto sealed_value = cluster::HexField(r, "value");
  if (!sealed_name.ok() || !sealed_value.ok()) {
    return Status(EPROTO, "getxattr reply without a sealed name and value");
  }
  // The stored name must be this name sealed for this inode, and the value sealed for both:
  // a value the service moved to another name or inode does not open.
  auto opened = keys_->names->OpenXattrName(ino, key, *sealed_name);
  Result<std::string> value = opened.ok() ? keys_->names->OpenXattrValue(ino, name, *sealed_value)
                                          : Result<std::string>(opened.status());
  if (!value.ok()) {
    VFS_LOG(kError) << "inode " << ino << ": an extended attribute's sealed name or value does "
                    << "not open for this inode and name (" << value.status().message()
                    << "); altered or moved by the metadata service? refused";
    return Status(EIO, "inode " + std::to_string(ino) +
                           ": an extended attribute does not open for this inode and name "
                           "(altered by the metadata service?)");
  }
  return value;
}

Result<std::vector<std::string>> Tree::ListXattr(uint64_t ino) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(json r, meta_->Call("listxattr", {{"ino", ino}}));
  VFS_ASSIGN_OR_RETURN(json items, cluster::Field<json>(r, "xattrs"));
  if (!items.is_array()) return Status(EPROTO, "listxattr reply without a list");
  std::vector<std::string> names;
  for (const json& it : items) {
    auto key = cluster::HexField(it, "key");
    auto sealed = cluster::HexField(it, "name");
    if (!key.ok() || !sealed.ok()) return Status(EPROTO, "malformed listxattr entry");
    auto name = keys_->names->OpenXattrName(ino, *key, *sealed);
    if (!name.ok()) {
      VFS_LOG(kError) << "inode " << ino << ": an extended attribute name does not open for "
                      << "this inode (" << name.status().message()
                      << "); altered or moved by the metadata service? left out";
      continue;
    }
    names.push_back(std::move(name).value());
  }
  return names;
}

Status Tree::RemoveXattr(uint64_t ino, std::string_view name) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, XattrKey(ino, name));
  return meta_->Call("removexattr", {{"ino", ino}, {"key", HexEncode(key)}}).status();
}

// ---- paths ----

Result<Attr> Tree::Resolve(std::string_view path) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(Attr cur, GetAttr(keys_->root));
  std::string walked;
  for (const std::string& part : SplitPath(path)) {
    if (!cur.is_dir()) return Status(ENOTDIR, "'" + walked + "' is not a directory");
    if (part == "..") return InvalidArgument("'..' is not supported in vault paths");
    walked += "/" + part;
    auto next = Lookup(cur.ino, part);
    if (!next.ok()) {
      if (next.status().code() == ENOENT) return NotFound("no such file or directory: " + walked);
      return next.status().Annotate(walked);
    }
    cur = std::move(next).value();
  }
  return cur;
}

Result<std::pair<Attr, std::string>> Tree::ResolveParent(std::string_view path) {
  auto parts = SplitPath(path);
  if (parts.empty()) return InvalidArgument("the vault root has no parent");
  std::string last = parts.back();
  parts.pop_back();
  std::string parent_path;
  for (const auto& p : parts) parent_path += "/" + p;
  VFS_ASSIGN_OR_RETURN(Attr parent, Resolve(parent_path));
  if (!parent.is_dir()) return Status(ENOTDIR, "'" + parent_path + "' is not a directory");
  return std::make_pair(std::move(parent), last);
}

}  // namespace vaultfs::client
