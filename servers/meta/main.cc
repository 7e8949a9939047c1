// vaultfs-meta: one metadata node. A node is one libuv loop running libraft (replication
// traffic), the client listener and the SQLite state machine; see man/vaultfs-meta.8.
// Clients reach it over TLS 1.3 and peers over mutual TLS (--tls-*), or everything runs over
// plain TCP behind an explicit --insecure.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <uv.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "servers/meta/client_listener.h"
#include "servers/meta/meta_service.h"
#include "servers/meta/meta_store.h"
#include "servers/meta/raft_replicator.h"
#include "src/common/cluster_config.h"
#include "src/common/format_marker.h"
#include "src/common/log.h"
#include "src/common/private_files.h"
#include "src/common/socket.h"
#include "src/common/tls_cli.h"
#include "src/crypto/token.h"

using namespace vaultfs;
using namespace vaultfs::meta;

namespace {

// "host:port" where port 0 (pick a free one) is allowed, unlike ParseHostPort.
Result<HostPort> ParseListenAddress(const std::string& text, const char* flag) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgument(std::string(flag) + " must be HOST:PORT, got '" + text + "'");
  }
  std::string port = text.substr(colon + 1);
  char* end = nullptr;
  unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p > 65535) {
    return InvalidArgument(std::string(flag) + ": bad port in '" + text + "'");
  }
  HostPort hp;
  hp.host = text.substr(0, colon);
  if (hp.host.size() > 2 && hp.host.front() == '[') hp.host = hp.host.substr(1, hp.host.size() - 2);
  hp.port = static_cast<uint16_t>(p);
  return hp;
}

// Bytes with an optional K/M/G/T suffix (powers of 1024).
Result<uint64_t> ParseSize(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 19) return InvalidArgument("bad size '" + text + "'");
  const uint64_t v = std::stoull(text.substr(0, digits));
  const std::string suffix = text.substr(digits);
  int shift = 0;
  if (suffix == "K" || suffix == "KiB") {
    shift = 10;
  } else if (suffix == "M" || suffix == "MiB") {
    shift = 20;
  } else if (suffix == "G" || suffix == "GiB") {
    shift = 30;
  } else if (suffix == "T" || suffix == "TiB") {
    shift = 40;
  } else if (!suffix.empty()) {
    return InvalidArgument("bad size suffix in '" + text + "'");
  }
  if (shift > 0 && v > (UINT64_MAX >> shift)) return InvalidArgument("size too large");
  return v << shift;
}

Status WritePortFile(const std::string& path, uint16_t port) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return IoError("cannot write " + tmp);
  std::fprintf(f, "%u\n", port);
  std::fclose(f);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return IoError("cannot rename " + tmp);
  return Status::Ok();
}

struct Node {
  uv_loop_t loop{};
  std::unique_ptr<MetaStore> store;
  std::unique_ptr<StoreStateMachine> sm;
  std::unique_ptr<RaftReplicator> repl;
  std::unique_ptr<MetaService> service;
  std::unique_ptr<ClientListener> listener;
  uv_signal_t sigterm{}, sigint{}, sighup{};
  ClusterConfig* config = nullptr;
  std::string config_path;
  bool stopping = false;
};

// SIGHUP re-reads cluster.json for its data-server list (tools/mkcluster add/remove data).
// Everything else must stay as it was: the group's members and the code (k, m) are fixed for
// a running cluster. Placement happens on the leader before proposing, so nodes that reload
// at slightly different times cannot diverge.
void ReloadDataServers(Node* n) {
  if (n->config_path.empty()) {
    VFS_LOG(kWarn) << "SIGHUP: no --config to reload";
    return;
  }
  auto c = LoadClusterConfig(n->config_path);
  if (!c.ok()) {
    VFS_LOG(kError) << "SIGHUP: keeping the old configuration: " << c.status().ToString();
    return;
  }
  bool same_meta = c->meta.size() == n->config->meta.size();
  for (size_t i = 0; same_meta && i < c->meta.size(); ++i) {
    same_meta = c->meta[i].id == n->config->meta[i].id;
  }
  if (!same_meta || c->k != n->config->k || c->m != n->config->m) {
    VFS_LOG(kError) << "SIGHUP: keeping the old configuration: only the data servers may "
                       "change while the cluster runs (meta nodes, k and m may not)";
    return;
  }
  n->config->data = c->data;
  VFS_LOG(kInfo) << "SIGHUP: " << n->config->data.size() << " data servers from " << n->config_path;
}

