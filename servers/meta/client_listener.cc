// Client connections on libuv: see client_listener.h.
#include "servers/meta/client_listener.h"

#include <memory>

#include "src/common/frame.h"
#include "src/common/log.h"
#include "src/common/tls.h"

namespace vaultfs::meta {

struct ClientListener::Conn : std::enable_shared_from_this<Conn> {
  uv_tcp_t tcp{};
  ClientListener* owner = nullptr;
  FrameDecoder decoder;
  std::unique_ptr<tls::TlsEngine> tls;  // null on an --insecure listener
  std::string peer;                     // the client's IP address (login throttling)
  bool closing = false;
  char buf[64 * 1024];
  std::shared_ptr<Conn> keep_alive;  // released in the close callback

  int inflight = 0;      // requests handed to the service and not yet answered
  bool pumping = false;  // inside Pump(): a reply given synchronously must not recurse
  bool reading = false;
  bool broken = false;  // the byte stream is out of sync: never read again

  // A client may pipeline requests, but at most kMaxInflight are in the service at once; past
  // that we stop reading the socket until replies drain, so a flood costs bounded memory.
  static constexpr int kMaxInflight = 128;

  explicit Conn(size_t max_frame) : decoder(max_frame) {}

  void StartReading() {
    if (reading || closing || broken) return;
    reading = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp), &Conn::OnAlloc, &Conn::OnRead);
  }

  void StopReading() {
    if (!reading) return;
    reading = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp));
  }

  // Hands buffered whole frames to the service while under the in-flight cap.
  void Pump() {
    // A read served at once from the leased state replies inside Handle(); without this guard
    // each such reply would pump the next request one stack frame deeper, and a client
    // pipelining thousands of them would overflow the node's stack.
    if (pumping) return;
    pumping = true;
    while (!closing && inflight < kMaxInflight) {
      auto frame = decoder.Next();
      if (!frame) break;
      ++inflight;
      std::weak_ptr<Conn> weak = shared_from_this();
      try {
        owner->service_->Handle(
            *frame,
            [weak](std::string reply) {
              auto conn = weak.lock();
              if (!conn) return;
              --conn->inflight;
              conn->Send(std::move(reply), false);
              conn->Pump();
            },
            ClientPeer{peer, tls == nullptr || !tls->PeerName().empty()});
      } catch (const std::exception& e) {
        // A bug must cost one connection, never the node (and with it the group's quorum).
        VFS_LOG(kError) << "client " << peer << ": request handler failed: " << e.what();
        pumping = false;
        Close();
        return;
      }
    }
    pumping = false;
    if (closing) return;
    if (inflight >= kMaxInflight) {
      StopReading();
    } else {
      StartReading();
    }
  }

  static void OnAlloc(uv_handle_t* h, size_t, uv_buf_t* b) {
    auto* c = static_cast<Conn*>(h->data);
    *b = uv_buf_init(c->buf, sizeof(c->buf));
  }

  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* b) {
    auto* c = static_cast<Conn*>(s->data);
    if (nread < 0) {
      c->Close();
      return;
    }
    if (c->closing) return;
    std::string_view bytes(b->base, static_cast<size_t>(nread));
    std::string plain;
    if (c->tls != nullptr) {
      Status st = c->tls->Receive(bytes, &plain);
      c->WriteRaw(c->tls->TakeOutput(), !st.ok());  // handshake records, or the alert
      if (!st.ok()) {
        VFS_LOG(kDebug) << "client " << c->peer << ": " << st.ToString();
        c->StopReading();
        return;
      }
      bytes = plain;
    }
    Status st = c->decoder.Feed(bytes);
    if (!st.ok()) {
      c->broken = true;
      c->StopReading();
      c->Send(MetaService::ErrorBody(nullptr, ErrnoName(st.code()), st.message()), true);
      return;
    }
    auto keep = c->shared_from_this();  // a synchronous reply may not free us mid-loop
    c->Pump();
  }

  void Close() {
    if (closing) return;
    closing = true;
    if (owner) owner->conns_.erase(this);
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) {
      auto* c = static_cast<Conn*>(h->data);
      c->keep_alive.reset();  // may delete c
    });
  }

  struct WriteReq {
    uv_write_t req;
    std::string data;
    std::shared_ptr<Conn> conn;
    bool close_after = false;
  };

  void Send(std::string body, bool close_after) {
    if (closing) return;
    auto frame = EncodeFrame(body, SIZE_MAX);
    if (tls == nullptr) return WriteRaw(std::move(*frame), close_after);
    Status st = tls->Send(*frame);
    WriteRaw(tls->TakeOutput(), close_after || !st.ok());
  }

  // Writes bytes as they go on the wire (already encrypted on a TLS connection).
  void WriteRaw(std::string data, bool close_after) {
    if (closing) return;
    if (data.empty()) {
      if (close_after) Close();
      return;
    }
    auto* w = new WriteReq;
    w->data = std::move(data);
    w->conn = shared_from_this();
    w->close_after = close_after;
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp), &b, 1,
                      [](uv_write_t* req, int status) {
                        auto* w = static_cast<WriteReq*>(req->data);
                        if (status != 0 || w->close_after) w->conn->Close();
                        delete w;
                      });
    if (rc != 0) {
      delete w;
      Close();
    }
  }
};

