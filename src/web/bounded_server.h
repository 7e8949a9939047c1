// BoundedServer: cpp-httplib's Server with the connection bounds every vaultfs server has
// (issue 20), which httplib 0.11 lacks:
//   - a total cap: `workers` threads serve connections and at most `max_queued` more wait for
//     one; a connection accepted beyond that is closed at once instead of queueing without end;
//   - a per-address cap: a connection from an address that already has `max_per_address` being
//     served is closed at once, so one peer cannot take every worker;
//   - an idle timeout between requests (keep-alive) and a read/write timeout within one, so a
//     silent or stalled peer frees its worker;
//   - output is written synchronously by the worker, so a peer that never reads its replies
//     holds one worker and at most the socket's buffers, never a growing queue.
// Handlers, routing and HTTP parsing stay httplib's: only the per-connection loop (wait for a
// request, serve it, keep alive) is ours, because httplib keeps it private.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>

namespace vaultfs::web {

struct WebLimits {
  size_t workers = 16;          // connections served at once
  size_t max_queued = 240;      // accepted connections waiting for a worker
  size_t max_per_address = 64;  // connections served at once for one remote address
  std::chrono::milliseconds idle_timeout{5000};  // between two requests on a connection
  std::chrono::milliseconds io_timeout{60000};   // one read or write within a request
  size_t max_requests_per_connection = 100;      // then the connection is closed
};

class BoundedServer : public httplib::Server {
 public:
  explicit BoundedServer(WebLimits limits);

  // Connections closed at once by a cap since the start.
  uint64_t refused() const { return refused_.load(); }
  // Connections being served now.
  size_t active() const;

 private:
  bool process_and_close_socket(socket_t sock) override;
  // Serves requests on `sock` until the peer closes, goes idle, or the server stops.
  void Serve(socket_t sock);
  bool Admit(const std::string& address);
  void Release(const std::string& address);

  WebLimits limits_;
  mutable std::mutex mu_;
  std::map<std::string, size_t> per_address_;
  size_t active_ = 0;
  std::atomic<uint64_t> refused_{0};
};

}  // namespace vaultfs::web
