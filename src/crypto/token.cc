// Access tokens: see token.h.
#include "src/crypto/token.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <vector>

#include "src/common/hex.h"
#include "src/crypto/hash.h"
#include "src/crypto/hkdf.h"
#include "src/crypto/key_labels.h"

namespace vaultfs::crypto {
namespace {

constexpr std::string_view kVersion = "v1";

bool ValidName(std::string_view s, size_t min_len, size_t max_len) {
  if (s.size() < min_len || s.size() > max_len) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool ValidHex(std::string_view s, size_t max_len) {
  if (s.size() > max_len) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The MAC key is derived from the audience key so that key (a file on a server) can later
// serve other purposes without any key serving two.
std::string MacKey(std::string_view key) { return HmacSha256(key, "vaultfs token mac key v1"); }

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

}  // namespace

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::string> TokenKey(std::string_view server_secret, std::string_view audience) {
  std::string_view label;
  if (audience == kAudienceMeta) {
    label = labels::kMetaTokenKey;
  } else if (audience == kAudienceData) {
    label = labels::kDataTokenKey;
  } else if (audience == kAudienceCluster) {
    label = labels::kClusterTokenKey;
  } else {
    return InvalidArgument("unknown token audience '" + std::string(audience) +
                           "' (meta, data or cluster)");
  }
  VFS_ASSIGN_OR_RETURN(Key key, DeriveKey(server_secret, label));
  return HexEncode(key.bytes());
}

std::string_view TokenAudience(std::string_view token) {
  auto parts = Split(token.substr(0, std::min<size_t>(token.size(), 512)), '.');
  if ((parts.size() != 7 && parts.size() != 8) || parts[0] != kVersion ||
      !ValidName(parts[1], 1, 16)) {
    return {};
  }
  return parts[1];
}

std::string ScopedChunkId(std::string_view scope, int index) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(scope);
  id += kHex[(index >> 4) & 0xf];
  id += kHex[index & 0xf];
  return id;
}

bool ScopeCovers(std::string_view scope, std::string_view chunk) {
  return !scope.empty() && chunk.size() == scope.size() + 2 &&
         chunk.substr(0, scope.size()) == scope && ValidHex(chunk.substr(scope.size()), 2);
}

Result<std::string> SignToken(const TokenClaims& c, std::string_view secret) {
  if (secret.empty()) return InvalidArgument("no token key to sign with");
  if (!ValidName(c.audience, 1, 16)) return InvalidArgument("token audience is malformed");
  if (!ValidName(c.user, 1, 64)) return InvalidArgument("token user id is malformed");
  if (!ValidHex(c.token_id, 64)) return InvalidArgument("token id is malformed");
  if (c.expires_at <= 0) return InvalidArgument("token expiry must be positive");
  if (!ValidHex(c.scope, kMaxTokenScope)) return InvalidArgument("token scope is malformed");
  char rights[16];
  auto r = std::to_chars(rights, rights + sizeof(rights), c.rights, 16);
  std::string payload = std::string(kVersion) + "." + c.audience + "." + c.user + "." +
                        std::string(rights, r.ptr) + "." + std::to_string(c.expires_at) + "." +
                        c.token_id;
  if (!c.scope.empty()) payload += "." + c.scope;
  return payload + "." + HexEncode(HmacSha256(MacKey(secret), payload));
}

Result<TokenClaims> VerifyToken(std::string_view token, std::string_view secret,
                                std::string_view audience, uint32_t required_rights,
                                int64_t now_unix) {
  if (secret.empty()) return PermissionDenied("no token key to verify with");
  if (token.size() > 512) return InvalidArgument("token too long");
  auto parts = Split(token, '.');
  // 7 parts, or 8 with a scope before the MAC.
  if ((parts.size() != 7 && parts.size() != 8) || parts[0] != kVersion) {
    return InvalidArgument("token is malformed");
  }
  size_t mac_pos = token.rfind('.');
  std::string_view payload = token.substr(0, mac_pos);
  auto mac = HexDecode(parts.back());
  if (!mac.ok()) return InvalidArgument("token is malformed");
  // MAC first, in constant time, before trusting any field.
  if (!ConstantTimeEquals(*mac, HmacSha256(MacKey(secret), payload))) {
    return PermissionDenied("token signature is invalid");
  }
  TokenClaims c;
  c.audience = std::string(parts[1]);
  c.user = std::string(parts[2]);
  c.token_id = std::string(parts[5]);
  if (parts.size() == 8) {
    c.scope = std::string(parts[6]);
    if (c.scope.empty() || !ValidHex(c.scope, kMaxTokenScope)) {
      return InvalidArgument("token is malformed");
    }
  }
  auto rr = std::from_chars(parts[3].data(), parts[3].data() + parts[3].size(), c.rights, 16);
  auto er = std::from_chars(parts[4].data(), parts[4].data() + parts[4].size(), c.expires_at);
  if (rr.ec != std::errc() || rr.ptr != parts[3].data() + parts[3].size() || er.ec != std::errc() ||
      er.ptr != parts[4].data() + parts[4].size() || !ValidName(c.user, 1, 64) ||
      !ValidHex(c.token_id, 64)) {
    return InvalidArgument("token is malformed");
  }
  if (c.audience != audience) return PermissionDenied("token is not valid for this service");
  if (now_unix >= c.expires_at) return PermissionDenied("token has expired; log in again");
  if ((c.rights & required_rights) != required_rights) {
    return PermissionDenied("token does not grant this operation");
  }
  return c;
}

}  // namespace vaultfs::crypto
