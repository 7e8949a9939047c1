// Blob AEAD: see aead.h.
#include "src/crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <cstring>
#include <initializer_list>

#include "src/crypto/evp_util.h"

namespace vaultfs::crypto {
namespace {

using internal::kGcmNonceSize;
using internal::kGcmTagSize;

const unsigned char* U8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// One-shot GCM over `aad` parts then `in`; writes in.size() bytes then the tag to `out`.
Status GcmSeal(const Key& key, const unsigned char* nonce,
               std::initializer_list<std::string_view> aad, std::string_view in,
               unsigned char* out) {
  internal::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), internal::Aes256Gcm(), nullptr, key.data(), nonce) != 1) {
    return internal::OpenSslError("AES-GCM seal init");
  }
  for (std::string_view a : aad) {
    if (!a.empty() &&
        EVP_EncryptUpdate(ctx.get(), nullptr, &len, U8(a), static_cast<int>(a.size())) != 1) {
      return internal::OpenSslError("AES-GCM seal aad");
    }
  }
  int total = 0;
  if (!in.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), out, &len, U8(in), static_cast<int>(in.size())) != 1) {
      return internal::OpenSslError("AES-GCM seal");
    }
    total = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), out + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, kGcmTagSize, out + in.size()) != 1) {
    return internal::OpenSslError("AES-GCM seal final");
  }
  return Status::Ok();
}

// Inverse of GcmSeal: `in` is ciphertext || tag. On failure `out` is wiped.
Status GcmOpen(const Key& key, const unsigned char* nonce,
               std::initializer_list<std::string_view> aad, std::string_view in,
               unsigned char* out) {
  if (in.size() < kGcmTagSize) return Corruption("authentication failed: sealed data too short");
  const size_t ct_size = in.size() - kGcmTagSize;
  unsigned char tag[kGcmTagSize];
  std::memcpy(tag, in.data() + ct_size, kGcmTagSize);
  internal::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), internal::Aes256Gcm(), nullptr, key.data(), nonce) != 1) {
    return internal::OpenSslError("AES-GCM open init");
  }
  for (std::string_view a : aad) {
    if (!a.empty() &&
        EVP_DecryptUpdate(ctx.get(), nullptr, &len, U8(a), static_cast<int>(a.size())) != 1) {
      return internal::OpenSslError("AES-GCM open aad");
    }
  }
  int total = 0;
  if (ct_size > 0) {
    if (EVP_DecryptUpdate(ctx.get(), out, &len, U8(in), static_cast<int>(ct_size)) != 1) {
      return internal::OpenSslError("AES-GCM open");
    }
    total = len;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, kGcmTagSize, tag) != 1) {
    return internal::OpenSslError("AES-GCM set tag");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out + total, &len) != 1) {
    OPENSSL_cleanse(out, ct_size);
    ERR_clear_error();
    return Corruption("authentication failed: wrong key, or the data was altered");
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> SealBlob(const Key& key, std::string_view plaintext, std::string_view aad) {
  if (plaintext.size() > kMaxBlobPlaintext) {
    return InvalidArgument("blob of " + std::to_string(plaintext.size()) +
                           " bytes is too large to seal (max " + std::to_string(kMaxBlobPlaintext) +
                           ")");
  }
  std::string blob(kBlobOverhead + plaintext.size(), '\0');
  auto* p = reinterpret_cast<unsigned char*>(blob.data());
  p[0] = kBlobVersion;
  if (RAND_bytes(p + 1, kGcmNonceSize) != 1) {
    return IoError("the system random number generator failed");
  }
  const char version = static_cast<char>(kBlobVersion);
  VFS_RETURN_IF_ERROR(
      GcmSeal(key, p + 1, {std::string_view(&version, 1), aad}, plaintext, p + 1 + kGcmNonceSize));
  return blob;
}

Result<std::string> OpenBlob(const Key& key, std::string_view blob, std::string_view aad) {
  if (blob.size() < kBlobOverhead) return Corruption("authentication failed: blob too short");
  if (static_cast<uint8_t>(blob[0]) != kBlobVersion) {
    return Corruption("authentication failed: unknown blob version " +
                      std::to_string(static_cast<uint8_t>(blob[0])));
  }
  if (blob.size() - kBlobOverhead > kMaxBlobPlaintext) {
    return Corruption("authentication failed: blob too large");
  }
  std::string plain(blob.size() - kBlobOverhead, '\0');
  VFS_RETURN_IF_ERROR(GcmOpen(key, U8(blob) + 1, {blob.substr(0, 1), aad},
                              blob.substr(1 + kGcmNonceSize),
                              reinterpret_cast<unsigned char*>(plain.data())));
  return plain;
}

Result<std::string> AesGcmSealWithNonce(const Key& key, std::string_view nonce,
                                        std::string_view plaintext, std::string_view aad) {
  if (nonce.size() != kGcmNonceSize) return InvalidArgument("AES-GCM nonce must be 12 bytes");
  if (plaintext.size() > kMaxBlobPlaintext) return InvalidArgument("plaintext too large");
  std::string out(plaintext.size() + kGcmTagSize, '\0');
  VFS_RETURN_IF_ERROR(
      GcmSeal(key, U8(nonce), {aad}, plaintext, reinterpret_cast<unsigned char*>(out.data())));
  return out;
}

Result<std::string> AesGcmOpenWithNonce(const Key& key, std::string_view nonce,
                                        std::string_view sealed, std::string_view aad) {
  if (nonce.size() != kGcmNonceSize) return InvalidArgument("AES-GCM nonce must be 12 bytes");
  if (sealed.size() > kMaxBlobPlaintext + kGcmTagSize) return InvalidArgument("input too large");
  std::string out(sealed.size() < kGcmTagSize ? 0 : sealed.size() - kGcmTagSize, '\0');
  VFS_RETURN_IF_ERROR(
      GcmOpen(key, U8(nonce), {aad}, sealed, reinterpret_cast<unsigned char*>(out.data())));
  return out;
}

}  // namespace vaultfs::crypto
