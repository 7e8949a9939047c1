// Bad arguments are refused with a clear error and never touch the buffers.
#include <cerrno>
#include <climits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "src/erasure/codec.h"
#include "src/erasure/isal_codec.h"
#include "tests/erasure/block_set.h"

namespace vaultfs::erasure {
namespace {

using testing::BlockSet;
using testing::Layout;

TEST(MakeCodecTest, RejectsBadShapes) {
  for (auto [k, m] : std::vector<std::pair<int, int>>{
           {0, 4}, {-1, 4}, {10, -1}, {200, 56}, {256, 0}, {1, 255}, {INT_MIN, 0}}) {
    for (Engine engine : {Engine::kDefault, Engine::kIsal, Engine::kJerasure}) {
      auto codec = MakeCodec(k, m, engine);
      EXPECT_FALSE(codec.ok()) << k << "+" << m;
      EXPECT_EQ(codec.status().code(), EINVAL) << codec.status().ToString();
    }
  }
}

TEST(MakeCodecTest, AcceptsEdgeShapesAndNamesEngines) {
  for (auto [k, m] : std::vector<std::pair<int, int>>{{1, 0}, {1, 1}, {255, 0}, {254, 1}}) {
    auto codec = MakeCodec(k, m);
    ASSERT_TRUE(codec.ok()) << k << "+" << m << ": " << codec.status().ToString();
    EXPECT_EQ((*codec)->k(), k);
    EXPECT_EQ((*codec)->m(), m);
  }
  auto def = MakeCodec(10, 4);
  ASSERT_TRUE(def.ok());
  EXPECT_EQ((*def)->engine(), Engine::kIsal);  // the default is the fast engine
  EXPECT_EQ((*def)->engine_name(), "isa-l");
  auto jer = MakeCodec(10, 4, Engine::kJerasure);
  ASSERT_TRUE(jer.ok());
  EXPECT_EQ((*jer)->engine_name(), "jerasure");
  EXPECT_EQ(EngineName(Engine::kDefault), "isa-l");
}

class CodecArgsTest : public ::testing::TestWithParam<Engine> {
 protected:
  void SetUp() override {
    auto codec = MakeCodec(10, 4, GetParam());
    ASSERT_TRUE(codec.ok());
    codec_ = std::move(codec).value();
    blocks_ = std::make_unique<BlockSet>(14, 64, Layout::kAligned);
    std::mt19937_64 rng(1);
    blocks_->FillRandom(0, 14, rng);
    before_ = std::make_unique<BlockSet>(14, 64, Layout::kAligned);
    before_->CopyFrom(*blocks_);
  }
  // Every failing call below must leave the buffers exactly as they were.
  void TearDown() override { EXPECT_EQ(blocks_->FirstDifference(*before_), -1); }

  Status DecodeWith(std::vector<int> erased, size_t size = 64) {
    return codec_->Decode(blocks_->ptrs(), erased, size);
  }

