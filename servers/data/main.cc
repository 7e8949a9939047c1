// vaultfs-data: the data server binary. Parses options (see man/vaultfs-data.8), loads the
// data-token key (data-secret: only what verifies data tokens), and runs a DataServer until SIGTERM
// drains it.
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "servers/data/data_server.h"
#include "src/common/cluster_config.h"
#include "src/common/connection.h"
#include "src/common/log.h"
#include "src/common/private_files.h"
#include "src/common/tls_cli.h"

namespace {

using namespace vaultfs;

// "HOST:PORT", where PORT may be 0 (pick a free port; see --port-file).
Result<HostPort> ParseListen(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon != std::string::npos && text.substr(colon + 1) == "0") {
    std::string host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (host.empty()) return InvalidArgument("--listen: empty host in '" + text + "'");
    return HostPort{host, 0};
  }
  return ParseHostPort(text);
}

// Bytes with an optional K/M/G/T suffix (powers of 1024).
Result<uint64_t> ParseBytes(const std::string& text) {
  if (text.empty()) return InvalidArgument("empty size");
  size_t pos = 0;
  uint64_t v = 0;
  try {
    v = std::stoull(text, &pos);
  } catch (const std::exception&) {
    return InvalidArgument("bad size '" + text + "'");
  }
  std::string suffix = text.substr(pos);
  int shift = 0;
  if (suffix == "K" || suffix == "KiB")
    shift = 10;
  else if (suffix == "M" || suffix == "MiB")
    shift = 20;
  else if (suffix == "G" || suffix == "GiB")
    shift = 30;
  else if (suffix == "T" || suffix == "TiB")
    shift = 40;
  else if (!suffix.empty())
    return InvalidArgument("bad size suffix in '" + text + "'");
  if (shift > 0 && v > (UINT64_MAX >> shift)) return InvalidArgument("size too large");
  return v << shift;
}

