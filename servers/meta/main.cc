// vaultfs-meta: one metadata node. A node is one libuv loop running libraft (replication
// traffic), the client listener and the SQLite state machine; see man/vaultfs-meta.8.
// Clients reach it over TLS 1.3 and peers over mutual TLS (--tls-*), or everything runs over
// plain TCP behind an explicit --insecure.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "servers/meta/client_listener.h"
#include "servers/meta/meta_service.h"
#include "servers/meta/meta_store.h"
#include "servers/meta/raft_replicator.h"
#include "src/common/cluster_config.h"
#include "src/common/log.h"
#include "src/common/socket.h"
#include "src/common/tls_cli.h"

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
  CLI::App app{"vaultfs-meta: vaultfs metadata node (SQLite replicated with Raft)"};
  uint64_t id = 1;
  std::string listen, raft_listen, data_dir, config_path, secret_path, port_file;
  std::string log_level = "info";
  bool single = false;
  int64_t default_quota = 0;
  unsigned election_ms = 1000, heartbeat_ms = 100;
  unsigned snapshot_threshold = 2048, snapshot_trailing = 1024;
  app.add_option("--id", id, "this node's id (its entry in cluster.json's \"meta\" array)");
  app.add_option("--listen", listen, "client address HOST:PORT (default: from cluster.json)");
  app.add_option("--raft-listen", raft_listen,
                 "replication address HOST:PORT, IPv4 (default: from cluster.json)");
  app.add_option("--data-dir", data_dir, "directory for the database and the raft log")->required();
  app.add_option("--config", config_path, "cluster.json (meta peers, data servers, k, m)");
  app.add_option("--secret", secret_path, "server-only token secret file (mode 0600)")->required();
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
  app.add_option("--log-level", log_level, "debug, info, warn or error");
  app.add_option("--default-quota", default_quota,
                 "bytes of file content each user may store unless set_quota says otherwise "
                 "(default 0: no limit)");
  tls::TlsOptions tls_opts;
  tls::AddTlsOptions(app, &tls_opts);
  app.footer(
      "Transport security: give --tls-ca, --tls-cert and --tls-key (the cluster CA and this "
      "node's certificate and key, e.g. from tools/mkcerts): clients then connect over TLS 1.3 "
      "and peers over mutual TLS (each presents its node certificate). --insecure runs plain "
      "TCP everywhere instead and is logged as a warning at every start. One of the two is "
      "required.");
  CLI11_PARSE(app, argc, argv);

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

  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Fail(IoError("cannot create " + data_dir + ": " + ec.message()));

  Node node;
  uv_loop_init(&node.loop);
  node.store = std::make_unique<MetaStore>(config.get());
  Status st = node.store->Open(data_dir + "/meta.db");
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
  // Half the election timeout: the margin covers scheduling delays between a follower's
  // timer and ours (see ServiceOptions::read_lease).
  sopts.read_lease = std::chrono::milliseconds(election_ms / 2);
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

  node.listener =
      std::make_unique<ClientListener>(&node.loop, node.service.get(), 4u << 20, client_tls);
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
                 << (client_tls ? ", TLS" : ", WITHOUT TLS");

  uv_run(&node.loop, UV_RUN_DEFAULT);
  // The loop ran dry: every handle is closed, so the loop's own memory can go too.
  int rc = uv_loop_close(&node.loop);
  if (rc != 0) VFS_LOG(kWarn) << "event loop closed with handles open: " << uv_strerror(rc);
  return 0;
}
