// Stream: a blocking connection, TLS through a TlsEngine or plain TCP: see tls_stream.h.
//
// Plain streams call the socket.h helpers directly, so their bytes on the wire are exactly
// those of WriteFrame/ReadFrame. TLS streams read ciphertext in large chunks and decrypt into
// plain_, or straight into a frame's body when the body is the only thing waiting.
#include "src/common/tls_stream.h"

#include <poll.h>
#include <sys/socket.h>

#include <cstring>

namespace vaultfs {
namespace {

constexpr size_t kRecvChunk = 256 << 10;
// Frames up to this size are encrypted together with their header (one record); larger ones
// are sent as header + body so the body is never copied into a frame first.
constexpr size_t kCoalesceFrame = 16 << 10;

int MsLeft(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return 0;
  return left.count() > INT32_MAX ? INT32_MAX : static_cast<int>(left.count());
}

// Receives whatever is available (at most `cap` bytes) into buf, waiting until the deadline.
// A clean end of stream is ECONNRESET.
Result<size_t> RecvSome(int fd, char* buf, size_t cap, Deadline deadline) {
  for (;;) {
    ssize_t r = ::recv(fd, buf, cap, MSG_DONTWAIT);
    if (r > 0) return static_cast<size_t>(r);
    if (r == 0) return Status(ECONNRESET, "connection closed by peer");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      int err = errno;
      return Status(err, std::string("recv: ") + std::strerror(err));
    }
    pollfd p{fd, POLLIN, 0};
    int n = poll(&p, 1, MsLeft(deadline));
    if (n == 0) return Status(ETIMEDOUT, "timed out while receiving");
    if (n < 0 && errno != EINTR) return Status(errno, std::string("poll: ") + std::strerror(errno));
  }
}

}  // namespace

Stream::Stream(Stream&&) noexcept = default;
Stream& Stream::operator=(Stream&&) noexcept = default;
Stream::~Stream() = default;

Result<Stream> Stream::Connect(const HostPort& addr, std::shared_ptr<tls::TlsContext> ctx,
                               Deadline deadline) {
  Stream s;
  VFS_ASSIGN_OR_RETURN(s.fd_, ConnectTcp(addr, deadline));
  if (!ctx) return s;
  VFS_ASSIGN_OR_RETURN(s.engine_, tls::TlsEngine::Connect(std::move(ctx), addr.host));
  std::string buf(kRecvChunk, '\0');
  while (!s.engine_->handshake_done()) {
    VFS_RETURN_IF_ERROR(s.Flush(deadline).Annotate("TLS handshake with " + addr.ToString()));
    Result<size_t> n = RecvSome(s.fd_.get(), buf.data(), buf.size(), deadline);
    if (!n.ok()) return n.status().Annotate("TLS handshake with " + addr.ToString());
    Status st = s.engine_->Receive(std::string_view(buf.data(), *n), &s.plain_);
    if (!st.ok()) {
      (void)s.Flush(deadline);  // the alert tells the server why
      return st.Annotate("TLS handshake with " + addr.ToString());
    }
  }
  VFS_RETURN_IF_ERROR(s.Flush(deadline).Annotate("TLS handshake with " + addr.ToString()));
  return s;
}

Status Stream::Flush(Deadline deadline) {
  while (engine_->HasOutput()) {
    std::string out = engine_->TakeOutput();
    VFS_RETURN_IF_ERROR(vaultfs::WriteAll(fd_.get(), out, deadline));
  }
  return Status::Ok();
}

Status Stream::WriteAll(std::string_view data, Deadline deadline) {
  if (!fd_.valid()) return Status(ENOTCONN, "stream is not connected");
  if (!engine_) return vaultfs::WriteAll(fd_.get(), data, deadline);
  VFS_RETURN_IF_ERROR(engine_->Send(data));
  return Flush(deadline);
}

