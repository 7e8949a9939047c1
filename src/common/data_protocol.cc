// Data-server wire protocol codec: see data_protocol.h.
#include "src/common/data_protocol.h"
#include "src/common/json_parse.h"

#include "src/common/frame.h"

namespace vaultfs {
namespace {

using json = nlohmann::json;

// Reads an unsigned integer field; absent -> nullopt, wrong type -> error.
Result<std::optional<uint64_t>> OptionalUint(const json& j, const char* name, const char* ctx) {
  auto it = j.find(name);
  if (it == j.end()) return std::optional<uint64_t>();
  if (!it->is_number_unsigned()) {
    return InvalidArgument(std::string(ctx) + ": field '" + name +
                           "' must be a non-negative integer");
  }
  return std::optional<uint64_t>(it->get<uint64_t>());
}

Result<std::string> RequiredString(const json& j, const char* name, const char* ctx) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return InvalidArgument(std::string(ctx) + ": field '" + name + "' must be a string");
  }
  return it->get<std::string>();
}

Status ReplyField(const json& j, const char* name, uint64_t* out) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_number_unsigned()) {
    return Status(EPROTO, std::string("reply field '") + name + "' missing or not unsigned");
  }
  *out = it->get<uint64_t>();
  return Status::Ok();
}

Status ReplyField(const json& j, const char* name, std::string* out) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return Status(EPROTO, std::string("reply field '") + name + "' missing or not a string");
  }
  *out = it->get<std::string>();
  return Status::Ok();
}

// An optional non-negative seconds field: absent leaves *out at 0.
Status OptionalSeconds(const json& j, const char* name, int64_t* out) {
  auto it = j.find(name);
  if (it == j.end()) return Status::Ok();
  if (!it->is_number_unsigned() || it->get<uint64_t>() > uint64_t{INT64_MAX}) {
    return Status(EPROTO, std::string("reply field '") + name + "' is not a time in seconds");
  }
  *out = static_cast<int64_t>(it->get<uint64_t>());
  return Status::Ok();
}

bool TakesChunk(DataOp op) {
  return op == DataOp::kUpload || op == DataOp::kDownload || op == DataOp::kDelete ||
         op == DataOp::kVerify;
}

}  // namespace

bool IsDataOp(char c) {
  return c == 'U' || c == 'D' || c == 'X' || c == 'H' || c == 'L' || c == 'V';
}

const char* DataOpName(DataOp op) {
  switch (op) {
    case DataOp::kUpload:
      return "upload";
    case DataOp::kDownload:
      return "download";
    case DataOp::kDelete:
      return "delete";
    case DataOp::kHealth:
      return "health";
    case DataOp::kList:
      return "list";
    case DataOp::kVerify:
      return "verify";
  }
  return "unknown";
}

Status ValidateChunkId(std::string_view chunk) {
  if (chunk.empty()) return InvalidArgument("chunk id is empty");
  if (chunk.size() > kChunkIdMaxLength) {
    return Status(ENAMETOOLONG, "chunk id longer than " + std::to_string(kChunkIdMaxLength));
  }
  for (char c : chunk) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-')) {
      return InvalidArgument("chunk id has a character outside [0-9a-f-]");
    }
  }
  return Status::Ok();
}

Result<std::optional<RequestHead>> ParseRequestHead(std::string_view buf, size_t* consumed,
                                                    const DataProtocolLimits& limits) {
  *consumed = 0;
  if (buf.empty()) return std::optional<RequestHead>();
  if (!IsDataOp(buf[0])) {
    return Status(EPROTO, "unknown op byte " + std::to_string(static_cast<uint8_t>(buf[0])));
  }
  if (buf.size() < 1 + kFrameHeaderSize) return std::optional<RequestHead>();
  const uint32_t len = GetBigEndian32(buf.data() + 1);
  if (len > limits.max_header) {
    return Status(EMSGSIZE, "request header of " + std::to_string(len) +
                                " bytes exceeds the maximum of " +
                                std::to_string(limits.max_header));
  }
  RequestHead head;
  head.op = static_cast<DataOp>(buf[0]);
  size_t need = 1 + kFrameHeaderSize + len;
  if (head.op == DataOp::kUpload) need += 8;
  if (buf.size() < need) return std::optional<RequestHead>();
  head.header.assign(buf.data() + 1 + kFrameHeaderSize, len);
  if (head.op == DataOp::kUpload) {
    head.payload_size = GetBigEndian64(buf.data() + 1 + kFrameHeaderSize + len);
    if (head.payload_size > limits.max_payload) {
      return Status(EMSGSIZE, "upload of " + std::to_string(head.payload_size) +
                                  " bytes exceeds the maximum object size of " +
                                  std::to_string(limits.max_payload));
    }
  }
  *consumed = need;
  return std::optional<RequestHead>(std::move(head));
}

