// Format markers: every directory vaultfs stores data in (a metadata node's --data-dir, a data
// server's storage root) names the on-disk format it holds in a small FORMAT file, so a build
// that writes another format refuses it with a clear message instead of misreading it. There
// is no migration between formats (DESIGN.md §3, issue 22): the message tells the user to
// recreate the store.
//
// The formats themselves are numbered here, in one place, so a change to any of them is one
// visible bump.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/common/status.h"

namespace vaultfs {

// Bumped whenever what the named store writes changes incompatibly.
inline constexpr uint32_t kMetaStoreFormat = 2;  // metadata database and raft log
inline constexpr uint32_t kDataStoreFormat = 2;  // a data server's shard store

inline constexpr std::string_view kFormatFile = "FORMAT";

struct FormatMarker {
  std::string kind;  // e.g. "metadata-store", "data-store"
  uint32_t version = 0;
  // Files or folders that only a store of this kind has: their presence without a FORMAT
  // file means the folder was written by a build from before format markers.
  std::vector<std::string> artifacts;
};

// Checks `dir` (which must exist) against `want`:
//   - FORMAT present: it must name the same kind and version, else EPROTO with a message
//     saying which format is there, which this build needs, and how to recreate the store;
//   - FORMAT absent and none of want.artifacts present: a new store; FORMAT is written and
//     made durable (file and folder fsynced) before the caller creates anything else;
//   - FORMAT absent but an artifact present: an old store, refused with EPROTO.
// `what` names the folder in messages (e.g. "--data-dir /var/lib/vaultfs/meta1").
Status CheckOrCreateFormat(const std::string& dir, const FormatMarker& want, std::string_view what);

// The message for a store of format `found` when this build needs `want`; shared with stores
// that keep their format inside a file (the metadata database, its snapshots).
std::string FormatMismatchMessage(std::string_view what, std::string_view kind, uint32_t found,
                                  uint32_t want);

}  // namespace vaultfs
