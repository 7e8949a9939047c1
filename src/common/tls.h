// TLS 1.3 for every vaultfs connection (DESIGN.md §6), with OpenSSL.
//
// TlsContext holds what one process presents and trusts: the cluster CA (the only trust
// anchor: public CAs are never trusted), and for servers and server-to-server clients a
// certificate and key issued by that CA. TlsEngine runs one connection's TLS state machine over
// memory BIOs: the caller moves bytes between the engine and its socket, so an event loop never
// blocks in TLS and the same engine serves libuv servers, the libuv data client and the
// blocking clients (tls_stream.h).
//
// Peer checks: a client verifies the server's chain against the cluster CA and that the
// certificate names the host it dialled (IP or DNS SAN). A server verifies a client
// certificate when one is presented (kOptional) or demands one (kRequired, server-to-server
// links); a certificate from another CA is refused either way.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "src/common/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace vaultfs::tls {

// PEM texts (not paths).
struct TlsIdentity {
  std::string ca_pem;    // the cluster CA certificate (trust anchor); required
  std::string cert_pem;  // this process's certificate; empty for a plain client
  std::string key_pem;   // its private key; empty for a plain client
};

// Reads a CA file and optionally a certificate and key file. A key file readable by group or
// others is refused (EPERM), as ssh does, so a leaked key is noticed at the first start.
Result<TlsIdentity> LoadIdentity(const std::string& ca_path, const std::string& cert_path = "",
                                 const std::string& key_path = "");

enum class ClientCerts {
  kNone,      // do not ask for one
  kOptional,  // ask; verify if presented (data servers: clients have none, repairers do)
  kRequired,  // refuse a client without a valid one (raft links)
};

class TlsContext {
 public:
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A server: presents cert/key (both required), checks client certificates per `mode`.
  static Result<std::shared_ptr<TlsContext>> Server(const TlsIdentity& id, ClientCerts mode);
  // A client: verifies servers against id.ca_pem; presents cert/key when both are given.
  static Result<std::shared_ptr<TlsContext>> Client(const TlsIdentity& id);

  SSL_CTX* get() const { return ctx_; }
  bool is_server() const { return server_; }

 private:
  TlsContext(SSL_CTX* ctx, bool server) : ctx_(ctx), server_(server) {}
  SSL_CTX* ctx_;
  bool server_;
};

class TlsEngine {
 public:
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  // The server side of an accepted connection.
  static Result<std::unique_ptr<TlsEngine>> Accept(std::shared_ptr<TlsContext> ctx);
  // The client side; `host` is what was dialled (IP literal or DNS name) and must be named by
  // the server's certificate. The ClientHello is ready in TakeOutput() at once.
  static Result<std::unique_ptr<TlsEngine>> Connect(std::shared_ptr<TlsContext> ctx,
                                                    const std::string& host);

  // Bytes received from the network. Decrypted application bytes are appended to *plain.
  // Errors (the connection must then be closed; an alert may still be in TakeOutput()):
  // EACCES when the peer's certificate is refused, EPROTO for anything else malformed,
  // ECONNRESET when the peer closed the TLS session.
  Status Receive(std::string_view cipher, std::string* plain);

  // Encrypts application bytes (buffered until the handshake completes, then flushed); the
  // records become available from TakeOutput().
  Status Send(std::string_view plain);

  // Bytes to write to the socket: handshake records, encrypted data, alerts. Call after every
  // Receive() and Send().
  bool HasOutput() const;
  std::string TakeOutput();

  bool handshake_done() const { return handshake_done_; }
  // The peer certificate's subject common name, or "" if it presented none.
  std::string PeerName() const;

 private:
  friend struct EngineBio;
  static Result<std::unique_ptr<TlsEngine>> Create(std::shared_ptr<TlsContext> ctx);
  TlsEngine() = default;
  Status Advance();  // drives the handshake and flushes buffered plaintext
  Status Encrypt(std::string_view plain);
  // Turns a failed SSL call (ret, as returned by it) into the sticky error_.
  Status Fail(int ret, const char* what);

  std::shared_ptr<TlsContext> ctx_;
  SSL* ssl_ = nullptr;
  // Both BIOs are a small custom BIO type (tls.cc) rather than BIO_s_mem: the read side serves
  // straight from the caller's buffer and the write side appends to out_, which TakeOutput()
  // swaps out, so no ciphertext is copied through an intermediate buffer.
  BIO* net_in_ = nullptr;   // bytes from the peer (owned by ssl_)
  BIO* net_out_ = nullptr;  // bytes for the peer (owned by ssl_)
  std::string_view in_;     // ciphertext not yet consumed by OpenSSL during Receive()
  std::string in_keep_;     // ...and a copy of any left over between calls
  std::string out_;         // ciphertext for the peer
  std::string pending_;     // plaintext sent before the handshake finished
  std::string host_;        // what the client dialled, for error messages
  bool handshake_done_ = false;
  Status error_;
};

}  // namespace vaultfs::tls
