// cluster.json loading and validation: see cluster_config.h.
#include "src/common/cluster_config.h"
#include "src/common/json_parse.h"

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace vaultfs {
namespace {

using nlohmann::json;

Status FieldError(std::string_view source, const std::string& field, const std::string& what) {
  return InvalidArgument(std::string(source) + ": field '" + field + "': " + what);
}

// Reads an integer field with bounds; `required` false keeps the default when absent.
template <typename T>
Status GetInt(const json& obj, std::string_view source, const std::string& prefix, const char* name,
              bool required, int64_t lo, int64_t hi, T* out) {
  std::string field = prefix + name;
  auto it = obj.find(name);
  if (it == obj.end()) {
    if (required) return FieldError(source, field, "missing");
    return Status::Ok();
  }
  if (!it->is_number_integer()) return FieldError(source, field, "expected an integer");
  int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) {
    return FieldError(source, field,
                      "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  *out = static_cast<T>(v);
  return Status::Ok();
}

Status GetAddress(const json& obj, std::string_view source, const std::string& prefix,
                  const char* name, HostPort* out) {
  std::string field = prefix + name;
  auto it = obj.find(name);
  if (it == obj.end()) return FieldError(source, field, "missing");
  if (!it->is_string()) return FieldError(source, field, "expected a \"host:port\" string");
  auto hp = ParseHostPort(it->get<std::string>());
  if (!hp.ok()) return FieldError(source, field, hp.status().message());
  *out = *hp;
  return Status::Ok();
}

}  // namespace

Result<HostPort> ParseHostPort(std::string_view text) {
  HostPort hp;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return InvalidArgument("expected \"[ipv6]:port\", got '" + std::string(text) + "'");
    }
    hp.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return InvalidArgument("expected \"host:port\", got '" + std::string(text) + "'");
    }
    hp.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (port_text.empty() || port_text.size() > 5) {
    return InvalidArgument("bad port in '" + std::string(text) + "'");
  }
  uint32_t port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return InvalidArgument("bad port in '" + std::string(text) + "'");
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port == 0 || port > 65535) {
    return InvalidArgument("port out of range in '" + std::string(text) + "'");
  }
  hp.port = static_cast<uint16_t>(port);
  return hp;
}

