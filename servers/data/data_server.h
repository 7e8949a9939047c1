// DataServer: the vaultfs-data event loop. One libuv loop thread owns every socket, timer and
// counter; all disk work (temp-file writes, fsync/rename, reads, listing, verification,
// statvfs) runs on libuv's thread pool so a slow disk never stalls the loop.
//
// Connections: each handles its requests in arrival order and replies in that order
// (data_protocol.h). One exception for throughput: once an upload's payload is received, its
// remaining disk writes and its commit (fsync, rename, directory fsync) run on the pool while
// the connection goes on to the next request, if that is an upload of a different chunk (up
// to 8 unanswered uploads per connection); any other request waits for those uploads, so it
// always sees their effect. While a request waits on the disk or a reply is streaming, at
// most ~1 MiB of further input is buffered, then reading stops (TCP backpressure); likewise a
// client that does not read its replies stops being served. Upload payloads are copied from
// each read into 1 MiB buffers (at most 4 per connection, recycled, released once the
// connection has no upload left) that are written to an O_DIRECT temp file one buffer per
// write (chunk_store.h); download bodies go out in 256 KiB reads, paused while the connection
// is congested. So a 1 GiB object never needs 1 GiB of RAM.
//
// Bytes, TLS and the per-connection bounds are Connection's (src/common/connection.h), as on
// the metadata port: past `conn_limits.high_water` bytes of queued output the connection stops
// taking requests and download bodies wait for the drain signal; a TLS handshake and an idle
// connection (nothing received, no reply taken, no disk job finishing) are timed out; the
// listener caps connections in all and per address. On top of that: max header and object
// size. Protocol errors get an error reply and the connection is closed; everything is
// logged with the peer address.
//
// Shutdown: SIGTERM/SIGINT refuses new connections, lets each connection finish the request it is
// working on, then closes it; the loop exits when nothing is left (or after drain_timeout).
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <string>

#include "servers/data/chunk_store.h"
#include "src/common/cluster_config.h"
#include "src/common/connection.h"
#include "src/common/data_protocol.h"
#include "src/common/status.h"
#include "src/common/tls.h"

namespace vaultfs::data {

struct DataServerOptions {
  HostPort listen{"127.0.0.1", 0};
  std::string storage;
  std::string secret;        // data-token key (crypto/token.h TokenKey(.., "data"))
  std::string port_file;     // if set, the bound port is written here once listening
  uint64_t quota_bytes = 0;  // 0: only the disk limits us
  // Free space uploads must leave on the storage filesystem (chunk_store.h); < 0: the default,
  // DefaultReserve(filesystem size).
  int64_t reserve_bytes = -1;
  DataProtocolLimits limits;
  // Output high water (replies and download bodies), handshake and idle timeouts.
  ConnectionLimits conn_limits{.high_water = 1u << 20,
                               .low_water = 256u << 10,
                               .handshake_timeout = std::chrono::seconds(10),
                               .idle_timeout = std::chrono::seconds(120)};
  ListenerLimits caps;  // connections in all and per remote address
  std::chrono::milliseconds drain_timeout{30000};
  // TLS server context (clients present no certificate; a repairer's is checked); null: plain
  // TCP, only with --insecure.
  std::shared_ptr<tls::TlsContext> tls;
};

class DataServer {
 public:
  explicit DataServer(DataServerOptions options);
  ~DataServer();
  DataServer(const DataServer&) = delete;
  DataServer& operator=(const DataServer&) = delete;

  // Opens the store, binds, writes the port file, runs until drained after SIGTERM/SIGINT.
  Status Run();

  struct Impl;  // the loop and its connections (data_server.cc)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vaultfs::data
