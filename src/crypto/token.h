// Access tokens: HMAC-SHA256 over (audience, user id, rights, expiry, token id) with a key
// of that audience (DESIGN.md §5, §6). Each audience has its own key, derived with HKDF from
// the metadata nodes' server secret (TokenKey): "meta" (user sessions), "data" (data-server
// tokens) and "cluster" (the repairer's maintenance session). The metadata service holds the
// secret and mints all three; a data server holds only the data key and the repairer only the
// cluster key, so neither can mint a user session. A token also names its audience, so a
// token is refused by any service it was not made for.
//
// Wire form (ASCII, safe in JSON and headers):
//   v1.<audience>.<user>.<rights hex>.<expires unix s>.<token id>.<mac hex>
//   v1.<audience>.<user>.<rights hex>.<expires unix s>.<token id>.<scope>.<mac hex>
// The second form carries a chunk scope (below); the MAC covers it, so it cannot be dropped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "src/common/status.h"

namespace vaultfs::crypto {

// Rights a token grants (bit mask).
enum TokenRights : uint32_t {
  kRightRead = 1u << 0,
  kRightWrite = 1u << 1,
  kRightDelete = 1u << 2,
  kRightList = 1u << 3,
  kRightAll = kRightRead | kRightWrite | kRightDelete | kRightList,
};

// The audiences, and the only values TokenKey accepts.
inline constexpr std::string_view kAudienceMeta = "meta";
inline constexpr std::string_view kAudienceData = "data";
inline constexpr std::string_view kAudienceCluster = "cluster";

struct TokenClaims {
  std::string audience;  // kAudienceMeta, kAudienceData or kAudienceCluster
  std::string user;      // opaque user id: [A-Za-z0-9_-]{1,64}
  uint32_t rights = 0;
  int64_t expires_at = 0;  // unix seconds
  std::string token_id;    // [0-9a-f]{0,64}; lets a session be named and revoked
  // Chunk scope, [0-9a-f]{0,62}. Empty: the token covers the user's whole namespace. Set: it
  // covers only the chunk ids ScopedChunkId(scope, 0..255) (ScopeCovers), and lists nothing.
  // The metadata service issues write rights only with a scope: the chunk ids of one upload
  // (begin_version) or of one rebuild (repair_list) share it, so a write token stores nothing
  // but the objects the service handed out.
  std::string scope;
};

// The token key of `audience` (one of kAudience*), derived from the server secret with HKDF
// (key_labels.h): 64 hex digits, the form the key files data-secret and cluster-secret hold.
// EINVAL for an unknown audience or an empty secret.
Result<std::string> TokenKey(std::string_view server_secret, std::string_view audience);

// The audience a token claims, read without checking anything (to pick the key to verify it
// with); "" for a malformed token.
std::string_view TokenAudience(std::string_view token);

// Longest scope; a scoped chunk id is the scope and two hex digits of the shard index.
constexpr size_t kMaxTokenScope = 62;

// The chunk id of shard `index` (0..255) under `scope`.
std::string ScopedChunkId(std::string_view scope, int index);

// True if `chunk` is ScopedChunkId(scope, i) for some i. A non-empty scope never covers
// anything else; the caller treats an empty scope as "no restriction".
bool ScopeCovers(std::string_view scope, std::string_view chunk);

// `key` is the audience's token key (TokenKey). EINVAL if a field breaks its alphabet or
// length rules.
Result<std::string> SignToken(const TokenClaims& claims, std::string_view key);

// Checks format, MAC (constant time), audience, expiry against `now_unix` and that every bit
// of `required_rights` is granted. EACCES for a forged, expired, wrong-audience or
// insufficient token; EINVAL for a malformed one. The message never echoes the token.
Result<TokenClaims> VerifyToken(std::string_view token, std::string_view key,
                                std::string_view audience, uint32_t required_rights,
                                int64_t now_unix);

// Current unix time in seconds.
int64_t UnixNow();

}  // namespace vaultfs::crypto
