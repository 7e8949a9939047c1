// StatFsCache: the cluster's capacity for statfs(2), asked at most every 5 seconds (`df` and
// file managers ask often; the answer costs a round trip to every data server).
#pragma once

#include <chrono>
#include <mutex>

#include "src/client/vault.h"
#include "src/common/status.h"

namespace vaultfs::fuse {

class StatFsCache {
 public:
  explicit StatFsCache(client::Vault* vault) : vault_(vault) {}
  Result<client::FsStats> Get();

 private:
  client::Vault* const vault_;
  std::mutex mu_;  // held across the refresh: concurrent callers share one round trip
  std::chrono::steady_clock::time_point at_;  // guarded by mu_
  client::FsStats stats_;                     // guarded by mu_
};

}  // namespace vaultfs::fuse
