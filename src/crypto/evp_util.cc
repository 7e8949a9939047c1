// Internal EVP helpers: see evp_util.h.
#include "src/crypto/evp_util.h"

#include <openssl/err.h>
#include <openssl/kdf.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace vaultfs::crypto::internal {
namespace {

[[noreturn]] void MissingAlgorithm(const char* name) {
  std::fprintf(stderr, "fatal: OpenSSL provides no %s (broken OpenSSL installation)\n", name);
  std::abort();
}

}  // namespace

const EVP_CIPHER* Aes256Gcm() {
  // Thread-safe one-time init; intentionally never freed (lives as long as the process).
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  if (cipher == nullptr) MissingAlgorithm("AES-256-GCM");
  return cipher;
}

KdfCtxPtr NewKdfCtx(const char* kdf_name) {
  static EVP_KDF* const hkdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  static EVP_KDF* const scrypt = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
  EVP_KDF* kdf = std::string_view(kdf_name) == "HKDF" ? hkdf : scrypt;
  if (kdf == nullptr) MissingAlgorithm(kdf_name);
  return KdfCtxPtr(EVP_KDF_CTX_new(kdf));
}

Status OpenSslError(std::string_view what) {
  unsigned long err = ERR_get_error();
  std::string msg = "OpenSSL " + std::string(what) + " failed";
  if (err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    msg += ": ";
    msg += buf;
  }
  ERR_clear_error();
  return IoError(std::move(msg));
}

}  // namespace vaultfs::crypto::internal
