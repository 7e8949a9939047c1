// Key: a 256-bit secret (AES-256 key, HMAC key, KEK, master key, file key) that wipes its
// memory with OPENSSL_cleanse when destroyed or moved from. Every key in vaultfs is 32 bytes,
// so one fixed-size type serves all of them and sizes never need checking at use sites.
//
// Copying is explicit (Clone) so secrets don't multiply by accident. Not thread-safe to mutate;
// const access from several threads is fine.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "src/common/status.h"

namespace vaultfs::crypto {

class Key {
 public:
  static constexpr size_t kSize = 32;

  // A fresh key from the OS-seeded CSPRNG (EIO if the generator fails).
  static Result<Key> Random();
  // Copies exactly kSize raw bytes (EINVAL for any other length).
  static Result<Key> FromBytes(std::string_view raw);

  Key(Key&& other) noexcept;
  Key& operator=(Key&& other) noexcept;
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
  ~Key();

  Key Clone() const;

  const uint8_t* data() const { return bytes_.data(); }
  static constexpr size_t size() { return kSize; }
  // The raw bytes, valid while this Key lives and is not moved from.
  std::string_view bytes() const {
    return std::string_view(reinterpret_cast<const char*>(bytes_.data()), kSize);
  }
  // Constant-time comparison.
  bool Equals(const Key& other) const;

 private:
  Key() = default;  // all zero; only factories hand out keys
  std::array<uint8_t, kSize> bytes_{};
};

}  // namespace vaultfs::crypto
