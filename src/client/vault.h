// Vault: one user's logged-in session with the cluster — the object the CLI, the FUSE daemon
// and the web gateway hold. It owns the connections (metadata client, data client, the health
// view of the data servers), the user's keys (SessionKeys: master key, name keys; never sent
// anywhere) and the modules that use them, and hands those out:
//
//   Vault v(config);
//   v.accounts().Login("alice", password);      // accounts.h: register, login, passwd
//   auto a = v.tree().Resolve("/photos/cat.jpg");  // tree.h: the sealed namespace
//   v.content().ReadContent(*a, 0, a->size, sink);  // content.h: versions, store, GC
//   ClusterHealth h = v.Health();               // cluster_health.h: for status pages
//
// The metadata service sees only lookup keys, sealed names, wrapped keys and sealed content,
// the data servers only shard blocks.
//
// Thread-safe after login: the tree and content calls may run from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "src/client/accounts.h"
#include "src/client/cluster_health.h"
#include "src/client/content.h"
#include "src/client/session_keys.h"
#include "src/client/tree.h"
#include "src/client/vault_options.h"
#include "src/cluster/data_client.h"
#include "src/cluster/meta_client.h"
#include "src/cluster/server_health.h"
#include "src/cluster/shard_transport.h"
#include "src/common/cluster_config.h"
#include "src/common/file_limits.h"

namespace vaultfs::client {

// Keys for what this client keeps on its own disk (the mount's staging area), derived from
// the master key with their own labels (key_labels.h). Never sent anywhere.
struct StagingKeys {
  crypto::Key seal;         // parent of the per-block sealing keys of staged blocks
  crypto::Key journal_mac;  // HMAC-SHA256 key of staging journals
};

class Vault {
 public:
  explicit Vault(ClusterConfig config, VaultOptions options = {});
  ~Vault();
  Vault(const Vault&) = delete;
  Vault& operator=(const Vault&) = delete;

  Accounts& accounts() { return *accounts_; }
  Tree& tree() { return *tree_; }
  Content& content() { return *content_; }

  bool logged_in() const { return keys_.logged_in(); }
  const std::string& user_name() const { return keys_.user_name; }
  const std::string& user_id() const { return keys_.user_id; }
  uint64_t root() const { return keys_.root; }
  const ClusterConfig& config() const { return config_; }
  // The largest file this cluster stores (file_limits.h); larger writes fail with EFBIG.
  uint64_t max_file_size() const { return MaxFileSize(config_.segment_size, config_.k); }

  // The staging keys of this user (EPERM "log in first" before Login).
  Result<StagingKeys> DeriveStagingKeys() const;

  // The cluster as this session sees it (cluster_health.h), through the vault's own
  // connections; the user's repair queue is included once logged in.
  ClusterHealth Health();

  MetaClient& meta() { return *meta_; }
  cluster::ServerHealth& health() { return health_; }

 private:
  // Declaration order is construction order: the modules come last and point at the rest.
  ClusterConfig config_;
  VaultOptions options_;
  std::unique_ptr<MetaClient> meta_;
  std::unique_ptr<cluster::DataClient> data_;
  std::unique_ptr<cluster::DataClientTransport> real_transport_;
  cluster::ServerHealth health_;
  SessionKeys keys_;

  std::unique_ptr<Accounts> accounts_;
  std::unique_ptr<Tree> tree_;
  std::unique_ptr<Content> content_;
};

}  // namespace vaultfs::client
