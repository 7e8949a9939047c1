// The two engines compute the same code: identical parity for random data over many shapes,
// and shards encoded by one engine decode with the other. Also checks both against a
// byte-at-a-time reference built from the definition (parity = coding matrix x data).
#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <isa-l/erasure_code.h>

#include "src/erasure/codec.h"
#include "src/erasure/coding_matrix.h"
#include "tests/erasure/block_set.h"

namespace vaultfs::erasure {
namespace {

using testing::BlockSet;
using testing::Layout;
using testing::PatternString;

struct Shape {
  int k;
  int m;
};

const std::vector<Shape>& Shapes() {
  static const std::vector<Shape> shapes = {{10, 4}, {4, 2},  {6, 3}, {1, 1},    {5, 0},
                                            {1, 0},  {12, 6}, {2, 7}, {200, 55}, {1, 254}};
  return shapes;
}

std::unique_ptr<Codec> Make(int k, int m, Engine engine) {
  auto codec = MakeCodec(k, m, engine);
  EXPECT_TRUE(codec.ok()) << codec.status().ToString();
  return codec.ok() ? std::move(codec).value() : nullptr;
}

// Picks `count` distinct indices of [0, n) at random.
std::vector<int> RandomErasures(int n, int count, std::mt19937_64& rng) {
  std::vector<int> all(n);
  for (int i = 0; i < n; ++i) all[i] = i;
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(count);
  return all;
}

TEST(EngineEquivalenceTest, IdenticalParityForRandomData) {
  std::mt19937_64 rng(42);
  for (const Shape& s : Shapes()) {
    auto isal = Make(s.k, s.m, Engine::kIsal);
    auto jer = Make(s.k, s.m, Engine::kJerasure);
    ASSERT_TRUE(isal && jer);
    for (size_t size : {size_t{1}, size_t{7}, size_t{64}, size_t{4099}, size_t{65541}}) {
      if (s.k + s.m > 100 && size > 4099) continue;  // keep the big shapes quick
      SCOPED_TRACE("RS(" + std::to_string(s.k) + "," + std::to_string(s.m) + ") block " +
                   std::to_string(size));
      BlockSet a(s.k + s.m, size, Layout::kAligned);
      a.FillRandom(0, s.k, rng);
      BlockSet b(s.k + s.m, size, Layout::kPacked);
      b.CopyFrom(a);
      // Different starting garbage in the parity buffers: encode must overwrite all of it.
      a.FillRandom(s.k, s.m, rng);
      b.FillRandom(s.k, s.m, rng);
      ASSERT_TRUE(isal->Encode(a.const_ptrs(), a.ptrs() + s.k, size).ok());
      ASSERT_TRUE(jer->Encode(b.const_ptrs(), b.ptrs() + s.k, size).ok());
      ASSERT_EQ(a.FirstDifference(b), -1);
    }
  }
}

TEST(EngineEquivalenceTest, ParityMatchesBytewiseReference) {
  std::mt19937_64 rng(7);
  for (const Shape& s : Shapes()) {
    if (s.m == 0) continue;
    auto matrix = VandermondeCodingMatrix(s.k, s.m);
    ASSERT_TRUE(matrix.ok()) << matrix.status().ToString();
    // Jerasure's Vandermonde coding matrix has an all-ones first row (the Jerasure engine's
    // decoder relies on it: row_k_ones).
    for (int j = 0; j < s.k; ++j) ASSERT_EQ((*matrix)[j], 1) << "k=" << s.k << " j=" << j;
    const size_t size = 33;
    BlockSet blocks(s.k + s.m, size, Layout::kAligned);
    blocks.FillRandom(0, s.k, rng);
    for (Engine engine : {Engine::kIsal, Engine::kJerasure}) {
      auto codec = Make(s.k, s.m, engine);
      ASSERT_TRUE(codec);
      ASSERT_TRUE(codec->Encode(blocks.const_ptrs(), blocks.ptrs() + s.k, size).ok());
      for (int i = 0; i < s.m; ++i) {
        for (size_t byte = 0; byte < size; ++byte) {
          uint8_t expected = 0;
          for (int j = 0; j < s.k; ++j) {
            expected ^= gf_mul((*matrix)[static_cast<size_t>(i) * s.k + j], blocks.block(j)[byte]);
          }
          ASSERT_EQ(blocks.block(s.k + i)[byte], expected)
              << EngineName(engine) << " RS(" << s.k << "," << s.m << ") parity " << i << " byte "
              << byte;
        }
      }
    }
  }
}

// Encode with one engine, lose blocks, decode with the other.
void CrossDecode(Engine encoder, Engine decoder) {
  std::mt19937_64 rng(static_cast<int>(encoder) * 31 + static_cast<int>(decoder));
  for (const Shape& s : Shapes()) {
    if (s.m == 0) continue;
    auto enc = Make(s.k, s.m, encoder);
    auto dec = Make(s.k, s.m, decoder);
    ASSERT_TRUE(enc && dec);
    const int n = s.k + s.m;
    const size_t size = n > 100 ? 61 : 1021;
    BlockSet golden(n, size, Layout::kAligned);
    golden.FillRandom(0, s.k, rng);
    ASSERT_TRUE(enc->Encode(golden.const_ptrs(), golden.ptrs() + s.k, size).ok());
    BlockSet work(n, size, Layout::kShifted);
    work.CopyFrom(golden);
    const int trials = n > 100 ? 3 : 40;
    for (int t = 0; t < trials; ++t) {
      const int lost = 1 + static_cast<int>(rng() % s.m);
      std::vector<int> erased = RandomErasures(n, lost, rng);
      for (int i : erased) work.Poison(i);
      Status st = dec->Decode(work.ptrs(), erased, size);
      ASSERT_TRUE(st.ok()) << st.ToString();
      ASSERT_EQ(work.FirstDifference(golden), -1)
          << EngineName(encoder) << " -> " << EngineName(decoder) << " RS(" << s.k << "," << s.m
          << ") " << PatternString(erased);
    }
  }
}

TEST(EngineEquivalenceTest, IsalParityDecodesWithJerasure) {
  CrossDecode(Engine::kIsal, Engine::kJerasure);
}

TEST(EngineEquivalenceTest, JerasureParityDecodesWithIsal) {
  CrossDecode(Engine::kJerasure, Engine::kIsal);
}

TEST(EngineEquivalenceTest, MaximumErasuresOnWideCode) {
  // RS(200,55): losing all 55 parity blocks, or 55 data blocks, is rebuilt by both engines.
  std::mt19937_64 rng(99);
  const int k = 200, m = 55, n = k + m;
  const size_t size = 17;
  BlockSet golden(n, size, Layout::kAligned);
  golden.FillRandom(0, k, rng);
  auto isal = Make(k, m, Engine::kIsal);
  auto jer = Make(k, m, Engine::kJerasure);
  ASSERT_TRUE(isal && jer);
  ASSERT_TRUE(isal->Encode(golden.const_ptrs(), golden.ptrs() + k, size).ok());
  std::vector<int> parity, data;
  for (int i = 0; i < m; ++i) parity.push_back(k + i);
  for (int i = 0; i < m; ++i) data.push_back(i * 3);
  for (Codec* codec : {isal.get(), jer.get()}) {
    for (const std::vector<int>& erased : {parity, data}) {
      BlockSet work(n, size, Layout::kAligned);
      work.CopyFrom(golden);
      for (int i : erased) work.Poison(i);
      ASSERT_TRUE(codec->Decode(work.ptrs(), erased, size).ok());
      EXPECT_EQ(work.FirstDifference(golden), -1) << codec->engine_name();
    }
  }
}

}  // namespace
}  // namespace vaultfs::erasure
