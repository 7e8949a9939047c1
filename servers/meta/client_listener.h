// ClientListener: accepts client connections on the node's libuv loop, cuts the byte stream
// into frames (src/common/frame.h) and hands each to the MetaService; replies are written back
// on the same connection in completion order (they carry the request's "id"). A frame larger
// than the limit gets an EMSGSIZE reply and the connection is closed, since the stream can no
// longer be trusted to be in sync. With a TLS context every connection is TLS 1.3 (clients
// present no certificate; a repairer presents its node certificate, checked when presented).
//
// The connection pump and its bounds are src/common/connection.h: a client that does not read
// its replies stops being served once ~high_water bytes of replies are queued (so pipelined
// requests cost bounded memory), silent and idle connections are closed, and the connection
// count is capped in all and per client address.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>

#include "servers/meta/meta_service.h"
#include "src/common/cluster_config.h"
#include "src/common/connection.h"
#include "src/common/tls.h"

namespace vaultfs::meta {

class ClientListener {
 public:
  // `tls` null: plain TCP (--insecure).
  ClientListener(uv_loop_t* loop, MetaService* service, size_t max_frame,
                 std::shared_ptr<tls::TlsContext> tls = nullptr, ConnectionLimits conn_limits = {},
                 ListenerLimits limits = {});
  ~ClientListener();

  // Binds and listens; returns the bound port (useful with port 0).
  Result<uint16_t> Listen(const HostPort& addr);
  // Stops accepting and closes every connection; `done` runs once the handles are closed.
  void Close(std::function<void()> done);

  struct Conn;

 private:
  void OnAccept(std::shared_ptr<Connection> io);

  MetaService* service_;
  size_t max_frame_;
  ConnectionListener listener_;
  friend struct Conn;
};

}  // namespace vaultfs::meta
