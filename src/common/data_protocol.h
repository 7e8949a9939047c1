// The data-server wire protocol (DESIGN.md §5), encoded and decoded in one place so the server
// (servers/data), the client (src/cluster/data_client) and the tests share one codec.
//
// Request:  op byte ('U','D','X','H','L','V'), then a frame (frame.h: 4-byte big-endian length
//           + JSON header, at most `max_header` bytes), then for 'U' only an 8-byte big-endian
//           payload length and exactly that many payload bytes.
//   header: {"id": n,                 request id chosen by the client, echoed in the reply
//            "token": "v1.data...",   crypto/token.h; not needed for 'H'
//            "chunk": "0123-abcd",    U D X V; alphabet [0-9a-f-], 1..128 chars
//            "offset": n, "length": n D only; both optional (whole object / to the end)
//            "cursor": "...", "limit": n}   L only; list chunk ids > cursor, at most limit
// Reply:    a frame with a JSON object:
//            {"id": n, "ok": true, ...op fields...}
//            {"id": n, "ok": false, "error": {"code": "ENOENT", "message": "..."}}
//           and, for a successful 'D' only, an 8-byte big-endian payload length + the bytes.
//   op fields: U {"size"}; D {"size": object size, "offset", "length"}; X {};
//              H {"total_bytes","free_bytes","used_bytes","quota_bytes","objects","uptime_s",
//                 "version"}; L {"objects": [{"chunk","size","mtime"}...], "now",
//                 "next_cursor": "" at end}: mtime and now are unix seconds on the server's
//                 clock (the stray sweep ages objects by now - mtime, immune to clock skew).
//                 A page holds at most `limit` objects and about kListMaxReplyBytes of JSON;
//                 a non-empty next_cursor means more may follow.
//              V {"block_count", "bad_blocks": [j...], "root": hex SHA-256 of the trailer}.
//
// Pipelining: a client may send any number of requests on one connection without waiting.
// The server replies in request order, so a client matches replies to requests by position
// (the echoed id is a cross-check), and each request sees the effect of every earlier request
// on the same connection.
//
// Errors: a request that cannot be framed (unknown op, oversized or malformed header frame,
// oversized payload) gets an error reply with id 0 (or its id if readable) and the server
// closes the connection, since the byte stream can no longer be trusted. A well-framed
// request that fails (bad token, bad chunk id, missing object, range past the end, full disk)
// gets an error reply and the connection stays usable; an upload's payload is then discarded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/common/status.h"

namespace vaultfs {

enum class DataOp : char {
  kUpload = 'U',
  kDownload = 'D',
  kDelete = 'X',
  kHealth = 'H',
  kList = 'L',
  kVerify = 'V',
};

bool IsDataOp(char c);
const char* DataOpName(DataOp op);  // "upload", "download", ...

inline constexpr size_t kDataMaxHeader = 64u << 10;            // 64 KiB JSON header
inline constexpr uint64_t kDataDefaultMaxObject = 4ull << 30;  // 4 GiB payload
inline constexpr size_t kChunkIdMaxLength = 128;
inline constexpr uint32_t kListMaxLimit = 1000;
// A list page stops growing past this much JSON, well inside kDataMaxHeader whatever `limit`.
inline constexpr size_t kListMaxReplyBytes = 32u << 10;

struct DataProtocolLimits {
  size_t max_header = kDataMaxHeader;
  uint64_t max_payload = kDataDefaultMaxObject;
};

// Chunk ids: 1..128 characters from [0-9a-f-]. No '/', no '.', so never a path trick.
Status ValidateChunkId(std::string_view chunk);

// ---- Requests ----

// A framed request as it came off the wire, before its JSON is interpreted.
struct RequestHead {
  DataOp op = DataOp::kHealth;
  std::string header;         // JSON text
  uint64_t payload_size = 0;  // 'U' only
};

// Incremental, stateless head parser for the server: looks at the front of `buf` (all bytes
// received and not yet consumed). Returns nullopt when more bytes are needed (*consumed = 0),
// or the head and sets *consumed to its length (payload bytes are not part of the head).
// EPROTO for an unknown op byte, EMSGSIZE for a header or payload above the limits.
Result<std::optional<RequestHead>> ParseRequestHead(std::string_view buf, size_t* consumed,
                                                    const DataProtocolLimits& limits = {});

struct DataRequest {
  DataOp op = DataOp::kHealth;
  uint64_t id = 0;
  std::string token;
  std::string chunk;
  uint64_t offset = 0;
  std::optional<uint64_t> length;  // D: absent = to the end
  std::string cursor;              // L
  uint32_t limit = kListMaxLimit;  // L
  uint64_t payload_size = 0;       // U
};

// Interprets a head's JSON. Sets out->id as soon as it is readable so an error reply can echo
// it. EINVAL naming the offending field; the chunk id is validated for ops that take one.
Status DecodeRequest(const RequestHead& head, DataRequest* out);

// Op byte + header frame (+ payload length for 'U'). The payload itself follows separately.
Result<std::string> EncodeRequestHead(const DataRequest& req,
                                      const DataProtocolLimits& limits = {});

// ---- Replies ----

struct ReplyHead {
  uint64_t id = 0;
  Status status;              // OK or the error the server reported
  nlohmann::json fields;      // the whole reply object
  bool has_payload = false;   // successful 'D'
  uint64_t payload_size = 0;  // bytes that follow the head
};

// Encodes a reply head. `payload_size` is given only for a successful download.
std::string EncodeReply(uint64_t id, const Status& status, nlohmann::json fields = {},
                        std::optional<uint64_t> payload_size = std::nullopt);

// Client-side incremental parser, like ParseRequestHead. `op` is the op of the oldest
// outstanding request (replies come in order); it says whether a payload length follows.
// EPROTO/EMSGSIZE if the bytes cannot be a reply.
Result<std::optional<ReplyHead>> ParseReplyHead(std::string_view buf, size_t* consumed, DataOp op,
                                                size_t max_header = kDataMaxHeader);

// ---- Typed op results (shared by server and client) ----

struct HealthInfo {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t used_bytes = 0;   // bytes of stored objects
  uint64_t quota_bytes = 0;  // 0 = none
  uint64_t objects = 0;
  uint64_t uptime_s = 0;
  std::string version;
  std::string storage_id;  // identity of the storage folder; changes when it is wiped
};

struct ListEntry {
  std::string chunk;
  uint64_t size = 0;
  int64_t mtime = 0;  // unix seconds of the last write; 0: not reported (older server)
  bool operator==(const ListEntry&) const = default;
};

struct ListPage {
  std::vector<ListEntry> entries;
  std::string next_cursor;  // empty when this was the last page
  int64_t now = 0;          // the server's clock when it listed; 0: not reported
};

struct VerifyReport {
  uint64_t block_count = 0;
  std::vector<uint64_t> bad_blocks;  // indexes of blocks whose SHA-256 does not match
  std::string root_hex;              // SHA-256 of the trailer: the shard root
};

struct DownloadInfo {
  uint64_t object_size = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
};

nlohmann::json ToJson(const HealthInfo& h);
nlohmann::json ToJson(const ListPage& p);
nlohmann::json ToJson(const VerifyReport& v);
// EPROTO naming the field if the server's reply lacks it or has the wrong type.
Result<HealthInfo> HealthFromJson(const nlohmann::json& j);
Result<ListPage> ListPageFromJson(const nlohmann::json& j);
Result<VerifyReport> VerifyReportFromJson(const nlohmann::json& j);
Result<DownloadInfo> DownloadInfoFromJson(const nlohmann::json& j);

}  // namespace vaultfs
