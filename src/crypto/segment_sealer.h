// SegmentSealer: what the object layer (src/cluster) needs from a file version's content key:
// seal and open its segments. An interface without code, so the keyless object layer, and the
// repairer that links it, never link the key code behind it (SegmentCipher, in crypto_keys).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "src/common/status.h"

namespace vaultfs::crypto {

class SegmentSealer {
 public:
  static constexpr size_t kTagSize = 16;  // what sealing adds to a segment's plaintext

  virtual ~SegmentSealer() = default;

  // Seals `plaintext` as segment `index` into out[0 .. plaintext.size() + kTagSize).
  virtual Status Seal(uint64_t index, bool is_last, std::span<const uint8_t> plaintext,
                      std::span<uint8_t> out) = 0;
  // Opens segment `index` from `sealed` into out[0 .. sealed.size() - kTagSize); EBADMSG if it
  // does not authenticate.
  virtual Status Open(uint64_t index, bool is_last, std::span<const uint8_t> sealed,
                      std::span<uint8_t> out) = 0;
};

}  // namespace vaultfs::crypto
