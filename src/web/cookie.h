// The session cookie: how it is set, cleared and read back.
//
// HttpOnly (script on the page cannot read it), SameSite=Strict (no other site's page can
// make the browser send it) and Path=/. No Max-Age: it ends with the browser session, and the
// server ends it sooner (idle timeout, logout). No Secure attribute: the gateway speaks plain
// HTTP on loopback (browsers treat http://127.0.0.1 as a secure context anyway).
#pragma once

#include <string>
#include <string_view>

namespace vaultfs::web {

inline constexpr char kSessionCookieName[] = "vaultfs_session";

// Set-Cookie values that start and end a session.
std::string SessionCookie(std::string_view id);
std::string ExpiredSessionCookie();

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "" if absent.
std::string CookieValue(std::string_view cookie_header, std::string_view name);

}  // namespace vaultfs::web