void Shutdown(Node* n) {
  if (n->stopping) return;
  n->stopping = true;
  VFS_LOG(kInfo) << "shutting down";
  uv_close(reinterpret_cast<uv_handle_t*>(&n->sigterm), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&n->sigint), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&n->sighup), nullptr);
  n->listener->Close([n] { n->repl->Close([] {}); });
}

int Fail(const Status& st) {
  VFS_LOG(kError) << st.ToString();
  std::fprintf(stderr, "vaultfs-meta: %s\n", st.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // The database holds password verifiers and wrapped keys: nothing we create is for others.
  umask(kPrivateUmask);
  CLI::App app{"vaultfs-meta: vaultfs metadata node (SQLite replicated with Raft)"};
  uint64_t id = 1;
  std::string listen, raft_listen, data_dir, config_path, secret_path, port_file;
  std::string log_level = "info", reserve = "auto", derive_key;
  bool single = false;
  int64_t default_quota = 0;
  int register_burst_per_address = 10, register_burst = 100;
  int64_t data_token_ttl_s = 20 * 60;
  unsigned election_ms = 1000, heartbeat_ms = 100;
  unsigned snapshot_threshold = 2048, snapshot_trailing = 1024;
  app.add_option("--id", id, "this node's id (its entry in cluster.json's \"meta\" array)");
  app.add_option("--listen", listen, "client address HOST:PORT (default: from cluster.json)");
  app.add_option("--raft-listen", raft_listen,
                 "replication address HOST:PORT, IPv4 (default: from cluster.json)");
  app.add_option("--data-dir", data_dir,
                 "directory for the database and the raft log (required to run a node)");
  app.add_option("--config", config_path, "cluster.json (meta peers, data servers, k, m)");
  app.add_option("--secret", secret_path, "server-only token secret file (mode 0600)")->required();
  app.add_option("--derive-key", derive_key,
                 "print the token key of AUDIENCE derived from --secret and exit: \"data\" "
                 "(the data servers' data-secret) or \"cluster\" (the repairer's "
                 "cluster-secret)");
  app.add_flag("--single", single, "run as a group of one (no peers)");
  app.add_option("--port-file", port_file, "write the bound client port here once listening");
  app.add_option("--election-timeout-ms", election_ms, "raft election timeout")
      ->check(CLI::Range(50u, 60000u));
  app.add_option("--heartbeat-timeout-ms", heartbeat_ms, "raft heartbeat interval")
      ->check(CLI::Range(10u, 10000u));
  app.add_option("--snapshot-threshold", snapshot_threshold,
                 "log entries between database snapshots (at least; a large database is "
                 "snapshotted less often)")
      ->check(CLI::Range(4u, 1000000u));
  app.add_option("--snapshot-trailing", snapshot_trailing,
                 "log entries kept after a snapshot for lagging followers")
      ->check(CLI::Range(1u, 1000000u));
  app.add_option("--reserve", reserve,
                 "free space to keep on the data dir's filesystem: below it, writes that add "
                 "data answer ENOSPC (deletes go on); K/M/G/T suffix; auto = 1% of it, within "
                 "[64M, 1G]; 0 = none")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "debug, info, warn or error");
  // Bounds of the client port (issue 20: a flood of pipelined requests, silent connections).
  ConnectionLimits client_limits;
  ListenerLimits client_caps;
  unsigned idle_s = 120, idle_ms = 0, handshake_s = 10, max_queued_kib = 4096;
  app.add_option("--client-idle-timeout", idle_s,
                 "seconds a client connection may stay silent (nothing received, no reply "
                 "taken) before it is closed")
      ->check(CLI::Range(1u, 86400u));
  app.add_option("--client-idle-timeout-ms", idle_ms, "the same in milliseconds (tests)")
      ->check(CLI::Range(50u, 86400000u));
  app.add_option("--tls-handshake-timeout", handshake_s,
                 "seconds a client has to complete the TLS handshake (a raft peer: the "
                 "handshake and its identity preamble)")
      ->check(CLI::Range(1u, 600u));
  app.add_option("--max-client-connections", client_caps.max_connections,
                 "open client connections in all; more are refused")
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  app.add_option("--max-connections-per-address", client_caps.max_per_address,
                 "open client connections from one IP address; more are refused")
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  app.add_option("--max-queued-replies-kib", max_queued_kib,
                 "KiB of replies queued for a client that is not reading them before its "
                 "requests are no longer read")
      ->check(CLI::Range(64u, 1048576u));
  // Bounds of the raft port (issue 20); with TLS only, libraft's plain TCP transport has none.
  unsigned raft_idle_s = 60;
  size_t max_raft_conns = 64, max_raft_per_address = 16;
  app.add_option("--raft-idle-timeout", raft_idle_s,
                 "seconds a raft link may carry nothing before it is closed (the leader's "
                 "heartbeats keep a used link busy; at least 10 heartbeat intervals)")
      ->check(CLI::Range(1u, 86400u));
  app.add_option("--max-raft-connections", max_raft_conns,
                 "incoming raft connections in all, the configured peers' addresses "
                 "not counted against it; more are refused")
      ->check(CLI::Range(size_t{2}, size_t{100000}));
  app.add_option("--max-raft-connections-per-address", max_raft_per_address,
                 "incoming raft connections from one IP address; more are refused")
      ->check(CLI::Range(size_t{2}, size_t{100000}));
  app.add_option("--default-quota", default_quota,
                 "bytes of file content each user may store unless set_quota says otherwise "
                 "(default 0: no limit)");
  app.add_option("--register-burst-per-address", register_burst_per_address,
                 "new accounts one client address may register at once; past that many within "
                 "a quarter hour each further one waits a delay that doubles up to a minute "
                 "(default 10; 0: no limit)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--register-burst", register_burst,
                 "the same limit for all addresses together (default 100; 0: no limit)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--data-token-ttl-s", data_token_ttl_s,
                 "lifetime of data-server tokens in seconds (default 1200; lower it only to "
                 "test renewal)")
      ->check(CLI::Range(int64_t{1}, int64_t{24 * 3600}));
  tls::TlsOptions tls_opts;
  tls::AddTlsOptions(app, &tls_opts);
  app.footer(
      "Transport security: give --tls-ca, --tls-cert and --tls-key (the cluster CA and this "
      "node's certificate and key, e.g. from tools/mkcerts): clients then connect over TLS 1.3 "
      "and peers over mutual TLS (each presents its node certificate). --insecure runs plain "
      "TCP everywhere instead and is logged as a warning at every start. One of the two is "
      "required.");
  CLI11_PARSE(app, argc, argv);
  client_limits.idle_timeout = idle_ms != 0 ? std::chrono::milliseconds(idle_ms)
                                            : std::chrono::milliseconds(idle_s * 1000ull);
  client_limits.handshake_timeout = std::chrono::seconds(handshake_s);
  client_limits.high_water = size_t{max_queued_kib} << 10;
  client_limits.low_water = client_limits.high_water / 4;
  if (uint64_t{raft_idle_s} * 1000 < uint64_t{heartbeat_ms} * 10) {
    std::fprintf(stderr,
                 "vaultfs-meta: --raft-idle-timeout must be at least 10 heartbeat intervals "
                 "(%u ms), or idle links between healthy peers would be cut\n",
                 heartbeat_ms * 10);
    return 2;
  }

  if (!derive_key.empty()) {
    // The one way to make the narrower key files: a data server or repairer gets the key of
    // its audience, never the secret every key comes from.
    if (derive_key != "data" && derive_key != "cluster") {
      std::fprintf(stderr, "vaultfs-meta: --derive-key takes \"data\" or \"cluster\"\n");
      return 2;
    }
    auto secret = LoadServerSecret(secret_path);
    if (!secret.ok()) return Fail(secret.status());
    auto key = crypto::TokenKey(*secret, derive_key);
    if (!key.ok()) return Fail(key.status());
    std::printf("%s\n", key->c_str());
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  if (data_dir.empty()) {
    std::fprintf(stderr, "vaultfs-meta: --data-dir is required\n");
    return 2;
  }

  // A peer or client that vanishes mid-write must cost an error, not the process.
  ::signal(SIGPIPE, SIG_IGN);
  SetLogProgramName("vaultfs-meta");
  auto level = ParseLogLevel(log_level);
  if (!level.ok()) return Fail(level.status());
  SetLogLevel(*level);

  // TLS first: a node started without a transport choice refuses before touching anything.
  auto identity = tls::LoadServerIdentity(tls_opts);
  if (!identity.ok()) return Fail(identity.status());
  std::shared_ptr<tls::TlsContext> client_tls, raft_server_tls, raft_client_tls;
  if (identity->has_value()) {
    // Clients present no certificate; a repairer presents its node certificate, checked then.
    auto c = tls::TlsContext::Server(**identity, tls::ClientCerts::kOptional);
    if (!c.ok()) return Fail(c.status().Annotate("client TLS"));
    client_tls = std::move(*c);
    // Peers must prove they hold a node certificate of this cluster, both ways.
    auto rs = tls::TlsContext::Server(**identity, tls::ClientCerts::kRequired);
    if (!rs.ok()) return Fail(rs.status().Annotate("raft TLS"));
    raft_server_tls = std::move(*rs);
    auto rc = tls::TlsContext::Client(**identity);
    if (!rc.ok()) return Fail(rc.status().Annotate("raft TLS"));
    raft_client_tls = std::move(*rc);
  }

  auto secret = LoadServerSecret(secret_path);
  if (!secret.ok()) return Fail(secret.status());

  auto config = std::make_unique<ClusterConfig>();
  if (!config_path.empty()) {
    auto c = LoadClusterConfig(config_path);
    if (!c.ok()) return Fail(c.status());
    *config = std::move(*c);
  } else if (!single) {
    return Fail(InvalidArgument("--config is required unless --single is given"));
  }
  const MetaNodeConfig* self = config->FindMeta(id);
  if (self == nullptr && !single) {
    return Fail(InvalidArgument("node id " + std::to_string(id) + " is not in " + config_path +
                                "'s \"meta\" array"));
  }
  if (listen.empty()) {
    if (!self) return Fail(InvalidArgument("--listen is required"));
    listen = self->address.ToString();
  }
  if (raft_listen.empty()) {
    if (!self) return Fail(InvalidArgument("--raft-listen is required"));
    raft_listen = self->raft_address.ToString();
  }
  auto listen_addr = ParseListenAddress(listen, "--listen");
  if (!listen_addr.ok()) return Fail(listen_addr.status());
  auto raft_addr = ParseHostPort(raft_listen);
  if (!raft_addr.ok()) return Fail(raft_addr.status().Annotate("--raft-listen"));
  // Busy ports are the usual start-up failure: find out before the loop and raft exist, so
  // the node exits with a clear message and nothing half-built (libraft's own bind error
  // has an empty message).
  for (const auto& [addr, what] :
       {std::pair{*raft_addr, "raft traffic"}, std::pair{*listen_addr, "clients"}}) {
    if (addr.port == 0) continue;
    auto probe = ListenTcp(addr);
    if (!probe.ok() && probe.status().code() == EADDRINUSE) {
      return Fail(Status(EADDRINUSE, std::string("cannot listen for ") + what + " on " +
                                         addr.ToString() +
                                         ": address already in use (is "
                                         "another server using this port?)"));
    }
  }

  RaftOptions ropts;
  ropts.id = id;
  ropts.raft_address = raft_addr->ToString();
  ropts.dir = data_dir + "/raft";
  ropts.election_timeout_ms = election_ms;
  ropts.heartbeat_timeout_ms = heartbeat_ms;
  ropts.snapshot_threshold = snapshot_threshold;
  ropts.snapshot_trailing = snapshot_trailing;
  ropts.tls_server = raft_server_tls;
  ropts.tls_client = raft_client_tls;
  ropts.handshake_timeout = std::chrono::seconds(handshake_s);
  ropts.idle_timeout = std::chrono::seconds(raft_idle_s);
  ropts.max_connections = max_raft_conns;
  ropts.max_per_address = max_raft_per_address;
  if (single) {
    ropts.peers.push_back({id, ropts.raft_address});
    if (self == nullptr) {  // a group of one needs no cluster.json entry for itself
      MetaNodeConfig m;
      m.id = id;
      m.address = *listen_addr;
      m.raft_address = *raft_addr;
      config->meta.push_back(m);
    }
  } else {
    for (const MetaNodeConfig& m : config->meta) {
      ropts.peers.push_back({m.id, m.raft_address.ToString()});
    }
  }

  Status st = EnsurePrivateDir(data_dir, "--data-dir");
  if (st.ok()) {
    st = CheckOrCreateFormat(data_dir, {"metadata-store", kMetaStoreFormat, {"meta.db", "raft"}},
                             "--data-dir " + data_dir);
  }
  if (!st.ok()) return Fail(st);

  uint64_t reserve_bytes = 0;
  if (reserve == "auto") {
    struct statvfs sv {};
    if (statvfs(data_dir.c_str(), &sv) != 0) {
      return Fail(Status(errno, "statvfs " + data_dir + ": " + std::strerror(errno)));
    }
    reserve_bytes = DefaultMetaReserve(static_cast<uint64_t>(sv.f_blocks) * sv.f_frsize);
  } else {
    auto r = ParseSize(reserve);
    if (!r.ok()) return Fail(r.status().Annotate("--reserve"));
    reserve_bytes = *r;
  }

  Node node;
  uv_loop_init(&node.loop);
  node.store = std::make_unique<MetaStore>(config.get());
  st = node.store->Open(data_dir + "/meta.db");
  if (!st.ok()) return Fail(st);
  node.sm = std::make_unique<StoreStateMachine>(node.store.get());
  auto repl = RaftReplicator::Start(&node.loop, ropts, node.sm.get());
  if (!repl.ok()) return Fail(repl.status());
  node.repl = std::move(*repl);

  ServiceOptions sopts;
  sopts.node_id = id;
  sopts.config = config.get();
  sopts.secret = *secret;
  sopts.default_quota = default_quota;
  sopts.register_burst_per_address = register_burst_per_address;
  sopts.register_burst = register_burst;
  sopts.data_token_ttl_s = data_token_ttl_s;
  // Half the election timeout: the margin covers scheduling delays between a follower's
  // timer and ours (see ServiceOptions::read_lease).
  sopts.read_lease = std::chrono::milliseconds(election_ms / 2);
  sopts.data_dir = data_dir;
  sopts.reserve_bytes = reserve_bytes;
  node.service = std::make_unique<MetaService>(sopts, node.store.get(), node.repl.get());
  // Signals first, so a supervisor that reacts to the port file can already stop us cleanly.
  uv_signal_init(&node.loop, &node.sigterm);
  uv_signal_init(&node.loop, &node.sigint);
  node.sigterm.data = &node;
  node.sigint.data = &node;
  auto on_signal = [](uv_signal_t* h, int) { Shutdown(static_cast<Node*>(h->data)); };
  uv_signal_start(&node.sigterm, on_signal, SIGTERM);
  uv_signal_start(&node.sigint, on_signal, SIGINT);
  node.config = config.get();
  node.config_path = config_path;
  uv_signal_init(&node.loop, &node.sighup);
  node.sighup.data = &node;
  uv_signal_start(
      &node.sighup, [](uv_signal_t* h, int) { ReloadDataServers(static_cast<Node*>(h->data)); },
      SIGHUP);

  node.listener = std::make_unique<ClientListener>(&node.loop, node.service.get(), 4u << 20,
                                                   client_tls, client_limits, client_caps);
  auto port = node.listener->Listen(*listen_addr);
  if (!port.ok()) return Fail(port.status());
  if (single && self == nullptr) config->meta.back().address.port = *port;  // for node_info
  if (!port_file.empty()) {
    st = WritePortFile(port_file, *port);
    if (!st.ok()) return Fail(st);
  }
  VFS_LOG(kInfo) << "node " << id << " (database at index " << node.store->last_applied()
                 << ") serving clients on " << listen_addr->host << ":" << *port << ", raft on "
                 << ropts.raft_address << (single ? " (single)" : "")
                 << (client_tls ? ", TLS" : ", WITHOUT TLS") << "; writes keep " << reserve_bytes
                 << " bytes free on " << data_dir << " (--reserve)";

  uv_run(&node.loop, UV_RUN_DEFAULT);
  // The loop ran dry: every handle is closed, so the loop's own memory can go too.
  int rc = uv_loop_close(&node.loop);
  if (rc != 0) VFS_LOG(kWarn) << "event loop closed with handles open: " << uv_strerror(rc);
  return 0;
}
