// Test harness: a group of real vaultfs-meta processes on loopback, in a temp directory with
// its own secret and cluster.json (14 fake data servers so placement works). Children are
// started with PR_SET_PDEATHSIG and are always killed by pid in the destructor, so a failing
// test never leaks servers. The binary path comes from the META_BIN environment variable.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "src/cluster/meta_client.h"
#include "src/common/cluster_config.h"

namespace vaultfs::testing {

class MetaCluster {
 public:
  // `nodes` metadata nodes; with nodes == 1 and single, the node runs with --single.
  MetaCluster(int nodes, bool single, unsigned election_ms = 1000, unsigned heartbeat_ms = 100);
  ~MetaCluster();

  // Extra command-line arguments for every node started from now on.
  void SetExtraArgs(std::vector<std::string> args) { extra_args_ = std::move(args); }
  Status Start(int i);  // starts node i and waits until it listens
  Status StartAll();
  void Kill(int i);  // SIGKILL + reap
  void Signal(int i, int sig);
  bool Running(int i) const { return pids_[i] > 0; }

  // Index of the node that reports itself leader, waiting up to `wait`; -1 if none.
  int WaitLeader(std::chrono::milliseconds wait);
  // node_info of node i (direct, no redirect); null on failure.
  nlohmann::json NodeInfo(int i, bool digest = false);

  std::unique_ptr<MetaClient> Client(MetaClientOptions opts = {}) const;
  std::unique_ptr<MetaClient> ClientFor(int i, MetaClientOptions opts = {}) const;
  const ClusterConfig& config() const { return config_; }
  const std::string& dir() const { return dir_; }
  const std::string& secret() const { return secret_; }
  const std::string& secret_path() const { return secret_path_; }
  std::string Log(int i) const;
  // "running", or how node i ended ("killed by signal 9", "exit 1") if it died on its own.
  std::string State(int i);

 private:
  int n_;
  bool single_;
  unsigned election_ms_, heartbeat_ms_;
  std::string dir_, secret_path_, config_path_, secret_;
  ClusterConfig config_;
  std::vector<pid_t> pids_;
  std::vector<std::string> extra_args_;
};

// Runs the vaultfs-meta binary with `args` to completion (bounded by `timeout`, then killed);
// returns its exit code and fills `output` with what it wrote to stderr/stdout.
int RunMetaBinary(const std::vector<std::string>& args, std::string* output,
                  std::chrono::milliseconds timeout);

// Sends raw bytes on a fresh connection to `addr` and reads one frame back (for hostile input).
Result<std::string> RawExchange(const HostPort& addr, const std::string& bytes,
                                std::chrono::milliseconds timeout);

}  // namespace vaultfs::testing
