// Helpers shared by the crypto tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "src/common/hex.h"

namespace vaultfs::crypto::testing {

// Hex to bytes; the tests' vectors are literals, so a typo fails the test loudly.
inline std::string Unhex(std::string_view hex) {
  auto r = HexDecode(hex);
  EXPECT_TRUE(r.ok()) << "bad hex literal in test: " << hex;
  return r.ok() ? *r : std::string();
}

inline std::string Hex(std::string_view bytes) { return HexEncode(bytes); }

}  // namespace vaultfs::crypto::testing
