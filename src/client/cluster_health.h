// ClusterHealth: one query for "how is the cluster doing" — the metadata group and its leader,
// each data server's own answer to a health check and the state the metadata service records
// for it, the repairer's backlog and last report, the user's own versions queued for repair,
// and the usable capacity. `vaultfs status` and the web gateway's health line both show it;
// neither assembles it from raw metadata calls.
//
// Every part is best effort: a part that could not be had carries its error, so a status
// report can still show the rest (that is what it is for when things are broken).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "src/cluster/data_client.h"
#include "src/cluster/meta_client.h"
#include "src/common/cluster_config.h"
#include "src/common/data_protocol.h"
#include "src/common/status.h"

namespace vaultfs::client {

struct FsStats {
  uint64_t total_bytes = 0;  // usable, after erasure-coding overhead
  uint64_t free_bytes = 0;
  int servers_up = 0;
  int servers = 0;
};

struct DataServerStatus {
  uint64_t id = 0;
  HostPort address;
  Result<HealthInfo> probe = Status(EAGAIN, "not asked");  // its own answer, right now
  nlohmann::json recorded_state;  // what the metadata service records ("up", "down"...); null
                                  // if it records nothing or we could not ask
};

struct ClusterHealth {
  // The cluster map (metadata nodes, leader; with a session also the recorded data-server
  // states and the repairer's report). Not ok: the metadata service did not answer.
  Status map_status;
  nlohmann::json meta_nodes;  // [{id, address, leader, ...}] as the service reports them
  nlohmann::json leader;      // the leader's name, or null

  std::vector<DataServerStatus> data;  // in cluster.json order
  int data_up = 0;

  // The repairer's backlog across all users and its last report; needs a session.
  std::optional<int64_t> repair_queue;
  nlohmann::json repair;  // null if no repairer has reported

  // The user's own versions queued for repair (the first kUserQueueLimit); needs a session.
  // Not ok: not asked (no session) or the service failed to answer.
  static constexpr size_t kUserQueueLimit = 1000;
  Status user_queue_status = Status(EACCES, "not logged in");
  size_t degraded_versions = 0;
  size_t degraded_files = 0;  // distinct inodes among them
};

// Asks the metadata service (cluster_map; repair_list if `with_user_queue`, which needs a
// logged-in `meta`) and every data server in `config` (in parallel, through `data`).
ClusterHealth QueryClusterHealth(const ClusterConfig& config, MetaClient& meta,
                                 cluster::DataClient& data, bool with_user_queue);

// Usable capacity of the servers whose probe answered, after erasure-coding overhead: with n
// servers up and RS(k,m), min(per-server free) * n * k/(k+m) (placement is uniform; a
// server's quota caps what it offers). EHOSTDOWN if none answered.
Result<FsStats> UsableCapacity(const ClusterConfig& config,
                               const std::vector<DataServerStatus>& servers);

// Health checks of every data server in `config`, in parallel (nothing recorded).
std::vector<DataServerStatus> ProbeDataServers(const ClusterConfig& config,
                                               cluster::DataClient& data);

}  // namespace vaultfs::client
