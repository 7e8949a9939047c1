// The `vaultfs` subcommands, one function each, on top of client::Vault. main.cc parses the
// command line (CLI11) and calls these; they print results to stdout, messages to stderr,
// and return a Status that main.cc turns into an exit code (ExitCodeFor).
#pragma once

#include <string>
#include <vector>

#include "src/cli/password.h"
#include "src/common/status.h"
#include "src/fuse/mount.h"

namespace vaultfs::cli {

struct GlobalOptions {
  std::string cluster;  // path of cluster.json
  std::string user;
  PasswordSource password;
  bool quiet = false;
};

// Exit codes (documented in man/vaultfs.1):
//   0 success, 1 other error, 2 usage, 3 wrong password or unknown user,
//   4 no such file, 5 the cluster cannot serve the request (too few servers, no leader).
int ExitCodeFor(const Status& st);

// Resolves --cluster / $VAULTFS_CLUSTER / the mkcluster default.
std::string DefaultClusterPath();
std::string DefaultUser();

Status CmdRegister(const GlobalOptions& g, const std::string& user);
Status CmdPasswd(const GlobalOptions& g);
Status CmdPut(const GlobalOptions& g, const std::string& local, const std::string& remote,
              bool recursive);
Status CmdGet(const GlobalOptions& g, const std::string& remote, const std::string& local,
              bool recursive);
Status CmdCat(const GlobalOptions& g, const std::vector<std::string>& paths);
Status CmdLs(const GlobalOptions& g, const std::string& path, bool long_format);
Status CmdMkdir(const GlobalOptions& g, const std::vector<std::string>& paths, bool parents);
Status CmdMv(const GlobalOptions& g, const std::string& from, const std::string& to);
Status CmdRm(const GlobalOptions& g, const std::vector<std::string>& paths, bool recursive);

struct StatusOptions {
  bool wait_leader = false;   // exit 0 once a metadata leader answers (for mkcluster)
  bool leader_id = false;     // print the leader's node id only
  bool servers_only = false;  // skip the per-user part (no login)
  bool json = false;
};
Status CmdStatus(const GlobalOptions& g, const StatusOptions& o);

// Asks the repairer for a full scrub pass; with `wait`, returns once one has finished.
Status CmdScrub(const GlobalOptions& g, bool wait, int timeout_s);

Status CmdMount(const GlobalOptions& g, fuse::MountOptions o);
Status CmdUmount(const std::string& mountpoint, int wait_s);

// `vaultfs web`: the browser gateway (src/web/server.h). The password is typed into the
// browser's login page, never given here.
struct WebOptions {
  std::string listen = "127.0.0.1:8080";
  std::string port_file;         // write the bound port here (for --listen HOST:0)
  bool insecure_http = false;    // allow a non-loopback --listen (plain HTTP)
  size_t workers = 16;           // connections served at once
  size_t max_connections = 256;  // served and waiting; more are closed at once
  size_t max_per_address = 64;   // served at once for one remote address
  unsigned idle_timeout_s = 5;   // between two requests on one connection
};
Status CmdWeb(const GlobalOptions& g, const WebOptions& o);

}  // namespace vaultfs::cli
