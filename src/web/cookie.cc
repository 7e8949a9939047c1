// The session cookie: see cookie.h.
#include "src/web/cookie.h"

namespace vaultfs::web {

namespace {
constexpr char kAttributes[] = "; Path=/; HttpOnly; SameSite=Strict";
}

std::string SessionCookieName(uint16_t port) { return "vaultfs_session_" + std::to_string(port); }

std::string SessionCookie(uint16_t port, std::string_view id) {
  return SessionCookieName(port) + "=" + std::string(id) + kAttributes;
}

std::string ExpiredSessionCookie(uint16_t port) {
  return SessionCookieName(port) + "=" + kAttributes + "; Max-Age=0";
}

std::string CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      std::string_view value = pair.substr(eq + 1);
      while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
      return std::string(value);
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return "";
}

}  // namespace vaultfs::web
