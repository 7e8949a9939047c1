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
  int max_connections = 1024;
  int idle_timeout_s = 300, slow_timeout_s = 60, drain_timeout_s = 30;
  app.add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--storage", storage, "directory holding the objects")->required();
  app.add_option("--secret", secret_file,
                 "data-token key file (mkcluster's data-secret, mode 0600; not the metadata "
                 "nodes' server-secret)")
      ->required();
  app.add_option("--config", config, "cluster.json (checked and logged; informational)");
  app.add_option("--port-file", port_file, "write the bound port here once listening");
  app.add_option("--max-connections", max_connections, "concurrent client connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--quota", quota, "max bytes of stored objects, K/M/G/T suffix; 0 = none")
      ->capture_default_str();
  app.add_option("--reserve", reserve,
                 "free space uploads must leave on the storage filesystem, K/M/G/T suffix; "
                 "auto = 5% of it, within [256M, 4G]; 0 = none")
      ->capture_default_str();
  app.add_option("--max-object-size", max_object, "largest accepted upload")->capture_default_str();
  app.add_option("--idle-timeout", idle_timeout_s, "seconds an idle connection may stay open")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  app.add_option("--slow-timeout", slow_timeout_s,
                 "seconds without progress before a half-sent request or unread reply is cut")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
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
  opt.max_connections = max_connections;
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
  opt.idle_timeout = std::chrono::seconds(idle_timeout_s);
  opt.slow_timeout = std::chrono::seconds(slow_timeout_s);
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
