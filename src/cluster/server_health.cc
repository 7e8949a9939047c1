// Data-server health view: see server_health.h.
#include "src/cluster/server_health.h"

#include <algorithm>

namespace vaultfs::cluster {

ServerHealth::ServerHealth(Options options, NowFn now) : options_(options), now_(std::move(now)) {}

bool ServerHealth::ShouldTry(uint64_t server) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = servers_[server];
  if (s.up) return true;
  if (s.probing || now_() < s.retry_at) return false;
  s.probing = true;
  return true;
}

void ServerHealth::ReportSuccess(uint64_t server) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = servers_[server];
  s.up = true;
  s.probing = false;
  s.backoff = std::chrono::milliseconds(0);
}

void ServerHealth::ReportFailure(uint64_t server, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = servers_[server];
  s.backoff = s.up || s.backoff.count() == 0 ? options_.initial_backoff
                                             : std::min(s.backoff * 2, options_.max_backoff);
  s.up = false;
  s.probing = false;
  s.retry_at = now_() + s.backoff;
  s.last_error = why;
}

void ServerHealth::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  servers_.clear();
}

bool ServerHealth::IsUp(uint64_t server) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = servers_.find(server);
  return it == servers_.end() || it->second.up;
}

std::vector<uint64_t> ServerHealth::DownServers() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> out;
  for (const auto& [id, s] : servers_) {
    if (!s.up) out.push_back(id);
  }
  return out;
}

std::string ServerHealth::LastError(uint64_t server) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = servers_.find(server);
  return it == servers_.end() ? std::string() : it->second.last_error;
}

}  // namespace vaultfs::cluster
