// Field: typed, strict access to a field of a metadata-service reply for the clients in
// src/cluster. A reply that lacks what the protocol promises, or carries the wrong type, is a
// server bug, not the user's: it becomes EPROTO naming the field instead of an exception.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "src/common/hex.h"
#include "src/common/status.h"

namespace vaultfs::cluster {

template <typename T>
Result<T> Field(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return Status(EPROTO, std::string("server reply lacks '") + name + "'");
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return Status(EPROTO, std::string("server reply has a malformed '") + name + "'");
  }
}

// A hex-encoded field, decoded; EPROTO naming the field if it is missing or not hex.
inline Result<std::string> HexField(const nlohmann::json& j, const char* name) {
  VFS_ASSIGN_OR_RETURN(std::string hex, Field<std::string>(j, name));
  auto raw = HexDecode(hex);
  if (!raw.ok()) return Status(EPROTO, std::string("server reply field '") + name + "' is not hex");
  return raw;
}

}  // namespace vaultfs::cluster
