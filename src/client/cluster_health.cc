// ClusterHealth: see cluster_health.h.
#include "src/client/cluster_health.h"

#include <algorithm>
#include <future>
#include <set>

namespace vaultfs::client {

using nlohmann::json;

std::vector<DataServerStatus> ProbeDataServers(const ClusterConfig& config,
                                               cluster::DataClient& data) {
  std::vector<std::future<Result<HealthInfo>>> asks;
  for (const auto& d : config.data) asks.push_back(data.Health(d.address));
  std::vector<DataServerStatus> out;
  for (size_t i = 0; i < config.data.size(); ++i) {
    DataServerStatus s;
    s.id = config.data[i].id;
    s.address = config.data[i].address;
    s.probe = asks[i].get();
    out.push_back(std::move(s));
  }
  return out;
}

Result<FsStats> UsableCapacity(const ClusterConfig& config,
                               const std::vector<DataServerStatus>& servers) {
  FsStats st;
  uint64_t min_total = UINT64_MAX, min_free = UINT64_MAX;
  for (const auto& s : servers) {
    ++st.servers;
    if (!s.probe.ok()) continue;
    const HealthInfo& h = *s.probe;
    ++st.servers_up;
    uint64_t total = h.total_bytes, free = h.free_bytes;
    if (h.quota_bytes > 0) {
      total = std::min(total, h.quota_bytes);
      free = std::min(free, h.quota_bytes > h.used_bytes ? h.quota_bytes - h.used_bytes : 0);
    }
    min_total = std::min(min_total, total);
    min_free = std::min(min_free, free);
  }
  if (st.servers_up == 0) return Status(EHOSTDOWN, "no data server answers a health check");
  const double usable = static_cast<double>(st.servers_up) * config.k / (config.k + config.m);
  st.total_bytes = static_cast<uint64_t>(static_cast<double>(min_total) * usable);
  st.free_bytes = static_cast<uint64_t>(static_cast<double>(min_free) * usable);
  return st;
}

ClusterHealth QueryClusterHealth(const ClusterConfig& config, MetaClient& meta,
                                 cluster::DataClient& data, bool with_user_queue) {
  ClusterHealth h;
  // Started first: the data servers answer while the metadata service is asked.
  std::vector<std::future<Result<HealthInfo>>> asks;
  for (const auto& d : config.data) asks.push_back(data.Health(d.address));

  // Without a session the map names only the metadata nodes and the leader; the recorded
  // server states and the repair queue come with a login.
  auto map = meta.Call("cluster_map");
  h.map_status = map.status();
  if (map.ok() && map->is_object()) {
    h.meta_nodes = map->value("meta", json());
    h.leader = map->value("leader", json());
    if (auto q = map->find("repair_queue"); q != map->end() && q->is_number_integer()) {
      h.repair_queue = q->get<int64_t>();
      h.repair = map->value("repair", json());
    }
  }

  for (size_t i = 0; i < config.data.size(); ++i) {
    DataServerStatus s;
    s.id = config.data[i].id;
    s.address = config.data[i].address;
    s.probe = asks[i].get();
    if (s.probe.ok()) ++h.data_up;
    if (map.ok() && map->is_object() && map->contains("data") && (*map)["data"].is_array()) {
      for (const auto& r : (*map)["data"]) {
        if (r.is_object() && r.value("id", json()) == s.id)
          s.recorded_state = r.value("state", json());
      }
    }
    h.data.push_back(std::move(s));
  }

  if (with_user_queue) {
    auto queue = meta.Call("repair_list", {{"limit", ClusterHealth::kUserQueueLimit}});
    if (!queue.ok()) {
      h.user_queue_status = queue.status();
    } else if (!queue->is_object() || !queue->contains("items") || !(*queue)["items"].is_array()) {
      h.user_queue_status = Status(EPROTO, "bad repair_list answer");
    } else {
      const json& items = (*queue)["items"];
      std::set<uint64_t> files;
      for (const auto& item : items) {
        if (item.is_object() && item.contains("ino") && item["ino"].is_number_unsigned()) {
          files.insert(item["ino"].get<uint64_t>());
        }
      }
      h.user_queue_status = Status::Ok();
      h.degraded_versions = items.size();
      h.degraded_files = files.size();
    }
  }
  return h;
}

}  // namespace vaultfs::client
