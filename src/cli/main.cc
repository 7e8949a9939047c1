// vaultfs: the client command. Parses the command line (CLI11) and runs one subcommand from
// commands.h. Global options may come before or after the subcommand.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "src/cli/commands.h"
#include "src/common/log.h"

namespace {

int Run(int argc, char** argv) {
  using namespace vaultfs::cli;
  GlobalOptions g;
  g.cluster = DefaultClusterPath();
  g.user = DefaultUser();
  std::string log_level = "warn";

  CLI::App app{
      "vaultfs: an encrypted, erasure-coded distributed filesystem.\n"
      "Files are encrypted on this machine, cut into k+m shards and spread over the cluster's\n"
      "data servers. See `man vaultfs`."};
  app.set_version_flag("--version", std::string("vaultfs ") + VAULTFS_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options are accepted after the subcommand too
  app.add_option("--cluster", g.cluster,
                 "cluster.json to use (default: $VAULTFS_CLUSTER, then "
                 "~/.local/share/vaultfs/cluster/cluster.json)");
  app.add_option("--user,-u", g.user,
                 "vault user name (default: $VAULTFS_USER, then $USER, then your login name)");
  app.add_option("--password-file", g.password.file,
                 "read the password from this file's first line (else $VAULTFS_PASSWORD, else "
                 "a prompt)");
  app.add_flag("--quiet,-q", g.quiet, "no progress bars or notices");
  app.add_option("--log-level", log_level, "debug, info, warn or error (default warn)");

  std::string user_arg, local, remote, from, to, path = "/";
  std::vector<std::string> paths;
  bool recursive = false, parents = false, long_format = false;
  StatusOptions so;

  auto* reg = app.add_subcommand("register", "create a vault user (asks for a password)");
  reg->add_option("USER", user_arg, "the new user's name")->required();
  auto* passwd = app.add_subcommand(
      "passwd", "change your password (new one from $VAULTFS_NEW_PASSWORD or a prompt)");
  auto* put = app.add_subcommand("put", "upload a local file (or a directory with -r)");
  put->add_option("LOCAL", local, "local file or directory")->required();
  put->add_option("REMOTE", remote, "vault path (default: /BASENAME; into it if a directory)");
  put->add_flag("-r,--recursive", recursive, "upload a directory tree");
  auto* get = app.add_subcommand("get", "download a file (or a directory with -r)");
  get->add_option("REMOTE", remote, "vault path")->required();
  get->add_option("LOCAL", local, "local path (default: ./BASENAME; '-' for stdout)");
  get->add_flag("-r,--recursive", recursive, "download a directory tree");
  auto* cat = app.add_subcommand("cat", "print files to stdout");
  cat->add_option("PATH", paths, "vault paths")->required();
  auto* ls = app.add_subcommand("ls", "list a directory");
  ls->add_option("PATH", path, "vault path (default: /)");
  ls->add_flag("-l", long_format, "long format: mode, links, size, modification time");
  auto* mkdir = app.add_subcommand("mkdir", "create directories");
  mkdir->add_option("PATH", paths, "vault paths")->required();
  mkdir->add_flag("-p,--parents", parents, "create missing parents; no error if it exists");
  auto* mv = app.add_subcommand("mv", "rename or move (atomic)");
  mv->add_option("FROM", from, "vault path")->required();
  mv->add_option("TO", to, "new vault path, or a directory to move into")->required();
  auto* rm = app.add_subcommand("rm", "remove files (directories with -r)");
  rm->add_option("PATH", paths, "vault paths")->required();
  rm->add_flag("-r,--recursive", recursive, "remove directories and their contents");
  auto* status = app.add_subcommand(
      "status",
      "servers up or down, free space, metadata leader, repair and scrub progress, your "
      "degraded files");
  status->add_flag("--json", so.json, "machine-readable output");
  status->add_flag("--servers-only", so.servers_only, "do not log in");
  status->add_flag("--wait-leader", so.wait_leader,
                   "exit 0 if the metadata group has a leader, 5 if not (for scripts)");
  status->add_flag("--leader-id", so.leader_id, "print the metadata leader's node id");

  bool scrub_wait = false;
  int scrub_timeout = 3600;
  auto* scrub = app.add_subcommand(
      "scrub", "ask the cluster's repairer to verify every shard now (bad ones are repaired)");
  scrub->add_flag("--wait", scrub_wait, "return once the scrub has finished, with its figures");
  scrub->add_option("--timeout", scrub_timeout, "seconds --wait waits (default 3600)");

  vaultfs::fuse::MountOptions mo;
  std::string mountpoint;
  int umount_wait = 120;
  auto* mount = app.add_subcommand(
      "mount", "mount your vault as a directory (returns once it is live; see man vaultfs)");
  mount->add_option("MOUNTPOINT", mo.mountpoint, "an existing, empty directory")->required();
  mount->add_option("--cache-dir", mo.cache_dir,
                    "staging files and the daemon's log (default ~/.cache/vaultfs/USER)");
  mount->add_option("--pid-file", mo.pid_file, "write the daemon's pid here");
  mount->add_flag("-f,--foreground", mo.foreground, "stay in the foreground, log to stderr");
  mount->add_flag("-d,--debug", mo.debug, "trace every FUSE request (with --foreground)");
  mount
      ->add_option("-o", mo.fuse_opts,
                   "mount options, e.g. allow_other (root: a multi-user filesystem), ro")
      ->delimiter(',');
  mount->add_option("--attr-timeout", mo.attr_timeout,
                    "seconds the kernel may cache names and attributes (default 1)");
  mount
      ->add_option("--staging-cap", mo.staging_cap,
                   "bytes staged files may take in the cache dir, e.g. 2G (default: 4 GiB or a "
                   "quarter of the cache disk's free space, whichever is less); writes beyond "
                   "it fail with ENOSPC")
      ->transform(CLI::AsSizeValue(false));
  auto* umount = app.add_subcommand(
      "umount", "unmount, and wait until the daemon has committed everything it holds");
  umount->add_option("MOUNTPOINT", mountpoint, "the mount point")->required();
  umount->add_option("--wait", umount_wait, "seconds to wait for the daemon (default 120)");

  WebOptions wo;
  auto* web = app.add_subcommand(
      "web", "serve your vault to a web browser on this machine (log in on the page)");
  web->add_option("--listen", wo.listen,
                  "HOST:PORT to listen on (default 127.0.0.1:8080; no TLS: other addresses "
                  "need --insecure-http)");
  web->add_flag("--insecure-http", wo.insecure_http,
                "allow a non-loopback --listen although passwords and files then cross the "
                "network in clear (no TLS)");
  web->add_option("--port-file", wo.port_file, "write the port it listens on to this file");
  web->add_option("--workers", wo.workers, "connections served at once")->capture_default_str();
  web->add_option("--max-connections", wo.max_connections,
                  "connections served or waiting for a worker; more are closed at once")
      ->capture_default_str();
  web->add_option("--max-connections-per-address", wo.max_per_address,
                  "connections served at once for one remote address; more are closed at once")
      ->capture_default_str();
  web->add_option("--idle-timeout", wo.idle_timeout_s,
                  "seconds a connection may stay idle between requests")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto level = vaultfs::ParseLogLevel(log_level);
  if (!level.ok()) {
    std::fprintf(stderr, "vaultfs: %s\n", level.status().message().c_str());
    return 2;
  }
  vaultfs::SetLogLevel(*level);
  vaultfs::SetLogProgramName("vaultfs");

  vaultfs::Status st;
  if (*reg) st = CmdRegister(g, user_arg);
  if (*passwd) st = CmdPasswd(g);
  if (*put) st = CmdPut(g, local, remote, recursive);
  if (*get) st = CmdGet(g, remote, local, recursive);
  if (*cat) st = CmdCat(g, paths);
  if (*ls) st = CmdLs(g, path, long_format);
  if (*mkdir) st = CmdMkdir(g, paths, parents);
  if (*mv) st = CmdMv(g, from, to);
  if (*rm) st = CmdRm(g, paths, recursive);
  if (*status) st = CmdStatus(g, so);
  if (*scrub) st = CmdScrub(g, scrub_wait, scrub_timeout);
  if (*mount) st = CmdMount(g, mo);
  if (*umount) st = CmdUmount(mountpoint, umount_wait);
  if (*web) st = CmdWeb(g, wo);
  if (!st.ok()) {
    std::fprintf(stderr, "vaultfs: %s\n", st.message().c_str());
    if (ExitCodeFor(st) == 5 && !*status) {
      std::fprintf(stderr,
                   "vaultfs: run `vaultfs status` to see which servers are down, and retry once "
                   "enough of them are back (stored data is not lost)\n");
    }
    return ExitCodeFor(st);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
