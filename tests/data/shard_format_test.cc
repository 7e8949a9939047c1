// Shard format (src/common/shard_format.h) and its streaming builder
// (cluster::ShardIndexBuilder): round trips, and every malformed trailer rejected.
#include "src/common/shard_format.h"

#include <gtest/gtest.h>

#include <cstring>

#include "src/cluster/data_client.h"
#include "src/common/frame.h"
#include "src/crypto/hash.h"
#include "tests/data/test_server.h"

namespace vaultfs {
namespace {

struct Built {
  std::string object;
  std::string trailer;
  crypto::Sha256Digest root;
};

Built Build(uint64_t data_bytes, uint32_t block_size) {
  cluster::ShardIndexBuilder b(block_size);
  std::string data = testing::PatternBytes(data_bytes, data_bytes);
  for (uint64_t off = 0; off < data_bytes; off += block_size) {
    EXPECT_TRUE(b.AddBlock(std::string_view(data).substr(off, block_size)).ok());
  }
  Built out;
  auto t = b.Finish(&out.root);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  out.trailer = *t;
  out.object = data + out.trailer;
  EXPECT_EQ(out.object.size(), cluster::ShardIndexBuilder::ObjectSize(data_bytes, block_size));
  return out;
}

TEST(ShardFormat, RoundTripsAndLocatesBlocks) {
  for (uint64_t size : {0ull, 1ull, 999ull, 1000ull, 1001ull, 12345ull}) {
    Built s = Build(size, 1000);
    auto idx = ParseShardTrailer(s.trailer, s.object.size());
    ASSERT_TRUE(idx.ok()) << size << ": " << idx.status().ToString();
    EXPECT_EQ(idx->block_count, (size + 999) / 1000);
    EXPECT_EQ(idx->DataSize(), size);
    EXPECT_EQ(crypto::Sha256(s.trailer), s.root);
    for (uint64_t j = 0; j < idx->block_count; ++j) {
      auto ext = idx->BlockExtent(j);
      ASSERT_TRUE(ext.ok());
      auto h = crypto::Sha256(std::string_view(s.object).substr(ext->offset, ext->length));
      EXPECT_EQ(0, std::memcmp(h.data(), idx->block_hashes[j].data(), 32)) << j;
    }
    EXPECT_FALSE(idx->BlockExtent(idx->block_count).ok());
    // Re-serializing gives the same bytes.
    auto again = SerializeShardTrailer(*idx);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, s.trailer);
  }
}

TEST(ShardFormat, BuilderRefusesBadBlocks) {
  cluster::ShardIndexBuilder b(100);
  EXPECT_FALSE(b.AddBlock("").ok());
  EXPECT_FALSE(b.AddBlock(std::string(101, 'x')).ok());
  EXPECT_TRUE(b.AddBlock(std::string(50, 'x')).ok());
  EXPECT_FALSE(b.AddBlock(std::string(100, 'x')).ok());  // after the short last block
  cluster::ShardIndexBuilder zero(0);
  EXPECT_FALSE(zero.AddBlock("x").ok());
}

TEST(ShardFormat, RejectsEveryMalformedTrailer) {
  Built s = Build(2500, 1000);  // blocks 1000, 1000, 500
  const uint64_t size = s.object.size();
  const size_t body = s.trailer.size() - kShardFooterSize;
  auto parse = [&](const std::string& t, uint64_t object_size) {
    return ParseShardTrailer(t, object_size);
  };
  ASSERT_TRUE(parse(s.trailer, size).ok());
  auto with = [&](size_t pos, const char* bytes, size_t n) {
    std::string t = s.trailer;
    std::memcpy(t.data() + pos, bytes, n);
    return t;
  };
  char be4[4], be8[8];
  auto u32 = [&](uint32_t v) {
    PutBigEndian32(v, be4);
    return be4;
  };
  auto u64 = [&](uint64_t v) {
    PutBigEndian64(v, be8);
    return be8;
  };

  // Object size disagreements.
  EXPECT_FALSE(parse(s.trailer, size + 1).ok());
  EXPECT_FALSE(parse(s.trailer, size - 1).ok());
  EXPECT_FALSE(parse(s.trailer, 0).ok());
  EXPECT_FALSE(parse(s.trailer, s.trailer.size() - 1).ok());
  // Footer: magic, version, index length.
  EXPECT_FALSE(parse(with(body + 8, "XFSHARD", 7), size).ok());
  EXPECT_FALSE(parse(with(body + 4, u32(2), 4), size).ok());
  EXPECT_FALSE(parse(with(body, u32(static_cast<uint32_t>(body + 32)), 4), size).ok());
  EXPECT_FALSE(parse(with(body, u32(static_cast<uint32_t>(body - 32)), 4), size).ok());
  EXPECT_FALSE(parse(with(body, u32(static_cast<uint32_t>(body + 1)), 4), size).ok());
  EXPECT_FALSE(parse(with(body, u32(0xffffffffu), 4), size).ok());
  EXPECT_FALSE(parse(with(body, u32(0), 4), size).ok());
  // Body: version, block count, sizes.
  EXPECT_FALSE(parse(with(0, u32(0), 4), size).ok());
  EXPECT_FALSE(parse(with(4, u64(2), 8), size).ok());
  EXPECT_FALSE(parse(with(4, u64(4), 8), size).ok());
  EXPECT_FALSE(parse(with(4, u64(0), 8), size).ok());
  EXPECT_FALSE(parse(with(4, u64(~0ull), 8), size).ok());
  EXPECT_FALSE(parse(with(12, u32(0), 4), size).ok());
  EXPECT_FALSE(parse(with(12, u32(999), 4), size).ok());
  EXPECT_FALSE(parse(with(12, u32(kShardMaxBlockSize + 1), 4), size).ok());
  EXPECT_FALSE(parse(with(16, u32(0), 4), size).ok());
  EXPECT_FALSE(parse(with(16, u32(1001), 4), size).ok());
  EXPECT_FALSE(parse(with(16, u32(501), 4), size).ok());
  // Truncations of the trailer.
  for (size_t cut = 0; cut < s.trailer.size(); cut += 7) {
    EXPECT_FALSE(parse(s.trailer.substr(cut + 1), size).ok()) << cut;
    EXPECT_FALSE(parse(s.trailer.substr(0, cut), size).ok()) << cut;
  }
  // Empty shard: sizes must be zero.
  Built e = Build(0, 1000);
  EXPECT_TRUE(parse(e.trailer, e.object.size()).ok());
  std::string bad = e.trailer;
  std::memcpy(bad.data() + 12, u32(1000), 4);
  EXPECT_FALSE(parse(bad, e.object.size()).ok());
  // Random garbage never parses and never crashes.
  for (uint64_t seed = 1; seed < 2000; ++seed) {
    std::string g = testing::PatternBytes(seed, 16 + seed % 200);
    EXPECT_FALSE(parse(g, g.size() + seed).ok());
  }
  // Serializing an inconsistent index is refused too.
  ShardIndex idx;
  idx.block_count = 2;
  idx.block_size = 10;
  idx.last_block_size = 10;
  idx.block_hashes.resize(1);
  EXPECT_FALSE(SerializeShardTrailer(idx).ok());
}

}  // namespace
}  // namespace vaultfs
