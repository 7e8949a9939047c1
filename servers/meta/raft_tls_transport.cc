// RaftTlsTransport: see raft_tls_transport.h.
//
// One Conn per TCP connection, in either direction: a Connection (socket, TLS, timers, bounds)
// plus our end of the socketpair and libraft's end until it is handed over. The Connection's
// close ends the Conn: the pipe handles are closed and a pending connect request completed
// then; the Conn is freed once its pipe handles' close callbacks have run. libraft's end is
// freed by libraft after it hands it to uv_close, hence raft_malloc.
#include "servers/meta/raft_tls_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/common/cluster_config.h"
#include "src/common/connection.h"
#include "src/common/frame.h"
#include "src/common/log.h"

namespace vaultfs::meta {
namespace {

// The identity preamble the dialling side sends inside TLS: magic and version, raft id,
// address length (all 8-byte big-endian), then the address. Not libraft's own encoding, whose
// address length is unbounded.
constexpr uint64_t kPreambleMagic = 0x5646524654000001;  // "VFRFT", version 1
constexpr size_t kPreambleFixed = 24;
constexpr size_t kMaxAddress = 255;
constexpr size_t kReadBuffer = 64 * 1024;
constexpr size_t kMaxRememberedRefusals = 1024;

struct Transport;

enum class Phase {
  kHandshake,  // TCP connect, TLS handshake and preamble
  kOpen,       // libraft has the stream; bytes are pumped both ways
  kClosing,    // the Connection is closed; our pipe handles are being closed
};

struct Conn : std::enable_shared_from_this<Conn> {
  Transport* t = nullptr;
  bool outgoing = false;
  Phase phase = Phase::kHandshake;
  std::string peer;                 // "ip:port", for logs
  std::string peer_key;             // refusals are remembered per dialled address / remote IP
  raft_uv_connect* req = nullptr;   // dialling side: set until its callback has run
  raft_uv_connect_cb cb = nullptr;  // ...and the callback
  raft_id dialled = 0;              // dialling side: the raft id the peer must prove
  std::shared_ptr<Connection> io;
  uv_pipe_t pipe{};               // our end of the socketpair
  uv_pipe_t* raft_end = nullptr;  // libraft's end, until handed over
  bool pipe_open = false;
  int pipe_handles = 0;    // pipe handles whose close callback is pending
  std::string preamble;    // accepting side: plaintext received before the preamble completed
  size_t pipe_queued = 0;  // bytes handed to uv_write on our pipe end, not yet written
  bool pipe_reading = false;
  bool peer_paused = false;  // we paused the Connection's reading: libraft is behind
  bool refused = false;      // Refuse() closed it
};

struct Transport {
  raft_uv_transport* iface = nullptr;
  uv_loop_t* loop = nullptr;
  RaftTlsOptions opts;
  ConnectionLimits limits;
  raft_id id = 0;
  std::string address;
  std::unique_ptr<ConnectionListener> listener;
  bool listener_closed = false;
  raft_uv_accept_cb accept_cb = nullptr;
  bool closing = false;
  uv_timer_t close_timer{};
  raft_uv_transport_close_cb close_cb = nullptr;
  std::unordered_map<Conn*, std::shared_ptr<Conn>> conns;
  // Every Connection made, to wait at close until their handles are closed too.
  std::vector<std::weak_ptr<Connection>> ios;
  std::unordered_map<std::string, std::string> refusals;  // peer key -> last reason logged
  // Shared read buffer for our pipe ends: every read callback consumes it before returning.
  char buf[kReadBuffer];
};

struct Write {
  uv_write_t req{};
  Conn* c = nullptr;
  std::string data;
};

uv_handle_t* H(void* handle) { return static_cast<uv_handle_t*>(handle); }
uv_stream_t* S(void* stream) { return static_cast<uv_stream_t*>(stream); }
Transport* Impl(raft_uv_transport* iface) { return static_cast<Transport*>(iface->impl); }

void SetErrmsg(raft_uv_transport* iface, const std::string& msg) {
  std::snprintf(iface->errmsg, sizeof iface->errmsg, "%s", msg.c_str());
}

std::string Ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

void Track(Transport* t, const std::shared_ptr<Connection>& io) {
  // Pruned as we go, so a node up for months does not keep one entry per connection it made.
  if (t->ios.size() >= 2 * t->conns.size() + 16) {
    std::erase_if(t->ios, [](const std::weak_ptr<Connection>& w) { return w.expired(); });
  }
  t->ios.push_back(io);
}

// Conn `c` is done with: forget it once its pipe handles are closed too.
void MaybeFree(Conn* c) {
  if (c->phase != Phase::kClosing || c->pipe_handles > 0) return;
  c->t->conns.erase(c);  // frees c
}

void OnPipeClosed(uv_handle_t* h) {
  auto* c = static_cast<Conn*>(h->data);
  --c->pipe_handles;
  MaybeFree(c);
}

void OnRaftEndClosed(uv_handle_t* h) {
  auto* c = static_cast<Conn*>(h->data);
  raft_free(h);
  --c->pipe_handles;
  MaybeFree(c);
}

// The Connection closed (for whatever reason): close our pipe handles, give libraft its
// answer for a connect still pending.
void OnClosed(Conn* c) {
  if (c->phase == Phase::kClosing) return;
  c->phase = Phase::kClosing;
  if (c->pipe_open) {
    c->pipe_open = false;
    uv_close(H(&c->pipe), OnPipeClosed);
  }
  if (c->raft_end != nullptr) {
    uv_close(H(c->raft_end), OnRaftEndClosed);
    c->raft_end = nullptr;
  }
  raft_uv_connect* req = c->req;
  c->req = nullptr;
  Transport* t = c->t;
  if (req != nullptr) c->cb(req, nullptr, t->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
  MaybeFree(c);
}

// An ordinary end of a connection (peer gone, libraft closed its end, peer unreachable).
// Logged (at debug) by OnConnectionClosed.
void Drop(Conn* c, const std::string& why) {
  if (c->phase == Phase::kClosing) return;
  c->io->Close(Status(ECONNRESET, why));
}

// A peer that failed TLS, the preamble or the deadline. Logged at warn the first time per
// peer and reason, so a misconfigured node retrying every 200 ms does not flood the log.
void LogRefusal(Conn* c, const std::string& why) {
  Transport* t = c->t;
  auto it = t->refusals.find(c->peer_key);
  bool repeated = it != t->refusals.end() && it->second == why;
  if (!repeated) {
    if (t->refusals.size() >= kMaxRememberedRefusals) t->refusals.clear();
    t->refusals[c->peer_key] = why;
  }
  std::string what = c->outgoing ? "raft: connection to " + c->peer + " refused: "
                                 : "raft: refused connection from " + c->peer + ": ";
  if (repeated) {
    VFS_LOG(kDebug) << what << why;
  } else {
    VFS_LOG(kWarn) << what << why;
  }
}

void Refuse(Conn* c, const std::string& why) {
  if (c->phase == Phase::kClosing) return;
  LogRefusal(c, why);
  c->refused = true;  // logged: the close callback adds nothing
  c->io->Close(Status(EACCES, why));
}

// How the Connection ended, in the words of the log. A peer that just went away (a port
// probe, a peer that gave up, one we could not reach) is no refusal; a failed TLS handshake
// and a peer that let the deadline pass are.
void OnConnectionClosed(Conn* c, const Status& why) {
  if (c->phase == Phase::kClosing) return;
  const bool tls_failed = why.code() == EACCES || why.code() == EPROTO;
  const bool too_slow = why.code() == ETIMEDOUT && !c->outgoing;
  if (c->phase == Phase::kHandshake && !c->refused && !c->t->closing && (tls_failed || too_slow)) {
    LogRefusal(c, tls_failed ? "TLS: " + why.message() : why.message());
  } else if (!c->refused) {
    VFS_LOG(kDebug) << "raft: connection " << (c->outgoing ? "to " : "from ") << c->peer
                    << " closed: " << why.ToString();
  }
  OnClosed(c);
}

void OnPipeRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

void UpdatePipeReading(Conn* c) {
  bool want = c->phase == Phase::kOpen && !c->io->congested();
  if (want == c->pipe_reading) return;
  if (want) {
    int rv = uv_read_start(
        S(&c->pipe),
        [](uv_handle_t* h, size_t, uv_buf_t* out) {
          auto* c = static_cast<Conn*>(h->data);
          *out = uv_buf_init(c->t->buf, sizeof c->t->buf);
        },
        OnPipeRead);
    if (rv != 0) return Drop(c, std::string("read from raft: ") + uv_strerror(rv));
  } else {
    uv_read_stop(S(&c->pipe));
  }
  c->pipe_reading = want;
}

void OnPipeWritten(uv_write_t* req, int status) {
  auto* w = static_cast<Write*>(req->data);
  Conn* c = w->c;
  auto keep = c->shared_from_this();
  c->pipe_queued -= w->data.size();
  delete w;
  if (c->phase == Phase::kClosing) return;
  if (status < 0) return Drop(c, std::string("write to raft: ") + uv_strerror(status));
  if (c->peer_paused && c->pipe_queued <= c->t->limits.low_water) {
    c->peer_paused = false;
    c->io->PauseReading(false);
  }
}

// Hands decrypted bytes to libraft; stops reading from the peer while libraft is far behind.
void WritePipe(Conn* c, std::string plain) {
  auto* w = new Write;
  w->c = c;
  w->data = std::move(plain);
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rv = uv_write(&w->req, S(&c->pipe), &b, 1, OnPipeWritten);
  if (rv != 0) {
    delete w;
    return Drop(c, std::string("write to raft: ") + uv_strerror(rv));
  }
  c->pipe_queued += b.len;
  if (!c->peer_paused && c->pipe_queued > c->t->limits.high_water) {
    c->peer_paused = true;
    c->io->PauseReading(true);
  }
}

// libraft's bytes go to the peer; the Connection stops us (congested) while the peer is far
// behind, and on_drain resumes.
void OnPipeRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(stream->data);
  if (nread == 0 || c->phase != Phase::kOpen) return;
  auto keep = c->shared_from_this();
  if (nread < 0) return Drop(c, "closed by raft");
  c->io->Send(std::string(buf->base, static_cast<size_t>(nread)));
  if (c->phase == Phase::kOpen) UpdatePipeReading(c);
}

// TLS and the preamble are done: build the socketpair and give libraft its end.
void Open(Conn* c, raft_id id, const std::string& address, std::string rest) {
  Transport* t = c->t;
  if (t->closing) return Drop(c, "the transport is closing");
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return Drop(c, std::string("socketpair: ") + std::strerror(errno));
  }
  auto* end = static_cast<uv_pipe_t*>(raft_malloc(sizeof(uv_pipe_t)));
  if (end == nullptr) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Drop(c, "out of memory");
  }
  uv_pipe_init(t->loop, &c->pipe, 0);
  c->pipe.data = c;
  c->pipe_open = true;
  uv_pipe_init(t->loop, end, 0);
  end->data = c;
  c->raft_end = end;
  c->pipe_handles += 2;
  int rv = uv_pipe_open(&c->pipe, fds[0]);
  if (rv != 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Drop(c, std::string("pipe: ") + uv_strerror(rv));
  }
  rv = uv_pipe_open(end, fds[1]);
  if (rv != 0) {
    ::close(fds[1]);
    return Drop(c, std::string("pipe: ") + uv_strerror(rv));
  }
  c->io->ClearDeadline();
  c->phase = Phase::kOpen;
  t->refusals.erase(c->peer_key);
  VFS_LOG(kDebug) << "raft: TLS connection " << (c->outgoing ? "to " : "from ") << c->peer << " ("
                  << c->io->PeerName() << ") open";
  if (!rest.empty()) WritePipe(c, std::move(rest));
  if (c->phase == Phase::kOpen) UpdatePipeReading(c);
  if (c->phase != Phase::kOpen) return;

