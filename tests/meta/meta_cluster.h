// Test harness: a group of real vaultfs-meta processes on loopback, in a temp directory with
// its own secret and cluster.json (14 fake data servers so placement works). Children are
// started with PR_SET_PDEATHSIG and are always killed by pid in the destructor, so a failing
// test never leaks servers. The binary path comes from the META_BIN environment variable.
//
// By default the group runs with TLS: tools/mkcerts (found through VAULTFS_SOURCE_ROOT) makes a
// CA and one certificate per node ("meta-<id>") in the temp directory, every node gets
// --tls-ca/--tls-cert/--tls-key, and the cluster.json clients use carries the CA. Security::
// kInsecure starts the nodes with --insecure and marks cluster.json "insecure" instead.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "src/cluster/meta_client.h"
#include "src/common/cluster_config.h"
#include "src/common/tls.h"

namespace vaultfs::testing {

enum class Security { kTls, kInsecure };

class MetaCluster {
 public:
  // `nodes` metadata nodes; with nodes == 1 and single, the node runs with --single.
  MetaCluster(int nodes, bool single, unsigned election_ms = 1000, unsigned heartbeat_ms = 100,
              Security security = Security::kTls);
  ~MetaCluster();

  // Extra command-line arguments for every node started from now on.
  void SetExtraArgs(std::vector<std::string> args) { extra_args_ = std::move(args); }
  Status Start(int i);  // starts node i and waits until it listens (or reports a setup error)
  Status StartAll();
  void Kill(int i);  // SIGKILL + reap
  void Signal(int i, int sig);
  bool Running(int i) const { return pids_[i] > 0; }
  pid_t Pid(int i) const { return pids_[i]; }

  // Index of the node that reports itself leader, waiting up to `wait`; -1 if none.
  int WaitLeader(std::chrono::milliseconds wait);
  // node_info of node i (direct, no redirect) with a cluster session, so it carries
  // last_applied (and the digest if asked); null on failure.
  nlohmann::json NodeInfo(int i, bool digest = false);

  std::unique_ptr<MetaClient> Client(MetaClientOptions opts = {}) const;
  std::unique_ptr<MetaClient> ClientFor(int i, MetaClientOptions opts = {}) const;
  // What a client uses to reach the nodes: TLS against the cluster CA; null when insecure.
  std::shared_ptr<tls::TlsContext> client_tls() const { return client_tls_; }
  // Node i's transport flags: --tls-ca/--tls-cert/--tls-key, or --insecure.
  std::vector<std::string> TlsArgs(int i) const;
  // Replaces node i's transport flags (e.g. a certificate from another CA).
  void SetTlsArgs(int i, std::vector<std::string> args) { tls_args_[i] = std::move(args); }
  Security security() const { return security_; }
  const ClusterConfig& config() const { return config_; }
  const std::string& dir() const { return dir_; }
  const std::string& secret() const { return secret_; }
  const std::string& secret_path() const { return secret_path_; }
  // The token key of `audience` ("meta", "data", "cluster") derived from secret().
  std::string TokenKey(std::string_view audience) const;
  std::string Log(int i) const;
  // "running", or how node i ended ("killed by signal 9", "exit 1") if it died on its own.
  std::string State(int i);

 private:
  int n_;
  bool single_;
  unsigned election_ms_, heartbeat_ms_;
  Security security_;
  Status setup_;  // why the certificates could not be made, if they could not
  std::string dir_, secret_path_, config_path_, secret_, tls_dir_;
  std::shared_ptr<tls::TlsContext> client_tls_;
  ClusterConfig config_;
  std::vector<pid_t> pids_;
  std::vector<std::string> extra_args_;
  std::map<int, std::vector<std::string>> tls_args_;  // per-node overrides
  std::shared_ptr<tls::TlsContext> node_tls_;         // NodeInfo's: node 0's certificate
};

// Runs `argv` (argv[0] is the program's path) to completion (bounded by `timeout`, then
// killed); returns its exit code (-1 on timeout) and fills `output` with its stderr/stdout.
int RunProgram(const std::vector<std::string>& argv, std::string* output,
               std::chrono::milliseconds timeout);
// RunProgram on the vaultfs-meta binary.
int RunMetaBinary(const std::vector<std::string>& args, std::string* output,
                  std::chrono::milliseconds timeout);

// A whole file ("" if unreadable).
std::string ReadTextFile(const std::string& path);
// The source tree (VAULTFS_SOURCE_ROOT), for tools/mkcerts.
std::string SourceRoot();
// tools/mkcerts DIR NAME...: DIR/ca.pem, DIR/ca.key and DIR/NAME.pem, DIR/NAME.key per name.
Status MakeCerts(const std::string& dir, const std::vector<std::string>& names);

// Sends raw bytes on a fresh connection to `addr` (TLS when `tls` is set) and reads one frame
// back (for hostile input).
Result<std::string> RawExchange(const HostPort& addr, const std::string& bytes,
                                std::chrono::milliseconds timeout,
                                std::shared_ptr<tls::TlsContext> tls = nullptr);

}  // namespace vaultfs::testing
