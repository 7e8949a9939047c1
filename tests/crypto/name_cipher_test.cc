// NameCipher (src/crypto/name_cipher.h): names, symlink targets and xattrs round-trip at
// their maximum sizes; sealed lengths reveal only 32-byte buckets; tampering, malformed
// padding, moving a name to another directory, re-pointing it at another inode, swapping names
// between entries and using another user's key are refused; lookup keys differ per dir and
// per user.
#include "src/crypto/name_cipher.h"

#include <gtest/gtest.h>

#include "src/crypto/aead.h"
#include "src/crypto/hkdf.h"
#include "src/crypto/key_labels.h"

namespace vaultfs::crypto {
namespace {

NameCipher Make(const Key& master) {
  auto c = NameCipher::Create(master);
  EXPECT_TRUE(c.ok());
  return std::move(c).value();
}

class NameCipherTest : public ::testing::Test {
 protected:
  Key master_ = std::move(Key::Random()).value();
  NameCipher names_ = Make(master_);
};

TEST_F(NameCipherTest, NameRoundTripUpTo255Bytes) {
  for (std::string name : {std::string("a"), std::string("report final (2).pdf"),
                           std::string("\xc3\xa9t\xc3\xa9 \xe2\x9c\x93"), std::string(255, 'n')}) {
    auto lookup = names_.LookupKey(1, name);
    auto sealed = names_.SealName(1, 100, name);
    ASSERT_TRUE(lookup.ok() && sealed.ok()) << name;
    EXPECT_EQ(lookup->size(), kLookupKeySize);
    EXPECT_EQ(sealed->size(), PaddedNameSize(name.size()) + kBlobOverhead);
    if (name.size() >= 8) {  // a short name may occur in random bytes by chance
      EXPECT_EQ(sealed->find(name), std::string::npos);
    }
    auto back = names_.OpenName(1, 100, *lookup, *sealed);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, name);
  }
  EXPECT_EQ(names_.SealName(1, 100, std::string(255, 'n'))->size(), 285u);
}

TEST_F(NameCipherTest, InvalidNamesAreRefused) {
  for (std::string bad : {std::string(), std::string(256, 'n'), std::string("a/b"),
                          std::string("."), std::string(".."), std::string("a\0b", 3)}) {
    EXPECT_EQ(names_.LookupKey(1, bad).status().code(), EINVAL) << bad;
    EXPECT_EQ(names_.SealName(1, 100, bad).status().code(), EINVAL) << bad;
  }
  EXPECT_TRUE(names_.SealName(1, 100, "...").ok());
  EXPECT_TRUE(names_.SealName(1, 100, ".hidden").ok());
}

TEST_F(NameCipherTest, LookupKeysAreDeterministicAndDifferPerDirectoryAndUser) {
  auto a = names_.LookupKey(10, "notes.txt");
  EXPECT_EQ(*a, *names_.LookupKey(10, "notes.txt"));
  EXPECT_NE(*a, *names_.LookupKey(11, "notes.txt"));
  EXPECT_NE(*a, *names_.LookupKey(10, "notes.txT"));
  NameCipher other_user = Make(std::move(Key::Random()).value());
  EXPECT_NE(*a, *other_user.LookupKey(10, "notes.txt"));
  // The id is fixed-width, so (1, "\x02x") can't collide with (0x102, "x")-style shifts.
  EXPECT_NE(*names_.LookupKey(1, std::string("\x02x")), *names_.LookupKey(0x102, "x"));
  // Entry-name and xattr-name lookups use different keys.
  EXPECT_NE(*a, *names_.XattrLookupKey(10, "notes.txt"));
}

TEST_F(NameCipherTest, TamperedSealedNameIsRefused) {
  auto lookup = *names_.LookupKey(5, "secret-plan.odt");
  auto sealed = *names_.SealName(5, 100, "secret-plan.odt");
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    std::string bad = sealed;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_EQ(names_.OpenName(5, 100, lookup, bad).status().code(), EBADMSG) << bit;
  }
  EXPECT_EQ(names_.OpenName(5, 100, lookup, sealed.substr(0, sealed.size() - 1)).status().code(),
            EBADMSG);
  EXPECT_EQ(names_.OpenName(5, 100, lookup, "").status().code(), EBADMSG);
  EXPECT_EQ(
      names_.OpenName(5, 100, lookup, std::string(256 + kBlobOverhead + 1, 'x')).status().code(),
      EBADMSG);
}

