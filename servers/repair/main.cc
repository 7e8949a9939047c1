// vaultfs-repair: the cluster's self-healing worker (see repair_daemon.h and
// man/vaultfs-repair.8). Needs cluster.json and the cluster token key (cluster-secret); no
// user's key and not the metadata nodes' server secret.
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include "servers/repair/repair_daemon.h"
#include "src/common/log.h"
#include "src/common/private_files.h"
#include "src/common/tls_cli.h"

namespace {

using namespace vaultfs;

repair::RepairDaemon* g_daemon = nullptr;

// Signals only set flags; a helper thread turns them into Stop()/RequestScrub().
sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  return set;
}

int Fail(const Status& st) {
  VFS_LOG(kError) << st.ToString();
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // The status file names servers and files under repair: for this cluster's owner only.
  umask(kPrivateUmask);
  CLI::App app{
      "vaultfs-repair: rebuilds lost and corrupt shards, scrubs, and collects garbage for a "
      "vaultfs cluster (no user key needed). SIGUSR1 starts a scrub pass now, SIGUSR2 a "
      "stray sweep."};
  std::string config_path, secret_file, log_level = "info";
  repair::RepairOptions o;
  int interval = 10, lost_after = 600, pending_grace = 3600;
  int gc_grace = static_cast<int>(cluster::kDefaultGcGrace.count());
  int scrub_interval = 86400, stray_interval = 86400, stray_grace = 86400;
  double rate_mb = 64;
  bool once = false, scrub_now = false, sweep_now = false;
  uint64_t drain = 0, drained = 0;
  app.add_option("--cluster", config_path, "cluster.json")->required();
  app.add_option("--secret", secret_file,
                 "cluster token key file (mkcluster's cluster-secret, mode 0600; not the "
                 "metadata nodes' server-secret)")
      ->required();
  app.add_option("--interval", interval, "seconds between passes")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  app.add_option("--lost-after", lost_after,
                 "seconds a data server may be down before its shards are rebuilt elsewhere")
      ->capture_default_str()
      ->check(CLI::Range(1, 365 * 86400));
  app.add_option("--gc-grace", gc_grace,
                 "seconds replaced and deleted versions stay readable before their shards go")
      ->capture_default_str()
      ->check(CLI::Range(0, 365 * 86400));
  app.add_option("--pending-grace", pending_grace,
                 "seconds before an upload that was never committed is collected")
      ->capture_default_str()
      ->check(CLI::Range(0, 365 * 86400));
  app.add_option("--scrub-interval", scrub_interval, "seconds between scrub passes (0: on demand)")
      ->capture_default_str()
      ->check(CLI::Range(0, 365 * 86400));
  app.add_option("--stray-interval", stray_interval,
                 "seconds between stray sweeps (0: on demand, SIGUSR2 or --sweep-now)")
      ->capture_default_str()
      ->check(CLI::Range(0, 365 * 86400));
  app.add_option("--stray-grace", stray_grace,
                 "seconds an object no metadata references must age before the stray sweep "
                 "deletes it; keep it above the longest upload or rebuild")
      ->capture_default_str()
      ->check(CLI::Range(0, 365 * 86400));
  app.add_option("--rate", rate_mb, "repair bandwidth limit in MiB/s (0: unlimited)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--status-file", o.status_file, "write progress as JSON here after each pass");
  app.add_flag("--once", once, "run one pass and exit (non-zero if it failed)");
  app.add_flag("--scrub-now", scrub_now, "scrub in the first pass");
  app.add_flag("--sweep-now", sweep_now, "sweep strays in the first pass");
  app.add_option("--drain", drain,
                 "mark data server ID draining (its shards move elsewhere) and exit")
      ->excludes("--once");
  app.add_option("--drained", drained,
                 "exit 0 if no file has a shard on data server ID any more, 1 if some do")
      ->excludes("--once");
  app.add_option("--log-level", log_level, "debug, info, warn or error")->capture_default_str();
  tls::TlsOptions tls_opt;
  tls::AddTlsOptions(app, &tls_opt);
  CLI11_PARSE(app, argc, argv);

  SetLogProgramName("vaultfs-repair");
  auto level = ParseLogLevel(log_level);
  if (!level.ok()) return Fail(level.status());
  SetLogLevel(*level);
  signal(SIGPIPE, SIG_IGN);

  auto cfg = LoadClusterConfig(config_path);
  if (!cfg.ok()) return Fail(cfg.status());
  auto secret = LoadServerSecret(secret_file);
  if (!secret.ok()) return Fail(secret.status());
  o.config = *cfg;
  o.secret = *secret;
  // The repairer is a server: it presents its node certificate to data servers and checks
  // every server against the cluster CA.
  auto identity = tls::LoadServerIdentity(tls_opt);
  if (!identity.ok()) return Fail(identity.status());
  if (identity->has_value() != !cfg->insecure) {
    return Fail(InvalidArgument(cfg->insecure
                                    ? "cluster.json says \"insecure\": start with --insecure"
                                    : "cluster.json has a CA: give --tls-ca/--tls-cert/--tls-key"));
  }
  auto ctx = tls::ClientContext(*cfg, *identity);
  if (!ctx.ok()) return Fail(ctx.status().Annotate("TLS"));
  o.tls = *ctx;
  o.interval = std::chrono::seconds(interval);
  o.lost_after = std::chrono::seconds(lost_after);
  o.gc_grace = std::chrono::seconds(gc_grace);
  o.pending_grace = std::chrono::seconds(pending_grace);
  o.scrub_interval = std::chrono::seconds(scrub_interval);
  o.stray_interval = std::chrono::seconds(stray_interval);
  o.stray_grace = std::chrono::seconds(stray_grace);
  o.rate_bytes_per_s = static_cast<uint64_t>(rate_mb * (1 << 20));

  // Block the signals in every thread; one thread waits for them.
  sigset_t set = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  repair::RepairDaemon daemon(std::move(o));
  g_daemon = &daemon;
  if (drain != 0) {
    Status st = daemon.Drain(drain);
    if (!st.ok()) return Fail(st.Annotate("drain data server " + std::to_string(drain)));
    std::printf(
        "data server %llu is draining: the repairer copies its shards to other servers "
        "(progress: tools/mkcluster status)\n",
        static_cast<unsigned long long>(drain));
    return 0;
  }
  if (drained != 0) {
    auto done = daemon.Drained(drained);
    if (!done.ok()) return Fail(done.status());
    std::printf("data server %llu %s\n", static_cast<unsigned long long>(drained),
                *done ? "holds no shard any more: it can be removed"
                      : "still holds shards; wait for the drain to finish");
    return *done ? 0 : 1;
  }
  if (once) {
    Status st = daemon.RunPass(scrub_now, sweep_now);
    return st.ok() ? 0 : Fail(st);
  }
  std::thread waiter([&set] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGUSR1) {
        g_daemon->RequestScrub();
        continue;
      }
      if (sig == SIGUSR2) {
        g_daemon->RequestSweep();
        continue;
      }
      g_daemon->Stop();
      return;
    }
  });
  if (scrub_now) daemon.RequestScrub();
  if (sweep_now) daemon.RequestSweep();
  daemon.Run();  // returns once the waiter saw SIGTERM or SIGINT
  waiter.join();
  return 0;
}
