// StagingArea: see staging_area.h.
#include "src/fuse/staging_area.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>

namespace vaultfs::fuse {
namespace {

constexpr uint64_t kMaxDefaultCap = uint64_t{4} << 30;

std::string Mib(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

StagingArea::StagingArea(std::string dir, client::StagingKeys keys, uint64_t cap_bytes)
    : dir_(std::move(dir)), keys_(std::move(keys)), cap_(cap_bytes) {}

uint64_t StagingArea::DefaultCap(const std::string& dir) {
  struct statvfs sv;
  if (statvfs(dir.c_str(), &sv) != 0) return kMaxDefaultCap;
  const uint64_t free_bytes = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
  return std::min(kMaxDefaultCap, free_bytes / 4);
}

uint64_t StagingArea::used() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_;
}

Status StagingArea::Reserve(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (bytes > cap_ || used_ > cap_ - bytes) {
    return Status(ENOSPC, "the staging area " + dir_ + " is full (" + Mib(used_) + " of its " +
                              Mib(cap_) +
                              " cap staged): close files so their changes are committed "
                              "and their staging files freed, or mount with a larger "
                              "--staging-cap");
  }
  used_ += bytes;
  return Status::Ok();
}

void StagingArea::ForceReserve(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  used_ += bytes;
}

void StagingArea::Release(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  used_ -= std::min(used_, bytes);
}

}  // namespace vaultfs::fuse
