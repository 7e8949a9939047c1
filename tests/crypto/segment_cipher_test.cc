// SegmentCipher (src/crypto/segment_cipher.h): round trips at edge sizes, a cross-check
// against the reference AES-GCM, and one test per tamper case: any ciphertext bit, any tag
// bit, reordering, truncation both ways, rollback to another version, another file, another
// user, wrong key, truncated ciphertext.
#include "src/crypto/segment_cipher.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "src/crypto/aead.h"

namespace vaultfs::crypto {
namespace {

using Bytes = std::vector<uint8_t>;

const VersionBinding kVersion{"alice", 1001, 5};

Key NewKey() { return std::move(Key::Random()).value(); }

Bytes RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

class SegmentCipherTest : public ::testing::Test {
 protected:
  SegmentCipher Make(const Key& key, const VersionBinding& v = kVersion) {
    auto c = SegmentCipher::Create(key, v);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c).value();
  }
  Bytes Seal(SegmentCipher& c, uint64_t index, bool last, const Bytes& plain) {
    Bytes out(SegmentCipher::SealedSize(plain.size()));
    Status st = c.Seal(index, last, plain, out);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }
  // The status of opening `sealed` as (index, last) with cipher `c`.
  Status OpenStatus(SegmentCipher& c, uint64_t index, bool last, const Bytes& sealed) {
    Bytes out(
        sealed.size() >= SegmentCipher::kTagSize ? sealed.size() - SegmentCipher::kTagSize : 0,
        0xEE);
    Status st = c.Open(index, last, sealed, out);
    if (!st.ok()) {
      for (uint8_t b : out) {
        if (b != 0 && b != 0xEE) {
          ADD_FAILURE() << "failed Open left non-zero plaintext in the output";
          break;
        }
      }
    }
    return st;
  }

