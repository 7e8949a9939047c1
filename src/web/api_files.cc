// The tree operations of the gateway's API — list, new folder, rename, delete — and the
// cluster health line: see gateway.h. Each takes a checked directory path plus plain names
// (vault_path.h), never a free-form path it would have to take apart.
#include <string>

#include "src/common/log.h"
#include "src/web/gateway.h"
#include "src/web/vault_path.h"

namespace vaultfs::web {

using client::Attr;
using client::Vault;
using nlohmann::json;

namespace {

constexpr int kListPage = 500;

// Old versions' shards past their grace period are deleted after a request that replaces or
// removes files, as the CLI does; a failure only postpones that (the queue keeps them).
void CollectGarbage(Vault& v) {
  auto n = v.content().CollectGarbage();
  if (!n.ok()) VFS_LOG(kInfo) << "garbage collection postponed: " << n.status().ToString();
}

// A name from a JSON body, checked.
Result<std::string> JsonName(const json& body, const char* key) {
  VFS_ASSIGN_OR_RETURN(std::string name, JsonString(body, key));
  VFS_RETURN_IF_ERROR(ValidateName(name).Annotate(std::string("'") + key + "'"));
  return name;
}

}  // namespace

Status Gateway::GetList(const Request& req, Response& res, const Session& s) {
  std::string path = req.has_param("path") ? req.get_param_value("path") : "/";
  VFS_ASSIGN_OR_RETURN(Attr dir, ResolveDir(*s.vault, path));
  json entries = json::array();
  std::string cursor;
  do {
    VFS_ASSIGN_OR_RETURN(auto page, s.vault->tree().ReadDirPage(dir.ino, cursor, kListPage, true));
    for (const auto& [e, a] : page.entries) {
      if (IsUploadTempName(e.name)) continue;  // an upload in progress
      entries.push_back({{"name", e.name},
                         {"type", a.type},
                         {"size", a.is_dir() ? 0 : a.size},
                         {"mtime_ms", a.mtime_ns / 1000000}});
    }
    cursor = page.next;
  } while (!cursor.empty());
  VFS_ASSIGN_OR_RETURN(auto parts, SplitVaultPath(path));
  ReplyJson(res, 200, {{"path", JoinVaultPath(parts)}, {"entries", std::move(entries)}});
  return Status::Ok();
}

Status Gateway::GetHealth(const Request&, Response& res, const Session& s) {
  const client::ClusterHealth h = s.vault->Health();
  json out = {{"servers", config_.data.size()}, {"k", config_.k}, {"m", config_.m}};
  auto fs = client::UsableCapacity(config_, h.data);
  out["servers_up"] = fs.ok() ? fs->servers_up : 0;
  if (fs.ok()) out["free_bytes"] = fs->free_bytes;
  // The user's versions the metadata service has queued for repair, and the files they are.
  if (h.user_queue_status.ok()) {
    out["repair_queue"] = h.degraded_versions;
    out["repair_queue_capped"] = h.degraded_versions >= client::ClusterHealth::kUserQueueLimit;
    out["degraded_files"] = h.degraded_files;
  } else {
    out["repair_queue"] = nullptr;
    out["degraded_files"] = nullptr;
    out["metadata_error"] = h.user_queue_status.message();
  }
  // The repairer's backlog across all users (vaultfs-repair), when the service knows it.
  if (h.repair_queue) {
    out["repair_queue"] = *h.repair_queue;
    out["repair_queue_capped"] = false;
  }
  ReplyJson(res, 200, out);
  return Status::Ok();
}

Status Gateway::PostMkdir(const Request& req, Response& res, const ContentReader& reader,
                          const Session& s) {
  VFS_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, reader));
  VFS_ASSIGN_OR_RETURN(std::string dir_path, JsonString(body, "dir"));
  VFS_ASSIGN_OR_RETURN(std::string name, JsonName(body, "name"));
  VFS_ASSIGN_OR_RETURN(Attr dir, ResolveDir(*s.vault, dir_path));
  auto made = s.vault->tree().Mkdir(dir.ino, name, 0755);
  if (!made.ok() && made.status().code() == EEXIST) {
    return Status(EEXIST, "'" + name + "' already exists");
  }
  VFS_RETURN_IF_ERROR(made.status());
  ReplyJson(res, 200, {{"ok", true}});
  return Status::Ok();
}

Status Gateway::PostRename(const Request& req, Response& res, const ContentReader& reader,
                           const Session& s) {
  VFS_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, reader));
  VFS_ASSIGN_OR_RETURN(std::string dir_path, JsonString(body, "dir"));
  VFS_ASSIGN_OR_RETURN(std::string name, JsonName(body, "name"));
  VFS_ASSIGN_OR_RETURN(std::string new_name, JsonName(body, "new_name"));
  std::string new_dir_path = dir_path;
  if (body.contains("new_dir")) {
    VFS_ASSIGN_OR_RETURN(new_dir_path, JsonString(body, "new_dir"));
  }
  VFS_ASSIGN_OR_RETURN(Attr dir, ResolveDir(*s.vault, dir_path));
  VFS_ASSIGN_OR_RETURN(Attr new_dir, ResolveDir(*s.vault, new_dir_path));
  // RENAME_NOREPLACE: a rename in the browser never silently destroys another file.
  Status st = s.vault->tree().Rename(dir.ino, name, new_dir.ino, new_name, 1);
  if (st.code() == EEXIST) return Status(EEXIST, "'" + new_name + "' already exists");
  if (st.code() == ENOENT) return NotFound("'" + name + "' does not exist");
  VFS_RETURN_IF_ERROR(st);
  ReplyJson(res, 200, {{"ok", true}});
  return Status::Ok();
}

Status Gateway::PostDelete(const Request& req, Response& res, const ContentReader& reader,
                           const Session& s) {
  VFS_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, reader));
  VFS_ASSIGN_OR_RETURN(std::string dir_path, JsonString(body, "dir"));
  VFS_ASSIGN_OR_RETURN(std::string name, JsonName(body, "name"));
  auto flag = body.find("recursive");
  bool recursive = flag != body.end() && flag->is_boolean() && flag->get<bool>();
  VFS_ASSIGN_OR_RETURN(Attr dir, ResolveDir(*s.vault, dir_path));
  auto target = s.vault->tree().Lookup(dir.ino, name);
  if (!target.ok() && target.status().code() == ENOENT) {
    return NotFound("'" + name + "' does not exist");
  }
  VFS_RETURN_IF_ERROR(target.status());
  if (target->is_dir() && !recursive) {
    Status st = s.vault->tree().Rmdir(dir.ino, name);
    if (st.code() == ENOTEMPTY) return Status(ENOTEMPTY, "the folder '" + name + "' is not empty");
    VFS_RETURN_IF_ERROR(st);
  } else {
    VFS_RETURN_IF_ERROR(s.vault->tree().RemoveTree(dir.ino, name, *target));
  }
  CollectGarbage(*s.vault);
  ReplyJson(res, 200, {{"ok", true}});
  return Status::Ok();
}

}  // namespace vaultfs::web
