#include "src/cluster/segment_layout.h"

#include <gtest/gtest.h>

namespace vaultfs::cluster {
namespace {

TEST(SegmentLayoutTest, FullAndShortSegments) {
  auto l = SegmentLayout::Make(2 * 1048576 + 5, 1048576, 10, 4);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->segment_count(), 3u);
  EXPECT_EQ(l->segment_plain_size(0), 1048576u);
  EXPECT_EQ(l->segment_plain_size(2), 5u);
  EXPECT_EQ(l->segment_sealed_size(0), 1048592u);
  EXPECT_EQ(l->block_size(0), 104860u);  // ceil(1048592 / 10)
  EXPECT_EQ(l->segment_padded_size(0), 1048600u);
  EXPECT_EQ(l->block_size(2), 3u);  // ceil(21 / 10)
  EXPECT_EQ(l->block_offset(2), 2 * 104860u);
  EXPECT_EQ(l->shard_data_size(), 2 * 104860u + 3);
  EXPECT_TRUE(l->is_last(2));
  EXPECT_FALSE(l->is_last(1));
}

TEST(SegmentLayoutTest, EmptyFileHasOneSegment) {
  auto l = SegmentLayout::Make(0, 65536, 10, 4);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->segment_count(), 1u);
  EXPECT_EQ(l->segment_plain_size(0), 0u);
  EXPECT_EQ(l->block_size(0), 2u);  // 16-byte tag over 10 blocks
  uint64_t a, b;
  EXPECT_EQ(l->SegmentsFor(0, 1, &a, &b).code(), EINVAL);
}

TEST(SegmentLayoutTest, ExactMultipleHasNoEmptyTail) {
  auto l = SegmentLayout::Make(3 * 4096, 4096, 4, 2);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->segment_count(), 3u);
  EXPECT_EQ(l->segment_plain_size(2), 4096u);
  EXPECT_EQ(l->block_size(2), l->block_size(0));
}

TEST(SegmentLayoutTest, RangesMapToSegments) {
  auto l = SegmentLayout::Make(10000, 1000, 10, 4);
  ASSERT_TRUE(l.ok());
  uint64_t a = 0, b = 0;
  ASSERT_TRUE(l->SegmentsFor(0, 1, &a, &b).ok());
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(b, 0u);
  ASSERT_TRUE(l->SegmentsFor(999, 2, &a, &b).ok());
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(b, 1u);
  ASSERT_TRUE(l->SegmentsFor(9999, 1, &a, &b).ok());
  EXPECT_EQ(a, 9u);
  EXPECT_EQ(b, 9u);
  EXPECT_EQ(l->SegmentsFor(9999, 2, &a, &b).code(), EINVAL);
  EXPECT_EQ(l->SegmentsFor(UINT64_MAX, 2, &a, &b).code(), EINVAL);
  EXPECT_EQ(l->SegmentsFor(5, 0, &a, &b).code(), EINVAL);
}

TEST(SegmentLayoutTest, RejectsBadShapes) {
  EXPECT_FALSE(SegmentLayout::Make(1, 1024, 0, 4).ok());
  EXPECT_FALSE(SegmentLayout::Make(1, 1024, 10, -1).ok());
  EXPECT_FALSE(SegmentLayout::Make(1, 0, 10, 4).ok());
  EXPECT_FALSE(SegmentLayout::Make(1, 1024, 200, 100).ok());
}

}  // namespace
}  // namespace vaultfs::cluster
