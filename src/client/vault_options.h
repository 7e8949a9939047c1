// VaultOptions: how a Vault reaches the cluster and derives keys — the knobs the CLI, the FUSE
// daemon, the web gateway and the tests set once, shared read-only by the vault's modules
// (accounts, tree, content).
#pragma once

#include <chrono>

#include "src/cluster/data_client.h"
#include "src/cluster/meta_client.h"
#include "src/cluster/object_reader.h"
#include "src/cluster/server_health.h"
#include "src/cluster/shard_transport.h"
#include "src/crypto/password_kdf.h"
#include "src/erasure/codec.h"

namespace vaultfs::client {

// Client-side defaults: a dead data server costs one 1 s connect timeout, after which the
// health view skips it; a server that stops answering mid-transfer is given up after 10 s
// without progress (reads hedge to parity long before that).
inline cluster::DataClientOptions DefaultVaultDataOptions() {
  cluster::DataClientOptions o;
  o.connect_timeout = std::chrono::milliseconds(1000);
  o.request_timeout = std::chrono::milliseconds(10000);
  return o;
}

struct VaultOptions {
  crypto::KdfParams kdf;         // used when registering or changing the password
  crypto::KdfLimits kdf_limits;  // what this client accepts from the server
  cluster::DataClientOptions data = DefaultVaultDataOptions();
  cluster::ReaderOptions read;
  MetaClientOptions meta;
  cluster::ServerHealth::Options health;
  erasure::Engine engine = erasure::Engine::kDefault;
  // How often a large write renews its pending version while its shards upload, so the
  // repairer (--pending-grace, an hour by default) never expires a slow upload.
  std::chrono::milliseconds pending_renew_interval = std::chrono::minutes(5);
  // Where shards go and come from; not owned. Null: the data servers, through a DataClient of
  // the vault's own. Tests pass a transport that injects faults or keeps shards in memory
  // (tests/cluster).
  cluster::ShardTransport* transport = nullptr;
};

}  // namespace vaultfs::client