  std::unique_ptr<Codec> codec_;
  std::unique_ptr<BlockSet> blocks_;
  std::unique_ptr<BlockSet> before_;
};

TEST_P(CodecArgsTest, ZeroBlockSize) {
  EXPECT_EQ(codec_->Encode(blocks_->const_ptrs(), blocks_->ptrs() + 10, 0).code(), EINVAL);
  EXPECT_EQ(DecodeWith({1}, 0).code(), EINVAL);
}

TEST_P(CodecArgsTest, BlockSizeBeyondInt) {
  const size_t huge = static_cast<size_t>(INT_MAX) + 1;
  EXPECT_EQ(codec_->Encode(blocks_->const_ptrs(), blocks_->ptrs() + 10, huge).code(), EINVAL);
  EXPECT_EQ(DecodeWith({1}, huge).code(), EINVAL);
}

TEST_P(CodecArgsTest, ErasedIndexOutOfRange) {
  Status st = DecodeWith({14});
  EXPECT_EQ(st.code(), EINVAL);
  EXPECT_NE(st.message().find("out of range"), std::string::npos) << st.message();
  EXPECT_EQ(DecodeWith({-1}).code(), EINVAL);
  EXPECT_EQ(DecodeWith({2, 1000}).code(), EINVAL);
}

TEST_P(CodecArgsTest, DuplicateErasure) {
  Status st = DecodeWith({3, 3});
  EXPECT_EQ(st.code(), EINVAL);
  EXPECT_NE(st.message().find("twice"), std::string::npos) << st.message();
  // Duplicates must not sneak a fifth erasure past the count either.
  EXPECT_EQ(DecodeWith({0, 1, 2, 3, 3}).code(), EINVAL);
}

TEST_P(CodecArgsTest, TooManyErasures) {
  Status st = DecodeWith({0, 1, 2, 3, 4});
  EXPECT_EQ(st.code(), EIO);
  EXPECT_EQ(st.message(), "erasure decode: need at least 10 of 14 blocks, have 9");
}

TEST_P(CodecArgsTest, NullPointers) {
  EXPECT_EQ(codec_->Encode(nullptr, blocks_->ptrs() + 10, 64).code(), EINVAL);
  EXPECT_EQ(codec_->Encode(blocks_->const_ptrs(), nullptr, 64).code(), EINVAL);
  EXPECT_EQ(codec_->Decode(nullptr, std::vector<int>{1}, 64).code(), EINVAL);
  std::vector<uint8_t*> ptrs(blocks_->ptrs(), blocks_->ptrs() + 14);
  ptrs[12] = nullptr;
  EXPECT_EQ(
      codec_->Encode(const_cast<const uint8_t* const*>(ptrs.data()), ptrs.data() + 10, 64).code(),
      EINVAL);
  EXPECT_EQ(codec_->Decode(ptrs.data(), std::vector<int>{1}, 64).code(), EINVAL);
}

INSTANTIATE_TEST_SUITE_P(Engines, CodecArgsTest,
                         ::testing::Values(Engine::kIsal, Engine::kJerasure), [](const auto& info) {
                           return std::string(info.param == Engine::kIsal ? "isal" : "jerasure");
                         });

TEST(CodecNoParityTest, EncodeIsANoOpAndAnyLossIsFatal) {
  for (Engine engine : {Engine::kIsal, Engine::kJerasure}) {
    auto codec = MakeCodec(5, 0, engine);
    ASSERT_TRUE(codec.ok());
    BlockSet blocks(5, 9, Layout::kPacked);
    std::mt19937_64 rng(3);
    blocks.FillRandom(0, 5, rng);
    BlockSet before(5, 9, Layout::kPacked);
    before.CopyFrom(blocks);
    EXPECT_TRUE((*codec)->Encode(blocks.const_ptrs(), nullptr, 9).ok());
    EXPECT_TRUE((*codec)->Decode(blocks.ptrs(), {}, 9).ok());
    Status st = (*codec)->Decode(blocks.ptrs(), std::vector<int>{2}, 9);
    EXPECT_EQ(st.code(), EIO);
    EXPECT_EQ(st.message(), "erasure decode: need at least 5 of 5 blocks, have 4");
    EXPECT_EQ(blocks.FirstDifference(before), -1);
  }
}

TEST(IsalPlanCacheTest, OnePlanPerPatternWhateverTheOrder) {
  auto codec = IsalCodec::Create(10, 4);
  ASSERT_TRUE(codec.ok());
  BlockSet blocks(14, 32, Layout::kAligned);
  std::mt19937_64 rng(5);
  blocks.FillRandom(0, 10, rng);
  ASSERT_TRUE((*codec)->Encode(blocks.const_ptrs(), blocks.ptrs() + 10, 32).ok());
  EXPECT_EQ((*codec)->cached_plans(), 0u);
  ASSERT_TRUE((*codec)->Decode(blocks.ptrs(), std::vector<int>{2, 11}, 32).ok());
  ASSERT_TRUE((*codec)->Decode(blocks.ptrs(), std::vector<int>{11, 2}, 32).ok());
  EXPECT_EQ((*codec)->cached_plans(), 1u);
  ASSERT_TRUE((*codec)->Decode(blocks.ptrs(), std::vector<int>{3}, 32).ok());
  EXPECT_EQ((*codec)->cached_plans(), 2u);
}

TEST(IsalPlanCacheTest, BoundedAndOptional) {
  auto bounded = IsalCodec::Create(10, 4, 3);
  auto uncached = IsalCodec::Create(10, 4, 0);
  ASSERT_TRUE(bounded.ok() && uncached.ok());
  BlockSet blocks(14, 32, Layout::kAligned);
  std::mt19937_64 rng(6);
  blocks.FillRandom(0, 10, rng);
  ASSERT_TRUE((*bounded)->Encode(blocks.const_ptrs(), blocks.ptrs() + 10, 32).ok());
  BlockSet golden(14, 32, Layout::kAligned);
  golden.CopyFrom(blocks);
  for (int i = 0; i < 14; ++i) {
    for (IsalCodec* codec : {bounded->get(), uncached->get()}) {
      blocks.Poison(i);
      ASSERT_TRUE(codec->Decode(blocks.ptrs(), std::vector<int>{i}, 32).ok());
      ASSERT_EQ(blocks.FirstDifference(golden), -1) << i;
    }
    EXPECT_LE((*bounded)->cached_plans(), 3u);
  }
  EXPECT_EQ((*uncached)->cached_plans(), 0u);
}

}  // namespace
}  // namespace vaultfs::erasure
