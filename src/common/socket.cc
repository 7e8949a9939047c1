// Blocking TCP helpers: see socket.h.
#include "src/common/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace vaultfs {
namespace {

int MsLeft(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return 0;
  return left.count() > INT32_MAX ? INT32_MAX : static_cast<int>(left.count());
}

// Waits for `events` on fd until the deadline. ETIMEDOUT when it passes.
Status WaitFor(int fd, short events, Deadline deadline, const char* what) {
  for (;;) {
    pollfd p{fd, events, 0};
    int ms = MsLeft(deadline);
    int r = poll(&p, 1, ms);
    if (r > 0) return Status::Ok();
    if (r == 0) return Status(ETIMEDOUT, std::string("timed out while ") + what);
    if (errno != EINTR) return Status(errno, std::string("poll: ") + std::strerror(errno));
  }
}

Status Resolve(const HostPort& addr, sockaddr_storage* out, socklen_t* len) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(addr.port);
  int rc = getaddrinfo(addr.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return Status(EHOSTUNREACH, "cannot resolve " + addr.host + ": " + gai_strerror(rc));
  }
  std::memcpy(out, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return Status::Ok();
}

}  // namespace

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<UniqueFd> ConnectTcp(const HostPort& addr, Deadline deadline) {
  sockaddr_storage sa{};
  socklen_t len = 0;
  VFS_RETURN_IF_ERROR(Resolve(addr, &sa, &len));
  UniqueFd fd(::socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return Status(errno, std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    if (errno != EINPROGRESS) {
      int err = errno;
      return Status(err, "connect to " + addr.ToString() + ": " + std::strerror(err));
    }
    Status st = WaitFor(fd.get(), POLLOUT, deadline, "connecting");
    if (!st.ok()) return st.Annotate("connect to " + addr.ToString());
    int err = 0;
    socklen_t elen = sizeof(err);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) return Status(err, "connect to " + addr.ToString() + ": " + std::strerror(err));
  }
  return fd;
}

Result<UniqueFd> ListenTcp(const HostPort& addr, int backlog) {
  sockaddr_storage sa{};
  socklen_t len = 0;
  VFS_RETURN_IF_ERROR(Resolve(addr, &sa, &len));
  UniqueFd fd(::socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status(errno, std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    int err = errno;
    return Status(err, "cannot listen on " + addr.ToString() + ": " + std::strerror(err));
  }
  if (::listen(fd.get(), backlog) != 0) {
    return Status(errno, std::string("listen: ") + std::strerror(errno));
  }
  return fd;
}

Result<uint16_t> LocalPort(int fd) {
  sockaddr_storage sa{};
  socklen_t len = sizeof(sa);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    return Status(errno, std::string("getsockname: ") + std::strerror(errno));
  }
  if (sa.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port);
}

Status WriteAll(int fd, std::string_view data, Deadline deadline) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      VFS_RETURN_IF_ERROR(WaitFor(fd, POLLOUT, deadline, "sending"));
      continue;
    }
    int err = n < 0 ? errno : ECONNRESET;
    return Status(err, std::string("send: ") + std::strerror(err));
  }
  return Status::Ok();
}

Status ReadFull(int fd, char* buf, size_t n, Deadline deadline) {
  size_t off = 0;
  while (off < n) {
    ssize_t r = ::recv(fd, buf + off, n - off, MSG_DONTWAIT);
    if (r > 0) {
      off += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) return Status(ECONNRESET, "connection closed by peer");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      VFS_RETURN_IF_ERROR(WaitFor(fd, POLLIN, deadline, "receiving"));
      continue;
    }
    int err = errno;
    return Status(err, std::string("recv: ") + std::strerror(err));
  }
  return Status::Ok();
}

Status WriteFrame(int fd, std::string_view body, Deadline deadline, size_t max_frame) {
  VFS_ASSIGN_OR_RETURN(std::string frame, EncodeFrame(body, max_frame));
  return WriteAll(fd, frame, deadline);
}

Result<std::string> ReadFrame(int fd, Deadline deadline, size_t max_frame) {
  char hdr[kFrameHeaderSize];
  VFS_RETURN_IF_ERROR(ReadFull(fd, hdr, sizeof(hdr), deadline));
  uint32_t len = GetBigEndian32(hdr);
  if (len > max_frame) {
    return Status(EMSGSIZE, "peer sent a frame of " + std::to_string(len) +
                                " bytes; the maximum is " + std::to_string(max_frame));
  }
  std::string body(len, '\0');
  VFS_RETURN_IF_ERROR(ReadFull(fd, body.data(), len, deadline));
  return body;
}

}  // namespace vaultfs
