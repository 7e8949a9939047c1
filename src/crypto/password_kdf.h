// Password -> keys (DESIGN.md §6). scrypt (OpenSSL EVP_KDF "SCRYPT") stretches the password
// with the user's random salt and stored cost parameters into 64 bytes; HKDF splits those into
//   - the auth key, which the client sends to log in (the server keeps only its verifier), and
//   - the key-encryption key (KEK), which never leaves the client and unwraps the master key.
//
// The salt and KdfParams are stored by the metadata service and served by get_salt, so a
// malicious server could offer weak parameters to make an offline guess cheaper: every
// derivation validates them against KdfLimits first and refuses a downgrade with EINVAL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "src/common/status.h"
#include "src/crypto/kdf_params.h"
#include "src/crypto/key.h"

namespace vaultfs::crypto {

// What a client accepts. The defaults are the production policy; tests may pass lower
// minimums to run fast, nothing else should.
struct KdfLimits {
  uint64_t min_n = uint64_t{1} << 16;
  uint64_t max_n = uint64_t{1} << 20;
  uint32_t min_r = 8;
  uint32_t max_r = 32;
  uint32_t max_p = 16;
  uint64_t max_memory_bytes = uint64_t{1} << 30;  // 128 * r * N must fit (a client's RAM)
};

inline constexpr size_t kMaxPasswordSize = 4096;

// OK, or EINVAL naming the parameter that is unknown, too weak or absurdly expensive.
Status ValidateKdfParams(const KdfParams& params, const KdfLimits& limits = KdfLimits());

// A fresh random per-user salt of kSaltSize bytes (raw; hex-encode for JSON).
Result<std::string> NewSalt();

// Raw scrypt (RFC 7914) with no policy, for known-answer tests and tools. EINVAL if N is not
// a power of two > 1, r or p is zero, or the memory needed exceeds 2 GiB.
Result<std::string> Scrypt(std::string_view password, std::string_view salt, uint64_t n, uint32_t r,
                           uint32_t p, size_t length);

struct PasswordKeys {
  Key auth_key;  // proves the password to the server; send hex-encoded at login/register
  Key kek;       // unwraps the master key (key_wrap.h); never sent anywhere
};

// Validates params (EINVAL), the salt (16..64 bytes, EINVAL) and the password (1..4096 bytes,
// EINVAL), then derives both keys. Deterministic: the same inputs give the same keys.
Result<PasswordKeys> DerivePasswordKeys(std::string_view password, std::string_view salt,
                                        const KdfParams& params,
                                        const KdfLimits& limits = KdfLimits());

// What the server stores instead of the auth key: SHA-256 over a domain label and the key.
// A plain hash suffices because the auth key is already a 256-bit scrypt output; compare
// verifiers with ConstantTimeEquals (hash.h). Returns 32 raw bytes.
std::string AuthKeyVerifier(std::string_view auth_key);

}  // namespace vaultfs::crypto
