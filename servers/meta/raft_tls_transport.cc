// RaftTlsTransport: see raft_tls_transport.h.
//
// One Conn per TCP connection, in either direction. Its handles (TCP socket, deadline timer,
// our end of the socketpair, and libraft's end until it is handed over) are closed together;
// the Conn is freed, and a pending connect request completed, once the last close callback has
// run. libraft's end is freed by libraft after it hands it to uv_close, hence raft_malloc.
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
#include <unordered_set>
#include <vector>

#include "src/common/cluster_config.h"
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
  kConnecting,  // dialling side: TCP connect in flight
  kHandshake,   // TLS handshake and preamble
  kOpen,        // libraft has the stream; bytes are pumped both ways
  kClosing,     // handles are being closed
};

struct Conn {
  Transport* t = nullptr;
  bool outgoing = false;
  Phase phase = Phase::kConnecting;
  std::string peer;                 // "ip:port", for logs
  std::string peer_key;             // refusals are remembered per dialled address / remote IP
  raft_uv_connect* req = nullptr;   // dialling side: set until its callback has run
  raft_uv_connect_cb cb = nullptr;  // ...and the callback
  raft_id dialled = 0;              // dialling side: the raft id the peer must prove
  uv_tcp_t tcp{};
  uv_connect_t connect{};
  uv_timer_t timer{};             // handshake + preamble deadline
  uv_pipe_t pipe{};               // our end of the socketpair
  uv_pipe_t* raft_end = nullptr;  // libraft's end, until handed over
  bool pipe_open = false;
  int open_handles = 0;
  std::unique_ptr<tls::TlsEngine> engine;
  std::string preamble;    // accepting side: plaintext received before the preamble completed
  size_t tcp_queued = 0;   // bytes handed to uv_write on the TCP socket, not yet written
  size_t pipe_queued = 0;  // same for our pipe end
  bool tcp_reading = false, pipe_reading = false;
  bool got_bytes = false;  // anything arrived from the peer
  std::string pending_ip;  // accepting side: counted in Transport::pending until open or closed
};

