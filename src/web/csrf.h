// Cross-site request forgery defences for every request that changes state.
//
// Three layers, each enough on its own against a page on another site:
//  - the session cookie is SameSite=Strict, so a cross-site request carries no session;
//  - a state-changing request must send the session's CSRF token in X-CSRF-Token (a custom
//    header, which a cross-site form cannot set and cross-site script cannot send without a
//    CORS preflight the gateway never grants), compared in constant time;
//  - if the browser names the request's Origin, it must be this gateway's own.
#pragma once

#include <string_view>

namespace vaultfs::web {

inline constexpr char kCsrfHeader[] = "X-CSRF-Token";

// True if `sent` (the header's value) equals the session's token. Empty never matches.
bool CsrfTokenValid(std::string_view session_token, std::string_view sent);

// True if `origin` (the Origin header; "" when absent) is "http://" + `host` (the Host
// header). Requests without Origin (curl, some same-origin GETs) pass: they rely on the token.
bool OriginAllowed(std::string_view origin, std::string_view host);

}  // namespace vaultfs::web
