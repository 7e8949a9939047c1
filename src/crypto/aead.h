// AEAD sealing of small blobs (wrapped keys, names, symlink targets, xattrs) with
// AES-256-GCM and a random 96-bit nonce.
//
// Blob format (kBlobOverhead = 29 bytes more than the plaintext):
//   version (1 byte, kBlobVersion) || nonce (12) || ciphertext (= plaintext size) || tag (16)
// The version byte is authenticated together with the caller's AAD.
//
// Errors: OpenBlob returns EBADMSG ("authentication failed") for anything that is not an
// authentic blob for this key and AAD: wrong key, any flipped bit, wrong AAD, truncation,
// unknown version. It never returns unauthenticated plaintext. EINVAL for oversized input to
// SealBlob, EIO if OpenSSL itself fails.
//
// Random nonces: at 2^32 blobs per key the collision risk reaches NIST's 2^-32 bound; every
// key sealing blobs here is per-user and seals far fewer (names, keys, xattrs).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "src/common/status.h"
#include "src/crypto/key.h"

namespace vaultfs::crypto {

inline constexpr uint8_t kBlobVersion = 1;
inline constexpr size_t kBlobOverhead = 1 + 12 + 16;
inline constexpr size_t kMaxBlobPlaintext = size_t{16} << 20;

Result<std::string> SealBlob(const Key& key, std::string_view plaintext, std::string_view aad);
Result<std::string> OpenBlob(const Key& key, std::string_view blob, std::string_view aad);

// The bare AES-256-GCM primitive with a caller-chosen 12-byte nonce, returning
// ciphertext || 16-byte tag (and its inverse, EBADMSG on a bad tag). Exists for known-answer
// tests and cross-checks: a nonce must never repeat under one key, so production code uses
// SealBlob or SegmentCipher instead.
Result<std::string> AesGcmSealWithNonce(const Key& key, std::string_view nonce,
                                        std::string_view plaintext, std::string_view aad);
Result<std::string> AesGcmOpenWithNonce(const Key& key, std::string_view nonce,
                                        std::string_view sealed, std::string_view aad);

}  // namespace vaultfs::crypto
