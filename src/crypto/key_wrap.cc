// Key wrapping: see key_wrap.h.
#include "src/crypto/key_wrap.h"

#include <openssl/crypto.h>

#include "src/crypto/aead.h"
#include "src/crypto/hkdf.h"
#include "src/crypto/key_labels.h"

namespace vaultfs::crypto {
namespace {

static_assert(kWrappedKeySize == kBlobOverhead + Key::kSize);

Result<Key> KeyFromPlain(std::string& plain) {
  Result<Key> key = Key::FromBytes(plain);
  OPENSSL_cleanse(plain.data(), plain.size());
  if (!key.ok()) return Corruption("authentication failed: wrapped key has the wrong length");
  return key;
}

}  // namespace

Result<std::string> WrapMasterKey(const Key& kek, const Key& master_key, std::string_view user_id) {
  if (user_id.empty()) return InvalidArgument("wrapping a master key needs the user id");
  VFS_ASSIGN_OR_RETURN(Key wrap_key, DeriveSubkey(kek, labels::kMasterKeyWrap));
  return SealBlob(wrap_key, master_key.bytes(), user_id);
}

Result<Key> UnwrapMasterKey(const Key& kek, std::string_view wrapped, std::string_view user_id) {
  VFS_ASSIGN_OR_RETURN(Key wrap_key, DeriveSubkey(kek, labels::kMasterKeyWrap));
  Result<std::string> plain = OpenBlob(wrap_key, wrapped, user_id);
  if (!plain.ok()) {
    if (plain.status().code() != EBADMSG) return plain.status();
    return PermissionDenied(
        "the master key does not open with this password (wrong password, or the stored key "
        "was tampered with)");
  }
  return KeyFromPlain(plain.value());
}

Result<std::string> WrapFileKey(const Key& master_key, const Key& file_key,
                                const VersionBinding& version) {
  VFS_RETURN_IF_ERROR(ValidateVersionBinding(version));
  VFS_ASSIGN_OR_RETURN(Key wrap_key, DeriveSubkey(master_key, labels::kFileKeyWrap));
  return SealBlob(wrap_key, file_key.bytes(), EncodeVersionBinding(version));
}

Result<Key> UnwrapFileKey(const Key& master_key, std::string_view wrapped,
                          const VersionBinding& version) {
  VFS_RETURN_IF_ERROR(ValidateVersionBinding(version));
  VFS_ASSIGN_OR_RETURN(Key wrap_key, DeriveSubkey(master_key, labels::kFileKeyWrap));
  Result<std::string> plain = OpenBlob(wrap_key, wrapped, EncodeVersionBinding(version));
  if (!plain.ok()) return plain.status().Annotate("file key");
  return KeyFromPlain(plain.value());
}

}  // namespace vaultfs::crypto