  uv_stream_t* stream = S(c->raft_end);
  c->raft_end = nullptr;
  c->pipe_handles--;
  stream->data = nullptr;
  if (c->outgoing) {
    raft_uv_connect* req = c->req;
    c->req = nullptr;
    c->cb(req, stream, 0);
  } else {
    t->accept_cb(t->iface, id, address.c_str(), stream);
  }
}

// Whether the peer's certificate is the one of raft node `id`; refuses the peer if not.
bool NamesRaftId(Conn* c, raft_id id) {
  const std::string& prefix = c->t->opts.peer_name_prefix;
  if (prefix.empty()) return true;
  std::string want = prefix + std::to_string(id), got = c->io->PeerName();
  if (got == want) return true;
  Refuse(c, "its certificate is for '" + got + "', not for raft node " + std::to_string(id) +
                " ('" + want + "')");
  return false;
}

// Accepting side: parses the preamble once enough plaintext arrived.
void TryPreamble(Conn* c) {
  const std::string& p = c->preamble;
  if (p.size() < kPreambleFixed) return;
  if (GetBigEndian64(p.data()) != kPreambleMagic) return Refuse(c, "not a vaultfs raft preamble");
  uint64_t id = GetBigEndian64(p.data() + 8);
  uint64_t len = GetBigEndian64(p.data() + 16);
  if (id == 0) return Refuse(c, "raft id 0 in the preamble");
  if (len == 0 || len > kMaxAddress) {
    return Refuse(c, "preamble address length " + std::to_string(len) + " outside 1.." +
                         std::to_string(kMaxAddress));
  }
  if (p.size() < kPreambleFixed + len) return;
  std::string address = p.substr(kPreambleFixed, len);
  if (address.find('\0') != std::string::npos) return Refuse(c, "NUL in the preamble address");
  if (!NamesRaftId(c, id)) return;
  std::string rest = p.substr(kPreambleFixed + len);
  c->preamble.clear();
  c->preamble.shrink_to_fit();
  Open(c, id, address, std::move(rest));
}

