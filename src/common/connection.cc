// Connection and ConnectionListener: see connection.h.
#include "src/common/connection.h"

#include <algorithm>
#include <vector>

#include "src/common/log.h"

namespace vaultfs {
namespace {

constexpr size_t kReadChunk = 64 << 10;

// Reads are handled synchronously in the read callback (TLS decrypts into its own string, the
// application copies what it keeps), so one buffer per loop thread serves every connection
// instead of 64 KiB per open connection.
char* ReadBuffer() {
  thread_local char buf[kReadChunk];
  return buf;
}

uint64_t Ms(std::chrono::milliseconds d) { return static_cast<uint64_t>(d.count()); }

}  // namespace

std::string PeerAddress(const uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char ip[64] = "";
  if (ss.ss_family == AF_INET6) {
    uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&ss), ip, sizeof(ip));
  } else {
    uv_ip4_name(reinterpret_cast<sockaddr_in*>(&ss), ip, sizeof(ip));
  }
  return ip;
}

struct Connection::WriteReq {
  uv_write_t req{};
  std::string data;
  std::shared_ptr<Connection> conn;
};

std::shared_ptr<Connection> Connection::Create(uv_loop_t* loop, std::unique_ptr<tls::TlsEngine> tls,
                                               ConnectionLimits limits) {
  std::shared_ptr<Connection> c(new Connection(loop, std::move(tls), limits));
  c->keep_alive_ = c;
  return c;
}

Connection::Connection(uv_loop_t* loop, std::unique_ptr<tls::TlsEngine> tls,
                       ConnectionLimits limits)
    : loop_(loop), tls_(std::move(tls)), limits_(limits) {
  if (limits_.low_water > limits_.high_water) limits_.low_water = limits_.high_water;
  uv_tcp_init(loop_, &tcp_);
  uv_timer_init(loop_, &timer_);
  tcp_.data = this;
  timer_.data = this;
  open_handles_ = 2;
  started_ms_ = last_progress_ms_ = uv_now(loop_);
}

Connection::~Connection() = default;

std::string Connection::PeerName() const { return tls_ ? tls_->PeerName() : std::string(); }

void Connection::Start() {
  if (started_ || closing_) return;
  started_ = true;
  if (!dialled_) started_ms_ = uv_now(loop_);
  last_progress_ms_ = uv_now(loop_);
  auto keep = shared_from_this();
  if (tls_ == nullptr) {
    ready_ = true;
    if (on_ready_) on_ready_();
  } else {
    FlushTls();  // a client's ClientHello
  }
  if (closing_) return;
  ArmTimer();
  UpdateReading();
}

Status Connection::Connect(const sockaddr* addr) {
  if (started_ || dialled_ || closing_) return Status(EALREADY, "connection already in use");
  connect_req_.data = this;
  int rc = uv_tcp_connect(&connect_req_, &tcp_, addr, [](uv_connect_t* req, int status) {
    static_cast<Connection*>(req->data)->OnConnected(status);
  });
  if (rc != 0) {
    Status st(-rc, std::string("connect: ") + uv_strerror(rc));
    Close(st);
    return st;
  }
  dialled_ = connecting_ = true;
  started_ms_ = last_progress_ms_ = uv_now(loop_);
  ArmTimer();
  return Status::Ok();
}

void Connection::OnConnected(int status) {
  connecting_ = false;
  if (closing_) return;  // canceled by Close(); the handles keep us alive until here
  if (status < 0) return Close(Status(-status, std::string("connect: ") + uv_strerror(status)));
  uv_tcp_nodelay(&tcp_, 1);
  Start();
}

void Connection::SetDeadline(std::chrono::milliseconds after, std::string what) {
  deadline_ms_ = uv_now(loop_) + Ms(after);
  if (deadline_ms_ == 0) deadline_ms_ = 1;
  deadline_what_ = std::move(what);
  ArmTimer();
}

void Connection::ClearDeadline() {
  deadline_ms_ = 0;
  if (started_) ArmTimer();
}

void Connection::Touch() { last_progress_ms_ = uv_now(loop_); }

void Connection::PauseReading(bool paused) {
  app_paused_ = paused;
  UpdateReading();
}

void Connection::UpdateReading() {
  bool want = started_ && !closing_ && !close_after_writes_ && !app_paused_ &&
              (!congested_ || limits_.read_while_congested);
  if (want == reading_) return;
  auto* s = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (want) {
    int rc = uv_read_start(
        s, [](uv_handle_t*, size_t, uv_buf_t* b) { *b = uv_buf_init(ReadBuffer(), kReadChunk); },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          static_cast<Connection*>(s->data)->OnRead(n, b);
        });
    if (rc != 0) return Fail(Status(-rc, std::string("read: ") + uv_strerror(rc)));
  } else {
    uv_read_stop(s);
  }
  reading_ = want;
}

