// The identity of one file version, bound into the AAD of its segments and of its wrapped
// file key, so that ciphertext (or a key) moved to another user, file or version fails to
// authenticate (DESIGN.md §3).
#pragma once

#include <cstdint>
#include <string>

#include "src/common/status.h"

namespace vaultfs::crypto {

struct VersionBinding {
  std::string user_id;      // the owner's user id, 1..255 bytes
  uint64_t file_id = 0;     // inode id
  uint64_t version_id = 0;  // id the metadata service gave this version
};

// EINVAL unless user_id is 1..255 bytes.
Status ValidateVersionBinding(const VersionBinding& b);

// Unambiguous encoding: len(user_id) (1 byte) || user_id || file_id (BE64) || version_id (BE64).
// Call only on a validated binding.
std::string EncodeVersionBinding(const VersionBinding& b);

}  // namespace vaultfs::crypto
