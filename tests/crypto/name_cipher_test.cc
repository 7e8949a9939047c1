// NameCipher (src/crypto/name_cipher.h): names, symlink targets and xattrs round-trip at
// their maximum sizes; tampering, moving a name to another directory, swapping names between
// entries and using another user's key are refused; lookup keys differ per dir and per user.
#include "src/crypto/name_cipher.h"

#include <gtest/gtest.h>

#include "src/crypto/aead.h"

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
    auto sealed = names_.SealName(1, name);
    ASSERT_TRUE(lookup.ok() && sealed.ok()) << name;
    EXPECT_EQ(lookup->size(), kLookupKeySize);
    EXPECT_EQ(sealed->size(), name.size() + kBlobOverhead);
    if (name.size() >= 8) {  // a short name may occur in random bytes by chance
      EXPECT_EQ(sealed->find(name), std::string::npos);
    }
    auto back = names_.OpenName(1, *lookup, *sealed);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, name);
  }
  EXPECT_EQ(names_.SealName(1, std::string(255, 'n'))->size(), 284u);
}

TEST_F(NameCipherTest, InvalidNamesAreRefused) {
  for (std::string bad : {std::string(), std::string(256, 'n'), std::string("a/b"),
                          std::string("."), std::string(".."), std::string("a\0b", 3)}) {
    EXPECT_EQ(names_.LookupKey(1, bad).status().code(), EINVAL) << bad;
    EXPECT_EQ(names_.SealName(1, bad).status().code(), EINVAL) << bad;
  }
  EXPECT_TRUE(names_.SealName(1, "...").ok());
  EXPECT_TRUE(names_.SealName(1, ".hidden").ok());
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
  auto sealed = *names_.SealName(5, "secret-plan.odt");
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    std::string bad = sealed;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_EQ(names_.OpenName(5, lookup, bad).status().code(), EBADMSG) << bit;
  }
  EXPECT_EQ(names_.OpenName(5, lookup, sealed.substr(0, sealed.size() - 1)).status().code(),
            EBADMSG);
  EXPECT_EQ(names_.OpenName(5, lookup, "").status().code(), EBADMSG);
  EXPECT_EQ(names_.OpenName(5, lookup, std::string(255 + kBlobOverhead + 1, 'x')).status().code(),
            EBADMSG);
}

TEST_F(NameCipherTest, NameMovedToAnotherDirectoryIsRefused) {
  auto sealed = *names_.SealName(5, "a.txt");
  // Even if the server also recomputes nothing and presents the lookup key for the new dir.
  EXPECT_EQ(names_.OpenName(6, *names_.LookupKey(6, "a.txt"), sealed).status().code(), EBADMSG);
  EXPECT_EQ(names_.OpenName(6, *names_.LookupKey(5, "a.txt"), sealed).status().code(), EBADMSG);
}

TEST_F(NameCipherTest, NamesSwappedBetweenEntriesAreRefused) {
  auto lookup_a = *names_.LookupKey(5, "a.txt");
  auto sealed_b = *names_.SealName(5, "b.txt");
  EXPECT_EQ(names_.OpenName(5, lookup_a, sealed_b).status().code(), EBADMSG);
}

TEST_F(NameCipherTest, OtherUsersKeyCannotOpen) {
  auto lookup = *names_.LookupKey(5, "a.txt");
  auto sealed = *names_.SealName(5, "a.txt");
  NameCipher other = Make(std::move(Key::Random()).value());
  EXPECT_EQ(other.OpenName(5, lookup, sealed).status().code(), EBADMSG);
}

TEST_F(NameCipherTest, SymlinkTargetsUpTo4095Bytes) {
  for (std::string target :
       {std::string("/"), std::string("../lib/libfoo.so.1"), std::string(4095, 't')}) {
    auto sealed = names_.SealSymlinkTarget(77, target);
    ASSERT_TRUE(sealed.ok());
    EXPECT_EQ(sealed->size(), target.size() + kBlobOverhead);
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
  EXPECT_EQ(names_.OpenSymlinkTarget(77, *names_.SealName(77, "x")).status().code(), EBADMSG);
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
