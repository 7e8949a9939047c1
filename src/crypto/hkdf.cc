// HKDF-SHA256: see hkdf.h.
#include "src/crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "src/crypto/evp_util.h"

namespace vaultfs::crypto {
namespace {

constexpr size_t kMaxHkdfOutput = 255 * 32;

Status HkdfInto(std::string_view ikm, std::string_view salt, std::string_view info, uint8_t* out,
                size_t length) {
  if (ikm.empty()) return InvalidArgument("HKDF input key material must not be empty");
  if (length == 0 || length > kMaxHkdfOutput) {
    return InvalidArgument("HKDF output length must be 1.." + std::to_string(kMaxHkdfOutput));
  }
  internal::KdfCtxPtr ctx = internal::NewKdfCtx("HKDF");
  if (!ctx) return internal::OpenSslError("EVP_KDF_CTX_new(HKDF)");
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] =
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()),
                                                  ikm.size());
  if (!salt.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                    const_cast<char*>(salt.data()), salt.size());
  }
  if (!info.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                    const_cast<char*>(info.data()), info.size());
  }
  params[n] = OSSL_PARAM_construct_end();
  if (EVP_KDF_derive(ctx.get(), out, length, params) != 1) {
    return internal::OpenSslError("HKDF derive");
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info,
                               size_t length) {
  std::string out(length, '\0');
  VFS_RETURN_IF_ERROR(HkdfInto(ikm, salt, info, reinterpret_cast<uint8_t*>(out.data()), length));
  return out;
}

Result<Key> DeriveKey(std::string_view ikm, std::string_view label) {
  uint8_t buf[Key::kSize];
  Status st = HkdfInto(ikm, {}, label, buf, sizeof(buf));
  if (!st.ok()) return st;
  Result<Key> key = Key::FromBytes(std::string_view(reinterpret_cast<char*>(buf), sizeof(buf)));
  OPENSSL_cleanse(buf, sizeof(buf));
  return key;
}

}  // namespace vaultfs::crypto
