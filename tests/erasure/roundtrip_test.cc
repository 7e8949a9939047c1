// RS(10,4) round trips: every way of losing 1, 2, 3 or 4 of the 14 blocks is rebuilt bit-exact
// (data and parity), for both engines, odd and even block sizes and every memory layout; every
// way of losing 5 is refused with EIO and leaves all buffers untouched.
#include <cerrno>
#include <ostream>
#include <random>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "src/erasure/codec.h"
#include "tests/erasure/block_set.h"

namespace vaultfs::erasure {
namespace {

using testing::BlockSet;
using testing::ForEachCombination;
using testing::Layout;
using testing::PatternString;

constexpr int kK = 10;
constexpr int kM = 4;
constexpr int kN = kK + kM;

struct Case {
  Engine engine;
  size_t block_size;
  Layout layout;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << EngineName(c.engine) << " block " << c.block_size << " " << testing::LayoutName(c.layout);
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.engine == Engine::kIsal ? "isal" : "jerasure") + "_" +
         std::to_string(info.param.block_size) + "_" + testing::LayoutName(info.param.layout);
}

class RoundTripTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    auto codec = MakeCodec(kK, kM, GetParam().engine);
    ASSERT_TRUE(codec.ok()) << codec.status().ToString();
    codec_ = std::move(codec).value();
    golden_ = std::make_unique<BlockSet>(kN, GetParam().block_size, GetParam().layout);
    work_ = std::make_unique<BlockSet>(kN, GetParam().block_size, GetParam().layout);
    std::mt19937_64 rng(GetParam().block_size * 7919 + static_cast<int>(GetParam().layout));
    golden_->FillRandom(0, kK, rng);
    ASSERT_TRUE(
        codec_->Encode(golden_->const_ptrs(), golden_->ptrs() + kK, GetParam().block_size).ok());
    work_->CopyFrom(*golden_);
  }

  // Loses the blocks in `erased`, decodes, and checks all 14 blocks against the originals.
  void ExpectRoundTrip(std::span<const int> erased) {
    for (int i : erased) work_->Poison(i);
    Status st = codec_->Decode(work_->ptrs(), erased, GetParam().block_size);
    ASSERT_TRUE(st.ok()) << PatternString(erased) << ": " << st.ToString();
    const int bad = work_->FirstDifference(*golden_);
    ASSERT_EQ(bad, -1) << "block " << bad << " wrong after decoding " << PatternString(erased);
  }

  std::unique_ptr<Codec> codec_;
  std::unique_ptr<BlockSet> golden_;
  std::unique_ptr<BlockSet> work_;
};

TEST_P(RoundTripTest, EveryPatternOfUpToFourLossesRoundTrips) {
  int patterns = 0;
  for (int lost = 1; lost <= kM; ++lost) {
    ForEachCombination(kN, lost, [&](std::span<const int> erased) {
      if (::testing::Test::HasFatalFailure()) return;
      ExpectRoundTrip(erased);
      ++patterns;
    });
    ASSERT_FALSE(HasFatalFailure());
  }
  EXPECT_EQ(patterns, 14 + 91 + 364 + 1001);
}

TEST_P(RoundTripTest, ErasureOrderDoesNotMatter) {
  const int forward[] = {1, 4, 11, 13};
  const int backward[] = {13, 11, 4, 1};
  ExpectRoundTrip(forward);
  ExpectRoundTrip(backward);
}

TEST_P(RoundTripTest, NoErasuresIsANoOp) {
  ASSERT_TRUE(codec_->Decode(work_->ptrs(), {}, GetParam().block_size).ok());
  EXPECT_EQ(work_->FirstDifference(*golden_), -1);
}

TEST_P(RoundTripTest, EveryPatternOfFiveLossesFailsWithoutWriting) {
  int patterns = 0;
  BlockSet before(kN, GetParam().block_size, GetParam().layout);
  ForEachCombination(kN, kM + 1, [&](std::span<const int> erased) {
    if (::testing::Test::HasFatalFailure()) return;
    for (int i : erased) work_->Poison(i);
    before.CopyFrom(*work_);
    Status st = codec_->Decode(work_->ptrs(), erased, GetParam().block_size);
    ASSERT_EQ(st.code(), EIO) << PatternString(erased) << ": " << st.ToString();
    ASSERT_NE(st.message().find("need at least 10 of 14 blocks, have 9"), std::string::npos)
        << st.message();
    ASSERT_EQ(work_->FirstDifference(before), -1)
        << "decode wrote data for " << PatternString(erased);
    for (int i : erased) work_->Poison(i);  // undo, back to the originals
    ++patterns;
  });
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(patterns, 2002);
  EXPECT_EQ(work_->FirstDifference(*golden_), -1);
}

TEST_P(RoundTripTest, LosingMoreThanFiveFailsWithCount) {
  for (int lost = kM + 2; lost <= kN; ++lost) {
    std::vector<int> erased;
    for (int i = 0; i < lost; ++i) erased.push_back((i * 5) % kN);  // 5 is coprime to 14
    Status st = codec_->Decode(work_->ptrs(), erased, GetParam().block_size);
    EXPECT_EQ(st.code(), EIO);
    EXPECT_NE(st.message().find("have " + std::to_string(kN - lost)), std::string::npos)
        << st.message();
  }
  EXPECT_EQ(work_->FirstDifference(*golden_), -1);
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (Engine engine : {Engine::kIsal, Engine::kJerasure}) {
    for (size_t size : {size_t{1}, size_t{7}, size_t{4096}, size_t{104861}}) {
      cases.push_back({engine, size, Layout::kAligned});
    }
    // Layouts that gf-complete cannot take directly (packed odd sizes) or that are unaligned.
    for (size_t size : {size_t{7}, size_t{4097}}) {
      cases.push_back({engine, size, Layout::kPacked});
      cases.push_back({engine, size, Layout::kShifted});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Rs10x4, RoundTripTest, ::testing::ValuesIn(Cases()), CaseName);

}  // namespace
}  // namespace vaultfs::erasure
