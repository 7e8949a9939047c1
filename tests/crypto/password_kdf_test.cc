// Password KDF (src/crypto/password_kdf.h): parameter policy against a downgrading server,
// JSON round trip, determinism, and that a wrong password can't open the master key.
#include "src/crypto/password_kdf.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "src/crypto/hash.h"
#include "src/crypto/key_wrap.h"

namespace vaultfs::crypto {
namespace {

// Cheap parameters (1 MiB, a few ms) so tests stay fast; only the policy seam is lowered.
constexpr KdfLimits kTestLimits{.min_n = 16, .max_n = 1 << 20, .min_r = 1};
const KdfParams kFastParams{"scrypt", 1024, 8, 1};
const std::string kSalt(32, 's');

PasswordKeys Derive(std::string_view password, std::string_view salt = kSalt) {
  auto k = DerivePasswordKeys(password, salt, kFastParams, kTestLimits);
  EXPECT_TRUE(k.ok()) << k.status().ToString();
  return std::move(k).value();
}

TEST(KdfParams, DefaultsAreAtLeastGocryptfsCost) {
  KdfParams d;
  EXPECT_EQ(d.algorithm, "scrypt");
  EXPECT_GE(d.n, uint64_t{65536});
  EXPECT_GE(d.r, 8u);
  EXPECT_GE(d.p, 1u);
  EXPECT_TRUE(ValidateKdfParams(d).ok());
}

TEST(KdfParams, DowngradesAndAbsurdValuesAreRefused) {
  const KdfParams bad[] = {
      {"scrypt", 1 << 15, 8, 1},            // weaker than N=2^16
      {"scrypt", 16, 8, 1},                 // far weaker
      {"scrypt", 1 << 16, 4, 1},            // r below 8
      {"scrypt", 1 << 16, 8, 0},            // p = 0
      {"scrypt", 1 << 16, 8, 17},           // p absurd
      {"scrypt", 65537, 8, 1},              // not a power of two
      {"scrypt", 0, 8, 1},                  //
      {"scrypt", uint64_t{1} << 21, 8, 1},  // beyond max N (client memory DoS)
      {"scrypt", uint64_t{1} << 62, 8, 1},  // overflow territory
      {"scrypt", 1 << 20, 32, 1},           // 4 GiB
      {"scrypt", 1 << 16, 33, 1},           // r absurd
      {"argon2id", 1 << 16, 8, 1},          // unknown algorithm
      {"", 1 << 16, 8, 1},
  };
  for (const KdfParams& p : bad) {
    Status st = ValidateKdfParams(p);
    EXPECT_EQ(st.code(), EINVAL) << p.algorithm << " N=" << p.n << " r=" << p.r << " p=" << p.p;
    // And the derivation itself refuses them: no code path reaches scrypt with them.
    EXPECT_EQ(DerivePasswordKeys("pw", kSalt, p).status().code(), EINVAL);
  }
  Status weak = ValidateKdfParams({"scrypt", 1024, 8, 1});
  EXPECT_NE(weak.message().find("minimum"), std::string::npos) << weak.message();
}

TEST(KdfParams, StrongerThanDefaultIsAccepted) {
  EXPECT_TRUE(ValidateKdfParams({"scrypt", 1 << 18, 8, 1}).ok());
  EXPECT_TRUE(ValidateKdfParams({"scrypt", 1 << 16, 16, 4}).ok());
  EXPECT_TRUE(ValidateKdfParams({"scrypt", 1 << 20, 8, 1}).ok());  // 1 GiB, the cap
}

TEST(KdfParams, JsonRoundTrip) {
  KdfParams p{"scrypt", 1 << 17, 8, 2};
  nlohmann::json j = KdfParamsToJson(p);
  EXPECT_EQ(j["algorithm"], "scrypt");
  EXPECT_EQ(j["n"], 1 << 17);
  auto back = KdfParamsFromJson(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, p);
  // Signed integers (as another module might build them) are fine too.
  auto signed_ints = KdfParamsFromJson({{"algorithm", "scrypt"}, {"n", 65536}, {"r", 8}, {"p", 1}});
  ASSERT_TRUE(signed_ints.ok());
  EXPECT_EQ(*signed_ints, KdfParams());
}

TEST(KdfParams, MalformedJsonIsRefused) {
  const char* bad[] = {
      "[]",
      "null",
      "{}",
      R"({"n": 65536, "r": 8, "p": 1})",
      R"({"algorithm": 5, "n": 65536, "r": 8, "p": 1})",
      R"({"algorithm": "scrypt", "r": 8, "p": 1})",
      R"({"algorithm": "scrypt", "n": "65536", "r": 8, "p": 1})",
      R"({"algorithm": "scrypt", "n": 65536.5, "r": 8, "p": 1})",
      R"({"algorithm": "scrypt", "n": -65536, "r": 8, "p": 1})",
      R"({"algorithm": "scrypt", "n": 65536, "r": 8, "p": 4294967296})",
      R"({"algorithm": "scrypt", "n": 65536, "r": null, "p": 1})",
  };
  for (const char* text : bad) {
    auto r = KdfParamsFromJson(nlohmann::json::parse(text));
    EXPECT_EQ(r.status().code(), EINVAL) << text;
  }
}

TEST(PasswordKdf, DefaultCostDerivesOnce) {
  auto salt = NewSalt();
  ASSERT_TRUE(salt.ok());
  EXPECT_EQ(salt->size(), kSaltSize);
  auto keys = DerivePasswordKeys("correct horse battery staple", *salt, KdfParams());
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_FALSE(keys->auth_key.Equals(keys->kek));
}

TEST(PasswordKdf, DeterministicAndSplit) {
  PasswordKeys a = Derive("hunter2");
  PasswordKeys b = Derive("hunter2");
  EXPECT_TRUE(a.auth_key.Equals(b.auth_key));
  EXPECT_TRUE(a.kek.Equals(b.kek));
  EXPECT_FALSE(a.auth_key.Equals(a.kek));
  // The split is HKDF of the scrypt output, so neither half equals a slice of it.
  auto root = Scrypt("hunter2", kSalt, kFastParams.n, kFastParams.r, kFastParams.p, 64);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->find(a.auth_key.bytes()), std::string::npos);
  EXPECT_EQ(root->find(a.kek.bytes()), std::string::npos);
}

TEST(PasswordKdf, SaltAndCostChangeTheKeys) {
  PasswordKeys a = Derive("hunter2");
  PasswordKeys other_salt = Derive("hunter2", std::string(32, 't'));
  EXPECT_FALSE(a.auth_key.Equals(other_salt.auth_key));
  EXPECT_FALSE(a.kek.Equals(other_salt.kek));
  auto other_cost = DerivePasswordKeys("hunter2", kSalt, {"scrypt", 2048, 8, 1}, kTestLimits);
  ASSERT_TRUE(other_cost.ok());
  EXPECT_FALSE(a.auth_key.Equals(other_cost->auth_key));
}

TEST(PasswordKdf, WrongPasswordGivesOtherAuthKeyAndCannotOpenMasterKey) {
  PasswordKeys right = Derive("the right password");
  PasswordKeys wrong = Derive("the wrong password");
  EXPECT_FALSE(right.auth_key.Equals(wrong.auth_key));
  EXPECT_FALSE(ConstantTimeEquals(AuthKeyVerifier(right.auth_key.bytes()),
                                  AuthKeyVerifier(wrong.auth_key.bytes())));

  auto master = Key::Random();
  ASSERT_TRUE(master.ok());
  auto wrapped = WrapMasterKey(right.kek, *master, "alice");
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  auto opened = UnwrapMasterKey(right.kek, *wrapped, "alice");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(opened->Equals(*master));

  auto refused = UnwrapMasterKey(wrong.kek, *wrapped, "alice");
  EXPECT_EQ(refused.status().code(), EACCES);
  EXPECT_NE(refused.status().message().find("wrong password"), std::string::npos);
}

TEST(PasswordKdf, BadSaltAndPasswordAreRefused) {
  EXPECT_EQ(
      DerivePasswordKeys("pw", std::string(15, 's'), kFastParams, kTestLimits).status().code(),
      EINVAL);
  EXPECT_EQ(
      DerivePasswordKeys("pw", std::string(65, 's'), kFastParams, kTestLimits).status().code(),
      EINVAL);
  EXPECT_EQ(DerivePasswordKeys("", kSalt, kFastParams, kTestLimits).status().code(), EINVAL);
  EXPECT_EQ(
      DerivePasswordKeys(std::string(4097, 'p'), kSalt, kFastParams, kTestLimits).status().code(),
      EINVAL);
  EXPECT_TRUE(
      DerivePasswordKeys(std::string(16, 's'), std::string(16, 's'), kFastParams, kTestLimits)
          .ok());
}

TEST(PasswordKdf, AuthKeyVerifierIsAFixedDomainSeparatedHash) {
  PasswordKeys a = Derive("hunter2");
  std::string v = AuthKeyVerifier(a.auth_key.bytes());
  EXPECT_EQ(v.size(), 32u);
  EXPECT_EQ(v, AuthKeyVerifier(a.auth_key.bytes()));
  EXPECT_NE(v, DigestToString(Sha256(a.auth_key.bytes())));  // domain-separated
  EXPECT_EQ(v.find(a.auth_key.bytes()), std::string::npos);
}

}  // namespace
}  // namespace vaultfs::crypto
