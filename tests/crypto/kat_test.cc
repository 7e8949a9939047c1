// Published known-answer vectors for every primitive vaultfs builds on: SHA-256 (FIPS 180-2
// examples), HMAC-SHA256 (RFC 4231 §4.2-4.8), HKDF-SHA256 (RFC 5869 A.1-A.3), scrypt
// (RFC 7914 §12) and AES-256-GCM (McGrew-Viega GCM spec test cases 13-16).
#include <gtest/gtest.h>

#include <string>

#include "src/crypto/aead.h"
#include "src/crypto/hash.h"
#include "src/crypto/hkdf.h"
#include "src/crypto/password_kdf.h"
#include "tests/crypto/test_util.h"

namespace vaultfs::crypto {
namespace {

using testing::Hex;
using testing::Unhex;

TEST(Sha256Kat, Fips180Examples) {
  EXPECT_EQ(DigestToHex(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(DigestToHex(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(DigestToHex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Kat, IncrementalMatchesOneShotAndResets) {
  Sha256Hasher h;
  h.Update("a");
  h.Update("");
  h.Update("bc");
  EXPECT_EQ(DigestToHex(h.Finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(DigestToHex(h.Finish()),  // reset after Finish: now the empty message
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

struct HmacCase {
  const char* name;
  std::string key;
  std::string data;
  const char* mac_hex;  // possibly truncated (test case 5)
};

TEST(HmacSha256Kat, Rfc4231) {
  const std::string k131(131, '\xaa');
  const HmacCase cases[] = {
      {"1", std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"2", "Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {"3", std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {"4", Unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd'),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {"5", std::string(20, '\x0c'), "Test With Truncation", "a3b6167473100ee06e0c796c2955552b"},
      {"6", k131, "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {"7", k131,
       "This is a test using a larger than block-size key and a larger than block-size data. "
       "The key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const HmacCase& c : cases) {
    std::string mac = Hex(HmacSha256(c.key, c.data));
    std::string want = c.mac_hex;
    EXPECT_EQ(mac.substr(0, want.size()), want) << "RFC 4231 test case " << c.name;
    EXPECT_EQ(mac.size(), 64u);
  }
}

TEST(HkdfKat, Rfc5869Case1Basic) {
  auto okm = HkdfSha256(std::string(22, '\x0b'), Unhex("000102030405060708090a0b0c"),
                        Unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.ok()) << okm.status().ToString();
  EXPECT_EQ(Hex(*okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(HkdfKat, Rfc5869Case2LongInputs) {
  std::string ikm, salt, info;
  for (int i = 0x00; i <= 0x4f; ++i) ikm.push_back(static_cast<char>(i));
  for (int i = 0x60; i <= 0xaf; ++i) salt.push_back(static_cast<char>(i));
  for (int i = 0xb0; i <= 0xff; ++i) info.push_back(static_cast<char>(i));
  auto okm = HkdfSha256(ikm, salt, info, 82);
  ASSERT_TRUE(okm.ok()) << okm.status().ToString();
  EXPECT_EQ(Hex(*okm),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac78272"
            "71cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f"
            "1d87");
}

TEST(HkdfKat, Rfc5869Case3EmptySaltAndInfo) {
  auto okm = HkdfSha256(std::string(22, '\x0b'), "", "", 42);
  ASSERT_TRUE(okm.ok()) << okm.status().ToString();
  EXPECT_EQ(Hex(*okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(HkdfKat, RefusesBadSizes) {
  EXPECT_EQ(HkdfSha256("", "s", "i", 32).status().code(), EINVAL);
  EXPECT_EQ(HkdfSha256("k", "s", "i", 0).status().code(), EINVAL);
  EXPECT_EQ(HkdfSha256("k", "s", "i", 255 * 32 + 1).status().code(), EINVAL);
  EXPECT_TRUE(HkdfSha256("k", "s", "i", 255 * 32).ok());
}

TEST(ScryptKat, Rfc7914Vectors) {
  struct Case {
    const char* password;
    const char* salt;
    uint64_t n;
    uint32_t r, p;
    const char* dk;
  };
  const Case cases[] = {
      {"", "", 16, 1, 1,
       "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
       "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"},
      {"password", "NaCl", 1024, 8, 16,
       "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
       "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"},
      {"pleaseletmein", "SodiumChloride", 16384, 8, 1,
       "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
       "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"},
  };
  for (const Case& c : cases) {
    auto dk = Scrypt(c.password, c.salt, c.n, c.r, c.p, 64);
    ASSERT_TRUE(dk.ok()) << "N=" << c.n << ": " << dk.status().ToString();
    EXPECT_EQ(Hex(*dk), c.dk) << "RFC 7914 vector N=" << c.n;
  }
}

TEST(ScryptKat, RefusesInvalidParameters) {
  EXPECT_EQ(Scrypt("p", "s", 1000, 8, 1, 64).status().code(), EINVAL);  // not a power of 2
  EXPECT_EQ(Scrypt("p", "s", 1, 8, 1, 64).status().code(), EINVAL);
  EXPECT_EQ(Scrypt("p", "s", 1024, 0, 1, 64).status().code(), EINVAL);
  EXPECT_EQ(Scrypt("p", "s", 1024, 8, 0, 64).status().code(), EINVAL);
  EXPECT_EQ(Scrypt("p", "s", uint64_t{1} << 40, 8, 1, 64).status().code(), EINVAL);  // 2^50 B
  EXPECT_EQ(Scrypt("p", "s", 1024, 8, 1, 0).status().code(), EINVAL);
}

struct GcmCase {
  int number;
  const char* key;
  const char* iv;
  const char* plaintext;
  const char* aad;
  const char* ciphertext;
  const char* tag;
};

const char kTc15Key[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const GcmCase kGcmCases[] = {
    {13, "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {14, "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {15, kTc15Key, "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {16, kTc15Key, "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(AesGcmKat, GcmSpecTestCases13To16SealAndOpen) {
  for (const GcmCase& c : kGcmCases) {
    SCOPED_TRACE("GCM test case " + std::to_string(c.number));
    auto key = Key::FromBytes(Unhex(c.key));
    ASSERT_TRUE(key.ok());
    auto sealed = AesGcmSealWithNonce(*key, Unhex(c.iv), Unhex(c.plaintext), Unhex(c.aad));
    ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
    EXPECT_EQ(Hex(*sealed), std::string(c.ciphertext) + c.tag);
    auto opened = AesGcmOpenWithNonce(*key, Unhex(c.iv), *sealed, Unhex(c.aad));
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, Unhex(c.plaintext));
  }
}

TEST(AesGcmKat, EveryBitFlipOfTestCase16IsRefused) {
  const GcmCase& c = kGcmCases[3];
  auto key = Key::FromBytes(Unhex(c.key));
  ASSERT_TRUE(key.ok());
  const std::string sealed = Unhex(std::string(c.ciphertext) + c.tag);
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    std::string bad = sealed;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_EQ(AesGcmOpenWithNonce(*key, Unhex(c.iv), bad, Unhex(c.aad)).status().code(), EBADMSG)
        << "bit " << bit;
  }
  std::string bad_aad = Unhex(c.aad);
  bad_aad[0] ^= 1;
  EXPECT_EQ(AesGcmOpenWithNonce(*key, Unhex(c.iv), sealed, bad_aad).status().code(), EBADMSG);
  EXPECT_EQ(
      AesGcmOpenWithNonce(*key, Unhex(c.iv), sealed.substr(0, 15), Unhex(c.aad)).status().code(),
      EBADMSG);
  EXPECT_EQ(AesGcmSealWithNonce(*key, "short", "x", "").status().code(), EINVAL);
}

}  // namespace
}  // namespace vaultfs::crypto
