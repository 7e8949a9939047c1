// Connection: one libuv TCP connection, TLS through a TlsEngine or plain TCP (--insecure), with
// the bounds every vaultfs server needs in one place (issue 20):
//   - output backpressure: once more than `high_water` bytes of output are queued (handed to
//     libuv, not yet written to the kernel), the connection stops reading and reports itself
//     congested(); below `low_water` it reads again and calls on_drain, so a peer that never
//     reads its replies costs at most ~high_water bytes, not one reply per request it sent;
//   - a TLS-handshake timeout (a peer that connects and stays silent holds no slot for long);
//   - an idle timeout: no byte read and no write completed for that long closes the
//     connection, which also ends half-open connections and peers that stopped reading.
// ConnectionListener accepts connections with a total cap and a per-address cap (excess ones
// are accepted and closed at once, before any TLS work) and closes them all on shutdown.
//
// Everything runs on the loop's thread. Callbacks may call back into the connection (Send,
// Close...); the connection stays alive while a callback runs.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "src/common/cluster_config.h"
#include "src/common/status.h"
#include "src/common/tls.h"

namespace vaultfs {

struct ConnectionLimits {
  size_t high_water = 4u << 20;  // queued output that stops reading
  size_t low_water = 1u << 20;   // ...and the level below which reading resumes
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds idle_timeout{120000};  // zero: no idle timeout
  // A client's: go on reading while congested. It must take the replies to what it already
  // sent, or a client and a server that each stop reading while their output is queued wait
  // for each other; it obeys congested() by sending less instead.
  bool read_while_congested = false;
};

struct ListenerLimits {
  size_t max_connections = 1024;  // open connections on this listener
  size_t max_per_address = 256;   // ...from one remote IP address
  // Remote IP addresses max_connections does not apply to (a server's configured peers), so
  // strangers filling it cannot lock them out; max_per_address still does.
  std::set<std::string> exempt_from_total;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using DataFn = std::function<void(std::string_view plain)>;
  using EventFn = std::function<void()>;
  using CloseFn = std::function<void(const Status& why)>;

  // A connection on `loop`; `tls` null for plain TCP. Accept or connect into tcp(), then set
  // the callbacks and Start().
  static std::shared_ptr<Connection> Create(uv_loop_t* loop, std::unique_ptr<tls::TlsEngine> tls,
                                            ConnectionLimits limits);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uv_tcp_t* tcp() { return &tcp_; }

  // Decrypted bytes from the peer.
  void set_on_data(DataFn f) { on_data_ = std::move(f); }
  // The TLS handshake completed (at Start() for plain TCP); on_data only comes after it.
  void set_on_ready(EventFn f) { on_ready_ = std::move(f); }
  // Queued output fell below low_water after the connection was congested.
  void set_on_drain(EventFn f) { on_drain_ = std::move(f); }
  // Once, when the connection closes for any reason (also Close()). Every callback is dropped
  // afterwards, so callbacks may hold the owner of this connection.
  void set_on_close(CloseFn f) { on_close_ = std::move(f); }

  // Starts reading and the timers; flushes a TLS client's ClientHello.
  void Start();
  // Client side: connects tcp() to `addr`, then Start()s. The handshake timeout runs from
  // here, so it bounds the TCP connect too; a failed connect closes the connection (on_close
  // says why). Set the callbacks first. An error is also returned (and the connection closed)
  // when the connect cannot even be attempted.
  Status Connect(const sockaddr* addr);
  // Closes the connection (ETIMEDOUT, "`what`") if ClearDeadline() is not called within
  // `after`: for an application's own handshake (e.g. an identity preamble) after TLS.
  void SetDeadline(std::chrono::milliseconds after, std::string what);
  void ClearDeadline();

  // Queues application bytes (encrypted on a TLS connection). Ignored once closing.
  void Send(std::string plain);
  // Closes at once; queued output is dropped.
  void Close(const Status& why);
  // Stops reading and closes once queued output is written.
  void CloseAfterWrites(const Status& why);
  // The application's own pause (e.g. too many requests in progress); reading also stops
  // while congested (unless read_while_congested), whatever this says.
  void PauseReading(bool paused);
  // Counts as activity for the idle timeout (e.g. while the application works on a request).
  void Touch();

