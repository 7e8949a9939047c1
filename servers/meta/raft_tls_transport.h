// RaftTlsTransport: libraft's connection interface (struct raft_uv_transport) with every
// metadata-to-metadata connection inside mutual TLS 1.3 (issue 9). Both ends present a node
// certificate issued by the cluster CA; a peer without one, or with one from another CA, is
// refused before libraft sees a byte. The dialling side also checks that the certificate names
// the IP it dialled. A certificate only vouches for the raft id it is named after ("meta-<id>"),
// so another holder of a cluster certificate (a data server, a repairer) cannot speak raft,
// and one metadata node cannot pose as another.
//
// libraft reads and writes the uv_stream_t it is handed with uv_read_start/uv_write and frees
// it after uv_close, so it gets one end of a socketpair opened as a uv_pipe_t. This transport
// owns the other end; the TCP socket, TLS and the bounds are a Connection's
// (src/common/connection.h), which pumps bytes between the two on the same loop (nothing
// blocks). After the handshake the dialling side sends libraft's identity preamble (raft id and
// address) inside TLS; the accepting side reads it and only then calls libraft's accept
// callback. Handshake plus preamble have a deadline, so a silent peer cannot hold a connection
// slot. A refused peer is logged at warn once per peer and reason.
//
// Bounds (issue 20): reading from a side stops while more than `max_queued` bytes wait to be
// written to the other (peer to libraft and libraft to peer); a link with no byte in either
// direction for `idle_timeout` is closed (libraft redials when it next has something to send);
// the listener refuses connections beyond `max_connections` in all (the configured peers'
// addresses exempt) and `max_per_address` from one IP address, before any TLS work.
//
// Closing follows libraft's TCP transport: connects still in flight complete with
// RAFT_CANCELED, and the close callback runs only after every handle of the transport is
// closed.
#pragma once

extern "C" {
#include <raft.h>
#include <raft/uv.h>
}
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/common/status.h"
#include "src/common/tls.h"

namespace vaultfs::meta {

struct RaftTlsOptions {
  std::shared_ptr<tls::TlsContext> server;  // accepting side; ClientCerts::kRequired
  std::shared_ptr<tls::TlsContext> client;  // dialling side; presents this node's certificate
  // From TCP accept (or connect) until libraft gets the stream.
  std::chrono::milliseconds handshake_timeout{10000};
  // No byte received and no write completed for this long closes a link. Heartbeats keep a
  // used link busy, so keep it well above the heartbeat interval; zero: none.
  std::chrono::milliseconds idle_timeout{60000};
  // Bytes queued towards one side before reading from the other side pauses.
  size_t max_queued = 8u << 20;
  // Incoming connections in all, and from one remote IP address (peers on one host share it);
  // more are refused at once.
  size_t max_connections = 64;
  size_t max_per_address = 16;
  // The configured peers' IP addresses: max_connections does not apply to them, so strangers
  // holding every slot cannot keep the group from reconnecting.
  std::vector<std::string> peer_hosts;
  // A peer's certificate must be named (subject CN) this prefix + its raft id; "" accepts any
  // certificate the cluster CA issued.
  std::string peer_name_prefix = "meta-";
};

// Sets up `t` (keeping t->data, which belongs to libraft) to be passed to raft_uv_init().
Status RaftTlsTransportInit(struct raft_uv_transport* t, uv_loop_t* loop, RaftTlsOptions opts);

// Releases the transport's memory: after its close callback ran, or when it never listened nor
// connected (a failed start).
void RaftTlsTransportClose(struct raft_uv_transport* t);

// The identity preamble the dialling side sends once TLS is up (exposed for tests): 8-byte
// big-endian magic/version, raft id and address length, then the address (at most 255 bytes).
std::string EncodeRaftTlsPreamble(uint64_t id, std::string_view address);

}  // namespace vaultfs::meta
