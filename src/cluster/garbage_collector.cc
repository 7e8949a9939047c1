// Garbage collection of shards: see garbage_collector.h.
#include "src/cluster/garbage_collector.h"

#include <algorithm>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include "src/cluster/reply_field.h"

namespace vaultfs::cluster {
namespace {

using nlohmann::json;

// One queue item: {seq, server, address, chunk, token}.
Status ParseItem(const json& it, int64_t* seq, ShardPlacement* where, std::string* token) {
  VFS_ASSIGN_OR_RETURN(*seq, Field<int64_t>(it, "seq"));
  VFS_ASSIGN_OR_RETURN(where->server, Field<uint64_t>(it, "server"));
  VFS_ASSIGN_OR_RETURN(where->chunk, Field<std::string>(it, "chunk"));
  VFS_ASSIGN_OR_RETURN(*token, Field<std::string>(it, "token"));
  VFS_ASSIGN_OR_RETURN(std::string addr, Field<std::string>(it, "address"));
  auto hp = ParseHostPort(addr);
  if (!hp.ok()) return Status(EPROTO, "gc_list item address: " + hp.status().message());
  where->address = *hp;
  return Status::Ok();
}

}  // namespace

Result<GcOutcome> CollectGarbage(MetaClient& meta, ShardTransport& transport,
                                 const GcOptions& options) {
  GcOutcome out;
  int64_t after = 0;  // the cursor: items left queued don't hide the ones behind them
  for (int pass = 0; options.max_pages == 0 || pass < options.max_pages; ++pass) {
    if (options.stopping && options.stopping()) break;
    VFS_ASSIGN_OR_RETURN(json page, meta.Call("gc_list", {{"limit", options.page},
                                                          {"older_than_s", options.grace.count()},
                                                          {"after", after}}));
    VFS_ASSIGN_OR_RETURN(json items, Field<json>(page, "items"));
    if (!items.is_array()) return Status(EPROTO, "server reply has a malformed 'items'");
    std::vector<std::pair<int64_t, std::future<Status>>> deletes;
    for (const json& it : items) {
      int64_t seq = 0;
      ShardPlacement where;
      std::string token;
      VFS_RETURN_IF_ERROR(ParseItem(it, &seq, &where, &token));
      after = std::max(after, seq);
      if (options.may_try && !options.may_try(where.server)) continue;  // deleted once back
      deletes.emplace_back(seq, transport.Delete(where, token));
    }
    json done = json::array();
    for (auto& [seq, f] : deletes) {
      Status st = f.get();
      if (st.ok() || st.code() == ENOENT) {  // already gone counts as collected
        done.push_back(seq);
      } else if (out.first_failure.ok()) {
        out.first_failure = st.Annotate("gc delete");
      }
    }
    if (!done.empty()) {
      VFS_RETURN_IF_ERROR(meta.Call("gc_done", {{"seqs", done}}).status());
      out.removed += done.size();
    }
    if (items.size() < static_cast<size_t>(options.page)) break;
  }
  return out;
}

}  // namespace vaultfs::cluster