void Connection::OnRead(ssize_t n, const uv_buf_t* buf) {
  if (n == 0 || closing_) return;
  auto keep = shared_from_this();  // a callback may close us
  if (n < 0) {
    if (n == UV_EOF) return Close(Status(ECONNRESET, "connection closed by peer"));
    return Close(
        Status(static_cast<int>(-n), std::string("read: ") + uv_strerror(static_cast<int>(n))));
  }
  last_progress_ms_ = uv_now(loop_);
  std::string_view bytes(buf->base, static_cast<size_t>(n));
  std::string plain;
  if (tls_ != nullptr) {
    Status st = tls_->Receive(bytes, &plain);
    FlushTls();  // handshake records, post-handshake messages, or the alert
    if (!st.ok()) return CloseAfterWrites(st);
    if (!ready_ && tls_->handshake_done()) {
      ready_ = true;
      ArmTimer();  // from the handshake deadline to the idle timeout
      if (on_ready_) on_ready_();
      if (closing_) return;
    }
    bytes = plain;
  }
  if (!bytes.empty() && on_data_) on_data_(bytes);
}

void Connection::FlushTls() {
  if (tls_ != nullptr && tls_->HasOutput()) Write(tls_->TakeOutput());
}

void Connection::Send(std::string plain) {
  if (closing_ || close_after_writes_) return;
  if (tls_ == nullptr) return Write(std::move(plain));
  Status st = tls_->Send(plain);
  FlushTls();
  if (!st.ok()) CloseAfterWrites(st);
}

void Connection::Write(std::string wire) {
  if (closing_ || wire.empty()) return;
  auto* w = new WriteReq;
  w->data = std::move(wire);
  w->conn = shared_from_this();
  w->req.data = w;
  const size_t len = w->data.size();
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(len));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1,
                    [](uv_write_t* req, int status) {
                      auto* w = static_cast<WriteReq*>(req->data);
                      std::shared_ptr<Connection> c = std::move(w->conn);
                      size_t n = w->data.size();
                      delete w;
                      c->OnWritten(n, status);
                    });
  if (rc != 0) {
    delete w;
    return Fail(Status(-rc, std::string("write: ") + uv_strerror(rc)));
  }
  queued_ += len;
  if (!congested_ && queued_ > limits_.high_water) {
    congested_ = true;
    UpdateReading();
  }
}

void Connection::OnWritten(size_t len, int status) {
  queued_ -= len;
  if (closing_) return;
  if (status < 0) return Close(Status(-status, std::string("write: ") + uv_strerror(status)));
  last_progress_ms_ = uv_now(loop_);
  if (close_after_writes_ && queued_ == 0) return Close(close_why_);
  if (congested_ && queued_ <= limits_.low_water) {
    congested_ = false;
    UpdateReading();
    if (on_drain_) on_drain_();
  }
}

void Connection::CloseAfterWrites(const Status& why) {
  if (closing_) return;
  if (queued_ == 0) return Close(why);
  if (!close_after_writes_) {
    close_after_writes_ = true;
    close_why_ = why;
  }
  UpdateReading();
}

void Connection::ArmTimer() {
  if (closing_) return;
  const uint64_t now = uv_now(loop_);
  uint64_t due = UINT64_MAX;
  if (!ready_) {
    due = started_ms_ + Ms(limits_.handshake_timeout);
  } else if (limits_.idle_timeout.count() > 0) {
    due = last_progress_ms_ + Ms(limits_.idle_timeout);
  }
  if (deadline_ms_ != 0) due = std::min(due, deadline_ms_);
  if (due == UINT64_MAX) {
    uv_timer_stop(&timer_);
    return;
  }
  // Checked when due rather than restarted on every read and write.
  uv_timer_start(
      &timer_, [](uv_timer_t* t) { static_cast<Connection*>(t->data)->OnTimer(); },
      due > now ? due - now : 0, 0);
}

void Connection::OnTimer() {
  if (closing_) return;
  const uint64_t now = uv_now(loop_);
  auto keep = shared_from_this();
  if (deadline_ms_ != 0 && now >= deadline_ms_) return Close(Status(ETIMEDOUT, deadline_what_));
  if (!ready_) {
    if (now >= started_ms_ + Ms(limits_.handshake_timeout)) {
      return Close(Status(ETIMEDOUT, std::string(connecting_ ? "connect" : "TLS handshake") +
                                         " not completed within " +
                                         std::to_string(limits_.handshake_timeout.count()) +
                                         " ms"));
    }
  } else if (limits_.idle_timeout.count() > 0 &&
             now >= last_progress_ms_ + Ms(limits_.idle_timeout)) {
    return Close(Status(ETIMEDOUT, "idle for " + std::to_string(limits_.idle_timeout.count()) +
                                       " ms (nothing received and no reply taken)"));
  }
  ArmTimer();
}