void OnData(Conn* c, std::string_view plain) {
  if (c->phase == Phase::kOpen) return WritePipe(c, std::string(plain));
  if (c->phase != Phase::kHandshake || c->outgoing) return;  // the dialled side says nothing
  // At most one read's worth beyond a whole preamble: TryPreamble takes it as soon as it is.
  c->preamble.append(plain);
  TryPreamble(c);
}

// TLS is up on a dialled connection: our identity goes out only to the peer we meant to reach.
void OnOutgoingReady(Conn* c) {
  if (!NamesRaftId(c, c->dialled)) return;
  c->io->Send(EncodeRaftTlsPreamble(c->t->id, c->t->address));
  if (c->phase == Phase::kHandshake && !c->io->closed()) Open(c, 0, "", "");
}

Conn* NewConn(Transport* t, bool outgoing, std::shared_ptr<Connection> io) {
  auto owned = std::make_shared<Conn>();
  Conn* c = owned.get();
  c->t = t;
  c->outgoing = outgoing;
  c->io = std::move(io);
  t->conns.emplace(c, std::move(owned));
  Track(t, c->io);
  // Raw pointers: the Connection drops its callbacks when it closes, before the Conn can be
  // freed. Each callback holds the Conn while it runs, since closing may free it.
  c->io->set_on_data([c](std::string_view b) {
    auto keep = c->shared_from_this();
    OnData(c, b);
  });
  c->io->set_on_drain([c] {
    auto keep = c->shared_from_this();
    UpdatePipeReading(c);
  });
  c->io->set_on_close([c](const Status& why) {
    auto keep = c->shared_from_this();
    OnConnectionClosed(c, why);
  });
  if (outgoing) {
    c->io->set_on_ready([c] {
      auto keep = c->shared_from_this();
      OnOutgoingReady(c);
    });
  }
  return c;
}

