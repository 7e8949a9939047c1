// Key wrapping (DESIGN.md §6): the user's random master key is stored on the server sealed
// under the key-encryption key (from the password), and each version's random file key is
// stored sealed under the master key. Both use SealBlob (aead.h) with a sub-key derived for
// that one purpose (key_labels.h), so the wrapped form is kBlobOverhead + 32 = 61 bytes and
// carries the blob version byte.
//
// AAD binds each wrapped key to its owner: the master key to the user id, a file key to
// (user, file, version), so the server can't hand one user's or version's key to another.
//
// Errors: UnwrapMasterKey returns EACCES when the blob does not open, because with an honest
// server the only cause is a wrong password (the message also names tampering). UnwrapFileKey
// returns EBADMSG like every other authentication failure under the master key.
#pragma once

#include <string>
#include <string_view>

#include "src/common/status.h"
#include "src/crypto/key.h"
#include "src/crypto/version_binding.h"

namespace vaultfs::crypto {

inline constexpr size_t kWrappedKeySize = 29 + Key::kSize;

Result<std::string> WrapMasterKey(const Key& kek, const Key& master_key, std::string_view user_id);
Result<Key> UnwrapMasterKey(const Key& kek, std::string_view wrapped, std::string_view user_id);

Result<std::string> WrapFileKey(const Key& master_key, const Key& file_key,
                                const VersionBinding& version);
Result<Key> UnwrapFileKey(const Key& master_key, std::string_view wrapped,
                          const VersionBinding& version);

}  // namespace vaultfs::crypto