void Connection::Close(const Status& why) {
  if (closing_) return;
  closing_ = true;
  auto keep = shared_from_this();
  if (reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  reading_ = false;
  uv_timer_stop(&timer_);
  auto on_closed = [](uv_handle_t* h) {
    auto* c = static_cast<Connection*>(h->data);
    if (--c->open_handles_ == 0) c->keep_alive_.reset();  // may delete c
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
  CloseFn on_close = std::move(on_close_);
  std::function<void()> release = std::move(on_release_);
  on_data_ = nullptr;
  on_ready_ = nullptr;
  on_drain_ = nullptr;
  if (release) release();
  if (on_close) on_close(why);
}

ConnectionListener::ConnectionListener(uv_loop_t* loop, std::shared_ptr<tls::TlsContext> tls,
                                       ConnectionLimits conn_limits, ListenerLimits limits,
                                       AcceptFn on_accept)
    : loop_(loop),
      tls_(std::move(tls)),
      conn_limits_(conn_limits),
      limits_(limits),
      on_accept_(std::move(on_accept)) {}

ConnectionListener::~ConnectionListener() = default;

Result<uint16_t> ConnectionListener::Listen(const HostPort& addr, const std::string& what,
                                            int backlog) {
  sockaddr_storage sa{};
  if (uv_ip4_addr(addr.host.c_str(), addr.port, reinterpret_cast<sockaddr_in*>(&sa)) != 0 &&
      uv_ip6_addr(addr.host.c_str(), addr.port, reinterpret_cast<sockaddr_in6*>(&sa)) != 0) {
    return InvalidArgument("--listen needs a numeric IP address: " + addr.ToString());
  }
  uv_tcp_init(loop_, &server_);
  server_.data = this;
  listening_ = true;
  int rc = uv_tcp_bind(&server_, reinterpret_cast<sockaddr*>(&sa), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server_), backlog, &OnConnection);
  if (rc != 0) {
    return Status(-rc, "cannot listen for " + what + " on " + addr.ToString() + ": " +
                           uv_strerror(rc) +
                           (rc == UV_EADDRINUSE ? " (is another server using this port?)" : ""));
  }
  sockaddr_storage bound{};
  int len = sizeof(bound);
  uv_tcp_getsockname(&server_, reinterpret_cast<sockaddr*>(&bound), &len);
  return bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                     : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

void ConnectionListener::OnConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<ConnectionListener*>(server->data);
  if (status != 0) {
    VFS_LOG(kWarn) << "accept: " << uv_strerror(status);
    return;
  }
  self->Accept();
}

void ConnectionListener::Accept() {
  auto conn = Connection::Create(loop_, nullptr, conn_limits_);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&server_),
                reinterpret_cast<uv_stream_t*>(conn->tcp())) != 0) {
    conn->Close(Status(ECONNABORTED, "accept failed"));
    return;
  }
  uv_tcp_nodelay(conn->tcp(), 1);
  std::string peer = PeerAddress(conn->tcp());
  conn->set_peer(peer);
  size_t& from_peer = per_address_[peer];
  const char* refusal = nullptr;
  if (conns_.size() >= limits_.max_connections && !limits_.exempt_from_total.contains(peer)) {
    refusal = "the listener's connection limit";
  } else if (from_peer >= limits_.max_per_address) {
    refusal = "the per-address connection limit";
  }
  if (refusal != nullptr) {
    if (from_peer == 0) per_address_.erase(peer);
    // Logged for the first refusal and then every 1000th, so a flood cannot fill the log.
    if (refused_++ % 1000 == 0) {
      VFS_LOG(kWarn) << "refused a connection from " << peer << ": " << refusal << " ("
                     << limits_.max_connections << " in all, " << limits_.max_per_address
                     << " per address) is reached; " << refused_ << " refused so far";
    }
    conn->Close(Status(EMFILE, std::string("refused: ") + refusal));
    return;
  }
  if (tls_ != nullptr) {
    auto engine = tls::TlsEngine::Accept(tls_);
    if (!engine.ok()) {
      VFS_LOG(kError) << "TLS: " << engine.status().ToString();
      if (from_peer == 0) per_address_.erase(peer);
      conn->Close(engine.status());
      return;
    }
    conn->tls_ = std::move(engine).value();
  }
  ++from_peer;
  conns_.emplace(conn.get(), conn);
  conn->on_release_ = [this, raw = conn.get(), peer] {
    conns_.erase(raw);
    auto it = per_address_.find(peer);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  };
  on_accept_(conn);
}

void ConnectionListener::CloseAll(const Status& why) {
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& [raw, c] : conns_) all.push_back(c);
  for (auto& c : all) c->Close(why);  // each leaves conns_ through on_release_
}

void ConnectionListener::Close(std::function<void()> done) {
  CloseAll(Status(ESHUTDOWN, "the server is shutting down"));
  if (!listening_) {
    if (done) done();
    return;
  }
  close_done_ = std::move(done);
  listening_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&server_), [](uv_handle_t* h) {
    auto* self = static_cast<ConnectionListener*>(h->data);
    if (self->close_done_) self->close_done_();
  });
}

}  // namespace vaultfs
