// The web gateway's HTTP surface: the JSON API under /api/ and the page's static assets,
// installed on a cpp-httplib server (which runs each request on its thread pool).
//
// Every request passes the same gate before its handler (gateway.cc):
//  - bound to loopback, the Host header must name loopback and our port (DNS rebinding);
//  - security headers on every answer (CSP without inline script, no framing, no sniffing);
//  - API calls need a live session (cookie) -> else 401; state changes (POST, PUT) also the
//    session's CSRF token in X-CSRF-Token and a same-origin (or absent) Origin -> else 403.
// Handlers report errors as Status values, turned into an HTTP status and a JSON body
// {"error": ...} in one place (http_error.h).
//
// The API, for the page and for scripts (paths are absolute vault paths, names plain names):
//   GET  /api/session                      {user} of the cookie's session, or 401
//   POST /api/login    {user, password}    sets the cookie; {user, csrf}: the only answer
//                                          that carries the CSRF token
//   POST /api/logout                       ends the session
//   GET  /api/list?path=/a                 {path, entries: [{name, type, size, mtime_ms}]}
//   GET  /api/health                       {servers_up, servers, degraded_files, repair_queue}
//   POST /api/mkdir    {dir, name}
//   POST /api/rename   {dir, name, new_name[, new_dir]}   never replaces an existing name
//   POST /api/delete   {dir, name[, recursive]}
//   POST /api/upload?dir=/a   multipart: ("size", "file") pairs, see multipart_upload.h
//   PUT  /api/file?dir=/a&name=x           the raw body is the file (Content-Length needed)
//   GET  /api/download?path=/a/x           streamed; Range; attachment
#pragma once

#include <httplib.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <semaphore>
#include <string>

#include "src/client/vault.h"
#include "src/common/cluster_config.h"
#include "src/common/status.h"
#include "src/web/session_store.h"

namespace vaultfs::web {

struct GatewayOptions {
  SessionStore::Options sessions;
  client::VaultOptions vault;
  // Answer only Host headers that name loopback and `port` (set when bound to loopback).
  bool loopback_hosts_only = true;
  uint16_t port = 0;
};

class Gateway {
 public:
  Gateway(ClusterConfig config, GatewayOptions options);

  // Registers the gate, the API and the assets on `server`. `port` is where it is bound.
  void Install(httplib::Server& server, uint16_t port);

  SessionStore& sessions() { return sessions_; }

 private:
  using Request = httplib::Request;
  using Response = httplib::Response;
  using ContentReader = httplib::ContentReader;
  // A handler that runs with the request's live session.
  using ReadHandler = std::function<Status(const Request&, Response&, const Session&)>;
  using WriteHandler = std::function<Status(const Request&, Response&, const ContentReader&,
                                            const Session&, const std::string& session_id)>;

  // ---- the gate (gateway.cc) ----
  httplib::Server::HandlerResponse Gate(const Request& req, Response& res);
  httplib::Server::Handler ForReading(ReadHandler h);
  httplib::Server::HandlerWithContentReader ForWriting(WriteHandler h);
  std::shared_ptr<const Session> SessionOf(const Request& req, std::string* id = nullptr);

  // ---- sessions (api_session.cc) ----
  void GetSession(const Request& req, Response& res);
  void PostLogin(const Request& req, Response& res, const ContentReader& reader);
  Status PostLogout(const Request& req, Response& res, const ContentReader& reader,
                    const Session& s, const std::string& id);

  // ---- the tree (api_files.cc) ----
  Status GetList(const Request& req, Response& res, const Session& s);
  Status GetHealth(const Request& req, Response& res, const Session& s);
  Status PostMkdir(const Request& req, Response& res, const ContentReader& reader,
                   const Session& s);
  Status PostRename(const Request& req, Response& res, const ContentReader& reader,
                    const Session& s);
  Status PostDelete(const Request& req, Response& res, const ContentReader& reader,
                    const Session& s);

  // ---- content (api_transfer.cc) ----
  Status PostUpload(const Request& req, Response& res, const ContentReader& reader,
                    const Session& s);
  Status PutFile(const Request& req, Response& res, const ContentReader& reader, const Session& s);
  Status GetDownload(const Request& req, Response& res, const Session& s);

  const ClusterConfig config_;
  GatewayOptions options_;
  SessionStore sessions_;
  // Logins deriving keys at once: each runs scrypt with 64 MiB, so a burst of login requests
  // must not take the machine's memory.
  std::counting_semaphore<2> login_slots_{2};
};

// ---- helpers shared by the handler files (gateway.cc) ----

// Sets a JSON body (and no-store caching).
void ReplyJson(httplib::Response& res, int status, const nlohmann::json& body);
// Sets the error's HTTP status and {"error": ...} body.
void ReplyError(httplib::Response& res, const Status& st);
// Reads a small JSON request body (Content-Type application/json, at most 64 KiB).
Result<nlohmann::json> ReadJsonBody(const httplib::Request& req,
                                    const httplib::ContentReader& reader);
// Reads and drops the rest of a request body, so the connection stays usable.
void DrainBody(const httplib::Request& req, const httplib::ContentReader& reader);
// A string member of a JSON object, or EINVAL naming it.
Result<std::string> JsonString(const nlohmann::json& j, const char* key);
// Resolves a checked absolute path in the session's vault.
Result<client::Attr> ResolveChecked(client::Vault& v, const std::string& path);
// Resolves `dir` (a checked path) and insists on a directory.
Result<client::Attr> ResolveDir(client::Vault& v, const std::string& dir);

}  // namespace vaultfs::web