TEST_F(NameCipherTest, NameMovedToAnotherDirectoryIsRefused) {
  auto sealed = *names_.SealName(5, 100, "a.txt");
  // Even if the server also recomputes nothing and presents the lookup key for the new dir.
  EXPECT_EQ(names_.OpenName(6, 100, *names_.LookupKey(6, "a.txt"), sealed).status().code(),
            EBADMSG);
  EXPECT_EQ(names_.OpenName(6, 100, *names_.LookupKey(5, "a.txt"), sealed).status().code(),
            EBADMSG);
}

TEST_F(NameCipherTest, NamesSwappedBetweenEntriesAreRefused) {
  auto lookup_a = *names_.LookupKey(5, "a.txt");
  auto sealed_b = *names_.SealName(5, 100, "b.txt");
  EXPECT_EQ(names_.OpenName(5, 100, lookup_a, sealed_b).status().code(), EBADMSG);
}

TEST_F(NameCipherTest, NameRepointedAtAnotherInodeIsRefused) {
  // The entry (5, "a.txt") was sealed while it pointed at inode 100; a server that points it
  // at inode 101 (another of the user's files) presents the same key and sealed name.
  auto lookup = *names_.LookupKey(5, "a.txt");
  auto sealed = *names_.SealName(5, 100, "a.txt");
  EXPECT_EQ(*names_.OpenName(5, 100, lookup, sealed), "a.txt");
  EXPECT_EQ(names_.OpenName(5, 101, lookup, sealed).status().code(), EBADMSG);
  // (parent, inode) are fixed-width in the AAD, so they can't trade bytes with each other.
  EXPECT_EQ(names_.OpenName(100, 5, *names_.LookupKey(100, "a.txt"), sealed).status().code(),
            EBADMSG);
}

TEST_F(NameCipherTest, SealedLengthRevealsOnly32ByteBuckets) {
  // Lengths 1 and 32 share a bucket, as do 33 and 64; 32 and 33 do not.
  const size_t b1 = names_.SealName(1, 100, "a")->size();
  EXPECT_EQ(b1, 32 + kBlobOverhead);
  EXPECT_EQ(names_.SealName(1, 100, std::string(32, 'x'))->size(), b1);
  EXPECT_EQ(names_.SealName(1, 100, std::string(33, 'x'))->size(), 64 + kBlobOverhead);
  EXPECT_EQ(names_.SealName(1, 100, std::string(64, 'x'))->size(), 64 + kBlobOverhead);
  EXPECT_EQ(names_.SealName(1, 100, std::string(255, 'x'))->size(), 256 + kBlobOverhead);
  EXPECT_EQ(names_.SealSymlinkTarget(7, "t")->size(), names_.SealSymlinkTarget(7, "tt")->size());
  EXPECT_EQ(names_.SealSymlinkTarget(7, std::string(4095, 't'))->size(), 4096 + kBlobOverhead);
  EXPECT_EQ(names_.SealXattrName(7, "user.a")->size(), names_.SealXattrName(7, "user.ab")->size());
  // Every length round-trips, including those on a bucket's edge.
  for (size_t n = 1; n <= kMaxNameSize; ++n) {
    const std::string name(n, 'n');
    auto sealed = names_.SealName(1, 100, name);
    ASSERT_TRUE(sealed.ok()) << n;
    EXPECT_EQ(sealed->size(), PaddedNameSize(n) + kBlobOverhead) << n;
    auto back = names_.OpenName(1, 100, *names_.LookupKey(1, name), *sealed);
    ASSERT_TRUE(back.ok()) << n << ": " << back.status().ToString();
    EXPECT_EQ(*back, name);
  }
}

TEST_F(NameCipherTest, MalformedPaddingIsRefused) {
  // Blobs that authenticate (sealed under the real keys, for the right entry) but whose
  // plaintext is not what Pad produces.
  auto name_key = DeriveSubkey(master_, labels::kNameSeal);
  auto target_key = DeriveSubkey(master_, labels::kSymlinkSeal);
  ASSERT_TRUE(name_key.ok() && target_key.ok());
  std::string aad(16, '\0');
  aad[7] = 5;     // parent 5
  aad[15] = 100;  // inode 100
  const std::string lookup = *names_.LookupKey(5, "abc");
  const std::string good = "abc" + std::string(29, '\0');
  auto ok = SealBlob(*name_key, good, aad);
  ASSERT_TRUE(ok.ok());
  ASSERT_EQ(*names_.OpenName(5, 100, lookup, *ok), "abc");  // the crafted AAD is the real one
  const std::string bad_paddings[] = {
      "abc",                                // not padded at all
      "abc" + std::string(28, '\0'),        // 31 bytes: not a multiple of 32
      "abc" + std::string(61, '\0'),        // 64 bytes: a whole block too many
      "abc" + std::string(28, '\0') + "x",  // a non-NUL byte after the padding starts
      "abc" + std::string(13, '\0') + "d" + std::string(15, '\0'),  // a name hidden in padding
      std::string(32, '\0'),                                        // no name, all padding
  };
  for (const std::string& plain : bad_paddings) {
    auto sealed = SealBlob(*name_key, plain, aad);
    ASSERT_TRUE(sealed.ok());
    EXPECT_EQ(names_.OpenName(5, 100, lookup, *sealed).status().code(), EBADMSG) << plain.size();
    auto t = SealBlob(*target_key, plain, aad.substr(8));
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(names_.OpenSymlinkTarget(100, *t).status().code(), EBADMSG) << plain.size();
  }
  // Well padded but longer than any name may be (288 bytes).
  auto too_long = SealBlob(*name_key, std::string(288, 'n'), aad);
  ASSERT_TRUE(too_long.ok());
  EXPECT_EQ(names_.OpenName(5, 100, lookup, *too_long).status().code(), EBADMSG);
}

