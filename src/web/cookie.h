// The session cookie: how it is set, cleared and read back.
//
// HttpOnly (script on the page cannot read it), SameSite=Strict (no other site's page can
// make the browser send it) and Path=/. No Max-Age: it ends with the browser session, and the
// server ends it sooner (idle timeout, logout). No Secure attribute: the gateway speaks plain
// HTTP on loopback (browsers treat http://127.0.0.1 as a secure context anyway).
//
// Cookies belong to a host, not to a port: the browser sends 127.0.0.1's cookies to every
// service on 127.0.0.1. The name therefore carries the gateway's port, so that two gateways
// (two users, two vaults) never read or replace each other's session; and the cookie alone
// cannot change anything, since the CSRF token is handed out only in the login response. A
// "__Host-" name would pin the cookie further, but browsers accept that prefix only together
// with Secure, i.e. over https, which the gateway does not serve.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vaultfs::web {

// "vaultfs_session_<port>".
std::string SessionCookieName(uint16_t port);

// Set-Cookie values that start and end a session of the gateway on `port`.
std::string SessionCookie(uint16_t port, std::string_view id);
std::string ExpiredSessionCookie(uint16_t port);

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "" if absent.
std::string CookieValue(std::string_view cookie_header, std::string_view name);

}  // namespace vaultfs::web
