// Client protocol handling: see meta_service.h.
#include "servers/meta/meta_service.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "src/common/format_marker.h"
#include "src/common/hex.h"
#include "src/common/json_parse.h"
#include "src/common/log.h"
#include "src/crypto/hash.h"
#include "src/crypto/hkdf.h"
#include "src/crypto/kdf_params.h"
#include "src/crypto/key_labels.h"
#include "src/crypto/random.h"
#include "src/crypto/token.h"

namespace vaultfs::meta {
namespace {

struct OpInfo {
  bool write;
  bool session;     // needs a session token
  bool cluster_ok;  // a cluster maintenance session may call it
};

const std::map<std::string, OpInfo>& Ops() {
  static const std::map<std::string, OpInfo> ops = {
      {"register", {true, false, false}},      {"get_salt", {false, false, false}},
      {"login", {false, false, false}},        {"passwd", {true, true, false}},
      {"lookup", {false, true, false}},        {"getattr", {false, true, false}},
      {"setattr", {true, true, false}},        {"mkdir", {true, true, false}},
      {"create", {true, true, false}},         {"symlink", {true, true, false}},
      {"readlink", {false, true, false}},      {"link", {true, true, false}},
      {"unlink", {true, true, false}},         {"rmdir", {true, true, false}},
      {"rename", {true, true, false}},         {"readdir", {false, true, false}},
      {"begin_version", {true, true, false}},  {"commit_version", {true, true, false}},
      {"get_version", {false, true, false}},   {"report_shard", {true, true, true}},
      {"statfs", {false, true, true}},         {"cluster_map", {false, true, true}},
      {"report_server", {true, true, true}},   {"gc_list", {false, true, true}},
      {"gc_done", {true, true, true}},         {"repair_list", {false, true, true}},
      {"repair_done", {true, true, true}},     {"expire_pending", {true, true, true}},
      {"write_inline", {true, true, false}},   {"server_shards", {false, true, true}},
      {"report_repair", {true, true, true}},   {"request_scrub", {true, true, true}},
      {"reserve_inodes", {true, true, false}}, {"renew_pending", {true, true, false}},
      {"set_quota", {true, true, true}},       {"chunk_refs", {false, true, true}},
      {"sweep_owners", {false, true, true}},   {"setxattr", {true, true, false}},
      {"getxattr", {false, true, false}},      {"listxattr", {false, true, false}},
      {"removexattr", {true, true, false}},
  };
  return ops;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool ValidRid(const std::string& rid) {
  if (rid.empty() || rid.size() > 64) return false;
  for (char c : rid) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// SHA-256 of a hex-encoded auth key, hex. The raw key never enters the log or the database.
Result<std::string> AuthHash(const Json& req, const char* field) {
  auto it = req.find(field);
  if (it == req.end() || !it->is_string()) {
    return InvalidArgument(std::string("missing string field '") + field + "'");
  }
  const std::string& hex = it->get_ref<const std::string&>();
  if (hex.size() < 32 || hex.size() > 256) {
    return InvalidArgument(std::string("field '") + field + "' must be 16-128 bytes of hex");
  }
  auto raw = HexDecode(hex);
  if (!raw.ok()) return InvalidArgument(std::string("field '") + field + "' must be hex");
  return crypto::DigestToHex(crypto::Sha256(*raw));
}

Json OkOrError(const Json& result) { return result; }

// Writes allowed below the free-space reserve: they delete, or finish work admitted earlier
// (a version begun above the reserve can still be committed), or keep the cluster's view of
// the data servers current. Their entries are small; the reserve has room for them.
bool FreesOrFinishes(const std::string& op) {
  static const std::set<std::string> ops = {
      "unlink",        "rmdir",   "rename",         "commit_version", "report_shard",
      "report_server", "gc_done", "expire_pending", "repair_done",    "removexattr"};
  return ops.count(op) > 0;
}

// The chunk scope the ids of one version's shards share (LeaderValues gave them one).
Result<std::string> CommonScope(const std::vector<std::string>& chunks) {
  std::string scope;
  if (!chunks.empty() && chunks[0].size() > 2) scope = chunks[0].substr(0, chunks[0].size() - 2);
  for (const std::string& c : chunks) {
    if (!crypto::ScopeCovers(scope, c))
      return Status(EIO, "the version's chunk ids share no scope");
  }
  return scope;
}

}  // namespace

uint64_t DefaultMetaReserve(uint64_t total_bytes) {
  constexpr uint64_t kMin = uint64_t(64) << 20, kMax = uint64_t(1) << 30;
  return std::clamp<uint64_t>(total_bytes / 100, kMin, kMax);
}

Status MetaService::CheckSpace(const std::string& op) const {
  if (repl_->Stalled()) {
    return Status(ENOSPC,
                  "the metadata leader's disk is full: committed changes wait to be applied and "
                  "no write is taken until space is freed on it");
  }
  if (opts_.reserve_bytes == 0 || FreesOrFinishes(op)) return Status::Ok();
  struct statvfs sv {};
  if (statvfs(opts_.data_dir.c_str(), &sv) != 0) {
    VFS_LOG(kWarn) << "statvfs " << opts_.data_dir << ": " << std::strerror(errno);
    return Status::Ok();  // the database itself reports a real failure
  }
  const uint64_t avail = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
  if (avail >= opts_.reserve_bytes) return Status::Ok();
  return Status(ENOSPC, "metadata disk nearly full: " + std::to_string(avail) +
                            " bytes free, below the reserve of " +
                            std::to_string(opts_.reserve_bytes) +
                            " (--reserve); delete files to free space");
}

Result<std::string> StoreStateMachine::Apply(uint64_t index, std::string_view entry) {
  // Entries come from the leader, but a log or snapshot on disk is outside input too.
  auto parsed = ParseJson(entry, kMaxJsonDepth + 2);             // + the entry's own envelope
  Json cmd = parsed.ok() ? std::move(*parsed) : Json::object();  // the store records an error
  VFS_ASSIGN_OR_RETURN(Json result, store_->TryApply(index, cmd));
  return result.is_null() ? std::string() : result.dump();
}

std::string MetaService::ErrorBody(const Json& id, const std::string& code,
                                   const std::string& msg) {
  Json j = {{"id", id}, {"ok", false}, {"error", {{"code", code}, {"message", msg}}}};
  return j.dump();
}

MetaService::MetaService(ServiceOptions opts, MetaStore* store, Replicator* replicator)
    : opts_(std::move(opts)), store_(store), repl_(replicator) {
  auto key = [this](std::string_view audience) {
    auto k = crypto::TokenKey(opts_.secret, audience);
    if (!k.ok()) VFS_LOG(kError) << "no " << audience << " token key: " << k.status().ToString();
    return k.ok() ? *k : std::string();
  };
  meta_key_ = key(crypto::kAudienceMeta);
  data_key_ = key(crypto::kAudienceData);
  cluster_key_ = key(crypto::kAudienceCluster);
  auto unknown = crypto::DeriveKey(opts_.secret, crypto::labels::kUnknownUserSalt);
  if (unknown.ok()) {
    unknown_user_key_ = std::string(unknown->bytes());
  } else {
    VFS_LOG(kError) << "no unknown-user salt key: " << unknown.status().ToString();
  }
}

Json MetaService::UnknownUserSalt(const std::string& name) const {
  // Shaped like what Accounts::Register stores: NewSalt's bytes in hex and the default KDF
  // parameters. Only the metadata nodes hold the key, so nobody can tell it from a real salt.
  static_assert(crypto::kSaltSize <= 32, "an HMAC-SHA256 supplies the salt");
  std::string salt = crypto::HmacSha256(unknown_user_key_, name);
  salt.resize(crypto::kSaltSize);
  return Json{{"ok", true},
              {"salt", HexEncode(salt)},
              {"kdf", crypto::KdfParamsToJson(crypto::KdfParams{})}};
}

Json MetaService::PublicNodeInfo(const Json& id) const {
  uint64_t leader = repl_->LeaderId();
  const MetaNodeConfig* ln = leader ? opts_.config->FindMeta(leader) : nullptr;
  return Json{{"id", id},
              {"ok", true},
              {"node", opts_.node_id},
              {"is_leader", repl_->IsLeader()},
              {"leader", ln ? Json(ln->address.ToString()) : Json(nullptr)}};
}

void MetaService::PublicClusterMap(Json* out) const {
  Json meta = Json::array();
  uint64_t leader = repl_->LeaderId();
  for (const MetaNodeConfig& n : opts_.config->meta) {
    meta.push_back({{"id", n.id}, {"address", n.address.ToString()}, {"leader", n.id == leader}});
  }
  (*out)["meta"] = std::move(meta);
  const MetaNodeConfig* ln = opts_.config->FindMeta(leader);
  (*out)["leader"] = ln ? Json(ln->address.ToString()) : Json(nullptr);
  (*out)["k"] = opts_.config->k;
  (*out)["m"] = opts_.config->m;
  (*out)["write_quorum"] = opts_.config->write_quorum;
}

Result<std::string> MetaService::MintClusterToken(std::string_view cluster_key, int64_t ttl_s) {
  VFS_ASSIGN_OR_RETURN(std::string tid, crypto::RandomHexId(16));
  crypto::TokenClaims c{std::string(crypto::kAudienceCluster), kClusterUser, crypto::kRightAll,
                        crypto::UnixNow() + ttl_s, tid};
  return crypto::SignToken(c, cluster_key);
}

std::string MetaService::Redirect(const Json& id) const {
  uint64_t leader = repl_->LeaderId();
  const MetaNodeConfig* node = leader ? opts_.config->FindMeta(leader) : nullptr;
  Json j = {{"id", id}, {"ok", false}};
  j["error"] = {{"code", "ENOTLEADER"},
                {"message", node ? "not the leader; the leader is node " + std::to_string(leader)
                                 : std::string("not the leader; no leader is known yet")},
                {"leader", node ? Json(node->address.ToString()) : Json(nullptr)}};
  return j.dump();
}

Result<std::string> MetaService::SessionToken(const std::string& user_id, int64_t gen) {
  VFS_ASSIGN_OR_RETURN(std::string rnd, crypto::RandomHexId(16));
  char genhex[17];
  std::snprintf(genhex, sizeof(genhex), "%016llx", static_cast<unsigned long long>(gen));
  crypto::TokenClaims c{std::string(crypto::kAudienceMeta), user_id, crypto::kRightAll,
                        crypto::UnixNow() + opts_.session_ttl_s, std::string(genhex) + rnd};
  return crypto::SignToken(c, meta_key_);
}

Result<std::string> MetaService::DataToken(const std::string& user_id, uint32_t rights,
                                           const std::string& scope) {
  // Write rights are only ever issued for the chunk ids of one upload or rebuild.
  if ((rights & crypto::kRightWrite) != 0 && scope.empty()) {
    return Status(EIO, "refusing to issue a write token without a chunk scope");
  }
  VFS_ASSIGN_OR_RETURN(std::string tid, crypto::RandomHexId(16));
  crypto::TokenClaims c{std::string(crypto::kAudienceData), user_id, rights,
                        crypto::UnixNow() + opts_.data_token_ttl_s, tid};
  c.scope = scope;
  return crypto::SignToken(c, data_key_);
}

Result<MetaService::Session> MetaService::CheckSession(const Json& req, bool cluster_ok,
                                                       const ClientPeer& peer) {
  auto it = req.find("session");
  if (it == req.end() || !it->is_string()) {
    return PermissionDenied("this operation needs a session (log in first)");
  }
  const std::string& token = it->get_ref<const std::string&>();
  // A cluster session is a token of its own audience under its own key: the repairer's key
  // (cluster-secret) cannot make a user session, and a user session key cannot make a
  // cluster session.
  if (crypto::TokenAudience(token) == crypto::kAudienceCluster) {
    VFS_ASSIGN_OR_RETURN(crypto::TokenClaims c,
                         crypto::VerifyToken(token, cluster_key_, crypto::kAudienceCluster,
                                             crypto::kRightAll, crypto::UnixNow()));
    if (c.user != kClusterUser) return PermissionDenied("a cluster session names no user");
    if (!cluster_ok) return PermissionDenied("a cluster session cannot call this operation");
    // The key alone is not enough: the caller must also hold a node certificate.
    if (!peer.node) {
      return PermissionDenied("a cluster session needs a connection with a node certificate");
    }
    return Session{c.user, ""};
  }
  VFS_ASSIGN_OR_RETURN(crypto::TokenClaims c,
                       crypto::VerifyToken(token, meta_key_, crypto::kAudienceMeta,
                                           crypto::kRightAll, crypto::UnixNow()));
  auto user = store_->UserById(c.user);
  if (!user || c.token_id.size() < 16) return PermissionDenied("session is no longer valid");
  uint64_t gen = std::strtoull(c.token_id.substr(0, 16).c_str(), nullptr, 16);
  if (static_cast<int64_t>(gen) != user->session_gen) {
    return PermissionDenied("session was revoked (password changed); log in again");
  }
  return Session{c.user, ""};
}

void MetaService::CountFailure(LoginFailures* r, int64_t now_ms, int free_failures) {
  constexpr int64_t kForgetAfterMs = 15 * 60 * 1000;  // a quiet quarter hour starts afresh
  if (now_ms - r->last_ms > kForgetAfterMs) r->failures = 0;
  r->last_ms = now_ms;
  if (++r->failures > free_failures) {
    int64_t shift = std::min<int64_t>(r->failures - free_failures - 1, 6);
    r->blocked_until_ms = now_ms + std::min<int64_t>(int64_t(1000) << shift, 60000);
  }
}

LoginFailures MetaService::ThrottleOf(const std::string& key) {
  auto it = throttle_pending_.find(key);
  if (it != throttle_pending_.end()) return it->second.first;
  return store_->LoginFailuresOf(key).value_or(LoginFailures{});
}

void MetaService::RecordThrottle(std::vector<std::pair<std::string, LoginFailures>> set,
                                 std::vector<std::string> clear, std::function<void()> done) {
  const uint64_t seq = ++throttle_seq_;
  Json gen = {{"set", Json::array()}, {"clear", Json::array()}};
  std::vector<std::string> keys;
  for (const auto& [key, r] : set) {
    gen["set"].push_back({{"key", key},
                          {"failures", r.failures},
                          {"last_ms", r.last_ms},
                          {"blocked_until_ms", r.blocked_until_ms}});
    throttle_pending_[key] = {r, seq};
    keys.push_back(key);
  }
  for (const std::string& key : clear) {
    gen["clear"].push_back(key);
    throttle_pending_[key] = {LoginFailures{}, seq};
    keys.push_back(key);
  }
  auto rid = crypto::RandomHexId(16);
  Json cmd = {{"op", "login_throttle"},
              {"user", kClusterUser},
              {"rid", rid.ok() ? *rid : std::string("throttle")},
              {"now", NowNs()},
              {"args", Json::object()},
              {"gen", std::move(gen)}};
  repl_->Propose(cmd.dump(), [this, keys = std::move(keys), seq, done = std::move(done)](
                                 ProposeOutcome, std::string) {
    // Applied (the store has it now) or lost with the leadership: either way the store is
    // the truth from here on, unless a newer record for the key is on its way.
    for (const std::string& key : keys) {
      auto it = throttle_pending_.find(key);
      if (it != throttle_pending_.end() && it->second.second == seq) throttle_pending_.erase(it);
    }
    done();
  });
}

void MetaService::Handle(std::string_view body, ReplyFn reply, const ClientPeer& peer) {
  auto parsed = ParseJson(body);
  if (!parsed.ok())
    return reply(ErrorBody(nullptr, "EINVAL", "request: " + parsed.status().message()));
  Json req = std::move(*parsed);
  if (!req.is_object()) return reply(ErrorBody(nullptr, "EINVAL", "request must be a JSON object"));
  Json id = req.contains("id") ? req["id"] : Json(nullptr);
  if (!id.is_null() && !id.is_number_integer()) {
    return reply(ErrorBody(nullptr, "EINVAL", "field 'id' must be an integer"));
  }
  auto op_it = req.find("op");
  if (op_it == req.end() || !op_it->is_string()) {
    return reply(ErrorBody(id, "EINVAL", "missing string field 'op'"));
  }
  std::string op = op_it->get<std::string>();

  if (op == "node_info") {  // served locally by any node: for clients, tests and operators
    // Leader discovery is for anyone; how far this node has applied the log, and a digest of
    // every user's state, are for sessions (operators and tests use the cluster's).
    Json j = PublicNodeInfo(id);
    // Only a boolean true asks for the digest (value() would throw on any other type).
    auto digest = req.find("digest");
    const bool want_digest = digest != req.end() && digest->is_boolean() && digest->get<bool>();
    if (req.contains("session")) {
      auto s = CheckSession(req, /*cluster_ok=*/true, peer);
      if (!s.ok()) return reply(ErrorBody(id, ErrnoName(s.status().code()), s.status().message()));
      j["last_applied"] = store_->last_applied();
      if (want_digest) j["digest"] = store_->Digest();
    } else if (want_digest) {
      return reply(ErrorBody(id, "EACCES", "node_info's digest needs a session (log in first)"));
    }
    return reply(j.dump());
  }

  auto info_it = Ops().find(op);
  if (info_it == Ops().end()) return reply(ErrorBody(id, "EINVAL", "unknown op '" + op + "'"));
  const OpInfo& info = info_it->second;
  if (!repl_->IsLeader()) return reply(Redirect(id));
  if (op == "cluster_map" && !req.contains("session")) {
    // Before login a client needs only the leader; the rest of the map is for sessions.
    Json j = {{"id", id}, {"ok", true}};
    PublicClusterMap(&j);
    return reply(j.dump());
  }

  Session session;
  if (info.session) {
    auto s = CheckSession(req, info.cluster_ok, peer);
    if (!s.ok()) return reply(ErrorBody(id, ErrnoName(s.status().code()), s.status().message()));
    session = *s;
  }
  session.peer = peer.address;
  if (info.session) {
    // Server state (up/down, capacity, free space) drives placement and everyone's statfs, so
    // only the cluster's own session (the repairer, which probes every server each pass) may
    // set it: a user's report could stop everyone's writes.
    if ((op == "expire_pending" || op == "report_server" || op == "set_quota") &&
        session.user != kClusterUser) {
      return reply(ErrorBody(id, "EACCES", op + " needs a cluster session (the repairer's)"));
    }
  }
  if (op == "passwd") {
    // Checking the old password is a password guess like a login: throttled per user the
    // same way, and one at a time (pipelined guesses would all be checked before the first
    // failure counts).
    const int64_t now_ms = NowNs() / 1000000;
    const LoginFailures& th = passwd_throttle_[session.user];
    if (now_ms < th.blocked_until_ms) {
      return reply(ErrorBody(id, "EACCES",
                             "too many wrong passwords; retry in " +
                                 std::to_string((th.blocked_until_ms - now_ms + 999) / 1000) +
                                 " s"));
    }
    if (!passwd_in_flight_.insert(session.user).second) {
      return reply(ErrorBody(id, "EAGAIN", "a password change for this user is in progress"));
    }
  }
  if (op == "register") {
    HandleRegister(std::move(id), std::move(req), session, std::move(reply));
  } else if (info.write) {
    HandleWrite(op, std::move(id), std::move(req), session, std::move(reply));
  } else {
    HandleRead(op, std::move(id), std::move(req), session, std::move(reply));
  }
}

void MetaService::HandleRegister(Json id, Json req, const Session& s, ReplyFn reply) {
  // Every admitted attempt counts, whatever its outcome: an existing name (EEXIST) answers a
  // probe too. Refused attempts are not counted, so they do not lengthen the wait.
  const int64_t now_ms = NowNs() / 1000000;
  struct Limit {
    std::string key;
    int burst;
    const char* where;
  };
  std::vector<Limit> limits;
  if (opts_.register_burst_per_address > 0 && !s.peer.empty()) {
    limits.push_back({"r/a/" + s.peer, opts_.register_burst_per_address, "from this address"});
  }
  if (opts_.register_burst > 0) limits.push_back({"r/*", opts_.register_burst, "on this cluster"});
  std::vector<std::pair<std::string, LoginFailures>> set;
  for (const Limit& l : limits) {
    LoginFailures r = ThrottleOf(l.key);
    if (now_ms < r.blocked_until_ms) {
      return reply(ErrorBody(id, "EBUSY",
                             std::string("too many new accounts ") + l.where + " lately; wait " +
                                 std::to_string((r.blocked_until_ms - now_ms + 999) / 1000) +
                                 " s and register again"));
    }
    // The burst-th account in a row sets the first delay, so `burst` pass at once.
    CountFailure(&r, now_ms, l.burst - 1);
    set.emplace_back(l.key, r);
  }
  if (set.empty())
    return HandleWrite("register", std::move(id), std::move(req), s, std::move(reply));
  // Counted before the account is made, and replicated like login failures (a fail-over keeps
  // the count); the next attempt sees it at once (throttle_pending_).
  RecordThrottle(std::move(set), {},
                 [this, id, req, s, reply] { HandleWrite("register", id, req, s, reply); });
}

Result<Json> MetaService::LeaderValues(const std::string& op, const Json& req) {
  Json gen = Json::object();
  if (op == "begin_version" || op == "commit_version" || op == "write_inline") {
    gen["default_quota"] = opts_.default_quota;  // store_data.cc CheckQuota
  }
  if (op == "register") {
    VFS_ASSIGN_OR_RETURN(gen["auth_hash"], AuthHash(req, "auth_key"));
    VFS_ASSIGN_OR_RETURN(gen["user_id"], crypto::RandomHexId(16));
  } else if (op == "passwd") {
    VFS_ASSIGN_OR_RETURN(gen["old_auth_hash"], AuthHash(req, "old_auth_key"));
    VFS_ASSIGN_OR_RETURN(gen["auth_hash"], AuthHash(req, "auth_key"));
  } else if (op == "begin_version") {
    VFS_ASSIGN_OR_RETURN(std::string vid, crypto::RandomHexId(16));
    gen["version"] = vid;
    gen["shards"] = Json::array();
    auto bad = [](const char* f) {
      return InvalidArgument(std::string("field '") + f + "' is invalid");
    };
    bool is_inline = false;
    if (req.contains("inline")) {
      if (!req["inline"].is_boolean()) return bad("inline");
      is_inline = req["inline"].get<bool>();
    }
    int64_t k = opts_.config->k, m = opts_.config->m;
    if (req.contains("k")) {
      if (!req["k"].is_number_integer() || req["k"].get<int64_t>() < 1 ||
          req["k"].get<int64_t>() > 32)
        return bad("k");
      k = req["k"].get<int64_t>();
    }
    if (req.contains("m")) {
      if (!req["m"].is_number_integer() || req["m"].get<int64_t>() < 0 ||
          req["m"].get<int64_t>() > 32)
        return bad("m");
      m = req["m"].get<int64_t>();
    }
    if (!is_inline) {
      VFS_ASSIGN_OR_RETURN(std::vector<uint64_t> servers,
                           store_->PlaceShards(static_cast<int>(k + m), vid));
      // The shards' chunk ids share one random scope, which the write token names (Finish).
      VFS_ASSIGN_OR_RETURN(std::string scope, crypto::RandomHexId(15));
      for (size_t i = 0; i < servers.size(); ++i) {
        gen["shards"].push_back({{"index", i},
                                 {"server", servers[i]},
                                 {"chunk", crypto::ScopedChunkId(scope, static_cast<int>(i))}});
      }
    }
  } else if (op == "commit_version") {
    gen["quorum"] = opts_.config->write_quorum;
  }
  return gen;
}

void MetaService::HandleWrite(const std::string& op, Json id, Json req, const Session& s,
                              ReplyFn reply) {
  if (op == "passwd") {
    // Every way out of here replies once: that is when this attempt stops being in flight.
    reply = [this, user = s.user, reply = std::move(reply)](std::string body) {
      passwd_in_flight_.erase(user);
      reply(std::move(body));
    };
  }
  auto rid_it = req.find("rid");
  if (rid_it == req.end() || !rid_it->is_string() || !ValidRid(rid_it->get<std::string>())) {
    return reply(
        ErrorBody(id, "EINVAL", "mutating ops need a request id 'rid' ([A-Za-z0-9_-]{1,64})"));
  }
  std::string rid = rid_it->get<std::string>();
  if (Status space = CheckSpace(op); !space.ok()) {
    return reply(ErrorBody(id, "ENOSPC", space.message()));
  }
  auto gen = LeaderValues(op, req);
  if (!gen.ok())
    return reply(ErrorBody(id, ErrnoName(gen.status().code()), gen.status().message()));
  // The request itself becomes the entry's args (moved, never copied or logged whole).
  Json args = std::move(req);
  for (const char* secret_or_envelope :
       {"session", "auth_key", "old_auth_key", "id", "op", "rid"}) {
    args.erase(secret_or_envelope);
  }
  Json cmd = {{"op", op},       {"user", s.user},          {"rid", std::move(rid)},
              {"now", NowNs()}, {"args", std::move(args)}, {"gen", std::move(*gen)}};
  Session session = s;
  const auto proposed_at = std::chrono::steady_clock::now();
  repl_->Propose(cmd.dump(), [this, op, id, session, proposed_at, reply = std::move(reply)](
                                 ProposeOutcome outcome, std::string result) {
    switch (outcome) {
      case ProposeOutcome::kNotLeader:
        return reply(Redirect(id));
      case ProposeOutcome::kUnknown:
        return reply(ErrorBody(id, "EAGAIN",
                               "leadership changed before the outcome was known; retry with the "
                               "same rid"));
      case ProposeOutcome::kApplied:
        RenewLease(proposed_at);
        break;
    }
    auto parsed = ParseJson(result);
    Json r = parsed.ok() ? std::move(*parsed) : Json();
    if (!r.is_object()) {
      return reply(ErrorBody(id, "EIO", "the state machine returned no result"));
    }
    Finish(op, id, std::move(r), session, reply);
  });
}

void MetaService::HandleRead(const std::string& op, Json id, Json req, const Session& s,
                             ReplyFn reply) {
  Session session = s;
  WhenReadable([this, op, id = std::move(id), req = std::move(req), session,
                reply = std::move(reply)](Status st) {
    if (!st.ok()) {
      if (!repl_->IsLeader()) return reply(Redirect(id));
      return reply(ErrorBody(id, "EAGAIN", st.message()));
    }
    if (repl_->StaleForReads()) {
      // Entries this node could not apply (full disk) may have been answered by another
      // leader: reading without them could undo an acknowledged write.
      return reply(ErrorBody(id, "EAGAIN",
                             "this metadata node is behind: committed changes wait for disk "
                             "space; retry"));
    }
    RunRead(op, id, req, session, reply);
  });
}

void MetaService::RunRead(const std::string& op, const Json& id, const Json& req, const Session& s,
                          const ReplyFn& reply) {
  if (op == "login") {
    auto name = req.find("user");
    if (name == req.end() || !name->is_string()) {
      return reply(ErrorBody(id, "EINVAL", "missing string field 'user'"));
    }
    auto hash = AuthHash(req, "auth_key");
    if (!hash.ok()) return reply(ErrorBody(id, "EINVAL", hash.status().message()));
    const std::string& uname = name->get_ref<const std::string&>();
    const int64_t now_ms = NowNs() / 1000000;
    // Two throttles: one per user name (guessing one password) and one per client address
    // (trying many users). Attempts refused while blocked are not checked, so they do not grow
    // either delay: one user under attack cannot lock out everyone behind the same address.
    const std::string user_key = "u/" + uname, addr_key = "a/" + s.peer;
    const LoginFailures by_user = ThrottleOf(user_key);
    const LoginFailures by_addr = s.peer.empty() ? LoginFailures{} : ThrottleOf(addr_key);
    for (const LoginFailures* th : {&by_user, &by_addr}) {
      if (now_ms < th->blocked_until_ms) {
        return reply(
            ErrorBody(id, "EACCES",
                      std::string("too many failed logins ") +
                          (th == &by_user ? "for this user" : "from this address") + "; retry in " +
                          std::to_string((th->blocked_until_ms - now_ms + 999) / 1000) + " s"));
      }
    }
    auto user = store_->UserByName(uname);
    // Same answer for an unknown user and a wrong key; compare in constant time.
    if (!user || !crypto::ConstantTimeEquals(*hash, user->auth_hash)) {
      std::vector<std::pair<std::string, LoginFailures>> set;
      set.emplace_back(user_key, by_user);
      CountFailure(&set.back().second, now_ms, 5);
      if (!s.peer.empty()) {
        set.emplace_back(addr_key, by_addr);
        CountFailure(&set.back().second, now_ms, 20);
      }
      // Answered once the failure is replicated (or the leadership is lost): a fail-over
      // right after the answer cannot forget it.
      return RecordThrottle(std::move(set), {}, [id, reply] {
        reply(ErrorBody(id, "EACCES", "wrong user name or password"));
      });
    }
    if (by_user.failures > 0) RecordThrottle({}, {user_key}, [] {});
    auto token = SessionToken(user->id, user->session_gen);
    if (!token.ok()) return reply(ErrorBody(id, "EIO", token.status().message()));
    Json j = {{"id", id},
              {"ok", true},
              {"session", *token},
              {"user_id", user->id},
              {"root", user->root},
              {"wrapped_master_key", user->wrapped_master_key},
              {"expires_at", crypto::UnixNow() + opts_.session_ttl_s}};
    return reply(j.dump());
  }
  Json args = req;
  args.erase("session");
  Json result = store_->Read(op, s.user, args);
  if (op == "get_salt" && result.value("ok", true) == false && result.contains("error") &&
      result["error"].value("code", "") == "ENOENT") {
    // An unknown name answers like a known one; its login then fails like a wrong password.
    result = UnknownUserSalt(args["user"].get<std::string>());
  }
  // Every login starts here: the client learns which storage format the cluster keeps and
  // refuses one it does not write, before deriving keys.
  if (op == "get_salt" && result.is_object() && result.value("ok", true) == true) {
    result["format"] = kMetaStoreFormat;
  }
  if (op == "chunk_refs" && result.value("ok", false) == true) AddRebuildRefs(args, &result);
  Finish(op, id, std::move(result), s, reply);
}

void MetaService::RememberRebuildScope(const std::string& scope, const std::string& owner) {
  const auto now = std::chrono::steady_clock::now();
  // A rebuild writes while its token lives and reports (repair_done) soon after; twice the
  // token's lifetime covers a slow one. Past that, the sweeper's grace is the protection.
  const auto until = now + std::chrono::seconds(2 * opts_.data_token_ttl_s);
  while (!rebuild_order_.empty() &&
         (rebuild_order_.front().first <= now || rebuild_order_.size() >= kMaxRebuildScopes)) {
    rebuild_scopes_.erase(rebuild_order_.front().second);
    rebuild_order_.pop_front();
  }
  rebuild_scopes_[scope] = owner;
  rebuild_order_.emplace_back(until, scope);
}

void MetaService::AddRebuildRefs(const Json& args, Json* result) {
  if (rebuild_scopes_.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  while (!rebuild_order_.empty() && rebuild_order_.front().first <= now) {
    rebuild_scopes_.erase(rebuild_order_.front().second);
    rebuild_order_.pop_front();
  }
  const std::string owner = args.value("owner", "");
  Json& referenced = (*result)["referenced"];
  for (const Json& c : args["chunks"]) {
    const std::string& chunk = c.get_ref<const std::string&>();  // checked by the store
    if (chunk.size() < 3 || referenced.contains(chunk)) continue;
    auto it = rebuild_scopes_.find(chunk.substr(0, chunk.size() - 2));
    if (it != rebuild_scopes_.end() && it->second == owner &&
        crypto::ScopeCovers(it->first, chunk)) {
      referenced[chunk] = "rebuild";
    }
  }
}

void MetaService::Finish(const std::string& op, const Json& id, Json result, const Session& s,
                         const ReplyFn& reply) {
  if (result.value("ok", false) == true) {
    if (op == "begin_version" || op == "get_version") {
      bool write = op == "begin_version" && result.contains("shards") && !result["shards"].empty();
      // An upload's token may write only the chunk ids this version was given (they share a
      // scope, LeaderValues); reads go by the owner's namespace.
      std::string scope;
      if (write) {
        std::vector<std::string> chunks;
        for (const Json& sh : result["shards"]) chunks.push_back(sh.value("chunk", ""));
        auto sc = CommonScope(chunks);
        if (!sc.ok()) return reply(ErrorBody(id, "EIO", sc.status().message()));
        scope = *sc;
      }
      auto token = DataToken(s.user, write ? crypto::kRightWrite : crypto::kRightRead, scope);
      if (!token.ok()) return reply(ErrorBody(id, "EIO", token.status().message()));
      result["token"] = *token;
      result["expires_at"] = crypto::UnixNow() + opts_.data_token_ttl_s;
      if (write && result.contains("shards")) {
        for (Json& sh : result["shards"]) {
          const DataNodeConfig* d = opts_.config->FindData(sh["server"].get<uint64_t>());
          sh["address"] = d ? d->address.ToString() : std::string();
        }
      }
    } else if (op == "renew_pending") {
      // A fresh write token for the same chunk ids as begin_version's, which an upload longer
      // than a token's lifetime swaps in (Vault's PendingRenewer). Inline versions have none.
      std::vector<std::string> chunks;
      if (result.contains("chunks") && result["chunks"].is_array()) {
        for (const Json& c : result["chunks"])
          chunks.push_back(c.is_string() ? c.get<std::string>() : "");
      }
      result.erase("chunks");
      if (!chunks.empty()) {
        auto scope = CommonScope(chunks);
        if (!scope.ok()) return reply(ErrorBody(id, "EIO", scope.status().message()));
        auto token = DataToken(s.user, crypto::kRightWrite, *scope);
        if (!token.ok()) return reply(ErrorBody(id, "EIO", token.status().message()));
        result["token"] = *token;
        result["expires_at"] = crypto::UnixNow() + opts_.data_token_ttl_s;
      }
    } else if (op == "gc_list") {
      // Each item carries a delete-only token for its owner's namespace on the data server,
      // so whoever collects (the owner's client, or a cluster worker) can remove it.
      for (Json& item : result["items"]) {
        auto token = DataToken(item["owner"].get<std::string>(), crypto::kRightDelete);
        if (!token.ok()) return reply(ErrorBody(id, "EIO", token.status().message()));
        item["token"] = *token;
      }
    } else if (op == "repair_list" || op == "server_shards") {
      // The repairer reads the owner's shards and the scrubber asks servers to verify them
      // (read). A rebuild writes its new shards under a fresh scope of its own: chunk id
      // ScopedChunkId(rebuild_scope, index), with rebuild_token (write, and delete to drop
      // what it stored if the version went away meanwhile).
      for (Json& item : result["items"]) {
        auto token = DataToken(item["owner"].get<std::string>(), crypto::kRightRead);
        if (!token.ok()) return reply(ErrorBody(id, "EIO", token.status().message()));
        item["token"] = *token;
        if (op != "repair_list") continue;
        auto scope = crypto::RandomHexId(15);
        if (!scope.ok()) return reply(ErrorBody(id, "EIO", scope.status().message()));
        auto wtoken = DataToken(item["owner"].get<std::string>(),
                                crypto::kRightWrite | crypto::kRightDelete, *scope);
        if (!wtoken.ok()) return reply(ErrorBody(id, "EIO", wtoken.status().message()));
        item["rebuild_scope"] = *scope;
        item["rebuild_token"] = *wtoken;
        RememberRebuildScope(*scope, item["owner"].get<std::string>());
      }
    } else if (op == "sweep_owners") {
      // The sweeper lists each owner's folder and deletes its strays: list and delete only,
      // never read or write.
      for (Json& o : result["owners"]) {
        auto token =
            DataToken(o["owner"].get<std::string>(), crypto::kRightList | crypto::kRightDelete);
        if (!token.ok()) return reply(ErrorBody(id, "EIO", token.status().message()));
        o["token"] = *token;
      }
    } else if (op == "statfs") {
      if (result["quota_bytes"].is_null()) result["quota_bytes"] = opts_.default_quota;
    } else if (op == "passwd") {
      passwd_throttle_.erase(s.user);
      auto token = SessionToken(s.user, result["session_gen"].get<int64_t>());
      if (!token.ok()) return reply(ErrorBody(id, "EIO", token.status().message()));
      result["session"] = *token;
    } else if (op == "cluster_map") {
      PublicClusterMap(&result);
    }
  }
  if (op == "passwd" && result.value("ok", true) == false && result.contains("error") &&
      result["error"].value("code", "") == "EACCES") {
    CountFailure(&passwd_throttle_[s.user], NowNs() / 1000000, 5);
  }
  result["id"] = id;
  reply(OkOrError(result).dump());
}

void MetaService::RenewLease(std::chrono::steady_clock::time_point proposed_at) {
  if (proposed_at > lease_from_) lease_from_ = proposed_at;
}

void MetaService::WhenReadable(std::function<void(Status)> fn) {
  if (opts_.read_lease.count() > 0 && repl_->IsLeader() &&
      std::chrono::steady_clock::now() - lease_from_ < opts_.read_lease) {
    return fn(Status::Ok());
  }
  waiting_reads_.push_back(std::move(fn));
  if (!barrier_in_flight_) StartBarrier();
}

void MetaService::StartBarrier() {
  // Every read in this batch arrived before the barrier was proposed, so the state it sees
  // after the barrier includes every write acknowledged before the read began.
  auto batch =
      std::make_shared<std::vector<std::function<void(Status)>>>(std::move(waiting_reads_));
  waiting_reads_.clear();
  barrier_in_flight_ = true;
  const auto proposed_at = std::chrono::steady_clock::now();
  repl_->Barrier([this, batch, proposed_at](Status st) {
    barrier_in_flight_ = false;
    if (st.ok()) RenewLease(proposed_at);
    for (auto& fn : *batch) fn(st);
    if (!waiting_reads_.empty()) StartBarrier();
  });
}

}  // namespace vaultfs::meta
