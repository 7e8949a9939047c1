// Key: see key.h.
#include "src/crypto/key.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstring>

namespace vaultfs::crypto {

Result<Key> Key::Random() {
  Key k;
  if (RAND_bytes(k.bytes_.data(), static_cast<int>(kSize)) != 1) {
    return IoError("the system random number generator failed");
  }
  return k;
}

Result<Key> Key::FromBytes(std::string_view raw) {
  if (raw.size() != kSize) {
    return InvalidArgument("a key must be exactly 32 bytes, got " + std::to_string(raw.size()));
  }
  Key k;
  std::memcpy(k.bytes_.data(), raw.data(), kSize);
  return k;
}

Key::Key(Key&& other) noexcept : bytes_(other.bytes_) {
  OPENSSL_cleanse(other.bytes_.data(), kSize);
}

Key& Key::operator=(Key&& other) noexcept {
  if (this != &other) {
    bytes_ = other.bytes_;
    OPENSSL_cleanse(other.bytes_.data(), kSize);
  }
  return *this;
}

Key::~Key() { OPENSSL_cleanse(bytes_.data(), kSize); }

Key Key::Clone() const {
  Key k;
  k.bytes_ = bytes_;
  return k;
}

bool Key::Equals(const Key& other) const {
  return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), kSize) == 0;
}

}  // namespace vaultfs::crypto
