// TLS contexts and the memory-BIO engine: see tls.h.
//
// Policy, fixed here for every channel: TLS 1.3 only; the cluster CA given as PEM text is the
// only trust anchor (the system store is never loaded); no session tickets, no resumption and
// no 0-RTT, so a recorded first flight can never be replayed into application data; AES-128-GCM
// preferred (the fastest suite with AES-NI), AES-256-GCM and ChaCha20 accepted.
#include "src/common/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace vaultfs::tls {
namespace {

constexpr size_t kMaxRecordPlain = 16384;  // TLS 1.3 plaintext record limit
constexpr size_t kRecordOverhead = 22;     // 5 header + 1 inner type + 16 GCM tag

// The text of the oldest queued OpenSSL error, or `fallback`; empties the queue.
std::string TakeSslError(const char* fallback) {
  unsigned long e = ERR_peek_error();
  std::string out = fallback;
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    out = buf;
  }
  ERR_clear_error();
  return out;
}

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

// Every certificate in a PEM text, in order. EINVAL when there is none or one is malformed.
Result<std::vector<X509Ptr>> ParseCerts(std::string_view pem, const char* what) {
  ERR_clear_error();
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Status(ENOMEM, "out of memory reading " + std::string(what));
  std::vector<X509Ptr> certs;
  for (;;) {
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (x == nullptr) break;
    certs.emplace_back(x);
  }
  // The loop ends with "no start line" after the last certificate; anything else is damage.
  unsigned long e = ERR_peek_last_error();
  if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
    return Status(EINVAL, std::string(what) + " is not valid PEM: " + TakeSslError("?"));
  }
  ERR_clear_error();
  if (certs.empty()) return Status(EINVAL, std::string(what) + " holds no PEM certificate");
  return certs;
}

// Never prompts: an encrypted key is an error, not a terminal read.
int NoPassword(char*, int, int, void*) { return 0; }

Result<PkeyPtr> ParseKey(std::string_view pem) {
  ERR_clear_error();
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Status(ENOMEM, "out of memory reading the private key");
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr);
  if (k == nullptr) {
    // The error text names the failing step only, never key bytes.
    return Status(EINVAL, "the private key is not a valid unencrypted PEM key (" +
                              TakeSslError("unreadable") + ")");
  }
  return PkeyPtr(k);
}

// The settings every context shares, the trust store and, if given, the own identity.
Result<CtxPtr> NewContext(const TlsIdentity& id, bool server) {
  if (id.ca_pem.empty()) return Status(EINVAL, "no cluster CA certificate given");
  if (id.cert_pem.empty() != id.key_pem.empty()) {
    return Status(EINVAL, "a certificate needs its private key and a key its certificate");
  }
  ERR_clear_error();
  CtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return Status(ENOMEM, "SSL_CTX_new: " + TakeSslError("failed"));
  SSL_CTX* c = ctx.get();
  if (SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_ciphersuites(
          c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1) {
    return Status(EPROTO, "cannot configure TLS 1.3: " + TakeSslError("failed"));
  }
  SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
  // No resumption at all: no tickets (TLS 1.3 sends them unless told 0), no session cache,
  // no early data. Every connection does a full handshake with fresh keys.
  SSL_CTX_set_num_tickets(c, 0);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_max_early_data(c, 0);
  SSL_CTX_set_recv_max_early_data(c, 0);

  VFS_ASSIGN_OR_RETURN(std::vector<X509Ptr> cas, ParseCerts(id.ca_pem, "the cluster CA"));
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr) return Status(ENOMEM, "X509_STORE_new failed");
  SSL_CTX_set_cert_store(c, store);  // owned by the context from here on
  for (const X509Ptr& ca : cas) {
    if (X509_STORE_add_cert(store, ca.get()) != 1) {
      return Status(EINVAL, "cannot trust the cluster CA: " + TakeSslError("failed"));
    }
    // Tells clients which CA to present a certificate from.
    if (server) SSL_CTX_add_client_CA(c, ca.get());
  }
  SSL_CTX_set_verify_depth(c, 4);

  if (!id.cert_pem.empty()) {
    VFS_ASSIGN_OR_RETURN(std::vector<X509Ptr> chain, ParseCerts(id.cert_pem, "the certificate"));
    VFS_ASSIGN_OR_RETURN(PkeyPtr key, ParseKey(id.key_pem));
    // Checked first so a mismatch gets a clear message rather than OpenSSL's.
    if (X509_check_private_key(chain[0].get(), key.get()) != 1) {
      ERR_clear_error();
      return Status(EINVAL, "the private key does not belong to the certificate");
    }
    if (SSL_CTX_use_certificate(c, chain[0].get()) != 1) {
      return Status(EINVAL, "the certificate is unusable: " + TakeSslError("failed"));
    }
    for (size_t i = 1; i < chain.size(); ++i) {
      if (SSL_CTX_add1_chain_cert(c, chain[i].get()) != 1) {
        return Status(EINVAL, "the certificate chain is unusable: " + TakeSslError("failed"));
      }
    }
    if (SSL_CTX_use_PrivateKey(c, key.get()) != 1) {
      return Status(EINVAL, "the private key is unusable: " + TakeSslError("failed"));
    }
    if (SSL_CTX_check_private_key(c) != 1) {
      ERR_clear_error();
      return Status(EINVAL, "the private key does not belong to the certificate");
    }
  }
  return ctx;
}

