// cluster.json: what every client and server knows about the cluster — node addresses, the
// erasure-code shape and the cluster CA certificate. It holds nothing secret (DESIGN.md §6);
// the token secret lives in a separate server-only file read by LoadServerSecret().
//
//   {
//     "version": 1,
//     "cluster_id": "c0ffee...",
//     "k": 10, "m": 4, "write_quorum": 12,
//     "segment_size": 1048576, "inline_threshold": 16384,
//     "meta": [{"id": 1, "address": "127.0.0.1:7000", "raft_address": "127.0.0.1:7100"}],
//     "data": [{"id": 1, "address": "127.0.0.1:7200"}],
//     "ca_cert": "-----BEGIN CERTIFICATE-----..."
//   }
// A cluster without TLS has no "ca_cert" but "insecure": true, so that no client ever falls
// back to plain TCP unless the cluster's owner said so.
//
// Every validation error names the offending field, e.g. `data[3].address`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/common/status.h"

namespace vaultfs {

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const { return host + ":" + std::to_string(port); }
  bool operator==(const HostPort&) const = default;
};

// Parses "host:port" (IPv4 or a name; "[v6]:port" for IPv6). Port must be 1..65535.
Result<HostPort> ParseHostPort(std::string_view text);

struct MetaNodeConfig {
  uint64_t id = 0;
  HostPort address;       // client protocol
  HostPort raft_address;  // replication traffic between metadata nodes
};

struct DataNodeConfig {
  uint64_t id = 0;
  HostPort address;
};

struct ClusterConfig {
  int version = 1;
  std::string cluster_id;
  int k = 10;
  int m = 4;
  int write_quorum = 12;  // shards that must be durable for a write to succeed (k <= q <= k+m)
  uint32_t segment_size = 1u << 20;
  uint32_t inline_threshold = 16u << 10;
  std::vector<MetaNodeConfig> meta;
  std::vector<DataNodeConfig> data;
  std::string ca_cert;    // PEM: the cluster CA, which every client checks servers against
  bool insecure = false;  // "insecure": true — no TLS (servers run with --insecure)

  const DataNodeConfig* FindData(uint64_t id) const;
  const MetaNodeConfig* FindMeta(uint64_t id) const;
  std::string ToJson() const;  // pretty-printed, round-trips through ParseClusterConfig
};

// `source` names the input in error messages (usually the file path).
Result<ClusterConfig> ParseClusterConfig(std::string_view json_text,
                                         std::string_view source = "cluster.json");
Result<ClusterConfig> LoadClusterConfig(const std::string& path);

// Reads the server-only token secret (hex or raw, at least 32 bytes of key material). Refuses
// a file that group or others can read, since anyone holding it can mint tokens.
Result<std::string> LoadServerSecret(const std::string& path);

// Reads a whole file; ENOENT/EACCES carry the path.
Result<std::string> ReadFileToString(const std::string& path);

}  // namespace vaultfs
