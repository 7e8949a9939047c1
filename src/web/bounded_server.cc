// BoundedServer: see bounded_server.h.
//
// Inside: a connection is accepted by httplib's accept loop and handed to the task queue that
// new_task_queue returns (BoundedTaskQueue). The queue runs it on a worker, which calls our
// process_and_close_socket override; a connection the queue cannot hold is run on the accept
// thread with `t_shed` set, so the override closes it at once (it has the socket; the queue
// only has a closure).
#include "src/web/bounded_server.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

namespace vaultfs::web {

namespace {

thread_local bool t_shed = false;

// Waits up to `timeout` for `events` on `fd`; false on timeout or error.
bool WaitFor(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (rc < 0 && errno == EINTR) continue;
    return rc > 0;
  }
}

std::string NumericHost(const sockaddr_storage& ss, socklen_t len, int* port) {
  char host[NI_MAXHOST] = "?";
  char serv[NI_MAXSERV] = "0";
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&ss), len, host, sizeof(host), serv,
                  sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  if (port != nullptr) *port = std::atoi(serv);
  return host;
}

std::string PeerHost(int fd, int* port) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return NumericHost(ss, len, port);
}

void CloseSocket(int fd) {
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

// httplib's Stream over a connected socket, buffered for reading: httplib reads request lines
// a byte at a time. One per connection, so pipelined bytes read ahead are not lost.
class SocketStream final : public httplib::Stream {
 public:
  SocketStream(int fd, std::chrono::milliseconds io_timeout) : fd_(fd), timeout_(io_timeout) {}

  bool buffered() const { return off_ < len_; }

  bool is_readable() const override { return buffered() || WaitFor(fd_, POLLIN, timeout_); }
  bool is_writable() const override { return WaitFor(fd_, POLLOUT, timeout_); }

  ssize_t read(char* ptr, size_t size) override {
    if (!buffered()) {
      if (size >= sizeof(buf_)) return Recv(ptr, size);
      ssize_t n = Recv(buf_, sizeof(buf_));
      if (n <= 0) return n;
      off_ = 0;
      len_ = static_cast<size_t>(n);
    }
    size_t n = std::min(size, len_ - off_);
    std::memcpy(ptr, buf_ + off_, n);
    off_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    for (;;) {
      ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = PeerHost(fd_, &port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ip = getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0 ? NumericHost(ss, len, &port)
                                                                       : "?";
  }
  socket_t socket() const override { return fd_; }

 private:
  ssize_t Recv(char* ptr, size_t size) {
    if (!WaitFor(fd_, POLLIN, timeout_)) return -1;
    for (;;) {
      ssize_t n = ::recv(fd_, ptr, size, 0);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }

  int fd_;
  std::chrono::milliseconds timeout_;
  char buf_[4096];
  size_t off_ = 0, len_ = 0;
};

// httplib's ThreadPool with a bound on waiting connections; see the top of this file.
class BoundedTaskQueue final : public httplib::TaskQueue {
 public:
  BoundedTaskQueue(size_t workers, size_t max_queued) : max_queued_(max_queued) {
    for (size_t i = 0; i < std::max<size_t>(workers, 1); ++i) {
      threads_.emplace_back([this] { Work(); });
    }
  }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (jobs_.size() < max_queued_) {
        jobs_.push_back(std::move(fn));
        cv_.notify_one();
        return;
      }
    }
    t_shed = true;
    fn();
    t_shed = false;
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !jobs_.empty() || stopping_; });
        if (jobs_.empty()) return;  // stopping, and nothing left to close
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      fn();
    }
  }

  size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

}  // namespace

BoundedServer::BoundedServer(WebLimits limits) : limits_(limits) {
  new_task_queue = [this] { return new BoundedTaskQueue(limits_.workers, limits_.max_queued); };
}

size_t BoundedServer::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

bool BoundedServer::Admit(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t& n = per_address_[address];
  if (n >= limits_.max_per_address) {
    if (n == 0) per_address_.erase(address);
    return false;
  }
  ++n;
  ++active_;
  return true;
}

void BoundedServer::Release(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  --active_;
}

bool BoundedServer::process_and_close_socket(socket_t sock) {
  std::string address = t_shed ? "" : PeerHost(sock, nullptr);
  if (t_shed || !Admit(address)) {
    refused_.fetch_add(1);
    CloseSocket(sock);
    return false;
  }
  Serve(sock);
  Release(address);
  CloseSocket(sock);
  return true;
}

void BoundedServer::Serve(socket_t sock) {
  SocketStream strm(sock, limits_.io_timeout);
  constexpr std::chrono::milliseconds kSlice{100};  // how soon a stopping server is noticed
  for (size_t left = std::max<size_t>(limits_.max_requests_per_connection, 1); left > 0; --left) {
    // Wait for the next request, in slices so stop() does not wait for an idle peer.
    bool ready = strm.buffered();
    for (auto waited = std::chrono::milliseconds(0); !ready && waited < limits_.idle_timeout;
         waited += kSlice) {
      if (svr_sock_ == INVALID_SOCKET) return;
      ready = WaitFor(sock, POLLIN, std::min(kSlice, limits_.idle_timeout - waited));
    }
    if (!ready || svr_sock_ == INVALID_SOCKET) return;
    bool closed = false;
    if (!process_request(strm, /*close_connection=*/left == 1, closed, nullptr) || closed) return;
  }
}

}  // namespace vaultfs::web
