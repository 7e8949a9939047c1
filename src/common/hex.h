// Hex encoding for ids, hashes and keys in JSON and file names.
#pragma once

#include <string>
#include <string_view>

#include "src/common/status.h"

namespace vaultfs {

std::string HexEncode(std::string_view bytes);
// Accepts upper or lower case; EINVAL on odd length or a non-hex character.
Result<std::string> HexDecode(std::string_view hex);

}  // namespace vaultfs
