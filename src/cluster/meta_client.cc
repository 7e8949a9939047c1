// Metadata client: see meta_client.h.
#include "src/cluster/meta_client.h"
#include "src/common/json_parse.h"

#include <algorithm>
#include <set>
#include <thread>

#include "src/crypto/random.h"

namespace vaultfs {
namespace {

using Json = nlohmann::json;
constexpr size_t kMaxIdlePerNode = 32;

}  // namespace

MetaClient::MetaClient(std::vector<HostPort> nodes, MetaClientOptions opts)
    : nodes_(std::move(nodes)), opts_(std::move(opts)), idle_(nodes_.size()) {}

MetaClient::MetaClient(const ClusterConfig& config, MetaClientOptions opts)
    : opts_(std::move(opts)) {
  for (const MetaNodeConfig& m : config.meta) nodes_.push_back(m.address);
  idle_.resize(nodes_.size());
  if (opts_.tls == nullptr) {
    auto ctx = tls::ClientContext(config);
    if (ctx.ok()) {
      opts_.tls = std::move(ctx).value();
    } else {
      config_error_ = ctx.status();
    }
  }
}

bool MetaClient::IsMutating(std::string_view op) {
  static const std::set<std::string, std::less<>> kMutating = {
      "register",       "passwd",         "setattr",        "mkdir",         "create",
      "symlink",        "link",           "unlink",         "rmdir",         "rename",
      "begin_version",  "commit_version", "write_inline",   "report_shard",  "report_server",
      "gc_done",        "repair_done",    "expire_pending", "report_repair", "request_scrub",
      "reserve_inodes", "renew_pending",  "set_quota",      "setxattr",      "removexattr"};
  return kMutating.count(op) > 0;
}

std::string MetaClient::NewRequestId() {
  auto id = crypto::RandomHexId(16);
  if (id.ok()) return *id;
  // The OS random source failing is fatal elsewhere too; fall back to a time-based id.
  return std::to_string(Clock::now().time_since_epoch().count());
}

void MetaClient::SetRelogin(std::function<Status()> relogin) {
  std::lock_guard<std::mutex> l(mu_);
  relogin_ = std::move(relogin);
}

void MetaClient::SetSession(std::string token) {
  std::lock_guard<std::mutex> l(mu_);
  session_ = std::move(token);
}

std::string MetaClient::session() const {
  std::lock_guard<std::mutex> l(mu_);
  return session_;
}

std::string MetaClient::LeaderHint() const {
  std::lock_guard<std::mutex> l(mu_);
  return leader_ >= 0 ? nodes_[leader_].ToString() : std::string();
}

void MetaClient::SetLeader(int node) {
  std::lock_guard<std::mutex> l(mu_);
  leader_ = node;
}

std::string MetaClient::NodeList() const {
  std::string s;
  for (const HostPort& n : nodes_) s += (s.empty() ? "" : ", ") + n.ToString();
  return s;
}

Result<Stream> MetaClient::Checkout(size_t node, Deadline deadline) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_[node].empty()) {
      Stream fd = std::move(idle_[node].back());
      idle_[node].pop_back();
      return fd;
    }
  }
  return Stream::Connect(nodes_[node], opts_.tls, deadline);
}

void MetaClient::Checkin(size_t node, Stream fd) {
  std::lock_guard<std::mutex> l(mu_);
  if (idle_[node].size() < kMaxIdlePerNode) idle_[node].push_back(std::move(fd));
}

Result<Json> MetaClient::Login(const std::string& user, const std::string& auth_key_hex) {
  VFS_ASSIGN_OR_RETURN(Json r, Call("login", {{"user", user}, {"auth_key", auth_key_hex}}));
  if (!r.contains("session") || !r["session"].is_string()) {
    return IoError("login reply carries no session");
  }
  SetSession(r["session"].get<std::string>());
  return r;
}

