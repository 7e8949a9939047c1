// Vault: see vault.h.
#include "src/client/vault.h"

#include <charconv>
#include <condition_variable>
#include <thread>

#include "src/cluster/reply_field.h"
#include "src/common/hex.h"
#include "src/common/log.h"
#include "src/crypto/aead.h"
#include "src/crypto/key_wrap.h"
#include "src/crypto/random.h"
#include "src/crypto/segment_cipher.h"

namespace vaultfs::cluster {

using nlohmann::json;

namespace {

Status FileTooBig(uint64_t size, uint64_t max) {
  return Status(EFBIG, "a file of " + std::to_string(size) +
                           " bytes is larger than this cluster stores (at most " +
                           std::to_string(max) + " bytes)");
}

Result<std::string> HexField(const json& j, const char* name) {
  VFS_ASSIGN_OR_RETURN(std::string hex, Field<std::string>(j, name));
  auto raw = HexDecode(hex);
  if (!raw.ok()) return Status(EPROTO, std::string("server reply field '") + name + "' is not hex");
  return raw;
}

// One entry of a version's "shards" array: {index, server, address, chunk, ...}.
Result<ShardPlacement> ParsePlacement(const json& s, int shard_count) {
  ShardPlacement p;
  VFS_ASSIGN_OR_RETURN(p.index, Field<int>(s, "index"));
  if (p.index < 0 || p.index >= shard_count) return Status(EPROTO, "shard index out of range");
  VFS_ASSIGN_OR_RETURN(p.server, Field<uint64_t>(s, "server"));
  VFS_ASSIGN_OR_RETURN(p.chunk, Field<std::string>(s, "chunk"));
  VFS_ASSIGN_OR_RETURN(std::string addr, Field<std::string>(s, "address"));
  auto hp = ParseHostPort(addr);
  if (!hp.ok()) return Status(EPROTO, "shard address: " + hp.status().message());
  p.address = *hp;
  return p;
}

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

Result<uint64_t> VersionNumber(std::string_view version_id) {
  if (version_id.size() < 16) return Status(EPROTO, "version id is too short");
  uint64_t v = 0;
  auto r = std::from_chars(version_id.data(), version_id.data() + 16, v, 16);
  if (r.ec != std::errc() || r.ptr != version_id.data() + 16) {
    return Status(EPROTO, "version id is not hex");
  }
  return v;
}

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
    // The service stores a symlink's size as the length of what we sent (Vault::Symlink): the
    // hex of the sealed, padded target. That gives the padded length only; the Vault replaces
    // it with the exact one (Vault::ExactSymlinkSize).
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

namespace {

// One TLS client context for the metadata and the data connections. On failure both stay
// null and the metadata client reports the reason at the first call.
VaultOptions WithTls(const ClusterConfig& config, VaultOptions o) {
  if (o.meta.tls == nullptr && o.data.tls == nullptr) {
    auto ctx = tls::ClientContext(config);
    if (ctx.ok()) o.meta.tls = o.data.tls = *ctx;
  }
  return o;
}

}  // namespace

Vault::Vault(ClusterConfig config, VaultOptions options)
    : config_(std::move(config)),
      options_(WithTls(config_, std::move(options))),
      meta_(std::make_unique<MetaClient>(config_, options_.meta)),
      data_(std::make_unique<DataClient>(options_.data)),
      real_transport_(std::make_unique<DataClientTransport>(data_.get())),
      health_(options_.health) {}

Vault::~Vault() = default;

ShardTransport* Vault::transport() {
  return options_.transport != nullptr ? options_.transport : real_transport_.get();
}

// ---- accounts ----

Status Vault::Register(const std::string& user, const std::string& password) {
  VFS_ASSIGN_OR_RETURN(std::string salt, crypto::NewSalt());
  VFS_ASSIGN_OR_RETURN(
      auto keys, crypto::DerivePasswordKeys(password, salt, options_.kdf, options_.kdf_limits));
  VFS_ASSIGN_OR_RETURN(crypto::Key master, crypto::Key::Random());
  VFS_ASSIGN_OR_RETURN(std::string wrapped, crypto::WrapMasterKey(keys.kek, master, user));
  json args = {{"user", user},
               {"salt", HexEncode(salt)},
               {"kdf", crypto::KdfParamsToJson(options_.kdf)},
               {"auth_key", HexEncode(keys.auth_key.bytes())},
               {"wrapped_master_key", HexEncode(wrapped)}};
  auto r = meta_->Call("register", std::move(args));
  if (!r.ok()) return r.status().Annotate("register '" + user + "'");
  return Status::Ok();
}

Status Vault::Login(const std::string& user, const std::string& password) {
  auto salt_reply = meta_->Call("get_salt", {{"user", user}});
  if (!salt_reply.ok()) {
    if (salt_reply.status().code() == ENOENT) {
      return PermissionDenied("no such user '" + user + "' (create it with: vaultfs register " +
                              user + ")");
    }
    return salt_reply.status().Annotate("login");
  }
  VFS_ASSIGN_OR_RETURN(std::string salt, HexField(*salt_reply, "salt"));
  VFS_ASSIGN_OR_RETURN(json kdf_json, Field<json>(*salt_reply, "kdf"));
  VFS_ASSIGN_OR_RETURN(crypto::KdfParams kdf, crypto::KdfParamsFromJson(kdf_json));
  auto keys = crypto::DerivePasswordKeys(password, salt, kdf, options_.kdf_limits);
  if (!keys.ok()) return keys.status().Annotate("the server's key-derivation parameters");
  auto login = meta_->Login(user, HexEncode(keys->auth_key.bytes()));
  if (!login.ok()) {
    if (login.status().code() == EACCES) {
      // The service answers an unknown name like a wrong password (so that nobody can probe
      // for accounts), so both are possible here.
      return PermissionDenied("wrong password for '" + user +
                              "', or no such user (create it with: vaultfs register " + user + ")");
    }
    return login.status().Annotate("login");
  }
  VFS_ASSIGN_OR_RETURN(std::string wrapped, HexField(*login, "wrapped_master_key"));
  VFS_ASSIGN_OR_RETURN(std::string user_id, Field<std::string>(*login, "user_id"));
  VFS_ASSIGN_OR_RETURN(uint64_t root, Field<uint64_t>(*login, "root"));
  VFS_ASSIGN_OR_RETURN(crypto::Key master, crypto::UnwrapMasterKey(keys->kek, wrapped, user));
  VFS_ASSIGN_OR_RETURN(crypto::NameCipher names, crypto::NameCipher::Create(master));
  user_name_ = user;
  user_id_ = user_id;
  root_ = root;
  master_ = std::make_unique<crypto::Key>(std::move(master));
  auth_key_ = std::make_unique<crypto::Key>(std::move(keys->auth_key));
  meta_->SetRelogin([this]() -> Status {
    VFS_LOG(kInfo) << "session expired; logging in again";
    return meta_->Login(user_name_, HexEncode(auth_key_->bytes())).status();
  });
  names_ = std::make_unique<crypto::NameCipher>(std::move(names));
  return Status::Ok();
}

Status Vault::ChangePassword(const std::string& old_password, const std::string& new_password) {
  if (!logged_in()) return PermissionDenied("log in first");
  auto salt_reply = meta_->Call("get_salt", {{"user", user_name_}});
  if (!salt_reply.ok()) return salt_reply.status().Annotate("passwd");
  VFS_ASSIGN_OR_RETURN(std::string old_salt, HexField(*salt_reply, "salt"));
  VFS_ASSIGN_OR_RETURN(json kdf_json, Field<json>(*salt_reply, "kdf"));
  VFS_ASSIGN_OR_RETURN(crypto::KdfParams old_kdf, crypto::KdfParamsFromJson(kdf_json));
  VFS_ASSIGN_OR_RETURN(auto old_keys, crypto::DerivePasswordKeys(old_password, old_salt, old_kdf,
                                                                 options_.kdf_limits));
  VFS_ASSIGN_OR_RETURN(std::string salt, crypto::NewSalt());
  VFS_ASSIGN_OR_RETURN(
      auto keys, crypto::DerivePasswordKeys(new_password, salt, options_.kdf, options_.kdf_limits));
  VFS_ASSIGN_OR_RETURN(std::string wrapped, crypto::WrapMasterKey(keys.kek, *master_, user_name_));
  json args = {{"salt", HexEncode(salt)},
               {"kdf", crypto::KdfParamsToJson(options_.kdf)},
               {"old_auth_key", HexEncode(old_keys.auth_key.bytes())},
               {"auth_key", HexEncode(keys.auth_key.bytes())},
               {"wrapped_master_key", HexEncode(wrapped)}};
  auto r = meta_->Call("passwd", std::move(args));
  if (!r.ok()) {
    if (r.status().code() == EACCES) return PermissionDenied("the current password is wrong");
    return r.status().Annotate("passwd");
  }
  if (auto s = r->find("session"); s != r->end() && s->is_string()) {
    meta_->SetSession(s->get<std::string>());
  }
  auth_key_ = std::make_unique<crypto::Key>(std::move(keys.auth_key));
  return Status::Ok();
}

// ---- tree ----

Result<std::string> Vault::NameKey(uint64_t parent, std::string_view name) const {
  VFS_ASSIGN_OR_RETURN(std::string key, names_->LookupKey(parent, name));
  return HexEncode(key);
}

Result<Attr> Vault::Lookup(uint64_t parent, std::string_view name) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, names_->LookupKey(parent, name));
  auto r = meta_->Call("lookup", {{"parent", parent}, {"key", HexEncode(key)}});
  if (!r.ok()) return r.status();
  VFS_ASSIGN_OR_RETURN(Attr a, Attr::FromJson((*r)["attr"]));
  // The entry's sealed name opens only for the inode it was sealed for: a metadata service
  // that pointed the name at another inode is caught here.
  auto sealed = HexField(*r, "name");
  if (!sealed.ok()) return Status(EPROTO, "lookup reply without a sealed name");
  auto opened = names_->OpenName(parent, a.ino, key, *sealed);
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

Result<Attr> Vault::GetAttr(uint64_t ino) {
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
void Vault::ExactSymlinkSize(Attr& a) {
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

void Vault::RememberSymlinkSize(uint64_t ino, uint64_t size) {
  std::lock_guard<std::mutex> lock(symlink_mu_);
  if (symlink_sizes_.size() >= 65536) symlink_sizes_.clear();  // a cache, not a table: bounded
  symlink_sizes_[ino] = size;
}

Result<Attr> Vault::Mkdir(uint64_t parent, std::string_view name, uint32_t mode, uint32_t uid,
                          uint32_t gid) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(parent, name));
  // The name is sealed for the new inode, so its number is picked before the service sees it.
  VFS_ASSIGN_OR_RETURN(uint64_t ino, ReserveInode());
  VFS_ASSIGN_OR_RETURN(std::string sealed, names_->SealName(parent, ino, name));
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

Result<Attr> Vault::Create(uint64_t parent, std::string_view name, uint32_t mode, uint32_t uid,
                           uint32_t gid) {
  if (!logged_in()) return PermissionDenied("log in first");
  NewEntry e{parent, std::string(name), mode, uid, gid};
  VFS_RETURN_IF_ERROR(NameKey(parent, name).status());  // a bad name wastes no number
  VFS_ASSIGN_OR_RETURN(uint64_t ino, ReserveInode());
  VFS_ASSIGN_OR_RETURN(json args, EntryArgs(e, ino));
  return CallForAttr("create", std::move(args));
}

Result<json> Vault::EntryArgs(const NewEntry& e, uint64_t ino) const {
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(e.parent, e.name));
  VFS_ASSIGN_OR_RETURN(std::string sealed, names_->SealName(e.parent, ino, e.name));
  json args = {{"parent", e.parent}, {"key", key},     {"name", HexEncode(sealed)},
               {"type", "file"},     {"mode", e.mode}, {"uid", e.uid},
               {"gid", e.gid},       {"ino", ino}};
  return args;
}

Result<uint64_t> Vault::ReserveInode() {
  if (!logged_in()) return PermissionDenied("log in first");
  std::lock_guard<std::mutex> lock(ino_mu_);
  if (next_reserved_ == reserved_end_) {
    // One replicated entry per batch; numbers a daemon never uses are simply skipped.
    VFS_ASSIGN_OR_RETURN(json r, meta_->Call("reserve_inodes", {{"count", 256}}));
    VFS_ASSIGN_OR_RETURN(uint64_t first, Field<uint64_t>(r, "first"));
    VFS_ASSIGN_OR_RETURN(uint64_t count, Field<uint64_t>(r, "count"));
    if (count == 0) return Status(EPROTO, "reserve_inodes returned no numbers");
    next_reserved_ = first;
    reserved_end_ = first + count;
  }
  return next_reserved_++;
}

Result<Attr> Vault::CreateReserved(uint64_t ino, const NewEntry& e) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(json args, EntryArgs(e, ino));
  return CallForAttr("create", std::move(args));
}

