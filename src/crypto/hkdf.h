// HKDF-SHA256 (RFC 5869) through OpenSSL's EVP_KDF "HKDF": the one way vaultfs turns one
// secret into several independent keys. Labels live in key_labels.h.
#pragma once

#include <string>
#include <string_view>

#include "src/common/status.h"
#include "src/crypto/key.h"

namespace vaultfs::crypto {

// Extract-then-expand. `ikm` must be non-empty; an empty `salt` means the RFC's default
// (HashLen zero bytes); `length` is 1..8160 (255 * 32). EINVAL on bad sizes.
Result<std::string> HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info,
                               size_t length);

// A 256-bit sub-key of `ikm` for the purpose named by `label` (one of labels::k*).
Result<Key> DeriveKey(std::string_view ikm, std::string_view label);
inline Result<Key> DeriveSubkey(const Key& parent, std::string_view label) {
  return DeriveKey(parent.bytes(), label);
}

}  // namespace vaultfs::crypto
