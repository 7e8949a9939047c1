// SHA-256 and HMAC-SHA256 through OpenSSL 3 EVP: see hash.h.
#include "src/crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include <cstdlib>

#include "src/common/hex.h"

namespace vaultfs::crypto {
namespace {

// OpenSSL only fails these calls on allocation failure or a broken build; neither is
// recoverable, and continuing with a wrong hash would be worse than stopping.
void CheckOk(int rc, const char* what) {
  if (rc != 1) {
    std::fprintf(stderr, "fatal: OpenSSL %s failed\n", what);
    std::abort();
  }
}

// SHA-256 fetched from the provider once per process: with EVP_sha256() every init does an
// implicit fetch (a lock and a lookup), a measurable cost on 6 KiB shard blocks.
const EVP_MD* Sha256Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) CheckOk(0, "EVP_MD_fetch(SHA256)");
  return md;
}

}  // namespace

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest d{};
  unsigned int len = 0;
  CheckOk(EVP_Digest(data.data(), data.size(), d.data(), &len, Sha256Md(), nullptr), "EVP_Digest");
  return d;
}

std::string DigestToString(const Sha256Digest& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string DigestToHex(const Sha256Digest& d) { return HexEncode(DigestToString(d)); }

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) CheckOk(0, "EVP_MD_CTX_new");
  CheckOk(EVP_DigestInit_ex(ctx_, Sha256Md(), nullptr), "EVP_DigestInit_ex");
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(ctx_); }

void Sha256Hasher::Update(std::string_view data) {
  CheckOk(EVP_DigestUpdate(ctx_, data.data(), data.size()), "EVP_DigestUpdate");
}

Sha256Digest Sha256Hasher::Finish() {
  Sha256Digest d{};
  unsigned int len = 0;
  CheckOk(EVP_DigestFinal_ex(ctx_, d.data(), &len), "EVP_DigestFinal_ex");
  CheckOk(EVP_DigestInit_ex(ctx_, Sha256Md(), nullptr), "EVP_DigestInit_ex");
  return d;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t out_len = 0;
  CheckOk(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                    reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
                    sizeof(out), &out_len) != nullptr,
          "EVP_Q_mac");
  return std::string(reinterpret_cast<char*>(out), out_len);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace vaultfs::crypto