Result<std::string> ReadSmallFile(const std::string& path, bool secret) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return Status(err, "cannot open " + path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status(EINVAL, path + " is not a regular file");
  }
  if (secret && (st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status(EPERM, "private key " + path + " is accessible by group or others (mode " + mode +
                             "); run chmod 600 " + path);
  }
  if (st.st_size > (1 << 20)) {
    ::close(fd);
    return Status(EFBIG, path + " is too large for a PEM file");
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::read(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      return Status(err, "cannot read " + path + ": " + std::strerror(err));
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  return data;
}

// "1.2.3.4", "::1" or "[::1]" are IP literals (checked against IP SANs); the rest are names.
bool IsIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool IsCertAlert(int reason) {
  switch (reason) {
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return true;
    default:
      return false;
  }
}

}  // namespace

// The BIO type under every engine. The read side hands OpenSSL the ciphertext the current
// Receive() call was given (the engine's in_), the write side appends records to out_.
struct EngineBio {
  static BIO_METHOD* Method() {
    static BIO_METHOD* const method = [] {
      BIO_METHOD* m =
          BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "vaultfs tls engine");
      BIO_meth_set_write_ex(m, Write);
      BIO_meth_set_read_ex(m, Read);
      BIO_meth_set_ctrl(m, Ctrl);
      return m;
    }();
    return method;
  }

  static BIO* New(TlsEngine* engine) {
    BIO_METHOD* m = Method();
    BIO* b = m == nullptr ? nullptr : BIO_new(m);
    if (b == nullptr) return nullptr;
    BIO_set_data(b, engine);
    BIO_set_init(b, 1);
    return b;
  }

  static TlsEngine* Engine(BIO* b) { return static_cast<TlsEngine*>(BIO_get_data(b)); }

  static int Write(BIO* b, const char* data, size_t len, size_t* written) {
    BIO_clear_retry_flags(b);
    Engine(b)->out_.append(data, len);
    *written = len;
    return 1;
  }

  static int Read(BIO* b, char* data, size_t len, size_t* read) {
    BIO_clear_retry_flags(b);
    std::string_view& in = Engine(b)->in_;
    if (in.empty()) {
      BIO_set_retry_read(b);  // "want read": more bytes come with the next Receive()
      *read = 0;
      return 0;
    }
    size_t n = std::min(len, in.size());
    std::memcpy(data, in.data(), n);
    in.remove_prefix(n);
    *read = n;
    return 1;
  }

  static long Ctrl(BIO* b, int cmd, long, void*) {
    switch (cmd) {
      case BIO_CTRL_FLUSH:
        return 1;  // writes are never buffered here
      case BIO_CTRL_PENDING:
        return b == Engine(b)->net_in_ ? static_cast<long>(Engine(b)->in_.size()) : 0;
      default:
        return 0;
    }
  }
};

Result<TlsIdentity> LoadIdentity(const std::string& ca_path, const std::string& cert_path,
                                 const std::string& key_path) {
  TlsIdentity id;
  VFS_ASSIGN_OR_RETURN(id.ca_pem, ReadSmallFile(ca_path, false));
  if (cert_path.empty() != key_path.empty()) {
    return Status(EINVAL, "a certificate needs its key file and a key its certificate file");
  }
  if (!cert_path.empty()) {
    VFS_ASSIGN_OR_RETURN(id.cert_pem, ReadSmallFile(cert_path, false));
    VFS_ASSIGN_OR_RETURN(id.key_pem, ReadSmallFile(key_path, true));
  }
  return id;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Result<std::shared_ptr<TlsContext>> TlsContext::Server(const TlsIdentity& id, ClientCerts mode) {
  if (id.cert_pem.empty() || id.key_pem.empty()) {
    return Status(EINVAL, "a TLS server needs a certificate and its private key");
  }
  VFS_ASSIGN_OR_RETURN(CtxPtr ctx, NewContext(id, true));
  int verify = SSL_VERIFY_NONE;
  // kOptional still verifies a presented certificate: one from another CA fails the handshake.
  if (mode == ClientCerts::kOptional) verify = SSL_VERIFY_PEER;
  if (mode == ClientCerts::kRequired) verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx.get(), verify, nullptr);
  return std::shared_ptr<TlsContext>(new TlsContext(ctx.release(), true));
}