Result<Attr> Vault::CallForAttr(const char* op, json args) {
  if (!logged_in()) return PermissionDenied("log in first");
  auto r = meta_->Call(op, std::move(args));
  if (!r.ok()) return r.status();
  VFS_ASSIGN_OR_RETURN(Attr a, Attr::FromJson((*r)["attr"]));
  ExactSymlinkSize(a);
  return a;
}

Result<Attr> Vault::Mknod(uint64_t parent, std::string_view name, std::string_view type,
                          uint32_t mode, uint32_t uid, uint32_t gid, uint64_t rdev) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(parent, name));
  VFS_ASSIGN_OR_RETURN(uint64_t ino, ReserveInode());
  VFS_ASSIGN_OR_RETURN(std::string sealed, names_->SealName(parent, ino, name));
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
Result<Attr> Vault::Symlink(uint64_t parent, std::string_view name, std::string_view target,
                            uint32_t uid, uint32_t gid) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(parent, name));
  VFS_ASSIGN_OR_RETURN(uint64_t ino, ReserveInode());
  VFS_ASSIGN_OR_RETURN(std::string sealed_name, names_->SealName(parent, ino, name));
  VFS_ASSIGN_OR_RETURN(std::string sealed_target, names_->SealSymlinkTarget(ino, target));
  RememberSymlinkSize(ino, target.size());
  return CallForAttr("symlink", {{"parent", parent},
                                 {"key", key},
                                 {"name", HexEncode(sealed_name)},
                                 {"target", HexEncode(sealed_target)},
                                 {"uid", uid},
                                 {"gid", gid},
                                 {"ino", ino}});
}