void OnIncoming(Transport* t, std::shared_ptr<Connection> io) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  std::string peer = io->peer();
  if (uv_tcp_getpeername(io->tcp(), reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
      ss.ss_family == AF_INET) {
    peer += ":" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port));
  }
  Conn* c = NewConn(t, false, io);
  c->peer = peer;
  c->peer_key = "from " + io->peer();
  io->SetDeadline(t->opts.handshake_timeout,
                  "no TLS handshake and raft preamble within " + Ms(t->opts.handshake_timeout));
  io->Start();
}

int Init(raft_uv_transport* iface, raft_id id, const char* address) {
  Transport* t = Impl(iface);
  if (std::strlen(address) == 0 || std::strlen(address) > kMaxAddress) {
    SetErrmsg(iface, "raft address too long");
    return RAFT_INVALID;
  }
  t->id = id;
  t->address = address;
  return 0;
}

int Listen(raft_uv_transport* iface, raft_uv_accept_cb cb) {
  Transport* t = Impl(iface);
  t->accept_cb = cb;
  auto hp = ParseHostPort(t->address);
  sockaddr_in sa{};
  if (!hp.ok() || uv_ip4_addr(hp->host.c_str(), hp->port, &sa) != 0) {
    SetErrmsg(iface, "raft address must be an IPv4 HOST:PORT: " + t->address);
    return RAFT_INVALID;
  }
  ListenerLimits caps;
  caps.max_connections = t->opts.max_connections;
  caps.max_per_address = t->opts.max_per_address;
  caps.exempt_from_total.insert(t->opts.peer_hosts.begin(), t->opts.peer_hosts.end());
  t->listener = std::make_unique<ConnectionListener>(
      t->loop, t->opts.server, t->limits, caps,
      [t](std::shared_ptr<Connection> io) { OnIncoming(t, std::move(io)); });
  auto port = t->listener->Listen(*hp, "raft traffic", 64);
  if (!port.ok()) {
    SetErrmsg(iface, port.status().message());
    return RAFT_IOERR;
  }
  return 0;
}

