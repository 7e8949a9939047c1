// Argument checking shared by every engine, and the engine factory.
#include "src/erasure/codec.h"

#include <array>
#include <bitset>
#include <climits>
#include <string>

#include "src/erasure/isal_codec.h"
#include "src/erasure/jerasure_codec.h"

namespace vaultfs::erasure {
namespace {

Status CheckBlockSize(size_t block_size) {
  // Both libraries take the length as an int.
  if (block_size == 0 || block_size > static_cast<size_t>(INT_MAX)) {
    return InvalidArgument("erasure block size must be in [1, " + std::to_string(INT_MAX) +
                           "], got " + std::to_string(block_size));
  }
  return Status::Ok();
}

}  // namespace

std::string_view EngineName(Engine engine) {
  switch (engine) {
    case Engine::kDefault:
    case Engine::kIsal:
      return "isa-l";
    case Engine::kJerasure:
      return "jerasure";
  }
  return "unknown";
}

Status Codec::Encode(const uint8_t* const* data, uint8_t* const* parity, size_t block_size) const {
  VFS_RETURN_IF_ERROR(CheckBlockSize(block_size));
  if (data == nullptr || (m_ > 0 && parity == nullptr)) {
    return InvalidArgument("erasure encode: null block array");
  }
  for (int i = 0; i < k_; ++i) {
    if (data[i] == nullptr) {
      return InvalidArgument("erasure encode: data block " + std::to_string(i) + " is null");
    }
  }
  for (int i = 0; i < m_; ++i) {
    if (parity[i] == nullptr) {
      return InvalidArgument("erasure encode: parity block " + std::to_string(k_ + i) + " is null");
    }
  }
  if (m_ == 0) return Status::Ok();
  EncodeBlocks(data, parity, block_size);
  return Status::Ok();
}

Status Codec::Decode(uint8_t* const* blocks, std::span<const int> erased, size_t block_size) const {
  VFS_RETURN_IF_ERROR(CheckBlockSize(block_size));
  if (blocks == nullptr) return InvalidArgument("erasure decode: null block array");
  const int n = k_ + m_;
  std::bitset<kMaxBlocks> mask;
  for (int index : erased) {
    if (index < 0 || index >= n) {
      return InvalidArgument("erasure decode: erased index " + std::to_string(index) +
                             " out of range [0, " + std::to_string(n) + ")");
    }
    if (mask.test(index)) {
      return InvalidArgument("erasure decode: erased index " + std::to_string(index) +
                             " listed twice");
    }
    mask.set(index);
  }
  const int lost = static_cast<int>(mask.count());
  if (lost > m_) {
    return IoError("erasure decode: need at least " + std::to_string(k_) + " of " +
                   std::to_string(n) + " blocks, have " + std::to_string(n - lost));
  }
  for (int i = 0; i < n; ++i) {
    if (blocks[i] == nullptr) {
      return InvalidArgument("erasure decode: block " + std::to_string(i) + " is null");
    }
  }
  if (lost == 0) return Status::Ok();
  // Engines get the erasures sorted, so equal sets are equal lists (the ISA-L plan cache
  // relies on it).
  std::array<int, kMaxBlocks> sorted;
  int count = 0;
  for (int i = 0; i < n; ++i) {
    if (mask.test(i)) sorted[count++] = i;
  }
  return DecodeBlocks(blocks, std::span<const int>(sorted.data(), count), block_size);
}

Result<std::unique_ptr<Codec>> MakeCodec(int k, int m, Engine engine) {
  if (k < 1 || m < 0 || k + m > kMaxBlocks) {
    return InvalidArgument(
        "erasure code RS(" + std::to_string(k) + "," + std::to_string(m) +
        ") invalid: need k >= 1, m >= 0, k + m <= " + std::to_string(kMaxBlocks));
  }
  switch (engine) {
    case Engine::kDefault:
    case Engine::kIsal: {
      VFS_ASSIGN_OR_RETURN(auto codec, IsalCodec::Create(k, m));
      return std::unique_ptr<Codec>(std::move(codec));
    }
    case Engine::kJerasure: {
      VFS_ASSIGN_OR_RETURN(auto codec, JerasureCodec::Create(k, m));
      return std::unique_ptr<Codec>(std::move(codec));
    }
  }
  return InvalidArgument("unknown erasure engine " + std::to_string(static_cast<int>(engine)));
}

}  // namespace vaultfs::erasure
