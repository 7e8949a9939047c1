// The FUSE low-level operations (libfuse3, multi-threaded; shaped like libfuse's
// passthrough_hp.cc) over a VaultFs (DESIGN.md §7). Each callback decodes the kernel's
// request, calls one VaultFs method and replies in one place; this file also owns the
// errno mapping, the conversion of attributes to struct stat and the kernel capabilities
// negotiated at init. The session's userdata is the VaultFs.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

namespace vaultfs::fuse {

const fuse_lowlevel_ops& FuseOps();

}  // namespace vaultfs::fuse
