// Key, blob AEAD and key wrapping (key.h, hkdf.h, aead.h, key_wrap.h, key_labels.h).
#include "src/crypto/key_wrap.h"

#include <gtest/gtest.h>

#include <set>

#include "src/crypto/aead.h"
#include "src/crypto/hkdf.h"
#include "src/crypto/key_labels.h"

namespace vaultfs::crypto {
namespace {

Key NewKey() {
  auto k = Key::Random();
  EXPECT_TRUE(k.ok());
  return std::move(k).value();
}

const VersionBinding kVersion{"alice", 42, 7};

TEST(Key, FactoriesAndComparison) {
  Key a = NewKey();
  Key b = NewKey();
  EXPECT_FALSE(a.Equals(b));
  Key c = a.Clone();
  EXPECT_TRUE(c.Equals(a));
  auto d = Key::FromBytes(a.bytes());
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->Equals(a));
  EXPECT_EQ(Key::FromBytes(std::string(31, 'k')).status().code(), EINVAL);
  EXPECT_EQ(Key::FromBytes(std::string(33, 'k')).status().code(), EINVAL);
}

TEST(Key, MovedFromKeyIsWiped) {
  Key a = NewKey();
  Key copy = a.Clone();
  Key b = std::move(a);
  EXPECT_TRUE(b.Equals(copy));
  // NOLINTNEXTLINE(bugprone-use-after-move): checking the wipe is the point.
  EXPECT_EQ(a.bytes(), std::string(Key::kSize, '\0'));
}

TEST(KeyLabels, AllDistinct) {
  std::set<std::string_view> seen(labels::kAll.begin(), labels::kAll.end());
  EXPECT_EQ(seen.size(), labels::kAll.size());
}

TEST(KeyLabels, SubkeysDifferPerLabelAndParent) {
  Key master = NewKey();
  std::set<std::string> keys;
  for (std::string_view label : labels::kAll) {
    auto k = DeriveSubkey(master, label);
    ASSERT_TRUE(k.ok());
    keys.insert(std::string(k->bytes()));
    auto again = DeriveSubkey(master, label);
    EXPECT_TRUE(again->Equals(*k)) << "derivation must be deterministic";
  }
  EXPECT_EQ(keys.size(), labels::kAll.size());
  EXPECT_FALSE(
      DeriveSubkey(NewKey(), labels::kNameSeal)->Equals(*DeriveSubkey(master, labels::kNameSeal)));
}

TEST(SealBlob, RoundTripAndFormat) {
  Key key = NewKey();
  for (size_t n : {size_t{0}, size_t{1}, size_t{17}, size_t{4096}}) {
    std::string plain(n, 'x');
    auto blob = SealBlob(key, plain, "aad");
    ASSERT_TRUE(blob.ok());
    EXPECT_EQ(blob->size(), n + kBlobOverhead);
    EXPECT_EQ(static_cast<uint8_t>((*blob)[0]), kBlobVersion);
    auto back = OpenBlob(key, *blob, "aad");
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, plain);
  }
  // Random nonces: sealing twice gives different blobs.
  EXPECT_NE(*SealBlob(key, "same", ""), *SealBlob(key, "same", ""));
}

TEST(SealBlob, TamperWrongKeyWrongAadAndTruncationAreRefused) {
  Key key = NewKey();
  const std::string blob = *SealBlob(key, "secret name", "ctx");
  for (size_t bit = 0; bit < blob.size() * 8; ++bit) {
    std::string bad = blob;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_EQ(OpenBlob(key, bad, "ctx").status().code(), EBADMSG) << "bit " << bit;
  }
  EXPECT_EQ(OpenBlob(NewKey(), blob, "ctx").status().code(), EBADMSG);
  EXPECT_EQ(OpenBlob(key, blob, "ctx2").status().code(), EBADMSG);
  EXPECT_EQ(OpenBlob(key, blob, "").status().code(), EBADMSG);
  for (size_t len = 0; len < blob.size(); ++len) {
    EXPECT_EQ(OpenBlob(key, blob.substr(0, len), "ctx").status().code(), EBADMSG) << len;
  }
  EXPECT_EQ(OpenBlob(key, blob + "x", "ctx").status().code(), EBADMSG);
  EXPECT_EQ(SealBlob(key, std::string(kMaxBlobPlaintext + 1, 'x'), "").status().code(), EINVAL);
}

TEST(MasterKeyWrap, RoundTripAndBinding) {
  Key kek = NewKey();
  Key master = NewKey();
  auto wrapped = WrapMasterKey(kek, master, "alice");
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(wrapped->size(), kWrappedKeySize);
  EXPECT_EQ(static_cast<uint8_t>((*wrapped)[0]), kBlobVersion);
  EXPECT_EQ(wrapped->find(master.bytes()), std::string::npos);
  auto back = UnwrapMasterKey(kek, *wrapped, "alice");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->Equals(master));

  EXPECT_EQ(UnwrapMasterKey(NewKey(), *wrapped, "alice").status().code(), EACCES);
  EXPECT_EQ(UnwrapMasterKey(kek, *wrapped, "bob").status().code(), EACCES);  // other user
  std::string bad = *wrapped;
  bad[20] ^= 4;
  EXPECT_EQ(UnwrapMasterKey(kek, bad, "alice").status().code(), EACCES);
  // The KEK itself is not the wrapping key: a blob sealed directly under it doesn't open.
  auto direct = SealBlob(kek, master.bytes(), "alice");
  EXPECT_EQ(UnwrapMasterKey(kek, *direct, "alice").status().code(), EACCES);
  EXPECT_EQ(WrapMasterKey(kek, master, "").status().code(), EINVAL);
}

TEST(FileKeyWrap, RoundTripAndBindingToUserFileAndVersion) {
  Key master = NewKey();
  Key file_key = NewKey();
  auto wrapped = WrapFileKey(master, file_key, kVersion);
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(wrapped->size(), kWrappedKeySize);
  auto back = UnwrapFileKey(master, *wrapped, kVersion);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->Equals(file_key));

  const VersionBinding others[] = {{"bob", 42, 7}, {"alice", 43, 7}, {"alice", 42, 6}};
  for (const VersionBinding& v : others) {
    EXPECT_EQ(UnwrapFileKey(master, *wrapped, v).status().code(), EBADMSG)
        << v.user_id << "/" << v.file_id << "/" << v.version_id;
  }
  EXPECT_EQ(UnwrapFileKey(NewKey(), *wrapped, kVersion).status().code(), EBADMSG);
  std::string bad = *wrapped;
  bad.back() ^= 1;
  EXPECT_EQ(UnwrapFileKey(master, bad, kVersion).status().code(), EBADMSG);
  // A master-key blob is not a file-key blob, even with the same outer key material.
  auto as_master = WrapMasterKey(master, file_key, "alice");
  EXPECT_EQ(UnwrapFileKey(master, *as_master, kVersion).status().code(), EBADMSG);
  EXPECT_EQ(WrapFileKey(master, file_key, {"", 1, 1}).status().code(), EINVAL);
  EXPECT_EQ(WrapFileKey(master, file_key, {std::string(256, 'u'), 1, 1}).status().code(), EINVAL);
}

}  // namespace
}  // namespace vaultfs::crypto
