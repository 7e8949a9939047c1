// SegmentCipher: see segment_cipher.h.
#include "src/crypto/segment_cipher.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

#include <cstring>

#include "src/common/frame.h"
#include "src/crypto/evp_util.h"

namespace vaultfs::crypto {
namespace {

constexpr char kAadFormat = 1;
constexpr size_t kAadTail = 9;  // index (8) + last flag (1)

bool Overlaps(const uint8_t* a, size_t an, const uint8_t* b, size_t bn) {
  return a < b + bn && b < a + an;
}

}  // namespace

void SegmentCipher::CtxFree::operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }

Result<SegmentCipher> SegmentCipher::Create(const Key& file_key, const VersionBinding& version) {
  VFS_RETURN_IF_ERROR(ValidateVersionBinding(version));
  SegmentCipher c;
  c.seal_ctx_.reset(EVP_CIPHER_CTX_new());
  c.open_ctx_.reset(EVP_CIPHER_CTX_new());
  if (!c.seal_ctx_ || !c.open_ctx_) return internal::OpenSslError("EVP_CIPHER_CTX_new");
  // Key schedule once; per segment only the nonce is set (EVP_*Init_ex with a null key).
  if (EVP_EncryptInit_ex(c.seal_ctx_.get(), internal::Aes256Gcm(), nullptr, file_key.data(),
                         nullptr) != 1 ||
      EVP_DecryptInit_ex(c.open_ctx_.get(), internal::Aes256Gcm(), nullptr, file_key.data(),
                         nullptr) != 1) {
    return internal::OpenSslError("AES-GCM key setup");
  }
  c.aad_ = AadFor(version, 0, false);
  return c;
}

std::string SegmentCipher::NonceFor(uint64_t index) {
  std::string nonce(kNonceSize, '\0');
  PutBigEndian64(index, nonce.data() + 4);
  return nonce;
}

std::string SegmentCipher::AadFor(const VersionBinding& version, uint64_t index, bool is_last) {
  std::string aad(1, kAadFormat);
  aad += EncodeVersionBinding(version);
  char tail[kAadTail];
  PutBigEndian64(index, tail);
  tail[8] = is_last ? 1 : 0;
  aad.append(tail, kAadTail);
  return aad;
}

void SegmentCipher::SetIndex(uint64_t index, bool is_last) {
  PutBigEndian64(index, reinterpret_cast<char*>(nonce_) + 4);
  char* tail = aad_.data() + aad_.size() - kAadTail;
  PutBigEndian64(index, tail);
  tail[8] = is_last ? 1 : 0;
}

Status SegmentCipher::Seal(uint64_t index, bool is_last, std::span<const uint8_t> plaintext,
                           std::span<uint8_t> out) {
  const size_t n = plaintext.size();
  if (n > kMaxSegmentSize) return InvalidArgument("segment larger than 256 MiB");
  if (out.size() < n + kTagSize) return InvalidArgument("segment output buffer too small");
  if (out.data() != plaintext.data() && Overlaps(out.data(), n + kTagSize, plaintext.data(), n)) {
    return InvalidArgument("segment buffers overlap");
  }
  SetIndex(index, is_last);
  EVP_CIPHER_CTX* ctx = seal_ctx_.get();
  int len = 0, total = 0;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce_) != 1 ||
      EVP_EncryptUpdate(ctx, nullptr, &len, reinterpret_cast<const uint8_t*>(aad_.data()),
                        static_cast<int>(aad_.size())) != 1) {
    return internal::OpenSslError("segment seal init");
  }
  if (n > 0) {
    if (EVP_EncryptUpdate(ctx, out.data(), &len, plaintext.data(), static_cast<int>(n)) != 1) {
      return internal::OpenSslError("segment seal");
    }
    total = len;
  }
  if (EVP_EncryptFinal_ex(ctx, out.data() + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagSize, out.data() + n) != 1) {
    return internal::OpenSslError("segment seal final");
  }
  return Status::Ok();
}

Status SegmentCipher::Open(uint64_t index, bool is_last, std::span<const uint8_t> sealed,
                           std::span<uint8_t> out) {
  if (sealed.size() < kTagSize) {
    return Corruption("segment " + std::to_string(index) + " failed authentication: too short");
  }
  const size_t n = sealed.size() - kTagSize;
  if (n > kMaxSegmentSize) return InvalidArgument("segment larger than 256 MiB");
  if (out.size() < n) return InvalidArgument("segment output buffer too small");
  if (out.data() != sealed.data() && Overlaps(out.data(), n, sealed.data(), sealed.size())) {
    return InvalidArgument("segment buffers overlap");
  }
  // EVP_CTRL_AEAD_SET_TAG takes a non-const pointer.
  uint8_t tag[kTagSize];
  std::memcpy(tag, sealed.data() + n, kTagSize);
  SetIndex(index, is_last);
  EVP_CIPHER_CTX* ctx = open_ctx_.get();
  int len = 0, total = 0;
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce_) != 1 ||
      EVP_DecryptUpdate(ctx, nullptr, &len, reinterpret_cast<const uint8_t*>(aad_.data()),
                        static_cast<int>(aad_.size())) != 1) {
    return internal::OpenSslError("segment open init");
  }
  if (n > 0) {
    if (EVP_DecryptUpdate(ctx, out.data(), &len, sealed.data(), static_cast<int>(n)) != 1) {
      return internal::OpenSslError("segment open");
    }
    total = len;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagSize, tag) != 1) {
    return internal::OpenSslError("segment set tag");
  }
  if (EVP_DecryptFinal_ex(ctx, out.data() + total, &len) != 1) {
    OPENSSL_cleanse(out.data(), n);
    ERR_clear_error();
    return Corruption("segment " + std::to_string(index) +
                      " failed authentication (altered, reordered, truncated, from another "
                      "version, or wrong key)");
  }
  return Status::Ok();
}

}  // namespace vaultfs::crypto
