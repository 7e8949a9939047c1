// Random bytes: see random.h.
#include "src/crypto/random.h"

#include <openssl/rand.h>

#include "src/common/hex.h"

namespace vaultfs::crypto {

Result<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return IoError("the system random number generator failed");
  }
  return out;
}

Result<std::string> RandomHexId(size_t bytes) {
  VFS_ASSIGN_OR_RETURN(std::string raw, RandomBytes(bytes));
  return HexEncode(raw);
}

}  // namespace vaultfs::crypto
