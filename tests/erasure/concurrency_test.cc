// One Codec shared by several threads: each thread decodes its own share of the 1001 ways to
// lose 4 of 14 blocks in its own buffers, at the same time as the others. Covers the ISA-L
// plan cache (including eviction, with a tiny cache) and Jerasure's per-thread staging.
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "src/erasure/codec.h"
#include "src/erasure/isal_codec.h"
#include "tests/erasure/block_set.h"

namespace vaultfs::erasure {
namespace {

using testing::BlockSet;
using testing::ForEachCombination;
using testing::Layout;

constexpr int kThreads = 4;

// Returns the number of wrong or failed decodes.
int DecodeAllPatternsConcurrently(const Codec& codec, size_t block_size, Layout layout) {
  BlockSet golden(14, block_size, layout);
  std::mt19937_64 rng(11);
  golden.FillRandom(0, 10, rng);
  if (!codec.Encode(golden.const_ptrs(), golden.ptrs() + 10, block_size).ok()) return -1;
  std::vector<std::vector<int>> patterns;
  ForEachCombination(14, 4,
                     [&](std::span<const int> e) { patterns.emplace_back(e.begin(), e.end()); });

  std::atomic<int> failures{0};
  std::atomic<int> decoded{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      BlockSet work(14, block_size, layout);
      work.CopyFrom(golden);
      for (size_t p = t; p < patterns.size(); p += kThreads) {
        for (int i : patterns[p]) work.Poison(i);
        if (!codec.Decode(work.ptrs(), patterns[p], block_size).ok() ||
            work.FirstDifference(golden) != -1) {
          ++failures;
          work.CopyFrom(golden);
        }
        ++decoded;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  return decoded == 1001 ? failures.load() : -1;
}

TEST(ConcurrencyTest, IsalSharedCodec) {
  auto codec = MakeCodec(10, 4, Engine::kIsal);
  ASSERT_TRUE(codec.ok());
  EXPECT_EQ(DecodeAllPatternsConcurrently(**codec, 1031, Layout::kPacked), 0);
}

TEST(ConcurrencyTest, IsalTinyPlanCacheEvictsSafely) {
  auto codec = IsalCodec::Create(10, 4, 5);
  ASSERT_TRUE(codec.ok());
  EXPECT_EQ(DecodeAllPatternsConcurrently(**codec, 1031, Layout::kAligned), 0);
  EXPECT_LE((*codec)->cached_plans(), 5u);
}

TEST(ConcurrencyTest, JerasureSharedCodecWithStaging) {
  auto codec = MakeCodec(10, 4, Engine::kJerasure);
  ASSERT_TRUE(codec.ok());
  // Packed odd-sized blocks force every thread through its own staging buffers.
  EXPECT_EQ(DecodeAllPatternsConcurrently(**codec, 1031, Layout::kPacked), 0);
  EXPECT_EQ(DecodeAllPatternsConcurrently(**codec, 1024, Layout::kAligned), 0);
}

}  // namespace
}  // namespace vaultfs::erasure
