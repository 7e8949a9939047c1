// NameCipher: see name_cipher.h.
#include "src/crypto/name_cipher.h"

#include <algorithm>

#include "src/common/frame.h"
#include "src/crypto/aead.h"
#include "src/crypto/hash.h"
#include "src/crypto/hkdf.h"
#include "src/crypto/key_labels.h"

namespace vaultfs::crypto {
namespace {

std::string Be64(uint64_t v) {
  std::string s(8, '\0');
  PutBigEndian64(v, s.data());
  return s;
}

// The HMAC input: a fixed-size id then the name, so (id, name) pairs can't collide.
std::string IdAndName(uint64_t id, std::string_view name) {
  std::string s = Be64(id);
  s.append(name);
  return s;
}

bool ValidXattrName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxNameSize && name.find('\0') == std::string_view::npos;
}

bool ValidEntryName(std::string_view name) {
  return ValidXattrName(name) && name.find('/') == std::string_view::npos && name != "." &&
         name != "..";
}

bool ValidTarget(std::string_view target) {
  return !target.empty() && target.size() <= kMaxSymlinkTargetSize &&
         target.find('\0') == std::string_view::npos;
}

Status BadName(std::string_view what, size_t max) {
  return InvalidArgument(std::string(what) + " must be 1.." + std::to_string(max) +
                         " bytes without NUL" +
                         (what == "file name" ? " or '/' and not \".\" or \"..\"" : ""));
}

// Opens a blob that must not exceed max_plain bytes; rejects oversize before decrypting.
Result<std::string> OpenBounded(const Key& key, std::string_view sealed, std::string_view aad,
                                size_t max_plain, std::string_view what) {
  if (sealed.size() > max_plain + kBlobOverhead) {
    return Corruption(std::string(what) + ": authentication failed: sealed form too large");
  }
  Result<std::string> plain = OpenBlob(key, sealed, aad);
  if (!plain.ok()) return plain.status().Annotate(what);
  return plain;
}

// NUL bytes up to the next multiple of kNamePadding, so the sealed length hides the exact
// length. Only for strings without NUL (names, targets), which makes the padding unambiguous.
std::string Pad(std::string_view s) {
  std::string out(s);
  out.resize(PaddedNameSize(s.size()), '\0');
  return out;
}

// Opens a padded blob and strips the padding, which must be exactly what Pad adds: a
// multiple of kNamePadding, NULs only after the first NUL, and less than one block of them.
Result<std::string> OpenPadded(const Key& key, std::string_view sealed, std::string_view aad,
                               size_t max_plain, std::string_view what) {
  VFS_ASSIGN_OR_RETURN(std::string padded,
                       OpenBounded(key, sealed, aad, PaddedNameSize(max_plain), what));
  const size_t end = std::min(padded.find('\0'), padded.size());
  if (padded.size() % kNamePadding != 0 || PaddedNameSize(end) != padded.size() ||
      padded.find_first_not_of('\0', end) != std::string::npos) {
    return Corruption(std::string(what) + ": opened but its padding is malformed");
  }
  padded.resize(end);
  return padded;
}

// AAD of an entry's sealed name: the directory, then the inode the entry points at.
std::string EntryAad(uint64_t parent_id, uint64_t inode_id) {
  return Be64(parent_id) + Be64(inode_id);
}

}  // namespace

NameCipher::NameCipher(Key name_lookup, Key name_seal, Key symlink_seal, Key xattr_lookup,
                       Key xattr_name_seal, Key xattr_value_seal)
    : name_lookup_(std::move(name_lookup)),
      name_seal_(std::move(name_seal)),
      symlink_seal_(std::move(symlink_seal)),
      xattr_lookup_(std::move(xattr_lookup)),
      xattr_name_seal_(std::move(xattr_name_seal)),
      xattr_value_seal_(std::move(xattr_value_seal)) {}

Result<NameCipher> NameCipher::Create(const Key& master_key) {
  VFS_ASSIGN_OR_RETURN(Key name_lookup, DeriveSubkey(master_key, labels::kNameLookup));
  VFS_ASSIGN_OR_RETURN(Key name_seal, DeriveSubkey(master_key, labels::kNameSeal));
  VFS_ASSIGN_OR_RETURN(Key symlink_seal, DeriveSubkey(master_key, labels::kSymlinkSeal));
  VFS_ASSIGN_OR_RETURN(Key xattr_lookup, DeriveSubkey(master_key, labels::kXattrLookup));
  VFS_ASSIGN_OR_RETURN(Key xattr_name_seal, DeriveSubkey(master_key, labels::kXattrNameSeal));
  VFS_ASSIGN_OR_RETURN(Key xattr_value_seal, DeriveSubkey(master_key, labels::kXattrValueSeal));
  return NameCipher(std::move(name_lookup), std::move(name_seal), std::move(symlink_seal),
                    std::move(xattr_lookup), std::move(xattr_name_seal),
                    std::move(xattr_value_seal));
}

