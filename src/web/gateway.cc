// The gateway's gate, route table and shared handler helpers: see gateway.h.
#include "src/web/gateway.h"
#include "src/common/json_parse.h"

#include <memory>

#include "src/common/log.h"
#include "src/web/assets.h"
#include "src/web/cookie.h"
#include "src/web/csrf.h"
#include "src/web/http_error.h"
#include "src/web/listen_address.h"
#include "src/web/vault_path.h"

namespace vaultfs::web {

using nlohmann::json;

namespace {

constexpr size_t kMaxJsonBody = 64 * 1024;

// No inline script or style anywhere, nothing from other origins, no framing.
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

void SetSecurityHeaders(httplib::Response& res) {
  res.set_header("Content-Security-Policy", kContentSecurityPolicy);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cross-Origin-Opener-Policy", "same-origin");
  res.set_header("Cross-Origin-Resource-Policy", "same-origin");
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Wraps a ContentReader so we can tell afterwards whether the handler read the body.
httplib::ContentReader Tracking(const httplib::ContentReader& inner, bool* used) {
  return httplib::ContentReader(
      [&inner, used](httplib::ContentReceiver receiver) {
        *used = true;
        return inner(std::move(receiver));
      },
      [&inner, used](httplib::MultipartContentHeader header, httplib::ContentReceiver receiver) {
        *used = true;
        return inner(std::move(header), std::move(receiver));
      });
}

}  // namespace

// ---- shared helpers ----

void ReplyJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(DumpJson(body), "application/json");
}

void ReplyError(httplib::Response& res, const Status& st) {
  res.status = HttpStatusFor(st);
  res.set_header("Cache-Control", "no-store");
  res.set_content(ErrorJson(st), "application/json");
}

void DrainBody(const httplib::Request& req, const httplib::ContentReader& reader) {
  if (req.is_multipart_form_data()) {
    reader([](const httplib::MultipartFormData&) { return true; },
           [](const char*, size_t) { return true; });
  } else {
    reader([](const char*, size_t) { return true; });
  }
}

Result<json> ReadJsonBody(const httplib::Request& req, const httplib::ContentReader& reader) {
  if (!StartsWith(req.get_header_value("Content-Type"), "application/json")) {
    DrainBody(req, reader);
    return InvalidArgument("the request body must be JSON (Content-Type: application/json)");
  }
  std::string body;
  bool too_big = false;
  bool complete = reader([&](const char* data, size_t n) {
    if (body.size() + n > kMaxJsonBody) {
      too_big = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (too_big) return InvalidArgument("the request body is larger than 64 KiB");
  if (!complete) return InvalidArgument("the request body could not be read");
  auto parsed = ParseJson(body);
  if (!parsed.ok()) return InvalidArgument("the request body: " + parsed.status().message());
  json j = std::move(*parsed);
  if (!j.is_object()) {
    return InvalidArgument("the request body is not a JSON object");
  }
  return j;
}

Result<std::string> JsonString(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) {
    return InvalidArgument(std::string("'") + key + "' (a string) is missing");
  }
  return it->get<std::string>();
}

Result<client::Attr> ResolveChecked(client::Vault& v, const std::string& path) {
  VFS_ASSIGN_OR_RETURN(auto parts, SplitVaultPath(path));
  auto a = v.tree().Resolve(JoinVaultPath(parts));
  if (!a.ok() && a.status().code() == ENOENT) return NotFound(path + " does not exist");
  return a;
}

Result<client::Attr> ResolveDir(client::Vault& v, const std::string& dir) {
  VFS_ASSIGN_OR_RETURN(client::Attr a, ResolveChecked(v, dir));
  if (!a.is_dir()) return Status(ENOTDIR, dir + " is not a folder");
  return a;
}

// ---- the gate ----

Gateway::Gateway(ClusterConfig config, GatewayOptions options)
    : config_(std::move(config)), options_(std::move(options)), sessions_(options_.sessions) {}

httplib::Server::HandlerResponse Gateway::Gate(const Request& req, Response& res) {
  SetSecurityHeaders(res);
  // cpp-httplib 0.11 applies Range headers itself without clamping them to the body; the
  // download handler resolves the header on its own (http_range.h), so the library must not.
  // `req` is the library's own non-const Request object, handed to us as const.
  const_cast<Request&>(req).ranges.clear();
  if (options_.loopback_hosts_only &&
      !LoopbackHostHeaderAllowed(req.get_header_value("Host"), options_.port)) {
    VFS_LOG(kWarn) << "refused a request for Host '" << req.get_header_value("Host") << "'";
    ReplyError(res, PermissionDenied("this gateway only answers requests for its loopback "
                                     "address (Host: 127.0.0.1:" +
                                     std::to_string(options_.port) + ")"));
    return httplib::Server::HandlerResponse::Handled;
  }
  return httplib::Server::HandlerResponse::Unhandled;
}

std::shared_ptr<const Session> Gateway::SessionOf(const Request& req, std::string* id) {
  std::string value = CookieValue(req.get_header_value("Cookie"), SessionCookieName(options_.port));
  if (id != nullptr) *id = value;
  return sessions_.Find(value);
}

httplib::Server::Handler Gateway::ForReading(ReadHandler h) {
  return [this, h](const Request& req, Response& res) {
    auto session = SessionOf(req);
    if (!session) {
      ReplyJson(res, 401, {{"error", "not logged in (or the session expired)"}});
      return;
    }
    Status st = h(req, res, *session);
    if (!st.ok()) ReplyError(res, st);
  };
}

httplib::Server::HandlerWithContentReader Gateway::ForWriting(WriteHandler h) {
  return [this, h](const Request& req, Response& res, const ContentReader& reader) {
    std::string id;
    auto session = SessionOf(req, &id);
    if (!session) {
      DrainBody(req, reader);
      ReplyJson(res, 401, {{"error", "not logged in (or the session expired)"}});
      return;
    }
    if (!OriginAllowed(req.get_header_value("Origin"), req.get_header_value("Host")) ||
        !CsrfTokenValid(session->csrf_token, req.get_header_value(kCsrfHeader))) {
      DrainBody(req, reader);
      VFS_LOG(kWarn) << "refused " << req.method << " " << req.path
                     << ": missing or wrong CSRF token or foreign Origin";
      // The token comes only with a login (api_session.cc): the page logs in again.
      ReplyJson(res, 403,
                {{"error", "refused: missing or wrong CSRF token (log in again)"},
                 {"login_again", true}});
      return;
    }
    bool used = false;
    Status st = h(req, res, Tracking(reader, &used), *session, id);
    if (!used) DrainBody(req, reader);
    if (!st.ok()) ReplyError(res, st);
  };
}

void Gateway::Install(httplib::Server& server, uint16_t port) {
  options_.port = port;
  server.set_pre_routing_handler(
      [this](const Request& req, Response& res) { return Gate(req, res); });

  server.Get("/api/session", [this](const Request& req, Response& res) { GetSession(req, res); });
  server.Post("/api/login", [this](const Request& req, Response& res, const ContentReader& r) {
    PostLogin(req, res, r);
  });
  server.Post(
      "/api/logout",
      ForWriting([this](const Request& req, Response& res, const ContentReader& r, const Session& s,
                        const std::string& id) { return PostLogout(req, res, r, s, id); }));
  auto read = [this](Status (Gateway::*fn)(const Request&, Response&, const Session&)) {
    return ForReading([this, fn](const Request& req, Response& res, const Session& s) {
      return (this->*fn)(req, res, s);
    });
  };
  auto write = [this](Status (Gateway::*fn)(const Request&, Response&, const ContentReader&,
                                            const Session&)) {
    return ForWriting([this, fn](const Request& req, Response& res, const ContentReader& r,
                                 const Session& s,
                                 const std::string&) { return (this->*fn)(req, res, r, s); });
  };
  server.Get("/api/list", read(&Gateway::GetList));
  server.Get("/api/health", read(&Gateway::GetHealth));
  server.Get("/api/download", read(&Gateway::GetDownload));
  server.Post("/api/mkdir", write(&Gateway::PostMkdir));
  server.Post("/api/rename", write(&Gateway::PostRename));
  server.Post("/api/delete", write(&Gateway::PostDelete));
  server.Post("/api/upload", write(&Gateway::PostUpload));
  server.Put("/api/file", write(&Gateway::PutFile));

  // Everything else under /api/ is unknown; any other GET may be a page asset.
  server.Get("/api/.*",
             [](const Request&, Response& res) { ReplyError(res, NotFound("no such API call")); });
  server.Get(".*", [](const Request& req, Response& res) {
    const Asset* a = FindAsset(req.path);
    if (a == nullptr) {
      res.status = 404;
      res.set_content("not found\n", "text/plain; charset=utf-8");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(a->body), std::string(a->content_type));
  });
  server.set_logger([](const Request& req, const Response& res) {
    // Method, path and status only: query strings hold file names, bodies hold passwords.
    VFS_LOG(kDebug) << req.method << " " << req.path << " -> " << res.status;
  });
}

}  // namespace vaultfs::web
