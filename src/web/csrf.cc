// CSRF checks: see csrf.h.
#include "src/web/csrf.h"

#include <string>

#include "src/crypto/hash.h"

namespace vaultfs::web {

bool CsrfTokenValid(std::string_view session_token, std::string_view sent) {
  if (session_token.empty() || sent.empty()) return false;
  return crypto::ConstantTimeEquals(session_token, sent);
}

bool OriginAllowed(std::string_view origin, std::string_view host) {
  if (origin.empty()) return true;
  if (host.empty()) return false;
  return origin == "http://" + std::string(host);
}

}  // namespace vaultfs::web
