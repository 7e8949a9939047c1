// Test support for the 'cluster' suite: runs commands as child processes, and brings up a
// real local cluster with tools/mkcluster (3 metadata + 14 data servers by default) in a temp
// folder on random free ports. The cluster is always torn down by pid, and its folder
// removed, when the fixture goes away, even if the test failed.
//
// Binary paths come from the environment set by tests/cluster/meson.build: VAULTFS_BIN,
// VAULTFS_DATA_BIN, VAULTFS_META_BIN, VAULTFS_REPAIR_BIN and MKCLUSTER.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/client/vault.h"
#include "src/common/cluster_config.h"
#include "src/common/status.h"
#include "src/common/tls_options.h"

namespace vaultfs::testing {

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or timed out
  std::string out;
  std::string err;
  double seconds = 0;
};

// Runs argv[0] with `env` added to this process's environment and `input` on stdin; kills it
// (by pid) after `timeout`.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {},
                         std::chrono::seconds timeout = std::chrono::seconds(300));

// Deterministic pseudo-random bytes for payloads.
std::string TestBytes(size_t n, uint64_t seed);
// SHA-256 of a file, hex.
std::string FileSha256(const std::string& path);
void WriteFile(const std::string& path, const std::string& data);
std::string ReadFile(const std::string& path);
// The data server holding each shard of the current version of `path`, by shard index.
Result<std::vector<uint64_t>> ShardServers(client::Vault& v, const std::string& path);

class TestCluster {
 public:
  // vaultfs-repair's options (mkcluster's VAULTFS_REPAIR_OPTS). By default its passes are a
  // day apart, so suites that inspect degraded versions see them as they left them; the
  // repair suite passes short intervals.
  static constexpr const char* kDormantRepair = "--interval 86400 --scrub-interval 0";

  // Starts a cluster (TLS everywhere unless `insecure`: `mkcluster up --insecure`); on failure
  // the status carries the nodes' logs. `meta_opts`: the metadata nodes' extra options
  // (mkcluster's VAULTFS_META_OPTS).
  static Result<std::unique_ptr<TestCluster>> Start(int data = 14, int meta = 3,
                                                    const std::string& repair_opts = kDormantRepair,
                                                    bool insecure = false,
                                                    const std::string& meta_opts = "");
  ~TestCluster();

  const std::string& dir() const { return dir_; }
  std::string config_path() const { return dir_ + "/cluster.json"; }
  const ClusterConfig& config() const { return config_; }
  // The TLS client context a client of this cluster uses (null for an insecure cluster).
  std::shared_ptr<tls::TlsContext> ClientTls() const;

  // `tools/mkcluster ARGS --dir DIR`.
  CommandResult Mkcluster(const std::vector<std::string>& args,
                          std::map<std::string, std::string> env = {}) const;
  Status KillData(int id);
  // The repair daemon's last status (repair-status.json), or null if none yet.
  nlohmann::json RepairStatus() const;
  Status ReviveData(int id);
  std::string DataStorage(int id) const { return dir_ + "/data-" + std::to_string(id); }
  std::string MetaDir(int id) const { return dir_ + "/meta-" + std::to_string(id); }

  // Runs the vaultfs CLI against this cluster as `user` with `password`.
  CommandResult Vaultfs(const std::vector<std::string>& args, const std::string& user,
                        const std::string& password,
                        std::chrono::seconds timeout = std::chrono::seconds(300)) const;

 private:
  TestCluster() = default;
  void KillEverything();
  std::string dir_;
  pid_t reaper_ = -1;  // see StartReaper in cluster_fixture.cc
  int reaper_fd_ = -1;
  ClusterConfig config_;
};

}  // namespace vaultfs::testing