  Key key_ = NewKey();
};

TEST_F(SegmentCipherTest, RoundTripAtEdgeSizes) {
  SegmentCipher c = Make(key_);
  const size_t sizes[] = {0, 1, 15, 16, 17, 1000003, 64 * 1024, 1024 * 1024};
  uint64_t index = 0;
  for (size_t n : sizes) {
    Bytes plain = RandomBytes(n, static_cast<uint32_t>(n));
    bool last = (n % 2) == 1;
    Bytes sealed = Seal(c, index, last, plain);
    ASSERT_EQ(sealed.size(), n + SegmentCipher::kTagSize);
    if (n >= 16) {
      EXPECT_NE(std::memcmp(sealed.data(), plain.data(), 16), 0);
    }
    Bytes back(n);
    Status st = c.Open(index, last, sealed, back);
    ASSERT_TRUE(st.ok()) << "size " << n << ": " << st.ToString();
    EXPECT_EQ(back, plain) << "size " << n;
    ++index;
  }
}

TEST_F(SegmentCipherTest, InPlaceSealAndOpen) {
  SegmentCipher c = Make(key_);
  Bytes plain = RandomBytes(65536, 9);
  Bytes buf = plain;
  buf.resize(plain.size() + SegmentCipher::kTagSize);
  ASSERT_TRUE(c.Seal(3, false, std::span<const uint8_t>(buf.data(), plain.size()), buf).ok());
  EXPECT_EQ(buf, Seal(c, 3, false, plain));
  ASSERT_TRUE(c.Open(3, false, buf, std::span<uint8_t>(buf.data(), plain.size())).ok());
  buf.resize(plain.size());
  EXPECT_EQ(buf, plain);
}

TEST_F(SegmentCipherTest, MatchesReferenceAesGcmWithDocumentedNonceAndAad) {
  SegmentCipher c = Make(key_);
  Bytes plain = RandomBytes(4097, 1);
  for (uint64_t index : {uint64_t{0}, uint64_t{1}, uint64_t{0x0102030405060708}}) {
    for (bool last : {false, true}) {
      Bytes sealed = Seal(c, index, last, plain);
      auto ref = AesGcmSealWithNonce(
          key_, SegmentCipher::NonceFor(index),
          std::string_view(reinterpret_cast<const char*>(plain.data()), plain.size()),
          SegmentCipher::AadFor(kVersion, index, last));
      ASSERT_TRUE(ref.ok());
      EXPECT_EQ(std::string(sealed.begin(), sealed.end()), *ref) << index << " " << last;
    }
  }
  std::string nonce = SegmentCipher::NonceFor(0x0102030405060708);
  EXPECT_EQ(nonce, std::string("\0\0\0\0\1\2\3\4\5\6\7\x08", 12));
}

TEST_F(SegmentCipherTest, DistinctSegmentsAndVersionsGiveDistinctCiphertext) {
  SegmentCipher c = Make(key_);
  Bytes plain(1024, 0);
  EXPECT_NE(Seal(c, 0, false, plain), Seal(c, 1, false, plain));
  SegmentCipher other = Make(NewKey());  // a new version has a new random key
  EXPECT_NE(Seal(c, 0, false, plain), Seal(other, 0, false, plain));
}

TEST_F(SegmentCipherTest, AnyCiphertextOrTagBitFlipIsRefused) {
  SegmentCipher c = Make(key_);
  Bytes sealed = Seal(c, 7, false, RandomBytes(200, 2));
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    Bytes bad = sealed;
    bad[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
    EXPECT_EQ(OpenStatus(c, 7, false, bad).code(), EBADMSG) << "bit " << bit;
  }
  EXPECT_TRUE(OpenStatus(c, 7, false, sealed).ok());  // the original still opens
}

TEST_F(SegmentCipherTest, LargeSegmentBitFlipsAreRefused) {
  SegmentCipher c = Make(key_);
  Bytes sealed = Seal(c, 0, true, RandomBytes(1 << 20, 3));
  std::mt19937 rng(4);
  for (int i = 0; i < 32; ++i) {
    Bytes bad = sealed;
    size_t bit = rng() % (bad.size() * 8);
    bad[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
    EXPECT_EQ(OpenStatus(c, 0, true, bad).code(), EBADMSG) << "bit " << bit;
  }
}

TEST_F(SegmentCipherTest, SwappedOrReorderedSegmentsAreRefused) {
  SegmentCipher c = Make(key_);
  Bytes s0 = Seal(c, 0, false, RandomBytes(100, 10));
  Bytes s1 = Seal(c, 1, false, RandomBytes(100, 11));
  Bytes s2 = Seal(c, 2, true, RandomBytes(50, 12));
  EXPECT_EQ(OpenStatus(c, 0, false, s1).code(), EBADMSG);
  EXPECT_EQ(OpenStatus(c, 1, false, s0).code(), EBADMSG);
  EXPECT_EQ(OpenStatus(c, 2, true, s1).code(), EBADMSG);
  EXPECT_EQ(OpenStatus(c, 1, true, s2).code(), EBADMSG);
  EXPECT_EQ(OpenStatus(c, uint64_t{1} << 32, false, s0).code(), EBADMSG);  // high bits count
  EXPECT_TRUE(OpenStatus(c, 0, false, s0).ok());
  EXPECT_TRUE(OpenStatus(c, 1, false, s1).ok());
  EXPECT_TRUE(OpenStatus(c, 2, true, s2).ok());
}

TEST_F(SegmentCipherTest, LastFlagFlippedIsRefused) {
  SegmentCipher c = Make(key_);
  Bytes middle = Seal(c, 4, false, RandomBytes(100, 13));
  Bytes last = Seal(c, 5, true, RandomBytes(100, 14));
  // Truncation: the file cut after segment 4, which is presented as the last one.
  EXPECT_EQ(OpenStatus(c, 4, true, middle).code(), EBADMSG);
  // Extension: the real last segment presented as if more followed.
  EXPECT_EQ(OpenStatus(c, 5, false, last).code(), EBADMSG);
}

TEST_F(SegmentCipherTest, RollbackToAnotherVersionIsRefused) {
  // Even with the same key (which real versions never share), the version id in the AAD
  // alone refuses a segment from another version.
  SegmentCipher v5 = Make(key_, {"alice", 1001, 5});
  SegmentCipher v4 = Make(key_, {"alice", 1001, 4});
  Bytes old_segment = Seal(v4, 0, true, RandomBytes(100, 15));
  EXPECT_EQ(OpenStatus(v5, 0, true, old_segment).code(), EBADMSG);
  EXPECT_TRUE(OpenStatus(v4, 0, true, old_segment).ok());
}

TEST_F(SegmentCipherTest, AnotherFileOrUserIsRefused) {
  SegmentCipher mine = Make(key_, kVersion);
  Bytes sealed = Seal(mine, 0, true, RandomBytes(100, 16));
  SegmentCipher other_file = Make(key_, {"alice", 1002, 5});
  SegmentCipher other_user = Make(key_, {"bob", 1001, 5});
  SegmentCipher prefix_user = Make(key_, {"alic", 1001, 5});
  EXPECT_EQ(OpenStatus(other_file, 0, true, sealed).code(), EBADMSG);
  EXPECT_EQ(OpenStatus(other_user, 0, true, sealed).code(), EBADMSG);
  EXPECT_EQ(OpenStatus(prefix_user, 0, true, sealed).code(), EBADMSG);
}

TEST_F(SegmentCipherTest, WrongKeyIsRefused) {
  SegmentCipher c = Make(key_);
  Bytes sealed = Seal(c, 0, true, RandomBytes(100, 17));
  SegmentCipher wrong = Make(NewKey());
  EXPECT_EQ(OpenStatus(wrong, 0, true, sealed).code(), EBADMSG);
}

TEST_F(SegmentCipherTest, TruncatedCiphertextIsRefused) {
  SegmentCipher c = Make(key_);
  Bytes sealed = Seal(c, 0, true, RandomBytes(100, 18));
  for (size_t len :
       {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{99}, sealed.size() - 1}) {
    Bytes cut(sealed.begin(), sealed.begin() + static_cast<long>(len));
    EXPECT_EQ(OpenStatus(c, 0, true, cut).code(), EBADMSG) << "length " << len;
  }
  // Dropping bytes from the front (tag still in place) fails too.
  Bytes front_cut(sealed.begin() + 1, sealed.end());
  EXPECT_EQ(OpenStatus(c, 0, true, front_cut).code(), EBADMSG);
  Bytes extended = sealed;
  extended.push_back(0);
  EXPECT_EQ(OpenStatus(c, 0, true, extended).code(), EBADMSG);
}

TEST_F(SegmentCipherTest, ACipherKeepsWorkingAfterAFailedOpen) {
  SegmentCipher c = Make(key_);
  Bytes plain = RandomBytes(300, 19);
  Bytes sealed = Seal(c, 2, false, plain);
  Bytes bad = sealed;
  bad[0] ^= 1;
  EXPECT_EQ(OpenStatus(c, 2, false, bad).code(), EBADMSG);
  Bytes out(plain.size());
  ASSERT_TRUE(c.Open(2, false, sealed, out).ok());
  EXPECT_EQ(out, plain);
}

TEST_F(SegmentCipherTest, BufferContractViolationsAreRefused) {
  SegmentCipher c = Make(key_);
  Bytes plain(100, 1);
  Bytes small(100 + SegmentCipher::kTagSize - 1);
  EXPECT_EQ(c.Seal(0, true, plain, small).code(), EINVAL);
  Bytes sealed = Seal(c, 0, true, plain);
  Bytes small_out(99);
  EXPECT_EQ(c.Open(0, true, sealed, small_out).code(), EINVAL);
  // Partially overlapping buffers (not exactly in place).
  Bytes buf(300);
  EXPECT_EQ(c.Seal(0, true, std::span<const uint8_t>(buf.data(), 100),
                   std::span<uint8_t>(buf.data() + 1, 150))
                .code(),
            EINVAL);
  EXPECT_EQ(SegmentCipher::Create(key_, {"", 1, 1}).status().code(), EINVAL);
}

}  // namespace
}  // namespace vaultfs::crypto