TEST_F(NameCipherTest, OtherUsersKeyCannotOpen) {
  auto lookup = *names_.LookupKey(5, "a.txt");
  auto sealed = *names_.SealName(5, 100, "a.txt");
  NameCipher other = Make(std::move(Key::Random()).value());
  EXPECT_EQ(other.OpenName(5, 100, lookup, sealed).status().code(), EBADMSG);
}

TEST_F(NameCipherTest, SymlinkTargetsUpTo4095Bytes) {
  for (std::string target :
       {std::string("/"), std::string("../lib/libfoo.so.1"), std::string(4095, 't')}) {
    auto sealed = names_.SealSymlinkTarget(77, target);
    ASSERT_TRUE(sealed.ok());
    EXPECT_EQ(sealed->size(), PaddedNameSize(target.size()) + kBlobOverhead);
    auto back = names_.OpenSymlinkTarget(77, *sealed);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, target);
  }
  auto sealed = *names_.SealSymlinkTarget(77, "/etc/passwd");
  EXPECT_EQ(names_.OpenSymlinkTarget(78, sealed).status().code(), EBADMSG);  // other symlink
  sealed[14] ^= 1;
  EXPECT_EQ(names_.OpenSymlinkTarget(77, sealed).status().code(), EBADMSG);
  EXPECT_EQ(names_.SealSymlinkTarget(77, std::string(4096, 't')).status().code(), EINVAL);
  EXPECT_EQ(names_.SealSymlinkTarget(77, "").status().code(), EINVAL);
  EXPECT_EQ(names_.SealSymlinkTarget(77, std::string("a\0b", 3)).status().code(), EINVAL);
  // A sealed name (different key) is not a symlink target.
  EXPECT_EQ(names_.OpenSymlinkTarget(77, *names_.SealName(77, 100, "x")).status().code(), EBADMSG);
}

TEST_F(NameCipherTest, XattrNamesAndValues) {
  const std::string name = "user.comment";
  auto lookup = names_.XattrLookupKey(9, name);
  auto sealed_name = names_.SealXattrName(9, name);
  ASSERT_TRUE(lookup.ok() && sealed_name.ok());
  EXPECT_EQ(*names_.OpenXattrName(9, *lookup, *sealed_name), name);
  EXPECT_EQ(names_.OpenXattrName(10, *lookup, *sealed_name).status().code(), EBADMSG);
  EXPECT_NE(*lookup, *names_.XattrLookupKey(10, name));

  for (size_t n : {size_t{0}, size_t{1}, kMaxXattrValueSize}) {
    std::string value(n, 'v');
    auto sealed = names_.SealXattrValue(9, name, value);
    ASSERT_TRUE(sealed.ok());
    auto back = names_.OpenXattrValue(9, name, *sealed);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, value);
  }
  auto sealed = *names_.SealXattrValue(9, name, "hello");
  EXPECT_EQ(names_.OpenXattrValue(9, "user.other", sealed).status().code(), EBADMSG);
  EXPECT_EQ(names_.OpenXattrValue(8, name, sealed).status().code(), EBADMSG);
  sealed[20] ^= 0x80;
  EXPECT_EQ(names_.OpenXattrValue(9, name, sealed).status().code(), EBADMSG);
  EXPECT_EQ(
      names_.SealXattrValue(9, name, std::string(kMaxXattrValueSize + 1, 'v')).status().code(),
      EINVAL);
  EXPECT_EQ(names_.SealXattrName(9, "").status().code(), EINVAL);
  EXPECT_EQ(names_.SealXattrName(9, std::string(256, 'x')).status().code(), EINVAL);
}

}  // namespace
}  // namespace vaultfs::crypto
