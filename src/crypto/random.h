// Cryptographically secure random bytes (OpenSSL's RAND_bytes, seeded from the OS).
#pragma once

#include <string>

#include "src/common/status.h"

namespace vaultfs::crypto {

// n random bytes. Fails only if the OS random source is unavailable.
Result<std::string> RandomBytes(size_t n);
// A random id of `bytes` bytes, hex-encoded (for chunk ids, request ids, token ids).
Result<std::string> RandomHexId(size_t bytes = 16);

}  // namespace vaultfs::crypto
