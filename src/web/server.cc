// `vaultfs web`: see server.h.
#include "src/web/server.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "src/common/log.h"
#include "src/web/bounded_server.h"
#include "src/web/gateway.h"
#include "src/web/listen_address.h"

namespace vaultfs::web {

namespace {

void WarnNotLoopback(const std::string& host) {
  std::fprintf(stderr,
               "\n"
               "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
               "!! WARNING: vaultfs web is listening on %s, which is NOT a loopback address.\n"
               "!! There is no TLS: passwords and file contents cross the network in CLEAR,\n"
               "!! and anyone who can reach this port can try to log in. This gateway holds\n"
               "!! your decryption keys once you log in. Use 127.0.0.1 (the default) and an\n"
               "!! SSH tunnel or a TLS reverse proxy instead.\n"
               "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
               "\n",
               host.c_str());
}

Status WritePortFile(const std::string& path, int port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out) return IoError("cannot write " + tmp);
  }
  // Renamed into place so a reader never sees a half-written number.
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return IoError("cannot rename to " + path);
  return Status::Ok();
}

}  // namespace

Status Serve(const ClusterConfig& config, const ServeOptions& options) {
  VFS_ASSIGN_OR_RETURN(ListenAddress addr, ParseListenAddress(options.listen));
  VFS_RETURN_IF_ERROR(CheckListenAllowed(addr, options.insecure_http));
  bool loopback = IsLoopbackHost(addr.host);
  if (!loopback) WarnNotLoopback(addr.host);

  // SIGINT/SIGTERM are taken by one thread with sigwait; blocked before any other thread
  // starts so the HTTP workers inherit the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that goes away mid-response must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  GatewayOptions gopts;
  gopts.loopback_hosts_only = loopback;
  Gateway gateway(config, gopts);
  BoundedServer server(options.limits);

  int port = addr.port;
  if (port == 0) {
    port = server.bind_to_any_port(addr.host);
    if (port < 0) return Status(EADDRNOTAVAIL, "cannot listen on " + options.listen);
  } else if (!server.bind_to_port(addr.host, port)) {
    return Status(EADDRINUSE, "cannot listen on " + options.listen +
                                  " (in use, or not an address of this machine)");
  }
  gateway.Install(server, static_cast<uint16_t>(port));
  if (!options.port_file.empty()) VFS_RETURN_IF_ERROR(WritePortFile(options.port_file, port));

  std::string shown = addr.host.find(':') != std::string::npos ? "[" + addr.host + "]" : addr.host;
  std::fprintf(stderr, "vaultfs web: serving http://%s:%d/ (Ctrl-C to stop)\n", shown.c_str(),
               port);
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    VFS_LOG(kInfo) << "signal " << sig << ": stopping";
    server.stop();
  });
  bool clean = server.listen_after_bind();
  // listen_after_bind returns when stop() ran, or on a socket error: wake the stopper either way.
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  if (!clean) return IoError("the HTTP server stopped on a socket error");
  std::fprintf(stderr, "vaultfs web: stopped\n");
  return Status::Ok();
}

}  // namespace vaultfs::web