ClientListener::~ClientListener() = default;

Result<uint16_t> ClientListener::Listen(const HostPort& addr) {
  sockaddr_storage sa{};
  if (uv_ip4_addr(addr.host.c_str(), addr.port, reinterpret_cast<sockaddr_in*>(&sa)) != 0 &&
      uv_ip6_addr(addr.host.c_str(), addr.port, reinterpret_cast<sockaddr_in6*>(&sa)) != 0) {
    return InvalidArgument("--listen needs a numeric IP address: " + addr.ToString());
  }
  uv_tcp_init(loop_, &server_);
  server_.data = this;
  listening_ = true;
  int rc = uv_tcp_bind(&server_, reinterpret_cast<sockaddr*>(&sa), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server_), 256, &OnConnection);
  if (rc != 0) {
    return Status(-rc, "cannot listen for clients on " + addr.ToString() + ": " + uv_strerror(rc) +
                           (rc == UV_EADDRINUSE ? " (is another server using this port?)" : ""));
  }
  sockaddr_storage bound{};
  int len = sizeof(bound);
  uv_tcp_getsockname(&server_, reinterpret_cast<sockaddr*>(&bound), &len);
  uint16_t port = bound.ss_family == AF_INET6
                      ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return port;
}

void ClientListener::OnConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<ClientListener*>(server->data);
  if (status != 0) {
    VFS_LOG(kWarn) << "accept: " << uv_strerror(status);
    return;
  }
  auto conn = std::make_shared<Conn>(self->max_frame_);
  conn->owner = self;
  uv_tcp_init(self->loop_, &conn->tcp);
  conn->tcp.data = conn.get();
  conn->keep_alive = conn;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&conn->tcp)) != 0) {
    conn->Close();
    return;
  }
  uv_tcp_nodelay(&conn->tcp, 1);
  sockaddr_storage peer{};
  int len = sizeof(peer);
  char ip[64] = "";
  if (uv_tcp_getpeername(&conn->tcp, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    if (peer.ss_family == AF_INET6) {
      uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&peer), ip, sizeof(ip));
    } else {
      uv_ip4_name(reinterpret_cast<sockaddr_in*>(&peer), ip, sizeof(ip));
    }
  }
  conn->peer = ip;
  if (self->tls_ != nullptr) {
    auto engine = tls::TlsEngine::Accept(self->tls_);
    if (!engine.ok()) {
      VFS_LOG(kError) << "TLS: " << engine.status().ToString();
      conn->Close();
      return;
    }
    conn->tls = std::move(engine).value();
  }
  self->conns_.insert(conn.get());
  conn->StartReading();
}

void ClientListener::Close(std::function<void()> done) {
  std::vector<Conn*> all(conns_.begin(), conns_.end());
  for (Conn* c : all) c->Close();
  if (!listening_) {
    if (done) done();
    return;
  }
  close_done_ = std::move(done);
  listening_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&server_), [](uv_handle_t* h) {
    auto* self = static_cast<ClientListener*>(h->data);
    if (self->close_done_) self->close_done_();
  });
}

}  // namespace vaultfs::meta
