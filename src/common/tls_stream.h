// Stream: a blocking client connection with deadlines (socket.h) that speaks TLS through a
// TlsEngine when given a context, plain TCP when not (only behind --insecure). Used by the
// synchronous clients: the metadata client, tools and tests.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "src/common/socket.h"
#include "src/common/tls.h"

namespace vaultfs {

class Stream {
 public:
  Stream() = default;
  Stream(Stream&&) noexcept;
  Stream& operator=(Stream&&) noexcept;
  ~Stream();

  // Connects and, with a context, completes the TLS handshake before the deadline; the
  // server's certificate must chain to the context's CA and name addr.host.
  static Result<Stream> Connect(const HostPort& addr, std::shared_ptr<tls::TlsContext> ctx,
                                Deadline deadline);

  Status WriteAll(std::string_view data, Deadline deadline);
  // Exactly n bytes; a clean end of stream first is ECONNRESET.
  Status ReadFull(char* buf, size_t n, Deadline deadline);
  Status WriteFrame(std::string_view body, Deadline deadline, size_t max_frame = kDefaultMaxFrame);
  Result<std::string> ReadFrame(Deadline deadline, size_t max_frame = kDefaultMaxFrame);

  bool valid() const { return fd_.valid(); }
  bool secure() const { return engine_ != nullptr; }
  int fd() const { return fd_.get(); }

 private:
  Status Flush(Deadline deadline);  // writes whatever the engine has for the peer
  // Reads one chunk of ciphertext from the socket and appends its plaintext to *plain.
  Status Receive(std::string* plain, Deadline deadline);

  UniqueFd fd_;
  std::unique_ptr<tls::TlsEngine> engine_;
  std::string plain_;  // decrypted bytes not yet returned
  size_t plain_pos_ = 0;
  std::string recv_buf_;  // ciphertext scratch, kept across reads
};

}  // namespace vaultfs
