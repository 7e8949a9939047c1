// Test helper: plain TCP peers from chosen loopback addresses (127.0.0.2, .3...), for the tests
// of per-address connection caps and timeouts (tests/common, data, meta, web). Header-only so
// every suite can use it without a library of its own.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "src/common/socket.h"

namespace vaultfs::testing {

// A blocking TCP connection from `source` to 127.0.0.1:`port`. `rcvbuf` > 0 sets the receive
// buffer before connecting, so the advertised window stays small.
inline UniqueFd ConnectFrom(const char* source, uint16_t port, int rcvbuf = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, source, &src.sin_addr);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)), 0) << strerror(errno);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)), 0) << strerror(errno);
  return UniqueFd(fd);
}

// True once the other end closed fd (EOF or reset), false if it is still open after `limit`.
// Whatever it sends meanwhile is read and dropped.
inline bool ClosedByPeer(int fd, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  char b[4096];
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    if (::recv(fd, b, sizeof(b), 0) <= 0) return true;
  }
  return false;
}

}  // namespace vaultfs::testing