Result<std::string> NameCipher::LookupKey(uint64_t parent_id, std::string_view name) const {
  if (!ValidEntryName(name)) return BadName("file name", kMaxNameSize);
  return HmacSha256(name_lookup_.bytes(), IdAndName(parent_id, name));
}

Result<std::string> NameCipher::SealName(uint64_t parent_id, uint64_t inode_id,
                                         std::string_view name) const {
  if (!ValidEntryName(name)) return BadName("file name", kMaxNameSize);
  return SealBlob(name_seal_, Pad(name), EntryAad(parent_id, inode_id));
}

Result<std::string> NameCipher::OpenName(uint64_t parent_id, uint64_t inode_id,
                                         std::string_view lookup_key,
                                         std::string_view sealed) const {
  VFS_ASSIGN_OR_RETURN(
      std::string name,
      OpenPadded(name_seal_, sealed, EntryAad(parent_id, inode_id), kMaxNameSize, "file name"));
  if (!ValidEntryName(name) ||
      !ConstantTimeEquals(lookup_key,
                          HmacSha256(name_lookup_.bytes(), IdAndName(parent_id, name)))) {
    return Corruption("file name: authentication failed: name does not belong to this entry");
  }
  return name;
}

Result<std::string> NameCipher::SealSymlinkTarget(uint64_t inode_id,
                                                  std::string_view target) const {
  if (!ValidTarget(target)) return BadName("symlink target", kMaxSymlinkTargetSize);
  return SealBlob(symlink_seal_, Pad(target), Be64(inode_id));
}

Result<std::string> NameCipher::OpenSymlinkTarget(uint64_t inode_id,
                                                  std::string_view sealed) const {
  VFS_ASSIGN_OR_RETURN(std::string target, OpenPadded(symlink_seal_, sealed, Be64(inode_id),
                                                      kMaxSymlinkTargetSize, "symlink target"));
  if (!ValidTarget(target)) return Corruption("symlink target: opened target is malformed");
  return target;
}

Result<std::string> NameCipher::XattrLookupKey(uint64_t inode_id, std::string_view name) const {
  if (!ValidXattrName(name)) return BadName("xattr name", kMaxNameSize);
  return HmacSha256(xattr_lookup_.bytes(), IdAndName(inode_id, name));
}

Result<std::string> NameCipher::SealXattrName(uint64_t inode_id, std::string_view name) const {
  if (!ValidXattrName(name)) return BadName("xattr name", kMaxNameSize);
  return SealBlob(xattr_name_seal_, Pad(name), Be64(inode_id));
}

Result<std::string> NameCipher::OpenXattrName(uint64_t inode_id, std::string_view lookup_key,
                                              std::string_view sealed) const {
  VFS_ASSIGN_OR_RETURN(std::string name, OpenPadded(xattr_name_seal_, sealed, Be64(inode_id),
                                                    kMaxNameSize, "xattr name"));
  if (!ValidXattrName(name) ||
      !ConstantTimeEquals(lookup_key,
                          HmacSha256(xattr_lookup_.bytes(), IdAndName(inode_id, name)))) {
    return Corruption("xattr name: authentication failed: name does not belong to this entry");
  }
  return name;
}

Result<std::string> NameCipher::SealXattrValue(uint64_t inode_id, std::string_view name,
                                               std::string_view value) const {
  if (!ValidXattrName(name)) return BadName("xattr name", kMaxNameSize);
  if (value.size() > kMaxXattrValueSize) {
    return InvalidArgument("xattr value larger than " + std::to_string(kMaxXattrValueSize) +
                           " bytes");
  }
  return SealBlob(xattr_value_seal_, value, IdAndName(inode_id, name));
}

Result<std::string> NameCipher::OpenXattrValue(uint64_t inode_id, std::string_view name,
                                               std::string_view sealed) const {
  if (!ValidXattrName(name)) return BadName("xattr name", kMaxNameSize);
  return OpenBounded(xattr_value_seal_, sealed, IdAndName(inode_id, name), kMaxXattrValueSize,
                     "xattr value");
}

}  // namespace vaultfs::crypto