Result<std::string> Vault::ReadLink(uint64_t ino) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(json r, meta_->Call("readlink", {{"ino", ino}}));
  VFS_ASSIGN_OR_RETURN(std::string stored, Field<std::string>(r, "target"));
  auto sealed = HexDecode(stored);
  if (!sealed.ok()) return Corruption("symlink " + std::to_string(ino) + ": target is not hex");
  auto target = names_->OpenSymlinkTarget(ino, *sealed);
  if (!target.ok()) {
    return Corruption("symlink " + std::to_string(ino) + ": target does not open (" +
                      target.status().message() + ")");
  }
  RememberSymlinkSize(ino, target->size());
  return target;
}

Result<Attr> Vault::Link(uint64_t ino, uint64_t new_parent, std::string_view new_name) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(new_parent, new_name));
  // The new entry points at the same inode, so its name is sealed for that inode.
  VFS_ASSIGN_OR_RETURN(std::string sealed, names_->SealName(new_parent, ino, new_name));
  return CallForAttr(
      "link", {{"ino", ino}, {"parent", new_parent}, {"key", key}, {"name", HexEncode(sealed)}});
}

Result<Attr> Vault::SetAttr(uint64_t ino, const AttrUpdate& update) {
  json args = {{"ino", ino}};
  update.AddTo(args);
  return CallForAttr("setattr", std::move(args));
}

