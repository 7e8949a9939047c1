// `vaultfs web`: runs the gateway (gateway.h) on a cpp-httplib server until SIGINT/SIGTERM.
//
// It binds 127.0.0.1:8080 unless told otherwise. The gateway holds the user's keys and has no
// TLS, so it refuses any other address unless given insecure_http (--insecure-http), and then
// prints a loud warning: everyone who can reach the port can try passwords, and passwords and
// file contents cross the network in clear.
#pragma once

#include <string>

#include "src/common/cluster_config.h"
#include "src/common/status.h"
#include "src/web/bounded_server.h"

namespace vaultfs::web {

struct ServeOptions {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks a free one
  std::string port_file;                  // if set, the bound port is written here (tests)
  WebLimits limits;                       // workers, connection caps, timeouts
  bool insecure_http = false;             // allow a non-loopback listen address (no TLS)
};

// Serves until SIGINT or SIGTERM (then returns OK), or fails to start.
Status Serve(const ClusterConfig& config, const ServeOptions& options);

}  // namespace vaultfs::web
