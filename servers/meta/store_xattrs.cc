// Extended attributes: (inode, lookup key) -> (sealed name, sealed value), in table `xattrs`.
// The key is the client's HMAC of the plaintext attribute name for that inode, the name and
// value are AEAD blobs sealed for the inode (src/crypto/name_cipher.h), all hex: the service
// stores and bounds them without learning names, values or namespaces. Namespace rules
// (user.* only, not on symlinks) are the client's. Attributes belong to the inode, so hard
// links share them and DropLink removes them with the inode.
//
// Limits, counted on what is stored (hex of sealed blobs, two characters a byte):
//   name    a 255-byte name seals to 285 bytes (padded to 256 + 29): at most 570 characters;
//   value   a 65536-byte value seals to 65565 bytes: at most 131130 characters, else E2BIG;
//   inode   at most kMaxXattrsPerInode attributes and kMaxXattrBytesPerInode sealed bytes of
//           names and values together, else ENOSPC (so listxattr's 64 KiB list always fits).
#include "servers/meta/store_ops.h"

namespace vaultfs::meta {
namespace {

constexpr size_t kBlobOverhead = 29;  // crypto::kBlobOverhead: version 1 + nonce 12 + tag 16
constexpr size_t kMaxSealedXattrName = 2 * (256 + kBlobOverhead);
constexpr size_t kMaxSealedXattrValue = 2 * (65536 + kBlobOverhead);
constexpr int64_t kMaxXattrsPerInode = 128;
constexpr int64_t kMaxXattrBytesPerInode = 256 * 1024;

// An opaque sealed blob: non-empty lowercase hex of whole bytes, at most `max_len` characters
// (E2BIG beyond, since that is what setxattr(2) answers for a value that is too large).
std::string SealedHex(const Args& a, const char* field, size_t max_len, int too_long) {
  std::string s = a.Str(field, SIZE_MAX);
  if (s.size() > max_len) {
    throw OpError{too_long, std::string("field '") + field + "' is " + std::to_string(s.size()) +
                                " characters, above the " + std::to_string(max_len) +
                                " of a sealed extended attribute " +
                                (std::string(field) == "value" ? "value (64 KiB plaintext)"
                                                               : "name (255 bytes plaintext)")};
  }
  if (s.size() % 2 != 0) {
    throw OpError{EINVAL, std::string("field '") + field + "' must be hex of whole bytes"};
  }
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      throw OpError{EINVAL, std::string("field '") + field + "' must be lowercase hex"};
    }
  }
  return s;
}

struct Usage {
  int64_t count = 0;
  int64_t chars = 0;  // of names and values, hex
};

// What inode `ino`'s attributes other than `key` take.
Usage UsageWithout(SqliteDb& db, int64_t ino, const std::string& key) {
  Stmt st = db.Prepare(
      "SELECT count(*), coalesce(sum(length(name) + length(value)), 0) FROM xattrs "
      "WHERE inode=?1 AND key<>?2");
  st.Bind(1, ino).Bind(2, key);
  Usage u;
  if (st.Step()) {
    u.count = st.Int(0);
    u.chars = st.Int(1);
  }
  return u;
}

bool XattrExists(SqliteDb& db, int64_t ino, const std::string& key) {
  Stmt st = db.Prepare("SELECT 1 FROM xattrs WHERE inode=?1 AND key=?2");
  st.Bind(1, ino).Bind(2, key);
  return st.Step();
}

}  // namespace

void StoreOps::DeleteXattrs(int64_t ino) {
  Stmt st = db_.Prepare("DELETE FROM xattrs WHERE inode=?1");
  st.Bind(1, ino).Run();
}

Json StoreOps::SetXattr(const Args& a) {
  constexpr int64_t kCreate = 1, kReplace = 2;  // XATTR_CREATE, XATTR_REPLACE
  const int64_t ino = a.Ino("ino");
  const std::string key = a.Key("key");
  const std::string name = SealedHex(a, "name", kMaxSealedXattrName, EINVAL);
  const std::string value = SealedHex(a, "value", kMaxSealedXattrValue, E2BIG);
  const int64_t flags = a.OptInt("flags", 0, 3).value_or(0);
  if (flags == (kCreate | kReplace)) {
    throw OpError{EINVAL, "setxattr: flags CREATE and REPLACE exclude each other"};
  }
  LoadInode(ino);
  const bool exists = XattrExists(db_, ino, key);
  if (exists && (flags & kCreate)) {
    throw OpError{EEXIST, "the extended attribute exists already (XATTR_CREATE)"};
  }
  if (!exists && (flags & kReplace)) {
    throw OpError{ENODATA, "no such extended attribute to replace (XATTR_REPLACE)"};
  }
  const Usage others = UsageWithout(db_, ino, key);
  if (others.count + 1 > kMaxXattrsPerInode) {
    throw OpError{ENOSPC, "inode " + std::to_string(ino) + " has " + std::to_string(others.count) +
                              " extended attributes, the most a file may have; remove one first"};
  }
  const int64_t bytes =
      (others.chars + static_cast<int64_t>(name.size() + value.size())) / 2;  // sealed bytes
  if (bytes > kMaxXattrBytesPerInode) {
    throw OpError{ENOSPC, "the extended attributes of inode " + std::to_string(ino) +
                              " would take " + std::to_string(bytes) + " bytes sealed, above the " +
                              std::to_string(kMaxXattrBytesPerInode) +
                              " a file may have; remove or shorten some first"};
  }
  Stmt st = db_.Prepare(
      "INSERT INTO xattrs(inode, key, name, value) VALUES(?1,?2,?3,?4) "
      "ON CONFLICT(inode, key) DO UPDATE SET name=excluded.name, value=excluded.value");
  st.Bind(1, ino).Bind(2, key).Bind(3, name).Bind(4, value).Run();
  Touch(ino, false, true);
  return Json::object();
}

Json StoreOps::GetXattr(const Args& a) {
  const int64_t ino = a.Ino("ino");
  const std::string key = a.Key("key");
  LoadInode(ino);
  Stmt st = db_.Prepare("SELECT name, value FROM xattrs WHERE inode=?1 AND key=?2");
  st.Bind(1, ino).Bind(2, key);
  if (!st.Step()) throw OpError{ENODATA, "no such extended attribute"};
  return Json{{"name", st.Text(0)}, {"value", st.Text(1)}};
}

Json StoreOps::ListXattr(const Args& a) {
  const int64_t ino = a.Ino("ino");
  LoadInode(ino);
  Stmt st = db_.Prepare("SELECT key, name FROM xattrs WHERE inode=?1 ORDER BY key");
  st.Bind(1, ino);
  Json items = Json::array();
  while (st.Step()) items.push_back({{"key", st.Text(0)}, {"name", st.Text(1)}});
  return Json{{"xattrs", std::move(items)}};
}

Json StoreOps::RemoveXattr(const Args& a) {
  const int64_t ino = a.Ino("ino");
  const std::string key = a.Key("key");
  LoadInode(ino);
  if (!XattrExists(db_, ino, key)) throw OpError{ENODATA, "no such extended attribute"};
  Stmt st = db_.Prepare("DELETE FROM xattrs WHERE inode=?1 AND key=?2");
  st.Bind(1, ino).Bind(2, key).Run();
  Touch(ino, false, true);
  return Json::object();
}

}  // namespace vaultfs::meta