Status DecodeRequest(const RequestHead& head, DataRequest* out) {
  *out = DataRequest();
  out->op = head.op;
  out->payload_size = head.payload_size;
  const char* ctx = DataOpName(head.op);
  auto parsed = ParseJson(head.header);
  json j = parsed.ok() ? std::move(*parsed) : json();
  if (!j.is_object()) {
    return InvalidArgument(std::string(ctx) + ": header is not a JSON object");
  }
  VFS_ASSIGN_OR_RETURN(std::optional<uint64_t> id, OptionalUint(j, "id", ctx));
  if (!id) return InvalidArgument(std::string(ctx) + ": field 'id' is missing");
  out->id = *id;
  if (head.op != DataOp::kHealth) {
    VFS_ASSIGN_OR_RETURN(out->token, RequiredString(j, "token", ctx));
  }
  if (TakesChunk(head.op)) {
    VFS_ASSIGN_OR_RETURN(out->chunk, RequiredString(j, "chunk", ctx));
    VFS_RETURN_IF_ERROR(ValidateChunkId(out->chunk));
  }
  if (head.op == DataOp::kDownload) {
    VFS_ASSIGN_OR_RETURN(std::optional<uint64_t> offset, OptionalUint(j, "offset", ctx));
    VFS_ASSIGN_OR_RETURN(out->length, OptionalUint(j, "length", ctx));
    out->offset = offset.value_or(0);
  }
  if (head.op == DataOp::kList) {
    auto it = j.find("cursor");
    if (it != j.end()) {
      if (!it->is_string()) return InvalidArgument("list: field 'cursor' must be a string");
      out->cursor = it->get<std::string>();
      if (!out->cursor.empty()) VFS_RETURN_IF_ERROR(ValidateChunkId(out->cursor));
    }
    VFS_ASSIGN_OR_RETURN(std::optional<uint64_t> limit, OptionalUint(j, "limit", ctx));
    if (limit) {
      if (*limit == 0 || *limit > kListMaxLimit) {
        return InvalidArgument("list: 'limit' must be in 1.." + std::to_string(kListMaxLimit));
      }
      out->limit = static_cast<uint32_t>(*limit);
    }
  }
  return Status::Ok();
}

Result<std::string> EncodeRequestHead(const DataRequest& req, const DataProtocolLimits& limits) {
  json j = {{"id", req.id}};
  if (req.op != DataOp::kHealth) j["token"] = req.token;
  if (TakesChunk(req.op)) j["chunk"] = req.chunk;
  if (req.op == DataOp::kDownload) {
    j["offset"] = req.offset;
    if (req.length) j["length"] = *req.length;
  }
  if (req.op == DataOp::kList) {
    j["cursor"] = req.cursor;
    j["limit"] = req.limit;
  }
  VFS_ASSIGN_OR_RETURN(std::string frame, EncodeFrame(j.dump(), limits.max_header));
  std::string out;
  out.reserve(1 + frame.size() + 8);
  out.push_back(static_cast<char>(req.op));
  out += frame;
  if (req.op == DataOp::kUpload) {
    char len[8];
    PutBigEndian64(req.payload_size, len);
    out.append(len, 8);
  }
  return out;
}

std::string EncodeReply(uint64_t id, const Status& status, json fields,
                        std::optional<uint64_t> payload_size) {
  if (!fields.is_object()) fields = json::object();
  fields["id"] = id;
  fields["ok"] = status.ok();
  if (!status.ok()) {
    fields["error"] = {{"code", ErrnoName(status.code())}, {"message", status.message()}};
  }
  // Replies are built by the server from bounded values; a reply cannot exceed the frame max.
  std::string body = fields.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out(kFrameHeaderSize + body.size() + (payload_size ? 8 : 0), '\0');
  PutBigEndian32(static_cast<uint32_t>(body.size()), out.data());
  out.replace(kFrameHeaderSize, body.size(), body);
  if (payload_size) PutBigEndian64(*payload_size, out.data() + kFrameHeaderSize + body.size());
  return out;
}

Result<std::optional<ReplyHead>> ParseReplyHead(std::string_view buf, size_t* consumed, DataOp op,
                                                size_t max_header) {
  *consumed = 0;
  if (buf.size() < kFrameHeaderSize) return std::optional<ReplyHead>();
  const uint32_t len = GetBigEndian32(buf.data());
  if (len > max_header) {
    return Status(EMSGSIZE, "reply header of " + std::to_string(len) + " bytes is too large");
  }
  if (buf.size() < kFrameHeaderSize + len) return std::optional<ReplyHead>();
  ReplyHead reply;
  auto parsed = ParseJson(buf.substr(kFrameHeaderSize, len));
  if (parsed.ok()) reply.fields = std::move(*parsed);
  if (!reply.fields.is_object()) {
    return Status(EPROTO, "reply header is not a JSON object");
  }
  VFS_RETURN_IF_ERROR(ReplyField(reply.fields, "id", &reply.id));
  auto ok = reply.fields.find("ok");
  if (ok == reply.fields.end() || !ok->is_boolean()) {
    return Status(EPROTO, "reply field 'ok' missing or not a boolean");
  }
  if (!ok->get<bool>()) {
    std::string code = "EIO", message;
    auto err = reply.fields.find("error");
    if (err != reply.fields.end() && err->is_object()) {
      auto c = err->find("code");
      auto m = err->find("message");
      if (c != err->end() && c->is_string()) code = c->get<std::string>();
      if (m != err->end() && m->is_string()) message = m->get<std::string>();
    }
    reply.status = Status(ErrnoFromName(code), "data server: " + message);
  }
  size_t need = kFrameHeaderSize + len;
  if (op == DataOp::kDownload && reply.status.ok()) {
    if (buf.size() < need + 8) return std::optional<ReplyHead>();
    reply.has_payload = true;
    reply.payload_size = GetBigEndian64(buf.data() + need);
    need += 8;
  }
  *consumed = need;
  return std::optional<ReplyHead>(std::move(reply));
}