Status Vault::Unlink(uint64_t parent, std::string_view name) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(parent, name));
  return meta_->Call("unlink", {{"parent", parent}, {"key", key}}).status();
}

Status Vault::Rmdir(uint64_t parent, std::string_view name) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(parent, name));
  return meta_->Call("rmdir", {{"parent", parent}, {"key", key}}).status();
}

Status Vault::RemoveTree(uint64_t parent, std::string_view name, const Attr& a) {
  if (!a.is_dir()) return Unlink(parent, name);
  VFS_ASSIGN_OR_RETURN(auto entries, ReadDir(a.ino));
  for (const auto& e : entries) {
    VFS_ASSIGN_OR_RETURN(Attr child, GetAttr(e.ino));
    VFS_RETURN_IF_ERROR(RemoveTree(a.ino, e.name, child));
  }
  return Rmdir(parent, name);
}

Status Vault::Rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                     std::string_view new_name, int flags) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(std::string key, NameKey(parent, name));
  VFS_ASSIGN_OR_RETURN(std::string new_key, NameKey(new_parent, new_name));
  // Names are sealed for the inode their entry points at, so the moved entries get names
  // sealed for the inodes looked up here; the service refuses (ESTALE) if another client
  // changed those entries meanwhile, and we look again.
  for (int attempt = 0;; ++attempt) {
    VFS_ASSIGN_OR_RETURN(Attr src, Lookup(parent, name));
    VFS_ASSIGN_OR_RETURN(std::string sealed, names_->SealName(new_parent, src.ino, new_name));
    json args = {{"parent", parent},   {"key", key},     {"new_parent", new_parent},
                 {"new_key", new_key}, {"flags", flags}, {"new_name", HexEncode(sealed)},
                 {"ino", src.ino}};
    if (flags & 2) {  // EXCHANGE: each entry keeps its key and points at the other inode
      VFS_ASSIGN_OR_RETURN(Attr dst, Lookup(new_parent, new_name));
      VFS_ASSIGN_OR_RETURN(std::string src_sealed, names_->SealName(parent, dst.ino, name));
      args["new_ino"] = dst.ino;
      args["name"] = HexEncode(src_sealed);
    }
    auto r = meta_->Call("rename", std::move(args));
    if (r.ok() || r.status().code() != ESTALE || attempt >= 3) return r.status();
  }
}