Result<std::shared_ptr<TlsContext>> TlsContext::Client(const TlsIdentity& id) {
  VFS_ASSIGN_OR_RETURN(CtxPtr ctx, NewContext(id, false));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  return std::shared_ptr<TlsContext>(new TlsContext(ctx.release(), false));
}

TlsEngine::~TlsEngine() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);  // frees both BIOs
  } else {
    BIO_free(net_in_);
    BIO_free(net_out_);
  }
}

Result<std::unique_ptr<TlsEngine>> TlsEngine::Create(std::shared_ptr<TlsContext> ctx) {
  if (!ctx) return Status(EINVAL, "no TLS context");
  ERR_clear_error();
  std::unique_ptr<TlsEngine> e(new TlsEngine());
  e->ctx_ = std::move(ctx);
  e->net_in_ = EngineBio::New(e.get());
  e->net_out_ = EngineBio::New(e.get());
  if (e->net_in_ == nullptr || e->net_out_ == nullptr) {
    return Status(ENOMEM, "cannot create TLS BIOs: " + TakeSslError("out of memory"));
  }
  e->ssl_ = SSL_new(e->ctx_->get());
  if (e->ssl_ == nullptr) return Status(ENOMEM, "SSL_new: " + TakeSslError("out of memory"));
  SSL_set_bio(e->ssl_, e->net_in_, e->net_out_);
  return e;
}

Result<std::unique_ptr<TlsEngine>> TlsEngine::Accept(std::shared_ptr<TlsContext> ctx) {
  if (ctx && !ctx->is_server()) return Status(EINVAL, "TlsEngine::Accept needs a server context");
  VFS_ASSIGN_OR_RETURN(std::unique_ptr<TlsEngine> e, Create(std::move(ctx)));
  SSL_set_accept_state(e->ssl_);
  return e;
}

Result<std::unique_ptr<TlsEngine>> TlsEngine::Connect(std::shared_ptr<TlsContext> ctx,
                                                      const std::string& host) {
  if (ctx && ctx->is_server()) return Status(EINVAL, "TlsEngine::Connect needs a client context");
  std::string name = host;
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  if (name.empty()) return Status(EINVAL, "no host name to check the server's certificate against");
  VFS_ASSIGN_OR_RETURN(std::unique_ptr<TlsEngine> e, Create(std::move(ctx)));
  e->host_ = name;
  SSL* s = e->ssl_;
  if (IsIpLiteral(name)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), name.c_str()) != 1) {
      return Status(EINVAL, "cannot check the certificate for " + name + ": " + TakeSslError("?"));
    }
  } else {
    SSL_set_hostflags(s, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(s, name.c_str()) != 1 || SSL_set_tlsext_host_name(s, name.c_str()) != 1) {
      return Status(EINVAL, "cannot check the certificate for " + name + ": " + TakeSslError("?"));
    }
  }
  SSL_set_connect_state(s);
  VFS_RETURN_IF_ERROR(e->Advance());  // the ClientHello
  return e;
}

Status TlsEngine::Advance() {
  if (handshake_done_) return Status::Ok();
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r != 1) {
    if (SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ) return Status::Ok();
    return Fail(r, "handshake");
  }
  handshake_done_ = true;
  if (pending_.empty()) return Status::Ok();
  std::string p;
  p.swap(pending_);
  return Encrypt(p);
}

