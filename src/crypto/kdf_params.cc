// KdfParams: see kdf_params.h.
#include "src/crypto/kdf_params.h"

#include <nlohmann/json.hpp>

namespace vaultfs::crypto {
namespace {

Result<uint64_t> UnsignedField(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end())
    return InvalidArgument(std::string("KDF parameters: missing field '") + name + "'");
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer() && it->get<int64_t>() >= 0) {
    return static_cast<uint64_t>(it->get<int64_t>());
  }
  return InvalidArgument(std::string("KDF parameters: field '") + name +
                         "' must be a non-negative integer");
}

}  // namespace

nlohmann::json KdfParamsToJson(const KdfParams& params) {
  return nlohmann::json{
      {"algorithm", params.algorithm}, {"n", params.n}, {"r", params.r}, {"p", params.p}};
}

Result<KdfParams> KdfParamsFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return InvalidArgument("KDF parameters must be a JSON object");
  KdfParams params;
  auto alg = j.find("algorithm");
  if (alg == j.end() || !alg->is_string()) {
    return InvalidArgument("KDF parameters: field 'algorithm' must be a string");
  }
  params.algorithm = alg->get<std::string>();
  VFS_ASSIGN_OR_RETURN(params.n, UnsignedField(j, "n"));
  VFS_ASSIGN_OR_RETURN(uint64_t r, UnsignedField(j, "r"));
  VFS_ASSIGN_OR_RETURN(uint64_t p, UnsignedField(j, "p"));
  if (r > UINT32_MAX || p > UINT32_MAX) {
    return InvalidArgument("KDF parameters: 'r' and 'p' must fit in 32 bits");
  }
  params.r = static_cast<uint32_t>(r);
  params.p = static_cast<uint32_t>(p);
  return params;
}

}  // namespace vaultfs::crypto
