// VersionBinding encoding: see version_binding.h.
#include "src/crypto/version_binding.h"

#include "src/common/frame.h"

namespace vaultfs::crypto {

Status ValidateVersionBinding(const VersionBinding& b) {
  if (b.user_id.empty() || b.user_id.size() > 255) {
    return InvalidArgument("version binding: user id must be 1..255 bytes");
  }
  return Status::Ok();
}

std::string EncodeVersionBinding(const VersionBinding& b) {
  std::string out;
  out.reserve(1 + b.user_id.size() + 16);
  out.push_back(static_cast<char>(b.user_id.size()));
  out += b.user_id;
  char be[8];
  PutBigEndian64(b.file_id, be);
  out.append(be, 8);
  PutBigEndian64(b.version_id, be);
  out.append(be, 8);
  return out;
}

}  // namespace vaultfs::crypto
