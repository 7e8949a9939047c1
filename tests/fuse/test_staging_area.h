// A StagingArea for unit tests: fresh random keys, as a mount derives from the master key.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "src/crypto/key.h"
#include "src/fuse/staging_area.h"

namespace vaultfs::fuse {

inline std::unique_ptr<StagingArea> NewArea(const std::string& dir,
                                            uint64_t cap = uint64_t{1} << 30) {
  auto seal = crypto::Key::Random();
  auto mac = crypto::Key::Random();
  EXPECT_TRUE(seal.ok() && mac.ok());
  return std::make_unique<StagingArea>(
      dir, client::StagingKeys{std::move(seal).value(), std::move(mac).value()}, cap);
}

}  // namespace vaultfs::fuse
