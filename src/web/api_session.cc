// Login, logout and the session query of the gateway's API: see gateway.h.
//
// The password arrives in the login request's body over loopback and goes no further than
// Accounts::Login on this machine, which derives the auth key and the key-encryption key from
// it (DESIGN.md §6); only the auth key reaches the metadata service. It is never logged.
#include <algorithm>
#include <string>

#include "src/common/log.h"
#include "src/web/cookie.h"
#include "src/web/csrf.h"
#include "src/web/gateway.h"
#include "src/web/http_error.h"

namespace vaultfs::web {

using nlohmann::json;

void Gateway::GetSession(const Request& req, Response& res) {
  auto session = SessionOf(req);
  if (!session) {
    ReplyJson(res, 401, {{"error", "not logged in"}});
    return;
  }
  // Never the CSRF token: the cookie reaches every service on this host (cookie.h), and
  // whoever holds it must not be able to trade it for the token. The page keeps the token
  // it got at login.
  ReplyJson(res, 200, {{"user", session->user}});
}

void Gateway::PostLogin(const Request& req, Response& res, const ContentReader& reader) {
  // No session yet, so no CSRF token: a cross-site login attempt is stopped by the JSON
  // content type (a form cannot send it, script elsewhere needs a preflight) and by Origin.
  if (!OriginAllowed(req.get_header_value("Origin"), req.get_header_value("Host"))) {
    DrainBody(req, reader);
    ReplyJson(res, 403, {{"error", "refused: the request comes from another site"}});
    return;
  }
  auto body = ReadJsonBody(req, reader);
  if (!body.ok()) return ReplyError(res, body.status());
  auto user = JsonString(*body, "user");
  auto password = JsonString(*body, "password");
  if (!user.ok()) return ReplyError(res, user.status());
  if (!password.ok()) return ReplyError(res, password.status());
  (*body)["password"] = nullptr;  // drop our copies as soon as we can
  if (user->empty() || password->empty()) {
    return ReplyError(res, InvalidArgument("enter a user name and a password"));
  }

  auto vault = std::make_shared<client::Vault>(config_, options_.vault);
  login_slots_.acquire();
  Status st = vault->accounts().Login(*user, *password);
  login_slots_.release();
  std::fill(password->begin(), password->end(), '\0');
  if (!st.ok()) {
    VFS_LOG(kInfo) << "login as '" << *user << "' failed: " << ErrnoName(st.code());
    if (st.code() == EACCES) {
      ReplyJson(res, 401, {{"error", "wrong user name or password"}});
    } else {
      ReplyError(res, st.Annotate("cannot log in"));
    }
    return;
  }
  std::string old_id;
  if (SessionOf(req, &old_id)) sessions_.Destroy(old_id);
  auto created = sessions_.Create(*user, std::move(vault));
  if (!created.ok()) return ReplyError(res, created.status());
  VFS_LOG(kInfo) << "'" << *user << "' logged in";
  res.set_header("Set-Cookie", SessionCookie(options_.port, created->id));
  ReplyJson(res, 200, {{"user", created->session->user}, {"csrf", created->session->csrf_token}});
}

Status Gateway::PostLogout(const Request&, Response& res, const ContentReader&, const Session& s,
                           const std::string& id) {
  VFS_LOG(kInfo) << "'" << s.user << "' logged out";
  sessions_.Destroy(id);
  res.set_header("Set-Cookie", ExpiredSessionCookie(options_.port));
  ReplyJson(res, 200, {{"ok", true}});
  return Status::Ok();
}

}  // namespace vaultfs::web