int Fail(const Status& st) {
  VFS_LOG(kError) << st.ToString();
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Objects, their folders and the storage id are for this server alone.
  umask(kPrivateUmask);
  CLI::App app{"vaultfs-data: stores opaque shard objects for a vaultfs cluster"};
  std::string listen = "127.0.0.1:7200", storage, secret_file, config, port_file;
  std::string quota = "0", reserve = "auto", max_object = "4G", log_level = "info";
  int drain_timeout_s = 30;
  // The client port's bounds, under the metadata server's flag names (issue 20, item 2).
  ConnectionLimits client_limits = data::DataServerOptions().conn_limits;
  ListenerLimits client_caps;
  unsigned idle_s = 120, idle_ms = 0, handshake_s = 10, max_queued_kib = 1024, slow_s = 0;
  app.add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--storage", storage, "directory holding the objects")->required();
  app.add_option("--secret", secret_file,
                 "data-token key file (mkcluster's data-secret, mode 0600; not the metadata "
                 "nodes' server-secret)")
      ->required();
  app.add_option("--config", config, "cluster.json (checked and logged; informational)");
  app.add_option("--port-file", port_file, "write the bound port here once listening");
  app.add_option("--max-client-connections,--max-connections", client_caps.max_connections,
                 "open client connections in all; more are refused")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  app.add_option("--max-connections-per-address", client_caps.max_per_address,
                 "open client connections from one IP address; more are refused")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  app.add_option("--quota", quota, "max bytes of stored objects, K/M/G/T suffix; 0 = none")
      ->capture_default_str();
  app.add_option("--reserve", reserve,
                 "free space uploads must leave on the storage filesystem, K/M/G/T suffix; "
                 "auto = 5% of it, within [256M, 4G]; 0 = none")
      ->capture_default_str();
  app.add_option("--max-object-size", max_object, "largest accepted upload")->capture_default_str();
  app.add_option("--client-idle-timeout,--idle-timeout", idle_s,
                 "seconds a client connection may stay silent (nothing received, no reply "
                 "taken, no disk work for it) before it is closed")
      ->capture_default_str()
      ->check(CLI::Range(1u, 86400u));
  app.add_option("--client-idle-timeout-ms", idle_ms, "the same in milliseconds (tests)")
      ->check(CLI::Range(50u, 86400000u));
  // A half-sent request or an unread reply is a silent connection now: --client-idle-timeout
  // covers it. Still accepted so old command lines start.
  app.add_option("--slow-timeout", slow_s, "obsolete: --client-idle-timeout covers it")
      ->check(CLI::Range(1u, 86400u))
      ->group("");
  app.add_option("--tls-handshake-timeout", handshake_s,
                 "seconds a client has to complete the TLS handshake")
      ->capture_default_str()
      ->check(CLI::Range(1u, 600u));
  app.add_option("--max-queued-replies-kib", max_queued_kib,
                 "KiB of replies and download data queued for a client that is not reading "
                 "them before its requests are no longer read and its download waits")
      ->capture_default_str()
      ->check(CLI::Range(64u, 1048576u));
  app.add_option("--drain-timeout", drain_timeout_s, "seconds SIGTERM waits for requests")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  app.add_option("--log-level", log_level, "debug, info, warn or error")->capture_default_str();
  tls::TlsOptions tls_opt;
  tls::AddTlsOptions(app, &tls_opt);
  CLI11_PARSE(app, argc, argv);

  SetLogProgramName("vaultfs-data");
  auto level = ParseLogLevel(log_level);
  if (!level.ok()) return Fail(level.status());
  SetLogLevel(*level);
  // Thread-pool size for disk work; must be set before libuv first uses the pool. Commit jobs
  // spend most of their time asleep in fsync, so the pool is large enough that the writes
  // and reads of other requests rarely queue behind them.
  setenv("UV_THREADPOOL_SIZE", "32", /*overwrite=*/0);
  signal(SIGPIPE, SIG_IGN);

  data::DataServerOptions opt;
  auto addr = ParseListen(listen);
  if (!addr.ok()) return Fail(addr.status().Annotate("--listen"));
  opt.listen = *addr;
  opt.storage = storage;
  Status private_dir = EnsurePrivateDir(storage, "--storage");
  if (!private_dir.ok()) return Fail(private_dir);
  opt.port_file = port_file;
  client_limits.idle_timeout = idle_ms != 0 ? std::chrono::milliseconds(idle_ms)
                                            : std::chrono::milliseconds(idle_s * 1000ull);
  client_limits.handshake_timeout = std::chrono::seconds(handshake_s);
  client_limits.high_water = size_t{max_queued_kib} << 10;
  client_limits.low_water = client_limits.high_water / 4;
  opt.conn_limits = client_limits;
  opt.caps = client_caps;
  if (slow_s != 0) {
    VFS_LOG(kWarn) << "--slow-timeout is obsolete and ignored: --client-idle-timeout ("
                   << client_limits.idle_timeout.count() << " ms) ends slow clients too";
  }
  auto q = ParseBytes(quota);
  if (!q.ok()) return Fail(q.status().Annotate("--quota"));
  opt.quota_bytes = *q;
  if (reserve != "auto") {
    auto r = ParseBytes(reserve);
    if (!r.ok()) return Fail(r.status().Annotate("--reserve"));
    if (*r > static_cast<uint64_t>(INT64_MAX)) return Fail(InvalidArgument("--reserve: too large"));
    opt.reserve_bytes = static_cast<int64_t>(*r);
  }
  auto mo = ParseBytes(max_object);
  if (!mo.ok()) return Fail(mo.status().Annotate("--max-object-size"));
  opt.limits.max_payload = *mo;
  opt.drain_timeout = std::chrono::seconds(drain_timeout_s);
  auto secret = LoadServerSecret(secret_file);
  if (!secret.ok()) return Fail(secret.status());
  opt.secret = *secret;
  if (!config.empty()) {
    auto cfg = LoadClusterConfig(config);
    if (!cfg.ok()) return Fail(cfg.status());
    VFS_LOG(kInfo) << "cluster " << cfg->cluster_id << ": " << cfg->data.size()
                   << " data servers, k=" << cfg->k << " m=" << cfg->m;
  }

  auto identity = tls::LoadServerIdentity(tls_opt);
  if (!identity.ok()) return Fail(identity.status());
  if (identity->has_value()) {
    // Clients present no certificate; a repairer presents its node certificate.
    auto ctx = tls::TlsContext::Server(**identity, tls::ClientCerts::kOptional);
    if (!ctx.ok()) return Fail(ctx.status().Annotate("TLS"));
    opt.tls = std::move(ctx).value();
  }

  data::DataServer server(std::move(opt));
  Status st = server.Run();
  if (!st.ok()) return Fail(st);
  return 0;
}