json ToJson(const HealthInfo& h) {
  return {{"total_bytes", h.total_bytes}, {"free_bytes", h.free_bytes},
          {"used_bytes", h.used_bytes},   {"quota_bytes", h.quota_bytes},
          {"objects", h.objects},         {"uptime_s", h.uptime_s},
          {"version", h.version},         {"storage_id", h.storage_id}};
}

json ToJson(const ListPage& p) {
  json objects = json::array();
  for (const ListEntry& e : p.entries) {
    objects.push_back({{"chunk", e.chunk}, {"size", e.size}, {"mtime", e.mtime}});
  }
  return {{"objects", std::move(objects)}, {"next_cursor", p.next_cursor}, {"now", p.now}};
}

json ToJson(const VerifyReport& v) {
  return {{"block_count", v.block_count}, {"bad_blocks", v.bad_blocks}, {"root", v.root_hex}};
}

Result<HealthInfo> HealthFromJson(const json& j) {
  HealthInfo h;
  VFS_RETURN_IF_ERROR(ReplyField(j, "total_bytes", &h.total_bytes));
  VFS_RETURN_IF_ERROR(ReplyField(j, "free_bytes", &h.free_bytes));
  VFS_RETURN_IF_ERROR(ReplyField(j, "used_bytes", &h.used_bytes));
  VFS_RETURN_IF_ERROR(ReplyField(j, "quota_bytes", &h.quota_bytes));
  VFS_RETURN_IF_ERROR(ReplyField(j, "objects", &h.objects));
  VFS_RETURN_IF_ERROR(ReplyField(j, "uptime_s", &h.uptime_s));
  VFS_RETURN_IF_ERROR(ReplyField(j, "version", &h.version));
  if (j.contains("storage_id")) VFS_RETURN_IF_ERROR(ReplyField(j, "storage_id", &h.storage_id));
  return h;
}

Result<ListPage> ListPageFromJson(const json& j) {
  ListPage page;
  VFS_RETURN_IF_ERROR(ReplyField(j, "next_cursor", &page.next_cursor));
  auto objects = j.find("objects");
  if (objects == j.end() || !objects->is_array()) {
    return Status(EPROTO, "reply field 'objects' missing or not an array");
  }
  for (const json& o : *objects) {
    if (!o.is_object()) return Status(EPROTO, "list entry is not an object");
    ListEntry e;
    VFS_RETURN_IF_ERROR(ReplyField(o, "chunk", &e.chunk));
    VFS_RETURN_IF_ERROR(ReplyField(o, "size", &e.size));
    // Optional: servers before the stray sweep did not send it (0 = unknown age).
    VFS_RETURN_IF_ERROR(OptionalSeconds(o, "mtime", &e.mtime));
    page.entries.push_back(std::move(e));
  }
  VFS_RETURN_IF_ERROR(OptionalSeconds(j, "now", &page.now));
  return page;
}

Result<VerifyReport> VerifyReportFromJson(const json& j) {
  VerifyReport v;
  VFS_RETURN_IF_ERROR(ReplyField(j, "block_count", &v.block_count));
  VFS_RETURN_IF_ERROR(ReplyField(j, "root", &v.root_hex));
  auto bad = j.find("bad_blocks");
  if (bad == j.end() || !bad->is_array()) {
    return Status(EPROTO, "reply field 'bad_blocks' missing or not an array");
  }
  for (const json& b : *bad) {
    if (!b.is_number_unsigned()) return Status(EPROTO, "bad block index is not unsigned");
    v.bad_blocks.push_back(b.get<uint64_t>());
  }
  return v;
}

Result<DownloadInfo> DownloadInfoFromJson(const json& j) {
  DownloadInfo d;
  VFS_RETURN_IF_ERROR(ReplyField(j, "size", &d.object_size));
  VFS_RETURN_IF_ERROR(ReplyField(j, "offset", &d.offset));
  VFS_RETURN_IF_ERROR(ReplyField(j, "length", &d.length));
  return d;
}

}  // namespace vaultfs