Status Stream::Receive(std::string* plain, Deadline deadline) {
  if (recv_buf_.size() != kRecvChunk) recv_buf_.resize(kRecvChunk);
  VFS_ASSIGN_OR_RETURN(size_t n, RecvSome(fd_.get(), recv_buf_.data(), recv_buf_.size(), deadline));
  Status st = engine_->Receive(std::string_view(recv_buf_.data(), n), plain);
  // Post-handshake replies and alerts; a failed write matters less than the engine's error.
  Status fl = Flush(deadline);
  VFS_RETURN_IF_ERROR(st);
  return fl;
}

Status Stream::ReadFull(char* buf, size_t n, Deadline deadline) {
  if (!fd_.valid()) return Status(ENOTCONN, "stream is not connected");
  if (!engine_) return vaultfs::ReadFull(fd_.get(), buf, n, deadline);
  size_t off = 0;
  while (off < n) {
    size_t avail = plain_.size() - plain_pos_;
    if (avail == 0) {
      plain_.clear();
      plain_pos_ = 0;
      VFS_RETURN_IF_ERROR(Receive(&plain_, deadline));
      continue;
    }
    size_t take = std::min(avail, n - off);
    std::memcpy(buf + off, plain_.data() + plain_pos_, take);
    plain_pos_ += take;
    off += take;
  }
  if (plain_pos_ == plain_.size()) {
    plain_.clear();
    plain_pos_ = 0;
  }
  return Status::Ok();
}

Status Stream::WriteFrame(std::string_view body, Deadline deadline, size_t max_frame) {
  if (!fd_.valid()) return Status(ENOTCONN, "stream is not connected");
  if (!engine_) return vaultfs::WriteFrame(fd_.get(), body, deadline, max_frame);
  if (body.size() > max_frame) {
    return Status(EMSGSIZE, "frame of " + std::to_string(body.size()) +
                                " bytes exceeds the maximum of " + std::to_string(max_frame));
  }
  char hdr[kFrameHeaderSize];
  PutBigEndian32(static_cast<uint32_t>(body.size()), hdr);
  if (body.size() <= kCoalesceFrame) {
    std::string frame;
    frame.reserve(sizeof(hdr) + body.size());
    frame.append(hdr, sizeof(hdr));
    frame.append(body);
    VFS_RETURN_IF_ERROR(engine_->Send(frame));
  } else {
    VFS_RETURN_IF_ERROR(engine_->Send(std::string_view(hdr, sizeof(hdr))));
    VFS_RETURN_IF_ERROR(engine_->Send(body));
  }
  return Flush(deadline);
}

Result<std::string> Stream::ReadFrame(Deadline deadline, size_t max_frame) {
  if (!fd_.valid()) return Status(ENOTCONN, "stream is not connected");
  if (!engine_) return vaultfs::ReadFrame(fd_.get(), deadline, max_frame);
  char hdr[kFrameHeaderSize];
  VFS_RETURN_IF_ERROR(ReadFull(hdr, sizeof(hdr), deadline));
  uint32_t len = GetBigEndian32(hdr);
  if (len > max_frame) {
    return Status(EMSGSIZE, "peer sent a frame of " + std::to_string(len) +
                                " bytes; the maximum is " + std::to_string(max_frame));
  }
  std::string body;
  size_t avail = plain_.size() - plain_pos_;
  if (avail >= len) {
    body.assign(plain_, plain_pos_, len);
    plain_pos_ += len;
    if (plain_pos_ == plain_.size()) {
      plain_.clear();
      plain_pos_ = 0;
    }
    return body;
  }
  // Decrypt the rest of the body in place; whatever follows it goes back to plain_.
  // Room for the overshoot of the last chunk (a chunk plus a record), so no reallocation.
  body.reserve(len + kRecvChunk + (32 << 10));
  body.assign(plain_, plain_pos_, avail);
  plain_.clear();
  plain_pos_ = 0;
  while (body.size() < len) VFS_RETURN_IF_ERROR(Receive(&body, deadline));
  if (body.size() > len) {
    plain_.assign(body, len, std::string::npos);
    body.resize(len);
  }
  return body;
}

}  // namespace vaultfs