int Connect(raft_uv_transport* iface, raft_uv_connect* req, raft_id id, const char* address,
            raft_uv_connect_cb cb) {
  Transport* t = Impl(iface);
  if (t->closing) return RAFT_CANCELED;
  auto hp = ParseHostPort(address);
  sockaddr_in sa{};
  if (!hp.ok() || uv_ip4_addr(hp->host.c_str(), hp->port, &sa) != 0) {
    SetErrmsg(iface, std::string("raft peer address must be an IPv4 HOST:PORT: ") + address);
    return RAFT_NOCONNECTION;
  }
  auto engine = tls::TlsEngine::Connect(t->opts.client, hp->host);
  if (!engine.ok()) {
    SetErrmsg(iface, "TLS: " + engine.status().message());
    return RAFT_NOCONNECTION;
  }
  Conn* c = NewConn(t, true, Connection::Create(t->loop, std::move(*engine), t->limits));
  c->dialled = id;
  c->peer = address;
  c->peer_key = std::string("to ") + address;
  // The handshake timeout bounds the TCP connect too.
  Status st = c->io->Connect(reinterpret_cast<const sockaddr*>(&sa));
  if (!st.ok()) {  // no callback for this request: libraft sees the error now
    SetErrmsg(iface, std::string("connect to ") + address + ": " + st.message());
    return RAFT_NOCONNECTION;
  }
  req->cb = cb;
  c->req = req;
  c->cb = cb;
  return 0;
}

// Polled from a timer: the close callback waits for every connection's handles to close.
void MaybeFinishClose(uv_timer_t* timer) {
  auto* t = static_cast<Transport*>(timer->data);
  if (!t->listener_closed || !t->conns.empty()) return;
  for (auto& w : t->ios) {
    if (!w.expired()) return;
  }
  uv_close(H(&t->close_timer), [](uv_handle_t* h) {
    auto* t = static_cast<Transport*>(h->data);
    auto cb = t->close_cb;
    t->close_cb = nullptr;
    if (cb != nullptr) cb(t->iface);
  });
}

void Close(raft_uv_transport* iface, raft_uv_transport_close_cb cb) {
  Transport* t = Impl(iface);
  t->closing = true;
  t->close_cb = cb;
  if (t->listener) {
    // Also closes every accepted connection.
    t->listener->Close([t] { t->listener_closed = true; });
  } else {
    t->listener_closed = true;
  }
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& [raw, c] : t->conns) all.push_back(c->io);
  for (auto& io : all) io->Close(Status(ESHUTDOWN, "the raft transport is closing"));
  // Always finish from a later callback, even with nothing open: libraft must not see its
  // close callback run inside close().
  uv_timer_init(t->loop, &t->close_timer);
  t->close_timer.data = t;
  uv_timer_start(&t->close_timer, MaybeFinishClose, 0, 1);
}

}  // namespace

std::string EncodeRaftTlsPreamble(uint64_t id, std::string_view address) {
  std::string pre(kPreambleFixed + address.size(), '\0');
  PutBigEndian64(kPreambleMagic, pre.data());
  PutBigEndian64(id, pre.data() + 8);
  PutBigEndian64(address.size(), pre.data() + 16);
  std::memcpy(pre.data() + kPreambleFixed, address.data(), address.size());
  return pre;
}

Status RaftTlsTransportInit(struct raft_uv_transport* iface, uv_loop_t* loop, RaftTlsOptions opts) {
  if (!opts.server || !opts.server->is_server()) {
    return InvalidArgument("raft TLS transport: needs a server context for incoming links");
  }
  if (!opts.client || opts.client->is_server()) {
    return InvalidArgument("raft TLS transport: needs a client context for outgoing links");
  }
  void* data = iface->data;
  std::memset(static_cast<void*>(iface), 0, sizeof *iface);
  iface->data = data;
  auto* t = new Transport;
  t->iface = iface;
  t->loop = loop;
  t->opts = std::move(opts);
  t->limits.handshake_timeout = t->opts.handshake_timeout;
  t->limits.idle_timeout = t->opts.idle_timeout;
  t->limits.high_water = t->opts.max_queued;
  t->limits.low_water = t->opts.max_queued / 4;
  iface->impl = t;
  iface->init = Init;
  iface->listen = Listen;
  iface->connect = Connect;
  iface->close = Close;
  return Status::Ok();
}

void RaftTlsTransportClose(struct raft_uv_transport* iface) {
  delete Impl(iface);
  iface->impl = nullptr;
}

}  // namespace vaultfs::meta
