// Recording TCP forwarder for the replay test: see recording_proxy.h.
#include "tests/security/recording_proxy.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace vaultfs::testing {

namespace {

// One proxied connection: what the client dialled, and our connection to the real server.
struct Pair {
  UniqueFd client;
  UniqueFd server;
  size_t record = 0;  // index into recorded_
};

}  // namespace

RecordingProxy::~RecordingProxy() { Stop(); }

Status RecordingProxy::Start(const HostPort& listen, const HostPort& target) {
  target_ = target;
  VFS_ASSIGN_OR_RETURN(listen_fd_, ListenTcp(listen));
  VFS_ASSIGN_OR_RETURN(port_, LocalPort(listen_fd_.get()));
  if (pipe2(wake_, O_CLOEXEC) != 0) return Status(errno, "pipe2 failed");
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void RecordingProxy::Stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  char b = 0;
  (void)!write(wake_[1], &b, 1);
  thread_.join();
  close(wake_[0]);
  close(wake_[1]);
  wake_[0] = wake_[1] = -1;
  listen_fd_.Reset();
}

std::vector<std::string> RecordingProxy::ClientBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return recorded_;
}

void RecordingProxy::Run() {
  std::vector<Pair> pairs;
  while (!stop_) {
    std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}, {listen_fd_.get(), POLLIN, 0}};
    for (const Pair& p : pairs) {
      fds.push_back({p.client.get(), POLLIN, 0});
      fds.push_back({p.server.get(), POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), 1000) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    const size_t polled = pairs.size();  // a connection accepted below is polled next round
    if (fds[1].revents & POLLIN) {
      int c = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        Pair p;
        p.client = UniqueFd(c);
        auto s = ConnectTcp(target_, DeadlineIn(std::chrono::seconds(10)));
        if (s.ok()) {
          p.server = std::move(s).value();
          std::lock_guard<std::mutex> lock(mu_);
          p.record = recorded_.size();
          recorded_.emplace_back();
          pairs.push_back(std::move(p));
        }  // else: the client sees its connection closed, as with a dead server
      }
    }
    // Copies whatever is readable to the other side. Both peers are event-loop programs that
    // never stop reading while they write, so a blocking write here cannot deadlock. A
    // connection is closed on both sides as soon as either side ends it.
    std::vector<bool> dead(pairs.size(), false);
    for (size_t i = 0; i < polled; ++i) {
      for (int side = 0; side < 2; ++side) {
        const pollfd& f = fds[2 + 2 * i + side];
        if (!(f.revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[65536];
        ssize_t n = read(f.fd, buf, sizeof(buf));
        if (n <= 0) {
          dead[i] = true;
          break;
        }
        const int to = side == 0 ? pairs[i].server.get() : pairs[i].client.get();
        if (side == 0) {
          std::lock_guard<std::mutex> lock(mu_);
          recorded_[pairs[i].record].append(buf, static_cast<size_t>(n));
        }
        if (!WriteAll(to, std::string_view(buf, static_cast<size_t>(n)),
                      DeadlineIn(std::chrono::seconds(30)))
                 .ok()) {
          dead[i] = true;
          break;
        }
      }
    }
    std::vector<Pair> alive;
    for (size_t i = 0; i < pairs.size(); ++i) {
      if (!dead[i]) alive.push_back(std::move(pairs[i]));
    }
    pairs = std::move(alive);
  }
}

}  // namespace vaultfs::testing
