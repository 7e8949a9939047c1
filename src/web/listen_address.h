// Where the gateway listens, and which Host headers it answers.
//
// The gateway holds the user's keys and speaks plain HTTP, so it belongs on loopback. Bound
// there, it also refuses requests whose Host header is not a loopback name with its own port:
// that stops DNS rebinding, where a web page's own host name is made to resolve to 127.0.0.1
// so that the page can talk to local services as if they were its own origin.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "src/common/status.h"

namespace vaultfs::web {

struct ListenAddress {
  std::string host;   // "127.0.0.1", "::1", "0.0.0.0", a name ...
  uint16_t port = 0;  // 0: any free port
};

// "HOST:PORT" or "[V6]:PORT"; EINVAL otherwise.
Result<ListenAddress> ParseListenAddress(std::string_view text);

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(std::string_view host);

// The gateway has no TLS: any address but loopback is refused (EACCES, saying what to do
// instead) unless the user accepted plain HTTP on the network with --insecure-http.
Status CheckListenAllowed(const ListenAddress& address, bool insecure_http);

// For a gateway bound to loopback on `port`: true if the Host header names a loopback host
// with that port ("127.0.0.1:8080", "localhost:8080", "[::1]:8080").
bool LoopbackHostHeaderAllowed(std::string_view host_header, uint16_t port);

}  // namespace vaultfs::web