struct Transport {
  raft_uv_transport* iface = nullptr;
  uv_loop_t* loop = nullptr;
  RaftTlsOptions opts;
  raft_id id = 0;
  std::string address;
  uv_tcp_t listener{};
  bool listener_open = false;
  raft_uv_accept_cb accept_cb = nullptr;
  bool closing = false;
  int closing_handles = 0;  // transport-level handles whose close callback is pending
  uv_timer_t close_timer{};
  raft_uv_transport_close_cb close_cb = nullptr;
  std::unordered_set<Conn*> conns;
  std::unordered_map<std::string, std::string> refusals;  // peer key -> last reason logged
  std::unordered_map<std::string, size_t> pending;        // remote IP -> accepts not yet open
  // Shared read buffer: every read callback consumes it (the engine copies) before returning.
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

void MaybeFireCloseCb(Transport* t) {
  if (!t->closing || t->closing_handles > 0 || !t->conns.empty() || t->close_cb == nullptr) {
    return;
  }
  auto cb = t->close_cb;
  t->close_cb = nullptr;
  cb(t->iface);
}

// The last handle of `c` is closed: complete a pending connect request, then maybe the close.
void Finish(Conn* c) {
  Transport* t = c->t;
  t->conns.erase(c);
  raft_uv_connect* req = c->req;
  raft_uv_connect_cb cb = c->cb;
  delete c;
  if (req != nullptr) cb(req, nullptr, t->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
  MaybeFireCloseCb(t);
}

void OnConnHandleClosed(uv_handle_t* h) {
  auto* c = static_cast<Conn*>(h->data);
  if (--c->open_handles == 0) Finish(c);
}

void OnRaftEndClosed(uv_handle_t* h) {
  auto* c = static_cast<Conn*>(h->data);
  raft_free(h);
  if (--c->open_handles == 0) Finish(c);
}

// The accepted connection no longer counts against its address's handshake limit.
void Unpend(Conn* c) {
  if (c->pending_ip.empty()) return;
  auto it = c->t->pending.find(c->pending_ip);
  if (it != c->t->pending.end() && --it->second == 0) c->t->pending.erase(it);
  c->pending_ip.clear();
}

void CloseConn(Conn* c) {
  if (c->phase == Phase::kClosing) return;
  c->phase = Phase::kClosing;
  Unpend(c);
  uv_close(H(&c->timer), OnConnHandleClosed);
  uv_close(H(&c->tcp), OnConnHandleClosed);
  if (c->pipe_open) uv_close(H(&c->pipe), OnConnHandleClosed);
  if (c->raft_end != nullptr) {
    uv_close(H(c->raft_end), OnRaftEndClosed);
    c->raft_end = nullptr;
  }
}

// An ordinary end of a connection (peer gone, libraft closed its end, peer unreachable).
void Drop(Conn* c, const std::string& why) {
  if (c->phase == Phase::kClosing) return;
  VFS_LOG(kDebug) << "raft: connection " << (c->outgoing ? "to " : "from ") << c->peer
                  << " closed: " << why;
  CloseConn(c);
}

// A peer that failed TLS or the preamble. Logged at warn the first time per peer and reason,
// so a misconfigured node retrying every 200 ms does not flood the log.
void Refuse(Conn* c, const std::string& why) {
  if (c->phase == Phase::kClosing) return;
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
  CloseConn(c);
}

void OnTcpRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
void OnPipeRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

void Alloc(uv_handle_t* h, size_t /*suggested*/, uv_buf_t* out) {
  auto* c = static_cast<Conn*>(h->data);
  *out = uv_buf_init(c->t->buf, sizeof c->t->buf);
}

void ResumeTcp(Conn* c) {
  if (c->tcp_reading || c->pipe_queued > c->t->opts.max_queued / 2) return;
  if (c->phase != Phase::kHandshake && c->phase != Phase::kOpen) return;
  int rv = uv_read_start(S(&c->tcp), Alloc, OnTcpRead);
  if (rv != 0) return Drop(c, std::string("read: ") + uv_strerror(rv));
  c->tcp_reading = true;
}

void ResumePipe(Conn* c) {
  if (c->pipe_reading || c->tcp_queued > c->t->opts.max_queued / 2) return;
  if (c->phase != Phase::kOpen) return;
  int rv = uv_read_start(S(&c->pipe), Alloc, OnPipeRead);
  if (rv != 0) return Drop(c, std::string("read: ") + uv_strerror(rv));
  c->pipe_reading = true;
}

void OnTcpWritten(uv_write_t* req, int status) {
  auto* w = static_cast<Write*>(req->data);
  Conn* c = w->c;
  c->tcp_queued -= w->data.size();
  delete w;
  if (c->phase == Phase::kClosing) return;
  if (status < 0) return Drop(c, std::string("write: ") + uv_strerror(status));
  ResumePipe(c);
}

void OnPipeWritten(uv_write_t* req, int status) {
  auto* w = static_cast<Write*>(req->data);
  Conn* c = w->c;
  c->pipe_queued -= w->data.size();
  delete w;
  if (c->phase == Phase::kClosing) return;
  if (status < 0) return Drop(c, std::string("write to raft: ") + uv_strerror(status));
  ResumeTcp(c);
}

// Queues `data` on `stream`; false (and the connection dropped) if libuv refused it.
bool Queue(Conn* c, uv_stream_t* stream, std::string data, size_t* queued, uv_write_cb cb) {
  auto* w = new Write;
  w->c = c;
  w->data = std::move(data);
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rv = uv_write(&w->req, stream, &b, 1, cb);
  if (rv != 0) {
    delete w;
    Drop(c, std::string("write: ") + uv_strerror(rv));
    return false;
  }
  *queued += b.len;
  return true;
}

// Sends whatever the engine has for the peer; pauses reading from libraft while the socket
// is far behind.
bool FlushTls(Conn* c) {
  if (!c->engine->HasOutput()) return true;
  if (!Queue(c, S(&c->tcp), c->engine->TakeOutput(), &c->tcp_queued, OnTcpWritten)) return false;
  if (c->pipe_reading && c->tcp_queued > c->t->opts.max_queued) {
    uv_read_stop(S(&c->pipe));
    c->pipe_reading = false;
  }
  return true;
}

// Hands decrypted bytes to libraft; pauses reading from the peer while libraft is far behind.
bool WritePipe(Conn* c, std::string plain) {
  if (!Queue(c, S(&c->pipe), std::move(plain), &c->pipe_queued, OnPipeWritten)) return false;
  if (c->tcp_reading && c->pipe_queued > c->t->opts.max_queued) {
    uv_read_stop(S(&c->tcp));
    c->tcp_reading = false;
  }
  return true;
}

// TLS and the preamble are done: build the socketpair and give libraft its end.
void Open(Conn* c, raft_id id, const std::string& address, std::string rest) {
  Transport* t = c->t;
  if (t->closing) return CloseConn(c);
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
  c->open_handles += 2;
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
  uv_timer_stop(&c->timer);
  c->phase = Phase::kOpen;
  Unpend(c);
  t->refusals.erase(c->peer_key);
  VFS_LOG(kDebug) << "raft: TLS connection " << (c->outgoing ? "to " : "from ") << c->peer << " ("
                  << c->engine->PeerName() << ") open";
  if (!rest.empty() && !WritePipe(c, std::move(rest))) return;
  ResumePipe(c);
  if (c->phase != Phase::kOpen) return;

  uv_stream_t* stream = S(c->raft_end);
  c->raft_end = nullptr;
  c->open_handles--;
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
  std::string want = prefix + std::to_string(id), got = c->engine->PeerName();
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

void OnTcpRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(stream->data);
  if (nread == 0 || c->phase == Phase::kClosing) return;
  if (nread < 0) {
    std::string why = nread == UV_EOF ? "peer closed the connection"
                                      : std::string(uv_strerror(static_cast<int>(nread)));
    // Silence then a close is a port probe or a peer that gave up, not a refused peer.
    if (c->phase == Phase::kOpen || !c->got_bytes) return Drop(c, why);
    return Refuse(c, why + " before the TLS handshake and preamble completed");
  }
  c->got_bytes = true;
  std::string plain;
  Status st = c->engine->Receive(std::string_view(buf->base, static_cast<size_t>(nread)), &plain);
  if (!st.ok()) {
    // Best effort, without waiting: the alert that tells the peer why.
    if (c->engine->HasOutput()) {
      std::string alert = c->engine->TakeOutput();
      uv_buf_t b = uv_buf_init(alert.data(), static_cast<unsigned>(alert.size()));
      uv_try_write(stream, &b, 1);
    }
    if (st.code() == ECONNRESET && c->phase == Phase::kOpen) return Drop(c, "TLS session closed");
    return Refuse(c, "TLS: " + st.message());
  }
  if (!FlushTls(c)) return;
  if (c->phase == Phase::kOpen) {
    if (!plain.empty()) WritePipe(c, std::move(plain));
  } else if (c->outgoing) {
    // Our identity goes out only to the peer we meant to reach.
    if (!c->engine->handshake_done() || !NamesRaftId(c, c->dialled)) return;
    st = c->engine->Send(EncodeRaftTlsPreamble(c->t->id, c->t->address));
    if (!st.ok()) return Drop(c, "TLS: " + st.message());
    if (FlushTls(c)) Open(c, 0, "", std::move(plain));
  } else {
    c->preamble += plain;
    TryPreamble(c);
  }
}

void OnPipeRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(stream->data);
  if (nread == 0 || c->phase == Phase::kClosing) return;
  if (nread < 0) return Drop(c, "closed by raft");
  Status st = c->engine->Send(std::string_view(buf->base, static_cast<size_t>(nread)));
  if (!st.ok()) return Drop(c, "TLS: " + st.message());
  FlushTls(c);
}

void OnDeadline(uv_timer_t* timer) {
  auto* c = static_cast<Conn*>(timer->data);
  std::string ms = std::to_string(c->t->opts.handshake_timeout.count()) + " ms";
  if (c->phase == Phase::kConnecting) return Drop(c, "TCP connect took longer than " + ms);
  Refuse(c, "no TLS handshake and raft preamble within " + ms);
}

Conn* NewConn(Transport* t, bool outgoing) {
  auto* c = new Conn;
  c->t = t;
  c->outgoing = outgoing;
  uv_tcp_init(t->loop, &c->tcp);
  c->tcp.data = c;
  uv_timer_init(t->loop, &c->timer);
  c->timer.data = c;
  c->open_handles = 2;
  t->conns.insert(c);
  uv_timer_start(&c->timer, OnDeadline, static_cast<uint64_t>(t->opts.handshake_timeout.count()),
                 0);
  return c;
}

void OnConnected(uv_connect_t* req, int status) {
  auto* c = static_cast<Conn*>(req->data);
  if (c->phase == Phase::kClosing) return;  // canceled by close
  if (status < 0) return Drop(c, std::string("connect: ") + uv_strerror(status));
  c->phase = Phase::kHandshake;
  uv_tcp_nodelay(&c->tcp, 1);
  if (!FlushTls(c)) return;  // the ClientHello
  ResumeTcp(c);
}

void OnIncoming(uv_stream_t* server, int status) {
  auto* t = static_cast<Transport*>(server->data);
  if (status < 0) {
    VFS_LOG(kWarn) << "raft: accept failed: " << uv_strerror(status);
    return;
  }
  Conn* c = NewConn(t, false);
  c->peer = "?";
  if (uv_accept(server, S(&c->tcp)) != 0) return Drop(c, "accept failed");
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
      ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    char ip[INET_ADDRSTRLEN] = {};
    uv_ip4_name(sin, ip, sizeof ip);
    c->peer = std::string(ip) + ":" + std::to_string(ntohs(sin->sin_port));
    c->peer_key = std::string("from ") + ip;
    // Each address may hold only so many connections in the handshake, so one host cannot
    // use up the process's descriptors (or, on a real network, lock other peers out).
    auto it = t->pending.find(ip);
    size_t n = it == t->pending.end() ? 0 : it->second;
    if (n >= t->opts.max_pending_per_address) {
      return Refuse(c, "already " + std::to_string(n) +
                           " connections from this address in the TLS handshake");
    }
    t->pending[ip] = n + 1;
    c->pending_ip = ip;
  }
  auto engine = tls::TlsEngine::Accept(t->opts.server);
  if (!engine.ok()) return Drop(c, "TLS: " + engine.status().message());
  c->engine = std::move(*engine);
  c->phase = Phase::kHandshake;
  uv_tcp_nodelay(&c->tcp, 1);
  ResumeTcp(c);
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
  uv_tcp_init(t->loop, &t->listener);
  t->listener.data = t;
  t->listener_open = true;
  int rv = uv_tcp_bind(&t->listener, reinterpret_cast<const sockaddr*>(&sa), 0);
  if (rv == 0) rv = uv_listen(S(&t->listener), 64, OnIncoming);
  if (rv != 0) {
    SetErrmsg(iface, "listen on " + t->address + ": " + uv_strerror(rv));
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
  Conn* c = NewConn(t, true);
  c->engine = std::move(*engine);
  c->dialled = id;
  c->peer = address;
  c->peer_key = std::string("to ") + address;
  c->connect.data = c;
  int rv =
      uv_tcp_connect(&c->connect, &c->tcp, reinterpret_cast<const sockaddr*>(&sa), OnConnected);
  if (rv != 0) {  // no callback for this request: libraft sees the error now
    SetErrmsg(iface, std::string("connect to ") + address + ": " + uv_strerror(rv));
    CloseConn(c);
    return RAFT_NOCONNECTION;
  }
  req->cb = cb;
  c->req = req;
  c->cb = cb;
  return 0;
}

void OnTransportHandleClosed(uv_handle_t* h) {
  auto* t = static_cast<Transport*>(h->data);
  t->closing_handles--;
  MaybeFireCloseCb(t);
}

void Close(raft_uv_transport* iface, raft_uv_transport_close_cb cb) {
  Transport* t = Impl(iface);
  t->closing = true;
  t->close_cb = cb;
  if (t->listener_open) {
    t->listener_open = false;
    t->closing_handles++;
    uv_close(H(&t->listener), OnTransportHandleClosed);
  }
  std::vector<Conn*> all(t->conns.begin(), t->conns.end());
  for (Conn* c : all) CloseConn(c);
  // Always finish from a later callback, even with nothing open: libraft must not see its
  // close callback run inside close().
  uv_timer_init(t->loop, &t->close_timer);
  t->close_timer.data = t;
  t->closing_handles++;
  uv_close(H(&t->close_timer), OnTransportHandleClosed);
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
