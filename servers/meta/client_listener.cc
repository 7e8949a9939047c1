// Client connections on libuv: see client_listener.h. The bytes, TLS, timeouts and caps are
// Connection's (src/common/connection.h); this file cuts frames and feeds the service.
#include "servers/meta/client_listener.h"

#include <memory>

#include "src/common/frame.h"
#include "src/common/log.h"

namespace vaultfs::meta {

struct ClientListener::Conn : std::enable_shared_from_this<Conn> {
  ClientListener* owner = nullptr;
  std::shared_ptr<Connection> io;
  FrameDecoder decoder;

  int inflight = 0;      // requests handed to the service and not yet answered
  bool pumping = false;  // inside Pump(): a reply given synchronously must not recurse
  bool broken = false;   // the byte stream is out of sync: never read again

  // A client may pipeline requests, but at most kMaxInflight are in the service at once, and
  // none is taken while the connection's replies are congested (the client does not read
  // them): past either we stop reading the socket, so a flood costs bounded memory.
  static constexpr int kMaxInflight = 128;

  explicit Conn(size_t max_frame) : decoder(max_frame) {}

  // Hands buffered whole frames to the service while under both bounds.
  void Pump() {
    // A read served at once from the leased state replies inside Handle(); without this guard
    // each such reply would pump the next request one stack frame deeper, and a client
    // pipelining thousands of them would overflow the node's stack.
    if (pumping) return;
    pumping = true;
    while (!io->closed() && !broken && inflight < kMaxInflight && !io->congested()) {
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
              conn->Send(std::move(reply));
              conn->Pump();
            },
            ClientPeer{io->peer(), !io->secure() || !io->PeerName().empty()});
      } catch (const std::exception& e) {
        // A bug must cost one connection, never the node (and with it the group's quorum).
        VFS_LOG(kError) << "client " << io->peer() << ": request handler failed: " << e.what();
        pumping = false;
        io->Close(Status(EIO, "request handler failed"));
        return;
      }
    }
    pumping = false;
    io->PauseReading(broken || inflight >= kMaxInflight);
  }

  void OnData(std::string_view bytes) {
    if (broken) return;
    Status st = decoder.Feed(bytes);
    if (!st.ok()) {
      broken = true;
      io->PauseReading(true);
      Send(MetaService::ErrorBody(nullptr, ErrnoName(st.code()), st.message()));
      io->CloseAfterWrites(st);
      return;
    }
    Pump();
  }

  void Send(std::string body) {
    auto frame = EncodeFrame(body, SIZE_MAX);
    io->Send(std::move(*frame));
  }
};

ClientListener::ClientListener(uv_loop_t* loop, MetaService* service, size_t max_frame,
                               std::shared_ptr<tls::TlsContext> tls, ConnectionLimits conn_limits,
                               ListenerLimits limits)
    : service_(service),
      max_frame_(max_frame),
      listener_(loop, std::move(tls), conn_limits, limits,
                [this](std::shared_ptr<Connection> io) { OnAccept(std::move(io)); }) {}

ClientListener::~ClientListener() = default;

Result<uint16_t> ClientListener::Listen(const HostPort& addr) {
  return listener_.Listen(addr, "clients");
}

void ClientListener::OnAccept(std::shared_ptr<Connection> io) {
  auto conn = std::make_shared<Conn>(max_frame_);
  conn->owner = this;
  conn->io = io;
  // The callbacks hold the Conn; Connection drops them when it closes, which ends the cycle.
  io->set_on_data([conn](std::string_view b) { conn->OnData(b); });
  io->set_on_drain([conn] { conn->Pump(); });
  io->set_on_close([conn](const Status& why) {
    VFS_LOG(kDebug) << "client " << conn->io->peer() << ": " << why.ToString();
  });
  io->Start();
}

void ClientListener::Close(std::function<void()> done) { listener_.Close(std::move(done)); }

}  // namespace vaultfs::meta