Result<std::vector<DirEntry>> Vault::ReadDir(uint64_t dir) {
  std::vector<DirEntry> out;
  std::string cursor;
  do {
    VFS_ASSIGN_OR_RETURN(DirPage page, ReadDirPage(dir, cursor, 1000, false));
    for (auto& entry : page.entries) out.push_back(std::move(entry.first));
    cursor = std::move(page.next);
  } while (!cursor.empty());
  return out;
}

Result<Vault::DirPage> Vault::ReadDirPage(uint64_t dir, const std::string& cursor, int limit,
                                          bool with_attrs) {
  if (!logged_in()) return PermissionDenied("log in first");
  json args = {{"ino", dir}, {"limit", limit}};
  if (with_attrs) args["attrs"] = true;
  if (!cursor.empty()) args["cursor"] = cursor;
  VFS_ASSIGN_OR_RETURN(json page, meta_->Call("readdir", std::move(args)));
  VFS_ASSIGN_OR_RETURN(json entries, Field<json>(page, "entries"));
  DirPage out;
  for (const json& e : entries) {
    auto key = HexField(e, "key");
    auto sealed = HexField(e, "name");
    auto ino = Field<uint64_t>(e, "ino");
    if (!key.ok() || !sealed.ok() || !ino.ok()) return Status(EPROTO, "malformed readdir entry");
    auto name = names_->OpenName(dir, *ino, *key, *sealed);
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

// ---- paths ----

Result<Attr> Vault::Resolve(std::string_view path) {
  if (!logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(Attr cur, GetAttr(root_));
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

Result<std::pair<Attr, std::string>> Vault::ResolveParent(std::string_view path) {
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

// ---- content ----

Result<const erasure::Codec*> Vault::CodecFor(int k, int m) {
  std::lock_guard<std::mutex> lock(codec_mu_);
  auto& c = codecs_[{k, m}];
  if (!c) {
    VFS_ASSIGN_OR_RETURN(c, erasure::MakeCodec(k, m, options_.engine));
    VFS_LOG(kDebug) << "erasure engine " << c->engine_name() << " for RS(" << k << "," << m << ")";
  }
  return c.get();
}

Result<Attr> Vault::WriteContent(const Attr& attr, uint64_t size, const PlaintextReader& read,
                                 const std::function<void(uint64_t)>& progress,
                                 ContentReport* report) {
  WriteOptions o;
  o.progress = progress;
  o.report = report;
  return WriteContent(attr, size, read, o);
}

namespace {

// Renews a pending version every `interval` while its shards upload (renew_pending), from a
// thread of its own so a stalled upload still renews. A failed renewal is logged: the commit
// reports an expiry (ETIME) if it mattered.
class PendingRenewer {
 public:
  PendingRenewer(MetaClient* meta, uint64_t ino, std::string vid,
                 std::chrono::milliseconds interval)
      : meta_(meta), ino_(ino), vid_(std::move(vid)), interval_(interval) {
    thread_ = std::thread([this] { Run(); });
  }
  ~PendingRenewer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
      lock.unlock();
      auto r = meta_->Call("renew_pending", {{"ino", ino_}, {"version", vid_}});
      if (!r.ok()) {
        VFS_LOG(kWarn) << "could not renew pending version " << vid_ << " of inode " << ino_ << ": "
                       << r.status().ToString();
      }
      lock.lock();
    }
  }

  MetaClient* meta_;
  const uint64_t ino_;
  const std::string vid_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace

Result<Attr> Vault::WriteContent(const Attr& attr, uint64_t size, const PlaintextReader& read,
                                 const WriteOptions& options) {
  for (int attempt = 0;; ++attempt) {
    auto r = WriteContentOnce(attr, size, read, options);
    if (r.ok() || r.status().code() != ETIME || !options.rewind || attempt >= 2) return r;
    VFS_LOG(kWarn) << "inode " << attr.ino << ": " << r.status().ToString()
                   << "; uploading it again";
    VFS_RETURN_IF_ERROR(options.rewind().Annotate("restart the upload"));
  }
}

Result<Attr> Vault::WriteContentOnce(const Attr& attr, uint64_t size, const PlaintextReader& read,
                                     const WriteOptions& options) {
  const auto& progress = options.progress;
  ContentReport* report = options.report;
  if (!logged_in()) return PermissionDenied("log in first");
  if (attr.type != "file") return Status(EISDIR, "not a regular file");
  if (size > max_file_size()) return FileTooBig(size, max_file_size());
  const bool is_inline = size + crypto::SegmentCipher::kTagSize <= config_.inline_threshold;
  // Small files: the client picks the version id and sends sealed content and commit in one
  // replicated write_inline; larger ones reserve placements with begin_version first.
  json begin;
  std::string vid;
  json new_entry;
  if (options.create) {
    VFS_ASSIGN_OR_RETURN(new_entry, EntryArgs(*options.create, attr.ino));
  }
  if (is_inline) {
    VFS_ASSIGN_OR_RETURN(vid, crypto::RandomHexId(16));
  } else {
    // The size is charged to our storage usage (and quota) while the upload is pending.
    json args = {{"ino", attr.ino}, {"size", size}};
    if (options.create) args["new_entry"] = new_entry;
    VFS_ASSIGN_OR_RETURN(begin, meta_->Call("begin_version", args));
    VFS_ASSIGN_OR_RETURN(vid, Field<std::string>(begin, "version"));
  }
  VFS_ASSIGN_OR_RETURN(uint64_t vnum, VersionNumber(vid));
  crypto::VersionBinding binding{user_id_, attr.ino, vnum};
  VFS_ASSIGN_OR_RETURN(crypto::Key file_key, crypto::Key::Random());
  VFS_ASSIGN_OR_RETURN(crypto::SegmentCipher cipher,
                       crypto::SegmentCipher::Create(file_key, binding));
  VFS_ASSIGN_OR_RETURN(std::string wrapped, crypto::WrapFileKey(*master_, file_key, binding));

  json commit = {
      {"ino", attr.ino}, {"version", vid}, {"size", size}, {"wrapped_key", HexEncode(wrapped)}};
  commit["expected"] = attr.version.empty() ? json(nullptr) : json(attr.version);
  if (is_inline && options.create) commit["new_entry"] = std::move(new_entry);
  if (is_inline) {
    std::vector<uint8_t> buf(size + crypto::SegmentCipher::kTagSize);
    if (size > 0) VFS_RETURN_IF_ERROR(read(buf.data(), size).Annotate("read input"));
    VFS_RETURN_IF_ERROR(cipher.Seal(0, true, std::span(buf.data(), size), std::span(buf)));
    commit["content"] =
        HexEncode(std::string_view(reinterpret_cast<char*>(buf.data()), buf.size()));
    if (progress) progress(size);
  } else {
    VFS_ASSIGN_OR_RETURN(int k, Field<int>(begin, "k"));
    VFS_ASSIGN_OR_RETURN(int m, Field<int>(begin, "m"));
    VFS_ASSIGN_OR_RETURN(uint32_t segment_size, Field<uint32_t>(begin, "segment_size"));
    VFS_ASSIGN_OR_RETURN(std::string token, Field<std::string>(begin, "token"));
    VFS_ASSIGN_OR_RETURN(json shards, Field<json>(begin, "shards"));
    VFS_ASSIGN_OR_RETURN(SegmentLayout layout, SegmentLayout::Make(size, segment_size, k, m));
    VFS_ASSIGN_OR_RETURN(const erasure::Codec* codec, CodecFor(k, m));
    WriteRequest req;
    req.layout = &layout;
    req.token = token;
    req.quorum = std::min(config_.write_quorum, k + m);
    req.shards.resize(k + m);
    if (shards.size() != static_cast<size_t>(k + m)) {
      return Status(EPROTO, "begin_version placed the wrong number of shards");
    }
    for (const json& s : shards) {
      VFS_ASSIGN_OR_RETURN(ShardPlacement p, ParsePlacement(s, k + m));
      if (!req.shards[p.index].chunk.empty()) return Status(EPROTO, "shard index placed twice");
      req.shards[p.index] = std::move(p);
    }
    ObjectWriter writer(transport(), &health_, codec);
    std::vector<ShardResult> results;
    {
      PendingRenewer renewer(meta_.get(), attr.ino, vid, options_.pending_renew_interval);
      VFS_ASSIGN_OR_RETURN(results, writer.Write(req, cipher, read, progress));
    }
    json out = json::array();
    for (const auto& r : results) {
      if (r.ok) {
        out.push_back({{"index", r.index}, {"state", "ok"}, {"root", r.root_hex}});
      } else {
        out.push_back({{"index", r.index}, {"state", "missing"}});
        VFS_LOG(kWarn) << "write of inode " << attr.ino << ": " << r.error.ToString()
                       << " (the version is queued for repair)";
        if (report) ++report->shards_missing;
      }
    }
    commit["shards"] = std::move(out);
  }
  options.attrs.AddTo(commit);
  const char* op = is_inline ? "write_inline" : "commit_version";
  // Compare-and-swap on attr.version: a commit made elsewhere meanwhile answers ESTALE and is
  // never replaced silently.
  auto r = meta_->Call(op, commit);
  if (!r.ok()) return r.status().Annotate("commit");
  return Attr::FromJson((*r)["attr"]);
}

Result<std::unique_ptr<VersionReader>> Vault::OpenVersion(const Attr& attr) {
  if (!logged_in()) return PermissionDenied("log in first");
  if (attr.type != "file") return Status(EISDIR, "not a regular file");
  std::unique_ptr<VersionReader> vr(new VersionReader());
  vr->vault_ = this;
  vr->attr_ = attr;
  if (attr.version.empty()) {  // never written: empty
    vr->inline_plain_ = std::string();
    return vr;
  }
  VFS_ASSIGN_OR_RETURN(json v,
                       meta_->Call("get_version", {{"ino", attr.ino}, {"version", attr.version}}));
  VFS_ASSIGN_OR_RETURN(uint64_t size, Field<uint64_t>(v, "size"));
  VFS_ASSIGN_OR_RETURN(std::string wrapped, HexField(v, "wrapped_key"));
  VFS_ASSIGN_OR_RETURN(uint64_t vnum, VersionNumber(attr.version));
  crypto::VersionBinding binding{user_id_, attr.ino, vnum};
  VFS_ASSIGN_OR_RETURN(crypto::Key file_key, crypto::UnwrapFileKey(*master_, wrapped, binding));
  VFS_ASSIGN_OR_RETURN(crypto::SegmentCipher cipher,
                       crypto::SegmentCipher::Create(file_key, binding));
  vr->size_ = size;

  if (v.value("inline", false)) {
    VFS_ASSIGN_OR_RETURN(std::string sealed, HexField(v, "content"));
    if (sealed.size() != size + crypto::SegmentCipher::kTagSize) {
      return Corruption("inline content has the wrong size for its version");
    }
    std::string plain(size, '\0');
    VFS_RETURN_IF_ERROR(cipher.Open(
        0, true, std::span(reinterpret_cast<const uint8_t*>(sealed.data()), sealed.size()),
        std::span(reinterpret_cast<uint8_t*>(plain.data()), size)));
    vr->inline_plain_ = std::move(plain);
    return vr;
  }

  VFS_ASSIGN_OR_RETURN(int k, Field<int>(v, "k"));
  VFS_ASSIGN_OR_RETURN(int m, Field<int>(v, "m"));
  VFS_ASSIGN_OR_RETURN(uint32_t segment_size, Field<uint32_t>(v, "segment_size"));
  VFS_ASSIGN_OR_RETURN(std::string token, Field<std::string>(v, "token"));
  VFS_ASSIGN_OR_RETURN(json shards, Field<json>(v, "shards"));
  VFS_ASSIGN_OR_RETURN(SegmentLayout layout, SegmentLayout::Make(size, segment_size, k, m));
  VFS_ASSIGN_OR_RETURN(const erasure::Codec* codec, CodecFor(k, m));
  if (shards.size() != static_cast<size_t>(k + m)) {
    return Status(EPROTO, "get_version returned the wrong number of shards");
  }
  std::vector<ShardSource> sources(k + m);
  for (const json& s : shards) {
    VFS_ASSIGN_OR_RETURN(ShardPlacement where, ParsePlacement(s, k + m));
    ShardSource& src = sources[where.index];
    if (!src.where.chunk.empty()) return Status(EPROTO, "shard index listed twice");
    src.where = std::move(where);
    if (s.value("state", std::string()) == "ok" && s["root"].is_string()) {
      src.root_hex = s["root"].get<std::string>();
    }
  }
  vr->segment_size_ = segment_size;
  vr->reader_ = std::make_unique<ObjectReader>(
      transport(), &health_, codec, std::make_unique<crypto::SegmentCipher>(std::move(cipher)),
      layout, std::move(sources), token, options_.read);
  return vr;
}

VersionReader::~VersionReader() = default;

Status VersionReader::Read(uint64_t offset, uint64_t length, const PlaintextSink& sink) {
  if (offset >= size_) return Status::Ok();
  length = std::min(length, size_ - offset);
  if (length == 0) return Status::Ok();
  if (inline_plain_) return sink(std::string_view(*inline_plain_).substr(offset, length));
  Status st = reader_->Read(offset, length, sink);
  ReportNewProblems();
  return st;
}

Status VersionReader::ReadSegments(uint64_t first, uint64_t last, const SegmentSink& sink) {
  if (!reader_) return InvalidArgument("inline content has no segments");
  Status st = reader_->ReadSegments(first, last, sink);
  ReportNewProblems();
  return st;
}

std::vector<ShardProblem> VersionReader::problems() const {
  return reader_ ? reader_->problems() : std::vector<ShardProblem>{};
}

// Tells the metadata service what we found, so repair can start; a failure to report is
// logged but does not fail a read that succeeded.
void VersionReader::ReportNewProblems() {
  const auto& problems = reader_->problems();
  for (; reported_ < problems.size(); ++reported_) {
    const ShardProblem& p = problems[reported_];
    VFS_LOG(kWarn) << "read of inode " << attr_.ino << ": " << p.detail;
    // An unreachable server says nothing about its shards; its absence is handled by server
    // membership, not by per-shard repair.
    if (p.state == "unreachable") continue;
    auto rep = vault_->meta().Call(
        "report_shard", {{"version", attr_.version}, {"index", p.index}, {"state", p.state}});
    if (!rep.ok()) VFS_LOG(kWarn) << "could not report a bad shard: " << rep.status().ToString();
  }
}

Status Vault::ReadContent(const Attr& attr, uint64_t offset, uint64_t length,
                          const PlaintextSink& sink, const std::function<void(uint64_t)>& progress,
                          ContentReport* report) {
  VFS_ASSIGN_OR_RETURN(std::unique_ptr<VersionReader> reader, OpenVersion(attr));
  uint64_t done = 0;
  Status st = reader->Read(offset, length, [&](std::string_view piece) {
    VFS_RETURN_IF_ERROR(sink(piece));
    done += piece.size();
    if (progress) progress(done);
    return Status::Ok();
  });
  if (report) report->problems = reader->problems();
  return st;
}

Result<size_t> Vault::CollectGarbage(std::chrono::seconds grace) {
  if (!logged_in()) return PermissionDenied("log in first");
  GcOptions o;
  o.grace = grace;
  o.may_try = [this](uint64_t server) { return health_.ShouldTry(server); };
  VFS_ASSIGN_OR_RETURN(GcOutcome out, cluster::CollectGarbage(*meta_, *transport(), o));
  if (!out.first_failure.ok()) {
    VFS_LOG(kInfo) << "garbage collection: " << out.first_failure.ToString()
                   << " (will retry later)";
  }
  return out.removed;
}

int Vault::ProbeDownServers() {
  std::vector<std::pair<uint64_t, std::future<Result<HealthInfo>>>> asks;
  for (uint64_t id : health_.DownServers()) {
    if (const DataNodeConfig* d = config_.FindData(id)) {
      asks.emplace_back(id, data_->Health(d->address));
    }
  }
  int down = 0;
  for (auto& [id, f] : asks) {
    auto h = f.get();
    if (h.ok()) {
      health_.ReportSuccess(id);
    } else {
      ++down;
    }
  }
  return down;
}

Result<FsStats> Vault::StatFs() {
  FsStats st;
  std::vector<std::future<Result<HealthInfo>>> asks;
  for (const auto& d : config_.data) asks.push_back(data_->Health(d.address));
  uint64_t min_total = UINT64_MAX, min_free = UINT64_MAX;
  for (auto& f : asks) {
    ++st.servers;
    auto h = f.get();
    if (!h.ok()) continue;
    ++st.servers_up;
    uint64_t total = h->total_bytes, free = h->free_bytes;
    if (h->quota_bytes > 0) {
      total = std::min(total, h->quota_bytes);
      free = std::min(free, h->quota_bytes > h->used_bytes ? h->quota_bytes - h->used_bytes : 0);
    }
    min_total = std::min(min_total, total);
    min_free = std::min(min_free, free);
  }
  if (st.servers_up == 0) return Status(EHOSTDOWN, "no data server answers a health check");
  const double usable = static_cast<double>(st.servers_up) * config_.k / (config_.k + config_.m);
  st.total_bytes = static_cast<uint64_t>(static_cast<double>(min_total) * usable);
  st.free_bytes = static_cast<uint64_t>(static_cast<double>(min_free) * usable);
  return st;
}

}  // namespace vaultfs::cluster
