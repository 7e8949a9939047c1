// SHA-256 (OpenSSL EVP), the unkeyed hash of shard blocks and shard indexes (DESIGN.md §3),
// and HMAC-SHA256. Unkeyed on purpose: the cluster verifies and repairs shards without any
// user key; authenticity comes from AES-GCM on the client.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "src/common/status.h"

namespace vaultfs::crypto {

inline constexpr size_t kSha256Size = 32;
using Sha256Digest = std::array<uint8_t, kSha256Size>;

Sha256Digest Sha256(std::string_view data);
std::string DigestToString(const Sha256Digest& d);  // raw 32 bytes
std::string DigestToHex(const Sha256Digest& d);

// Incremental SHA-256 for streamed data.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::string_view data);
  Sha256Digest Finish();  // resets for reuse

 private:
  EVP_MD_CTX* ctx_;
};

// HMAC-SHA256(key, data), 32 raw bytes.
std::string HmacSha256(std::string_view key, std::string_view data);

// Constant-time equality for MACs and key hashes.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace vaultfs::crypto