Status TlsEngine::Receive(std::string_view cipher, std::string* plain) {
  if (!error_.ok()) return error_;
  if (in_keep_.empty()) {
    in_ = cipher;
  } else {
    in_keep_.append(cipher);
    in_ = in_keep_;
  }
  Status st = Advance();
  if (st.ok() && handshake_done_) {
    // Plaintext never exceeds the ciphertext given plus one record OpenSSL may hold back from
    // an earlier call, so one resize (not one per record) covers the common case.
    size_t have = plain->size();
    plain->resize(have + in_.size() + kMaxRecordPlain);
    for (;;) {
      if (plain->size() - have < kMaxRecordPlain)
        plain->resize(have + kMaxRecordPlain + in_.size());
      size_t n = 0;
      ERR_clear_error();
      int r = SSL_read_ex(ssl_, plain->data() + have, plain->size() - have, &n);
      if (r == 1) {
        have += n;
        continue;
      }
      plain->resize(have);
      if (SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ) st = Fail(r, "read");
      break;
    }
  }
  // OpenSSL reads until it would block, so in_ is normally empty here; keep any rest safe.
  if (st.ok() && !in_.empty()) {
    std::string rest(in_);
    in_keep_.swap(rest);
  } else {
    in_keep_.clear();
  }
  in_ = {};
  return st;
}

Status TlsEngine::Send(std::string_view plain) {
  if (!error_.ok()) return error_;
  if (!handshake_done_) {
    pending_.append(plain);
    return Status::Ok();
  }
  return Encrypt(plain);
}

Status TlsEngine::Encrypt(std::string_view plain) {
  size_t need = out_.size() + plain.size() + (plain.size() / kMaxRecordPlain + 1) * kRecordOverhead;
  if (need > out_.capacity()) out_.reserve(std::max(need, 2 * out_.capacity()));
  while (!plain.empty()) {
    size_t n = 0;
    ERR_clear_error();
    int r = SSL_write_ex(ssl_, plain.data(), plain.size(), &n);
    if (r != 1) return Fail(r, "write");
    plain.remove_prefix(n);
  }
  return Status::Ok();
}

bool TlsEngine::HasOutput() const { return !out_.empty(); }

std::string TlsEngine::TakeOutput() {
  std::string out;
  out.swap(out_);
  return out;
}

std::string TlsEngine::PeerName() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return "";
  X509_NAME* subject = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) {
    ERR_clear_error();
    return "";
  }
  std::string name(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return name;
}

Status TlsEngine::Fail(int ret, const char* what) {
  const bool server = ctx_->is_server();
  const std::string peer = server ? "client" : "server";
  int err = SSL_get_error(ssl_, ret);
  long verify = SSL_get_verify_result(ssl_);
  // The queue, oldest first: the first entry describes a protocol failure best, and a refusal
  // is explained by the certificate reason wherever it sits.
  unsigned long first = 0;
  int reason = 0;
  for (unsigned long e; (e = ERR_get_error()) != 0;) {
    if (first == 0) first = e;
    int r = ERR_GET_REASON(e);
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && reason == 0 &&
        (IsCertAlert(r) || r == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)) {
      reason = r;
    }
  }
  Status st;
  if (err == SSL_ERROR_ZERO_RETURN) {
    st = Status(ECONNRESET, "the " + peer + " closed the TLS session");
  } else if (verify != X509_V_OK) {
    std::string why = X509_verify_cert_error_string(verify);
    switch (verify) {
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        st = Status(EACCES, "the server's certificate does not name " + host_ +
                                ", the address dialled (" + why + ")");
        break;
      case X509_V_ERR_CERT_HAS_EXPIRED:
      case X509_V_ERR_CERT_NOT_YET_VALID:
        st = Status(EACCES,
                    "the " + peer + "'s certificate is outside its validity period (" + why + ")");
        break;
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      case X509_V_ERR_CERT_UNTRUSTED:
        st = Status(EACCES,
                    "the " + peer + "'s certificate is not signed by the cluster CA (" + why + ")");
        break;
      default:
        st = Status(EACCES, "the " + peer + "'s certificate is refused (" + why + ")");
    }
  } else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    st = Status(EACCES,
                "the client presented no certificate; this server requires one signed "
                "by the cluster CA");
  } else if (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED) {
    st = Status(EACCES, "the server requires a client certificate signed by the cluster CA");
  } else if (reason != 0) {
    const char* alert = ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, reason));
    st = Status(EACCES, "the " + peer + " refused our certificate (" +
                            (alert != nullptr ? alert : "certificate alert") + ")");
  } else {
    std::string text = err == SSL_ERROR_SYSCALL ? "unexpected end of stream" : "protocol error";
    if (first != 0) {
      char buf[256];
      ERR_error_string_n(first, buf, sizeof(buf));
      text = buf;
    }
    st = Status(EPROTO, std::string("TLS ") + what + " failed: " + text);
  }
  ERR_clear_error();
  error_ = st;
  return st;
}

}  // namespace vaultfs::tls
