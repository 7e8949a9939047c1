// NameCipher: encryption of everything the metadata service stores about a name
// (DESIGN.md §6), under sub-keys of the user's master key (key_labels.h):
//
//   directory entry  lookup key = HMAC-SHA256(name-lookup key, parent id (BE64) || name)
//                    sealed name = SealBlob(name-seal key, Pad(name),
//                                           AAD = parent id (BE64) || entry's inode id (BE64))
//   symlink target   SealBlob(symlink key, Pad(target), AAD = symlink inode id (BE64))
//   xattr name       lookup key = HMAC-SHA256(xattr-lookup key, inode id (BE64) || name)
//                    sealed name = SealBlob(xattr-name key, Pad(name), AAD = inode id (BE64))
//   xattr value      SealBlob(xattr-value key, value, AAD = inode id (BE64) || name)
//
// The lookup key is deterministic (the server finds an entry by it without learning the
// name) and differs per directory and per user. A sealed name opens only in the directory it
// was sealed for and only for the inode the entry pointed at when it was sealed, and Open*Name
// also checks that the opened name hashes to the entry's lookup key, so the server can neither
// move a name to another directory, swap the names of two entries, nor re-point a name at
// another inode of the same user.
//
// Pad: names and targets (which never contain NUL) are followed by NUL bytes up to the next
// multiple of kNamePadding (32), so the sealed length tells the server only the length rounded
// up to 32 bytes; opening refuses any other padding. Sealed sizes: padded + kBlobOverhead
// (29 bytes: version 1 + nonce 12 + tag 16); a 1..32-byte name seals to 61 bytes, a 255-byte
// name to 285, a 4095-byte symlink target to 4125. Xattr values (binary) are not padded.
// Lookup keys are 32 raw bytes.
//
// Input rules (EINVAL): names and xattr names 1..255 bytes without NUL; entry names also
// without '/' and not "." or ".."; symlink targets 1..4095 bytes without NUL; xattr values
// 0..65536 bytes. Open* returns EBADMSG for anything that does not authenticate or breaks
// those rules (or the padding rule) after opening. Thread-safe: all methods are const.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "src/common/status.h"
#include "src/crypto/key.h"

namespace vaultfs::crypto {

inline constexpr size_t kMaxNameSize = 255;
inline constexpr size_t kMaxSymlinkTargetSize = 4095;
inline constexpr size_t kMaxXattrValueSize = 65536;
inline constexpr size_t kLookupKeySize = 32;
inline constexpr size_t kNamePadding = 32;

// The length a name or target of `size` bytes has once padded (the next multiple of 32).
constexpr size_t PaddedNameSize(size_t size) {
  return (size + kNamePadding - 1) / kNamePadding * kNamePadding;
}

class NameCipher {
 public:
  // Derives the six sub-keys from the user's master key.
  static Result<NameCipher> Create(const Key& master_key);

  Result<std::string> LookupKey(uint64_t parent_id, std::string_view name) const;
  // `inode_id` is the inode the entry points at: a name opens only for that inode.
  Result<std::string> SealName(uint64_t parent_id, uint64_t inode_id, std::string_view name) const;
  Result<std::string> OpenName(uint64_t parent_id, uint64_t inode_id, std::string_view lookup_key,
                               std::string_view sealed) const;

  // `inode_id` is the symlink's own inode, so a target can't be moved to another symlink.
  Result<std::string> SealSymlinkTarget(uint64_t inode_id, std::string_view target) const;
  Result<std::string> OpenSymlinkTarget(uint64_t inode_id, std::string_view sealed) const;

  Result<std::string> XattrLookupKey(uint64_t inode_id, std::string_view name) const;
  Result<std::string> SealXattrName(uint64_t inode_id, std::string_view name) const;
  Result<std::string> OpenXattrName(uint64_t inode_id, std::string_view lookup_key,
                                    std::string_view sealed) const;
  // The value is bound to its inode and its (plaintext) xattr name.
  Result<std::string> SealXattrValue(uint64_t inode_id, std::string_view name,
                                     std::string_view value) const;
  Result<std::string> OpenXattrValue(uint64_t inode_id, std::string_view name,
                                     std::string_view sealed) const;

 private:
  NameCipher(Key name_lookup, Key name_seal, Key symlink_seal, Key xattr_lookup,
             Key xattr_name_seal, Key xattr_value_seal);

  Key name_lookup_;
  Key name_seal_;
  Key symlink_seal_;
  Key xattr_lookup_;
  Key xattr_name_seal_;
  Key xattr_value_seal_;
};

}  // namespace vaultfs::crypto
