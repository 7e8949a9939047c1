// The one way vaultfs parses JSON that came from outside the process: network frames, Raft log
// entries, data-server headers, web API bodies, cluster.json, staging records and database rows.
// nlohmann's parser is iterative, but copying, dumping and comparing a value recurse once per
// level, so a ~200 KB frame of nested brackets could overflow the stack of whoever touched the
// result. ParseJson refuses nesting deeper than a small bound before any deep value is built:
// everything that holds a parsed value may copy and dump it freely.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "src/common/status.h"

namespace vaultfs {

// Deep enough for every document vaultfs writes (the deepest, a Raft entry carrying a request
// with placement, nests 6 levels), far too shallow to hurt a stack.
inline constexpr int kMaxJsonDepth = 64;

// The parsed document, or EINVAL: not valid JSON, or objects/arrays nested more than
// `max_depth` levels (a scalar at the top is depth 0, `[1]` is depth 1).
Result<nlohmann::json> ParseJson(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace vaultfs
