// Listen address and Host header checks: see listen_address.h.
#include "src/web/listen_address.h"

#include <arpa/inet.h>

namespace vaultfs::web {

namespace {

// Splits "HOST:PORT" / "[V6]:PORT" into the host (without brackets) and the port text.
bool SplitHostPort(std::string_view text, std::string_view& host, std::string_view& port) {
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) return false;  // bare IPv6 needs brackets
    port = text.substr(colon + 1);
  }
  return !host.empty() && !port.empty();
}

bool ParsePort(std::string_view text, uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  uint32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  port = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  std::string_view host, port_text;
  ListenAddress a;
  if (!SplitHostPort(text, host, port_text) || !ParsePort(port_text, a.port)) {
    return InvalidArgument("--listen wants HOST:PORT (e.g. 127.0.0.1:8080), not '" +
                           std::string(text) + "'");
  }
  a.host = std::string(host);
  return a;
}

bool IsLoopbackHost(std::string_view host) {
  std::string h(host);
  if (h == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

Status CheckListenAllowed(const ListenAddress& address, bool insecure_http) {
  if (IsLoopbackHost(address.host) || insecure_http) return Status::Ok();
  return PermissionDenied(
      "refusing to listen on " + address.host +
      ", which is not a loopback address: vaultfs web has no TLS, so passwords and file "
      "contents would cross the network in clear. Keep the default 127.0.0.1 and reach it "
      "through an SSH tunnel (ssh -L 8080:127.0.0.1:8080 HOST) or a TLS reverse proxy; or, "
      "on a network you trust completely, add --insecure-http");
}

bool LoopbackHostHeaderAllowed(std::string_view host_header, uint16_t port) {
  std::string_view host, port_text;
  uint16_t got = 0;
  if (!SplitHostPort(host_header, host, port_text) || !ParsePort(port_text, got)) return false;
  return got == port && IsLoopbackHost(host);
}

}  // namespace vaultfs::web