const DataNodeConfig* ClusterConfig::FindData(uint64_t id) const {
  for (const auto& d : data) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

const MetaNodeConfig* ClusterConfig::FindMeta(uint64_t id) const {
  for (const auto& m : meta) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

std::string ClusterConfig::ToJson() const {
  json j;
  j["version"] = version;
  j["cluster_id"] = cluster_id;
  j["k"] = k;
  j["m"] = m;
  j["write_quorum"] = write_quorum;
  j["segment_size"] = segment_size;
  j["inline_threshold"] = inline_threshold;
  j["meta"] = json::array();
  for (const auto& n : meta) {
    j["meta"].push_back({{"id", n.id},
                         {"address", n.address.ToString()},
                         {"raft_address", n.raft_address.ToString()}});
  }
  j["data"] = json::array();
  for (const auto& n : data) {
    j["data"].push_back({{"id", n.id}, {"address", n.address.ToString()}});
  }
  if (!ca_cert.empty()) j["ca_cert"] = ca_cert;
  if (insecure) j["insecure"] = true;
  return j.dump(2) + "\n";
}

Result<ClusterConfig> ParseClusterConfig(std::string_view json_text, std::string_view source) {
  auto parsed = ParseJson(json_text);
  if (!parsed.ok()) return InvalidArgument(std::string(source) + ": " + parsed.status().message());
  json j = std::move(*parsed);
  if (!j.is_object()) return InvalidArgument(std::string(source) + ": expected a JSON object");

  ClusterConfig c;
  VFS_RETURN_IF_ERROR(GetInt(j, source, "", "version", true, 1, 1, &c.version));
  if (auto it = j.find("cluster_id"); it != j.end()) {
    if (!it->is_string()) return FieldError(source, "cluster_id", "expected a string");
    c.cluster_id = it->get<std::string>();
  }
  VFS_RETURN_IF_ERROR(GetInt(j, source, "", "k", true, 1, 64, &c.k));
  VFS_RETURN_IF_ERROR(GetInt(j, source, "", "m", true, 0, 64, &c.m));
  c.write_quorum = c.k + std::min(c.m, 2);
  VFS_RETURN_IF_ERROR(
      GetInt(j, source, "", "write_quorum", false, c.k, c.k + c.m, &c.write_quorum));
  VFS_RETURN_IF_ERROR(
      GetInt(j, source, "", "segment_size", false, 4096, 64 << 20, &c.segment_size));
  VFS_RETURN_IF_ERROR(
      GetInt(j, source, "", "inline_threshold", false, 0, 1 << 20, &c.inline_threshold));

  auto meta = j.find("meta");
  if (meta == j.end()) return FieldError(source, "meta", "missing");
  if (!meta->is_array() || meta->empty()) {
    return FieldError(source, "meta", "expected a non-empty array of metadata nodes");
  }
  std::set<uint64_t> ids;
  std::set<std::string> addrs;
  for (size_t i = 0; i < meta->size(); ++i) {
    const json& n = (*meta)[i];
    std::string p = "meta[" + std::to_string(i) + "].";
    if (!n.is_object()) return FieldError(source, p.substr(0, p.size() - 1), "expected object");
    MetaNodeConfig m;
    VFS_RETURN_IF_ERROR(GetInt(n, source, p, "id", true, 1, INT64_MAX, &m.id));
    VFS_RETURN_IF_ERROR(GetAddress(n, source, p, "address", &m.address));
    VFS_RETURN_IF_ERROR(GetAddress(n, source, p, "raft_address", &m.raft_address));
    if (!ids.insert(m.id).second) return FieldError(source, p + "id", "duplicate id");
    if (!addrs.insert(m.address.ToString()).second ||
        !addrs.insert(m.raft_address.ToString()).second) {
      return FieldError(source, p + "address", "address used twice");
    }
    c.meta.push_back(m);
  }

  auto data = j.find("data");
  if (data == j.end()) return FieldError(source, "data", "missing");
  if (!data->is_array()) return FieldError(source, "data", "expected an array of data nodes");
  ids.clear();
  for (size_t i = 0; i < data->size(); ++i) {
    const json& n = (*data)[i];
    std::string p = "data[" + std::to_string(i) + "].";
    if (!n.is_object()) return FieldError(source, p.substr(0, p.size() - 1), "expected object");
    DataNodeConfig d;
    VFS_RETURN_IF_ERROR(GetInt(n, source, p, "id", true, 1, INT64_MAX, &d.id));
    VFS_RETURN_IF_ERROR(GetAddress(n, source, p, "address", &d.address));
    if (!ids.insert(d.id).second) return FieldError(source, p + "id", "duplicate id");
    if (!addrs.insert(d.address.ToString()).second) {
      return FieldError(source, p + "address", "address used twice");
    }
    c.data.push_back(d);
  }
  if (c.data.size() < static_cast<size_t>(c.k + c.m)) {
    return FieldError(source, "data",
                      "k+m = " + std::to_string(c.k + c.m) +
                          " shards need at least that many "
                          "data servers, found " +
                          std::to_string(c.data.size()));
  }
  if (auto it = j.find("ca_cert"); it != j.end()) {
    if (!it->is_string()) return FieldError(source, "ca_cert", "expected a PEM string");
    c.ca_cert = it->get<std::string>();
  }
  if (auto it = j.find("insecure"); it != j.end()) {
    if (!it->is_boolean()) return FieldError(source, "insecure", "expected true or false");
    c.insecure = it->get<bool>();
  }
  if (c.insecure && !c.ca_cert.empty()) {
    return FieldError(source, "insecure", "a cluster with a CA certificate (ca_cert) uses TLS");
  }
  return c;
}

Result<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno != 0 ? errno : ENOENT;
    return Status(err, "cannot read " + path + ": " + std::strerror(err));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return IoError("error reading " + path);
  return ss.str();
}

Result<ClusterConfig> LoadClusterConfig(const std::string& path) {
  VFS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseClusterConfig(text, path);
}

Result<std::string> LoadServerSecret(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    int err = errno;
    return Status(err, "cannot open secret file " + path + ": " + std::strerror(err));
  }
  if ((st.st_mode & 077) != 0) {
    return PermissionDenied("secret file " + path +
                            " is readable by group or others; run: chmod 600 " + path);
  }
  VFS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  if (text.size() < 32) {
    return InvalidArgument("secret file " + path + " holds " + std::to_string(text.size()) +
                           " bytes; at least 32 are needed (mkcluster writes 64 hex digits)");
  }
  return text;
}

}  // namespace vaultfs
