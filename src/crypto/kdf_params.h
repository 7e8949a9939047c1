// KdfParams: the password KDF's stored cost parameters and the salt sizes, with their JSON form
// (DESIGN.md §6). Plain data, apart from the KDF itself (password_kdf.h), so the metadata
// service can store and serve them, and answer unknown names alike, without linking key code.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "src/common/status.h"

namespace vaultfs::crypto {

// Cost parameters stored next to the salt. Defaults are gocryptfs's scrypt cost
// (N=2^16, r=8, p=1: 64 MiB and roughly 0.1-0.3 s per derivation on a desktop core).
struct KdfParams {
  std::string algorithm = "scrypt";
  uint64_t n = uint64_t{1} << 16;  // CPU/memory cost, a power of two
  uint32_t r = 8;                  // block size
  uint32_t p = 1;                  // parallelism
  bool operator==(const KdfParams&) const = default;
};

inline constexpr size_t kSaltSize = 32;  // NewSalt's length
inline constexpr size_t kMinSaltSize = 16;
inline constexpr size_t kMaxSaltSize = 64;

// {"algorithm": "scrypt", "n": 65536, "r": 8, "p": 1}
nlohmann::json KdfParamsToJson(const KdfParams& params);
// Parses the shape above (EINVAL naming a missing or mistyped field). It does not judge the
// values: DerivePasswordKeys does, so nothing unvalidated can reach scrypt.
Result<KdfParams> KdfParamsFromJson(const nlohmann::json& j);

}  // namespace vaultfs::crypto