  bool congested() const { return congested_; }
  bool closed() const { return closing_; }
  size_t queued() const { return queued_; }
  bool secure() const { return tls_ != nullptr; }
  bool ready() const { return ready_; }
  // The peer certificate's subject CN ("" without TLS or without a certificate).
  std::string PeerName() const;
  // The remote IP address (set on accept; "?" when unknown).
  const std::string& peer() const { return peer_; }
  void set_peer(std::string p) { peer_ = std::move(p); }

 private:
  friend class ConnectionListener;
  struct WriteReq;

  Connection(uv_loop_t* loop, std::unique_ptr<tls::TlsEngine> tls, ConnectionLimits limits);
  void Write(std::string wire);  // bytes as they go on the wire
  void FlushTls();
  void UpdateReading();
  void OnRead(ssize_t n, const uv_buf_t* buf);
  void OnWritten(size_t len, int status);
  void ArmTimer();
  void OnTimer();
  void OnConnected(int status);
  void Fail(const Status& why) { Close(why); }

  uv_loop_t* loop_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_connect_t connect_req_{};
  std::unique_ptr<tls::TlsEngine> tls_;
  ConnectionLimits limits_;
  std::string peer_ = "?";
  DataFn on_data_;
  EventFn on_ready_, on_drain_;
  CloseFn on_close_;
  std::function<void()> on_release_;        // the listener's bookkeeping
  std::shared_ptr<Connection> keep_alive_;  // until both handles are closed
  int open_handles_ = 0;
  size_t queued_ = 0;
  uint64_t started_ms_ = 0;
  uint64_t last_progress_ms_ = 0;
  uint64_t deadline_ms_ = 0;  // SetDeadline's; 0: none
  std::string deadline_what_;
  bool dialled_ = false;     // Connect() was called: the handshake timeout runs from there
  bool connecting_ = false;  // ...and its callback has not run yet
  bool started_ = false;
  bool ready_ = false;
  bool reading_ = false;
  bool app_paused_ = false;
  bool congested_ = false;
  bool close_after_writes_ = false;
  bool closing_ = false;
  Status close_why_;
};

class ConnectionListener {
 public:
  // Called for each accepted connection, before Start(): set the callbacks, then Start() it.
  using AcceptFn = std::function<void(std::shared_ptr<Connection>)>;

  // `tls` null: plain TCP.
  ConnectionListener(uv_loop_t* loop, std::shared_ptr<tls::TlsContext> tls,
                     ConnectionLimits conn_limits, ListenerLimits limits, AcceptFn on_accept);
  ~ConnectionListener();
  ConnectionListener(const ConnectionListener&) = delete;
  ConnectionListener& operator=(const ConnectionListener&) = delete;

  // Binds a numeric IP address and listens; returns the bound port (useful with port 0).
  // `what` names the traffic in errors ("cannot listen for clients on ...").
  Result<uint16_t> Listen(const HostPort& addr, const std::string& what = "connections",
                          int backlog = 256);
  // Stops accepting and closes every connection; `done` runs once the listening handle is
  // closed.
  void Close(std::function<void()> done);
  // Closes every connection but keeps listening.
  void CloseAll(const Status& why);

  size_t connections() const { return conns_.size(); }
  uint64_t refused() const { return refused_; }

 private:
  static void OnConnection(uv_stream_t* server, int status);
  void Accept();

  uv_loop_t* loop_;
  std::shared_ptr<tls::TlsContext> tls_;
  ConnectionLimits conn_limits_;
  ListenerLimits limits_;
  AcceptFn on_accept_;
  uv_tcp_t server_{};
  bool listening_ = false;
  std::function<void()> close_done_;
  std::unordered_map<Connection*, std::shared_ptr<Connection>> conns_;
  std::map<std::string, size_t> per_address_;
  uint64_t refused_ = 0;
};

// The remote IP address of a connected handle, "?" when unknown.
std::string PeerAddress(const uv_tcp_t* tcp);

}  // namespace vaultfs
