// MetaClient: the synchronous, thread-safe client of the metadata service (vaultfs-meta,
// DESIGN.md §4) used by the CLI, the FUSE daemon, tools and tests.
//
// It knows every metadata node (cluster.json "meta"), remembers which one leads, follows
// ENOTLEADER redirects, and when a node dies or stalls mid-request retries on the others with
// the SAME request id ("rid"), so a mutation whose outcome was unknown is applied at most once
// (the service deduplicates by (session user, rid)). Every call has a total deadline; when no
// node answers as leader within it the error names all nodes:
//   "metadata service unreachable: no leader among 127.0.0.1:7000, 127.0.0.1:7001 (...)".
//
//   MetaClient mc(config);                       // or MetaClient(nodes)
//   auto r = mc.Login("alice", auth_key_hex);    // stores the session for later calls
//   auto attr = mc.Call("mkdir", {{"parent", root}, {"key", k}, {"name", sealed}});
//
// Replies come back as the JSON object the server sent (minus nothing); an error reply becomes
// a Status whose code is the errno named by the server (ENOENT, EEXIST, ...).
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "src/common/cluster_config.h"
#include "src/common/status.h"
#include "src/common/tls_options.h"
#include "src/common/tls_stream.h"

namespace vaultfs {

struct MetaClientOptions {
  std::chrono::milliseconds deadline{20000};        // total per call, retries included
  std::chrono::milliseconds attempt_timeout{4000};  // one node's answer
  size_t max_frame = kDefaultMaxFrame;
  // TLS client context; null with the config constructor: built from cluster.json's CA.
  std::shared_ptr<tls::TlsContext> tls;
};

class MetaClient {
 public:
  explicit MetaClient(std::vector<HostPort> nodes, MetaClientOptions opts = {});
  explicit MetaClient(const ClusterConfig& config, MetaClientOptions opts = {});
  MetaClient(const MetaClient&) = delete;
  MetaClient& operator=(const MetaClient&) = delete;

  // Sends `op` with `args` (a JSON object). Adds "id", the session (if set and `args` has none)
  // and, for mutating ops, a fresh "rid" unless `args` carries one. Returns the reply object.
  Result<nlohmann::json> Call(std::string_view op, nlohmann::json args = nlohmann::json::object());

  // login: on success remembers the session token for later calls.
  Result<nlohmann::json> Login(const std::string& user, const std::string& auth_key_hex);

  void SetSession(std::string token);
  // Called when the service says our session token has expired (a mount outlives the 12 h
  // session): it should log in again (Login sets the new session); the call is then retried.
  void SetRelogin(std::function<Status()> relogin);
  std::string session() const;

  // True for ops that change state (and therefore carry a request id).
  static bool IsMutating(std::string_view op);
  static std::string NewRequestId();

  // The client address of the node currently believed to lead, or "" if unknown.
  std::string LeaderHint() const;

 private:
  Result<Stream> Checkout(size_t node, Deadline deadline);
  void Checkin(size_t node, Stream fd);
  void SetLeader(int node);
  std::string NodeList() const;

  std::vector<HostPort> nodes_;
  MetaClientOptions opts_;
  Status config_error_;    // the TLS setup failed: every call reports it
  mutable std::mutex mu_;  // guards everything below
  std::vector<std::vector<Stream>> idle_;
  int leader_ = -1;
  size_t next_node_ = 0;
  std::string session_;
  std::function<Status()> relogin_;
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace vaultfs
