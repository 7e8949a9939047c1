// Password KDF: see password_kdf.h.
#include "src/crypto/password_kdf.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <nlohmann/json.hpp>

#include "src/crypto/evp_util.h"
#include "src/crypto/hash.h"
#include "src/crypto/hkdf.h"
#include "src/crypto/key_labels.h"
#include "src/crypto/random.h"

namespace vaultfs::crypto {
namespace {

constexpr size_t kRootSize = 64;
constexpr uint64_t kMaxRawScryptMemory = uint64_t{2} << 30;

bool IsPowerOfTwo(uint64_t v) { return v > 1 && (v & (v - 1)) == 0; }

// Bytes scrypt allocates: V (128*r*N) plus B (128*r*p), as OpenSSL computes it. False on
// overflow.
bool ScryptMemory(uint64_t n, uint32_t r, uint32_t p, uint64_t* out) {
  uint64_t v, b, block = 128 * uint64_t{r};
  if (__builtin_mul_overflow(block, n + 2, &v)) return false;
  if (__builtin_mul_overflow(block, uint64_t{p}, &b)) return false;
  return !__builtin_add_overflow(v, b, out);
}

}  // namespace

Status ValidateKdfParams(const KdfParams& params, const KdfLimits& limits) {
  const std::string prefix = "KDF parameters refused: ";
  if (params.algorithm != "scrypt") {
    return InvalidArgument(prefix + "unsupported algorithm '" + params.algorithm.substr(0, 32) +
                           "' (supported: scrypt)");
  }
  if (!IsPowerOfTwo(params.n)) {
    return InvalidArgument(prefix + "scrypt N=" + std::to_string(params.n) +
                           " is not a power of two");
  }
  if (params.n < limits.min_n || params.r < limits.min_r) {
    return InvalidArgument(
        prefix + "scrypt N=" + std::to_string(params.n) + " r=" + std::to_string(params.r) +
        " is weaker than the minimum N=" + std::to_string(limits.min_n) +
        " r=" + std::to_string(limits.min_r) + " (a server must not lower the password cost)");
  }
  if (params.n > limits.max_n) {
    return InvalidArgument(prefix + "scrypt N=" + std::to_string(params.n) +
                           " exceeds the maximum " + std::to_string(limits.max_n));
  }
  if (params.r > limits.max_r) {
    return InvalidArgument(prefix + "scrypt r=" + std::to_string(params.r) +
                           " exceeds the maximum " + std::to_string(limits.max_r));
  }
  if (params.p < 1 || params.p > limits.max_p) {
    return InvalidArgument(prefix + "scrypt p=" + std::to_string(params.p) + " is outside 1.." +
                           std::to_string(limits.max_p));
  }
  // The policy counts scrypt's big table, 128 * r * N bytes; the rest is a few KiB.
  uint64_t mem = 0;
  if (__builtin_mul_overflow(128 * uint64_t{params.r}, params.n, &mem) ||
      mem > limits.max_memory_bytes) {
    return InvalidArgument(prefix + "scrypt N=" + std::to_string(params.n) +
                           " r=" + std::to_string(params.r) + " needs more than " +
                           std::to_string(limits.max_memory_bytes >> 20) + " MiB");
  }
  return Status::Ok();
}

Result<std::string> NewSalt() { return RandomBytes(kSaltSize); }

Result<std::string> Scrypt(std::string_view password, std::string_view salt, uint64_t n, uint32_t r,
                           uint32_t p, size_t length) {
  if (!IsPowerOfTwo(n) || r == 0 || p == 0) {
    return InvalidArgument("scrypt needs N a power of two > 1 and r, p >= 1");
  }
  if (length == 0 || length > 1024) return InvalidArgument("scrypt output must be 1..1024 bytes");
  uint64_t mem = 0;
  if (!ScryptMemory(n, r, p, &mem) || mem > kMaxRawScryptMemory) {
    return InvalidArgument("scrypt parameters need more than 2 GiB of memory");
  }
  // OpenSSL refuses to allocate more than maxmem (32 MiB by default): allow exactly what
  // these parameters need, plus slack for its own bookkeeping.
  uint64_t maxmem = mem + (uint64_t{1} << 20);
  internal::KdfCtxPtr ctx = internal::NewKdfCtx("SCRYPT");
  if (!ctx) return internal::OpenSslError("EVP_KDF_CTX_new(SCRYPT)");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, const_cast<char*>(password.data()),
                                        password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end(),
  };
  std::string out(length, '\0');
  if (EVP_KDF_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), length, params) !=
      1) {
    return internal::OpenSslError("scrypt derive");
  }
  return out;
}

Result<PasswordKeys> DerivePasswordKeys(std::string_view password, std::string_view salt,
                                        const KdfParams& params, const KdfLimits& limits) {
  VFS_RETURN_IF_ERROR(ValidateKdfParams(params, limits));
  if (salt.size() < kMinSaltSize || salt.size() > kMaxSaltSize) {
    return InvalidArgument("password salt must be " + std::to_string(kMinSaltSize) + ".." +
                           std::to_string(kMaxSaltSize) + " bytes, got " +
                           std::to_string(salt.size()));
  }
  if (password.empty()) return InvalidArgument("the password must not be empty");
  if (password.size() > kMaxPasswordSize) {
    return InvalidArgument("the password is longer than " + std::to_string(kMaxPasswordSize) +
                           " bytes");
  }
  VFS_ASSIGN_OR_RETURN(std::string root,
                       Scrypt(password, salt, params.n, params.r, params.p, kRootSize));
  Result<Key> auth = DeriveKey(root, labels::kAuthKey);
  Result<Key> kek = DeriveKey(root, labels::kKeyEncryptionKey);
  OPENSSL_cleanse(root.data(), root.size());
  if (!auth.ok()) return auth.status();
  if (!kek.ok()) return kek.status();
  return PasswordKeys{std::move(auth).value(), std::move(kek).value()};
}

std::string AuthKeyVerifier(std::string_view auth_key) {
  Sha256Hasher h;
  h.Update(labels::kAuthVerifier);
  h.Update(auth_key);
  return DigestToString(h.Finish());
}

}  // namespace vaultfs::crypto
