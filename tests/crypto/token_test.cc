// Access tokens (src/crypto/token.h): a good token verifies; expired, forged, wrong-secret,
// wrong-audience, insufficient and malformed tokens are all refused.
#include "src/crypto/token.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "src/common/hex.h"
#include "src/crypto/hash.h"

namespace vaultfs::crypto {
namespace {

constexpr std::string_view kSecret = "server-only-secret-0123456789abcdef";
constexpr int64_t kNow = 1'800'000'000;

TokenClaims Claims() {
  TokenClaims c;
  c.audience = "data";
  c.user = "alice_01";
  c.rights = kRightRead | kRightList;
  c.expires_at = kNow + 600;
  c.token_id = "00ff12ab";
  return c;
}

std::string Sign(const TokenClaims& c = Claims()) {
  auto t = SignToken(c, kSecret);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : std::string();
}

// Signs an arbitrary payload exactly as token.cc does, to build tokens whose MAC is valid
// but whose fields are not (only someone holding the secret could).
std::string SignRaw(const std::string& payload) {
  std::string mac_key = HmacSha256(kSecret, "vaultfs token mac key v1");
  return payload + "." + HexEncode(HmacSha256(mac_key, payload));
}

TEST(Token, RoundTrip) {
  std::string token = Sign();
  auto c = VerifyToken(token, kSecret, "data", kRightRead, kNow);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->audience, "data");
  EXPECT_EQ(c->user, "alice_01");
  EXPECT_EQ(c->rights, kRightRead | kRightList);
  EXPECT_EQ(c->expires_at, kNow + 600);
  EXPECT_EQ(c->token_id, "00ff12ab");
  EXPECT_TRUE(VerifyToken(token, kSecret, "data", kRightRead | kRightList, kNow).ok());
  EXPECT_TRUE(VerifyToken(token, kSecret, "data", 0, kNow).ok());
}

TEST(Token, SignedFormMatchesSignRawSoTheForgeryHelperIsFaithful) {
  EXPECT_EQ(Sign(), SignRaw("v1.data.alice_01.9." + std::to_string(kNow + 600) + ".00ff12ab"));
}

TEST(Token, ExpiredIsRefused) {
  std::string token = Sign();
  EXPECT_TRUE(VerifyToken(token, kSecret, "data", kRightRead, kNow + 599).ok());
  auto at = VerifyToken(token, kSecret, "data", kRightRead, kNow + 600);
  EXPECT_EQ(at.status().code(), EACCES);
  EXPECT_NE(at.status().message().find("expired"), std::string::npos);
  EXPECT_EQ(VerifyToken(token, kSecret, "data", kRightRead, kNow + 100000).status().code(), EACCES);
}

TEST(Token, ForgedMacBitFlipIsRefused) {
  const std::string token = Sign();
  const size_t mac_start = token.rfind('.') + 1;
  for (size_t i = mac_start; i < token.size(); ++i) {
    std::string bad = token;
    // Stay within lowercase hex so the format is intact and only the MAC check can refuse.
    bad[i] = bad[i] == '0' ? '1' : '0';
    auto r = VerifyToken(bad, kSecret, "data", kRightRead, kNow);
    EXPECT_EQ(r.status().code(), EACCES) << "position " << i;
    EXPECT_EQ(r.status().message().find(token.substr(mac_start)), std::string::npos)
        << "error message must not echo the token";
  }
}

TEST(Token, ChangedClaimsAreRefused) {
  const std::string token = Sign();
  std::string more_rights = token;
  more_rights.replace(more_rights.find(".9."), 3, ".f.");  // read|list -> all rights
  EXPECT_EQ(VerifyToken(more_rights, kSecret, "data", kRightRead, kNow).status().code(), EACCES);
  std::string other_user = token;
  other_user.replace(other_user.find("alice_01"), 8, "alice_02");
  EXPECT_EQ(VerifyToken(other_user, kSecret, "data", kRightRead, kNow).status().code(), EACCES);
  std::string later = token;
  later.replace(later.find(std::to_string(kNow + 600)), 10, std::to_string(kNow + 900));
  EXPECT_EQ(VerifyToken(later, kSecret, "data", kRightRead, kNow).status().code(), EACCES);
}

TEST(Token, WrongSecretIsRefused) {
  EXPECT_EQ(VerifyToken(Sign(), "another-secret", "data", kRightRead, kNow).status().code(),
            EACCES);
  EXPECT_EQ(VerifyToken(Sign(), "", "data", kRightRead, kNow).status().code(), EACCES);
}

TEST(Token, WrongAudienceIsRefused) {
  EXPECT_EQ(VerifyToken(Sign(), kSecret, "meta", kRightRead, kNow).status().code(), EACCES);
  TokenClaims meta = Claims();
  meta.audience = "meta";
  EXPECT_EQ(VerifyToken(Sign(meta), kSecret, "data", kRightRead, kNow).status().code(), EACCES);
  EXPECT_TRUE(VerifyToken(Sign(meta), kSecret, "meta", kRightRead, kNow).ok());
}

TEST(Token, InsufficientRightsAreRefused) {
  std::string token = Sign();
  EXPECT_EQ(VerifyToken(token, kSecret, "data", kRightWrite, kNow).status().code(), EACCES);
  EXPECT_EQ(VerifyToken(token, kSecret, "data", kRightRead | kRightDelete, kNow).status().code(),
            EACCES);
}

TEST(Token, MalformedStringsAreRefused) {
  const std::string good = Sign();
  const std::string bad[] = {
      "",
      ".",
      "......",
      "v1",
      "garbage",
      good + ".",
      good + ".00",
      "." + good,
      "v2" + good.substr(2),
      good.substr(0, good.size() - 1),         // odd-length MAC
      good.substr(0, good.rfind('.')),         // MAC missing
      good.substr(0, good.rfind('.') + 1),     // empty MAC
      good.substr(0, good.size() - 2) + "zz",  // non-hex MAC
      std::string(100000, 'a'),
      good + std::string(1000, '0'),
      std::string("v1.data.alice\0.9.1.00.00", 24),
  };
  for (const std::string& t : bad) {
    auto r = VerifyToken(t, kSecret, "data", kRightRead, kNow);
    EXPECT_FALSE(r.ok()) << "accepted: " << t.substr(0, 80);
    EXPECT_TRUE(r.status().code() == EINVAL || r.status().code() == EACCES)
        << r.status().ToString();
  }
}

TEST(Token, ValidMacOverMalformedFieldsIsStillRefused) {
  const std::string exp = std::to_string(kNow + 600);
  const std::string payloads[] = {
      "v1.data.alice.zz." + exp + ".00",                // non-hex rights
      "v1.data.alice.9.soon.00",                        // non-numeric expiry
      "v1.data.alice.9." + exp + "x.00",                // trailing junk in expiry
      "v1.data.al/ice.9." + exp + ".00",                // user outside the alphabet
      "v1.data..9." + exp + ".00",                      // empty user
      "v1.data.alice.9." + exp + ".XYZ",                // non-hex token id
      "v1.data.alice.1ffffffff." + exp + ".00",         // rights overflow 32 bits
      "v1.data.alice.9.99999999999999999999999999.00",  // expiry overflow
  };
  for (const std::string& p : payloads) {
    auto r = VerifyToken(SignRaw(p), kSecret, "data", kRightRead, kNow);
    EXPECT_EQ(r.status().code(), EINVAL) << p;
  }
}

TEST(Token, RandomGarbageIsRefused) {
  std::mt19937 rng(12345);
  const std::string alphabet = "v1.datmeta0123456789abcdef_-xyz./\n";
  for (int i = 0; i < 2000; ++i) {
    std::string t(rng() % 200, '\0');
    for (char& ch : t) ch = alphabet[rng() % alphabet.size()];
    EXPECT_FALSE(VerifyToken(t, kSecret, "data", 0, kNow).ok()) << t;
  }
}

TEST(Token, SignRefusesInvalidClaims) {
  TokenClaims c = Claims();
  c.user = "a/b";
  EXPECT_EQ(SignToken(c, kSecret).status().code(), EINVAL);
  c = Claims();
  c.user = std::string(65, 'a');
  EXPECT_EQ(SignToken(c, kSecret).status().code(), EINVAL);
  c = Claims();
  c.audience = "";
  EXPECT_EQ(SignToken(c, kSecret).status().code(), EINVAL);
  c = Claims();
  c.audience = "da.ta";
  EXPECT_EQ(SignToken(c, kSecret).status().code(), EINVAL);
  c = Claims();
  c.token_id = "XYZ";
  EXPECT_EQ(SignToken(c, kSecret).status().code(), EINVAL);
  c = Claims();
  c.expires_at = 0;
  EXPECT_EQ(SignToken(c, kSecret).status().code(), EINVAL);
}

TEST(Token, ScopeRoundTripsAndIsCoveredByTheMac) {
  TokenClaims c = Claims();
  c.rights = kRightWrite;
  c.scope = "0123456789abcdef0123456789abcd";
  const std::string token = Sign(c);
  auto v = VerifyToken(token, kSecret, "data", kRightWrite, kNow);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->scope, c.scope);
  // An unscoped token keeps the 7-part form, so its scope reads back empty.
  EXPECT_EQ(VerifyToken(Sign(), kSecret, "data", 0, kNow)->scope, "");
  // Dropping or changing the scope breaks the MAC: a scoped token can't be widened.
  const size_t mac = token.rfind('.');
  const size_t scope = token.rfind('.', mac - 1);
  std::string dropped = token.substr(0, scope) + token.substr(mac);
  EXPECT_EQ(VerifyToken(dropped, kSecret, "data", kRightWrite, kNow).status().code(), EACCES);
  std::string changed = token;
  changed[scope + 1] = changed[scope + 1] == '0' ? '1' : '0';
  EXPECT_EQ(VerifyToken(changed, kSecret, "data", kRightWrite, kNow).status().code(), EACCES);
  // Malformed scopes under a valid MAC are refused too.
  const std::string exp = std::to_string(kNow + 600);
  for (const std::string& p :
       {"v1.data.alice.2." + exp + ".00.", "v1.data.alice.2." + exp + ".00.XY",
        "v1.data.alice.2." + exp + ".00." + std::string(63, 'a'),
        "v1.data.alice.2." + exp + ".00.ab.cd"}) {
    EXPECT_EQ(VerifyToken(SignRaw(p), kSecret, "data", 0, kNow).status().code(), EINVAL) << p;
  }
  c.scope = "NOTHEX";
  EXPECT_EQ(SignToken(c, kSecret).status().code(), EINVAL);
  c.scope = std::string(kMaxTokenScope + 1, 'a');
  EXPECT_EQ(SignToken(c, kSecret).status().code(), EINVAL);
}

TEST(Token, ScopeCoversExactlyItsChunkIds) {
  const std::string scope = "00112233445566778899aabbccddee";
  EXPECT_EQ(ScopedChunkId(scope, 0), scope + "00");
  EXPECT_EQ(ScopedChunkId(scope, 13), scope + "0d");
  EXPECT_EQ(ScopedChunkId(scope, 255), scope + "ff");
  for (int i : {0, 1, 13, 63, 255}) EXPECT_TRUE(ScopeCovers(scope, ScopedChunkId(scope, i)));
  EXPECT_FALSE(ScopeCovers(scope, scope));                         // no index
  EXPECT_FALSE(ScopeCovers(scope, scope + "0"));                   // half an index
  EXPECT_FALSE(ScopeCovers(scope, scope + "000"));                 // too long
  EXPECT_FALSE(ScopeCovers(scope, scope + "0D"));                  // not lowercase hex
  EXPECT_FALSE(ScopeCovers(scope, scope + "/."));                  // not hex at all
  EXPECT_FALSE(ScopeCovers(scope, "1" + scope.substr(1) + "00"));  // another scope
  EXPECT_FALSE(ScopeCovers("", "00"));  // empty scope covers nothing here
}

}  // namespace
}  // namespace vaultfs::crypto
