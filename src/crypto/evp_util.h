// Internal to src/crypto: small RAII and error helpers around OpenSSL EVP objects. Not part
// of the public interface; other modules must not include it.
#pragma once

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <memory>
#include <string_view>

#include "src/common/status.h"

namespace vaultfs::crypto::internal {

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter>;

// AES-256-GCM, fetched from the default provider once for the process (fetching on every
// init costs a lock and a lookup). Never null: aborts if the provider lacks it.
const EVP_CIPHER* Aes256Gcm();

// A new context for `kdf_name` ("HKDF", "SCRYPT"); the EVP_KDF is fetched once per name.
KdfCtxPtr NewKdfCtx(const char* kdf_name);

// EIO "OpenSSL <what> failed: <reason>", and clears OpenSSL's per-thread error queue so a
// stale entry never shows up in someone else's error.
Status OpenSslError(std::string_view what);

// GCM constants shared by aead.cc and segment_cipher.cc.
inline constexpr size_t kGcmNonceSize = 12;
inline constexpr size_t kGcmTagSize = 16;

}  // namespace vaultfs::crypto::internal
