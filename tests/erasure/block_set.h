// Test helpers for src/erasure: a set of k+m blocks in a chosen memory layout, and
// enumeration of erasure patterns.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace vaultfs::erasure::testing {

// Where the blocks sit in memory. Jerasure/gf-complete cares (it aborts on source/destination
// pointers that differ mod 16), ISA-L does not; every layout must work with both engines.
enum class Layout {
  kAligned,  // every block 64-byte aligned
  kShifted,  // every block at address = 3 mod 64: unaligned but congruent
  kPacked,   // blocks back to back (stride = block size), as when one buffer is cut in k
};

inline const char* LayoutName(Layout layout) {
  switch (layout) {
    case Layout::kAligned:
      return "aligned";
    case Layout::kShifted:
      return "shifted";
    case Layout::kPacked:
      return "packed";
  }
  return "?";
}

class BlockSet {
 public:
  BlockSet(int blocks, size_t block_size, Layout layout) : block_size_(block_size) {
    const size_t stride = layout == Layout::kPacked ? block_size : (block_size + 63) / 64 * 64;
    const size_t offset = layout == Layout::kAligned ? 0 : 3;
    storage_.assign(stride * blocks + offset + 128, 0);
    uint8_t* base = storage_.data();
    base += (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64;
    base += offset;
    for (int i = 0; i < blocks; ++i) ptrs_.push_back(base + stride * i);
  }

  int size() const { return static_cast<int>(ptrs_.size()); }
  size_t block_size() const { return block_size_; }
  uint8_t* block(int i) { return ptrs_[i]; }
  const uint8_t* block(int i) const { return ptrs_[i]; }
  uint8_t* const* ptrs() { return ptrs_.data(); }
  const uint8_t* const* const_ptrs() const {
    return const_cast<const uint8_t* const*>(ptrs_.data());
  }

  void FillRandom(int first, int count, std::mt19937_64& rng) {
    for (int i = first; i < first + count; ++i) {
      for (size_t b = 0; b < block_size_; ++b) ptrs_[i][b] = static_cast<uint8_t>(rng());
    }
  }
  // Overwrites block i with its bitwise complement: guaranteed to differ from the original.
  void Poison(int i) {
    for (size_t b = 0; b < block_size_; ++b) ptrs_[i][b] ^= 0xFF;
  }
  void CopyFrom(const BlockSet& other) {
    for (int i = 0; i < size(); ++i) memcpy(ptrs_[i], other.ptrs_[i], block_size_);
  }
  bool BlockEquals(int i, const BlockSet& other) const {
    return memcmp(ptrs_[i], other.ptrs_[i], block_size_) == 0;
  }
  // Index of the first block that differs from `other`, or -1.
  int FirstDifference(const BlockSet& other) const {
    for (int i = 0; i < size(); ++i) {
      if (!BlockEquals(i, other)) return i;
    }
    return -1;
  }

 private:
  size_t block_size_;
  std::vector<uint8_t> storage_;
  std::vector<uint8_t*> ptrs_;
};

// Calls fn for every r-element subset of {0..n-1}, in lexicographic order.
inline void ForEachCombination(int n, int r, const std::function<void(std::span<const int>)>& fn) {
  std::vector<int> c(r);
  for (int i = 0; i < r; ++i) c[i] = i;
  if (r > n) return;
  while (true) {
    fn(c);
    int i = r - 1;
    while (i >= 0 && c[i] == n - r + i) --i;
    if (i < 0) return;
    ++c[i];
    for (int j = i + 1; j < r; ++j) c[j] = c[j - 1] + 1;
  }
}

inline std::string PatternString(std::span<const int> erased) {
  std::string s = "{";
  for (size_t i = 0; i < erased.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(erased[i]);
  }
  s += '}';
  return s;
}

}  // namespace vaultfs::erasure::testing
