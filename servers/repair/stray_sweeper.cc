// StraySweeper: see stray_sweeper.h.
#include "servers/repair/stray_sweeper.h"

#include <set>

#include "src/common/log.h"

namespace vaultfs::repair {
namespace {

using Json = nlohmann::json;

constexpr int kOwnerPage = 100;

struct Doomed {
  std::string owner;
  std::string chunk;
};

// A new token for `owner`: data tokens live minutes (the metadata service's data-token TTL),
// a sweep of a large server longer.
Result<std::string> FreshToken(SweepBackend* backend, const std::string& owner) {
  std::string cursor;
  do {
    VFS_ASSIGN_OR_RETURN(SweepBackend::OwnerPage page, backend->Owners(cursor));
    for (const SweepBackend::Owner& o : page.owners) {
      if (o.id == owner) return o.token;
    }
    if (!page.next.empty() && page.next <= cursor) break;
    cursor = page.next;
  } while (!cursor.empty());
  return Status(ENOENT, "owner " + owner + " is no longer listed");
}

// Lists and judges one server. Fills `doomed` only if every step succeeded; otherwise returns
// the error and the caller deletes nothing there.
Status JudgeServer(SweepBackend* backend, const DataNodeConfig& server, const SweepOptions& o,
                   std::vector<Doomed>* doomed, SweepCounts* counts) {
  auto stopping = [&] { return o.stopping && o.stopping(); };
  std::string owner_cursor;
  do {
    VFS_ASSIGN_OR_RETURN(SweepBackend::OwnerPage owners, backend->Owners(owner_cursor));
    for (const SweepBackend::Owner& owner : owners.owners) {
      std::string token = owner.token;
      std::string cursor;
      do {
        if (stopping()) return Status(ECANCELED, "stopping");
        Result<ListPage> listed = backend->List(server, token, cursor);
        if (listed.status().code() == EACCES) {  // expired meanwhile: once more, fresh
          VFS_ASSIGN_OR_RETURN(token, FreshToken(backend, owner.id));
          listed = backend->List(server, token, cursor);
        }
        VFS_ASSIGN_OR_RETURN(ListPage page, std::move(listed));
        if (page.now <= 0) {
          return Status(EPROTO, "the server does not report its clock (an older vaultfs-data)");
        }
        std::vector<std::string> chunks;
        for (const ListEntry& e : page.entries) {
          // Without an mtime the age is unknown: no deciding on half the facts.
          if (e.mtime <= 0) return Status(EPROTO, "object " + e.chunk + " has no mtime");
          chunks.push_back(e.chunk);
        }
        counts->seen += page.entries.size();
        std::map<std::string, std::string> refs;
        if (!chunks.empty()) {
          VFS_ASSIGN_OR_RETURN(refs, backend->Referenced(server.id, owner.id, chunks));
        }
        for (const ListEntry& e : page.entries) {
          const bool young = page.now - e.mtime < o.grace.count();
          if (refs.count(e.chunk) || young || doomed->size() >= o.max_deletes_per_server) {
            ++counts->kept;
            continue;
          }
          doomed->push_back({owner.id, e.chunk});
        }
        // A cursor that does not advance would loop forever on a confused server.
        if (!page.next_cursor.empty() && page.next_cursor <= cursor) {
          return Status(EPROTO, "list cursor did not advance");
        }
        cursor = page.next_cursor;
      } while (!cursor.empty());
    }
    if (!owners.next.empty() && owners.next <= owner_cursor) {
      return Status(EPROTO, "owner cursor did not advance");
    }
    owner_cursor = owners.next;
  } while (!owner_cursor.empty());
  return Status::Ok();
}

}  // namespace

void SweepCounts::Add(const SweepCounts& o) {
  seen += o.seen;
  kept += o.kept;
  deleted += o.deleted;
  skipped += o.skipped;
  servers_skipped += o.servers_skipped;
}

SweepOutcome SweepStrays(SweepBackend* backend, const std::vector<DataNodeConfig>& servers,
                         const SweepOptions& o) {
  SweepOutcome out;
  auto fail = [&](const Status& st) {
    if (out.first_failure.ok()) out.first_failure = st;
  };
  for (const DataNodeConfig& server : servers) {
    if (o.stopping && o.stopping()) break;
    const std::string name = "data server " + std::to_string(server.id);
    if (o.may_try && !o.may_try(server.id)) {
      // Its strays wait for a pass that finds it up.
      VFS_LOG(kInfo) << "stray sweep: " << name << " is down; skipped";
      ++out.counts.servers_skipped;
      continue;
    }
    SweepCounts c;
    std::vector<Doomed> doomed;
    Status st = JudgeServer(backend, server, o, &doomed, &c);
    if (!st.ok()) {
      VFS_LOG(kWarn) << "stray sweep: " << name << ": " << st.ToString()
                     << "; nothing deleted there this pass";
      c.kept = 0;
      c.skipped = c.seen;  // none of them was judged for good
      ++c.servers_skipped;
      out.counts.Add(c);
      fail(st.Annotate("stray sweep of " + name));
      continue;
    }
    // Fresh tokens for the deletes, one owner scan for all; again if they expire meanwhile.
    std::set<std::string> owners;
    for (const Doomed& d : doomed) owners.insert(d.owner);
    std::map<std::string, std::string> tokens;
    auto refresh = [&]() -> Status {
      tokens.clear();
      std::string cursor;
      do {
        VFS_ASSIGN_OR_RETURN(SweepBackend::OwnerPage page, backend->Owners(cursor));
        for (const SweepBackend::Owner& ow : page.owners) {
          if (owners.count(ow.id)) tokens[ow.id] = ow.token;
        }
        if (!page.next.empty() && page.next <= cursor) break;
        cursor = page.next;
      } while (!cursor.empty());
      return Status::Ok();
    };
    auto remove = [&](const Doomed& d) {
      auto it = tokens.find(d.owner);
      if (it == tokens.end()) return Status(ESTALE, "owner " + d.owner + " is no longer listed");
      return backend->Delete(server, it->second, d.chunk);
    };
    Status del = doomed.empty() ? Status::Ok() : refresh();
    size_t i = 0;
    for (; i < doomed.size() && del.ok(); ++i) {
      const Doomed& d = doomed[i];
      del = remove(d);
      if (del.code() == EACCES) {  // the token expired meanwhile: once more, fresh
        del = refresh();
        if (del.ok()) del = remove(d);
      }
      if (!del.ok() && del.code() != ENOENT) break;  // ENOENT: someone (GC) was first
      del = Status::Ok();
      ++c.deleted;
      VFS_LOG(kInfo) << "stray sweep: deleted unreferenced chunk " << d.chunk << " on " << name;
    }
    if (!del.ok()) {
      // The server or the metadata stopped answering well: the rest waits for the next pass.
      VFS_LOG(kWarn) << "stray sweep: deleting on " << name << ": " << del.ToString() << "; "
                     << doomed.size() - i << " object(s) wait for the next pass";
      c.skipped += doomed.size() - i;
      fail(del.Annotate("stray sweep of " + name));
    }
    out.counts.Add(c);
  }
  return out;
}

// ---- the real services ----

Result<SweepBackend::OwnerPage> ClusterSweepBackend::Owners(const std::string& cursor) {
  VFS_ASSIGN_OR_RETURN(Json r,
                       meta_->Call("sweep_owners", {{"cursor", cursor}, {"limit", kOwnerPage}}));
  OwnerPage page;
  if (!r["owners"].is_array()) return Status(EPROTO, "sweep_owners: no owners");
  for (const Json& o : r["owners"]) {
    if (!o.is_object() || !o["owner"].is_string() || !o["token"].is_string()) {
      return Status(EPROTO, "sweep_owners: malformed owner");
    }
    page.owners.push_back({o["owner"].get<std::string>(), o["token"].get<std::string>()});
  }
  if (r["next"].is_string()) page.next = r["next"].get<std::string>();
  return page;
}

Result<ListPage> ClusterSweepBackend::List(const DataNodeConfig& server, const std::string& token,
                                           const std::string& cursor) {
  return data_->List(server.address, token, cursor, kListMaxLimit).get();
}

Result<std::map<std::string, std::string>> ClusterSweepBackend::Referenced(
    uint64_t server, const std::string& owner, const std::vector<std::string>& chunks) {
  VFS_ASSIGN_OR_RETURN(
      Json r,
      meta_->Call("chunk_refs", {{"server", server}, {"owner", owner}, {"chunks", chunks}}));
  // Only an answer about exactly what was asked counts; anything else is incomplete.
  if (!r["checked"].is_number_unsigned() || r["checked"].get<uint64_t>() != chunks.size() ||
      !r["referenced"].is_object()) {
    return Status(EPROTO, "chunk_refs: the answer does not cover every chunk asked about");
  }
  const std::set<std::string> asked(chunks.begin(), chunks.end());
  std::map<std::string, std::string> out;
  for (const auto& [chunk, why] : r["referenced"].items()) {
    if (!asked.count(chunk)) return Status(EPROTO, "chunk_refs: answered a chunk not asked about");
    out[chunk] = why.is_string() ? why.get<std::string>() : std::string("referenced");
  }
  return out;
}

Status ClusterSweepBackend::Delete(const DataNodeConfig& server, const std::string& token,
                                   const std::string& chunk) {
  return data_->Delete(server.address, token, chunk).get();
}

}  // namespace vaultfs::repair