Result<Json> MetaClient::Call(std::string_view op, Json args) {
  if (!config_error_.ok()) return config_error_;
  if (nodes_.empty()) return InvalidArgument("no metadata nodes configured");
  if (!args.is_object()) return InvalidArgument("metadata call arguments must be an object");
  args["op"] = std::string(op);
  if (!args.contains("session")) {
    std::string s = session();
    if (!s.empty()) args["session"] = s;
  }
  if (IsMutating(op) && !args.contains("rid")) args["rid"] = NewRequestId();

  const Deadline deadline = DeadlineIn(opts_.deadline);
  std::string last_error = "no node answered";
  int backoff_ms = 20;
  size_t tried_without_leader = 0;
  bool relogged = false;
  while (Clock::now() < deadline) {
    size_t node;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (leader_ >= 0) {
        node = static_cast<size_t>(leader_);
      } else {
        node = next_node_++ % nodes_.size();
      }
    }
    // After asking every node without finding a leader (an election is running), back off.
    if (tried_without_leader >= nodes_.size()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = std::min(backoff_ms * 2, 250);
      tried_without_leader = 0;
    }
    Deadline attempt = std::min(deadline, DeadlineIn(opts_.attempt_timeout));
    auto fd = Checkout(node, attempt);
    if (!fd.ok() && fd.status().code() == EACCES) {
      // The node's certificate was refused: another node will not be more trustworthy. Not
      // EACCES, which callers read as a wrong password.
      return Status(EKEYREJECTED, "metadata node " + nodes_[node].ToString() + ": " +
                                      fd.status().message() +
                                      " (is the ca_cert in cluster.json this cluster's CA?)");
    }
    if (!fd.ok()) {
      last_error = fd.status().ToString();
      SetLeader(-1);
      ++tried_without_leader;
      continue;
    }
    uint64_t id = next_id_++;
    args["id"] = id;
    Status st = fd->WriteFrame(args.dump(), attempt, opts_.max_frame);
    Result<std::string> body =
        st.ok() ? fd->ReadFrame(attempt, opts_.max_frame) : Result<std::string>(st);
    if (!body.ok()) {
      // Dead, stalled or restarted node: the request may or may not have been applied; retry
      // elsewhere with the same rid.
      last_error = nodes_[node].ToString() + ": " + body.status().ToString();
      SetLeader(-1);
      ++tried_without_leader;
      continue;
    }
    auto parsed = ParseJson(*body);
    Json reply = parsed.ok() ? std::move(*parsed) : Json();
    if (!reply.is_object() || reply.value("id", Json()) != Json(id)) {
      last_error = nodes_[node].ToString() + ": malformed reply";
      SetLeader(-1);
      ++tried_without_leader;
      continue;
    }
    Checkin(node, std::move(*fd));
    if (reply.value("ok", false) == true) {
      SetLeader(static_cast<int>(node));
      return reply;
    }
    const Json& err =
        reply.contains("error") && reply["error"].is_object() ? reply["error"] : Json::object();
    std::string code = err.value("code", std::string("EIO"));
    std::string message = err.value("message", std::string("(no message)"));
    if (code == "ENOTLEADER") {
      int hint = -1;
      if (err.contains("leader") && err["leader"].is_string()) {
        std::string addr = err["leader"].get<std::string>();
        for (size_t i = 0; i < nodes_.size(); ++i) {
          if (nodes_[i].ToString() == addr) hint = static_cast<int>(i);
        }
      }
      if (hint == static_cast<int>(node)) hint = -1;  // stale self-reference: ask around
      last_error = nodes_[node].ToString() + ": " + message;
      SetLeader(hint);
      if (hint < 0) ++tried_without_leader;
      continue;
    }
    if (code == "EAGAIN") {
      // Leadership changed while our request was in flight: outcome unknown, same rid again.
      last_error = nodes_[node].ToString() + ": " + message;
      SetLeader(-1);
      ++tried_without_leader;
      continue;
    }
    SetLeader(static_cast<int>(node));
    if (code == "EACCES" && !relogged && args.contains("session") &&
        message.find("expired") != std::string::npos) {
      std::function<Status()> relogin;
      {
        std::lock_guard<std::mutex> l(mu_);
        relogin = relogin_;
      }
      if (relogin) {
        relogged = true;
        Status st = relogin();
        if (!st.ok()) return st.Annotate("renewing the expired session");
        args["session"] = session();
        continue;
      }
    }
    return Status(ErrnoFromName(code), message);
  }
  return Status(ETIMEDOUT, "metadata service unreachable: no leader among " + NodeList() +
                               " (last error: " + last_error + ")");
}

}  // namespace vaultfs
