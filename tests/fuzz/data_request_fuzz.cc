// libFuzzer target for the data-server wire codec (src/common/data_protocol.h).
//
// Server side: the input is a byte stream of pipelined requests. ParseRequestHead must give
// the same answer for a prefix as for the whole stream once the prefix holds the head (so it
// does not matter how recv() split the bytes), and nothing before that; every head it accepts
// is decoded, and every request that decodes must survive EncodeRequestHead -> parse ->
// decode unchanged. Client side: the same bytes are parsed as a reply head for each op, and
// the typed readers (HealthFromJson, ...) run on whatever reply parses; a parsed reply must
// survive EncodeReply -> ParseReplyHead.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "src/common/data_protocol.h"

namespace {

using namespace vaultfs;

void Check(bool cond, const char* what) {
  if (!cond) {
    std::fprintf(stderr, "data_request_fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

constexpr DataOp kOps[] = {DataOp::kUpload, DataOp::kDownload, DataOp::kDelete,
                           DataOp::kHealth, DataOp::kList,     DataOp::kVerify};

bool SameHead(const RequestHead& a, const RequestHead& b) {
  return a.op == b.op && a.header == b.header && a.payload_size == b.payload_size;
}

bool SameRequest(const DataRequest& a, const DataRequest& b) {
  return a.op == b.op && a.id == b.id && a.token == b.token && a.chunk == b.chunk &&
         a.offset == b.offset && a.length == b.length && a.cursor == b.cursor &&
         a.limit == b.limit && a.payload_size == b.payload_size;
}

// Every prefix of `buf` must be "need more bytes" until the head is complete, and from then on
// give exactly the full answer; an error, once decided, must not change either.
void CheckPrefixes(std::string_view buf, const DataProtocolLimits& limits) {
  size_t full_consumed = 0;
  auto full = ParseRequestHead(buf, &full_consumed, limits);
  bool decided = false;
  for (size_t n = 0; n <= buf.size(); ++n) {
    size_t consumed = 12345;
    auto r = ParseRequestHead(buf.substr(0, n), &consumed, limits);
    if (!r.ok()) {
      Check(consumed == 0, "error with consumed != 0");
      Check(!full.ok() && full.status().code() == r.status().code(),
            "a prefix fails but the whole stream does not (or with another code)");
      Check(r.status().code() == EPROTO || r.status().code() == EMSGSIZE, "unexpected code");
      decided = true;
    } else if (r->has_value()) {
      Check(full.ok() && full->has_value(), "a prefix parses but the whole stream does not");
      Check(SameHead(**r, **full) && consumed == full_consumed, "prefix head differs");
      Check(consumed <= n, "consumed more than the buffer");
      decided = true;
    } else {
      Check(!decided, "a longer prefix went back to 'need more bytes'");
      Check(consumed == 0, "need-more-bytes with consumed != 0");
    }
  }
}

void CheckRequest(const RequestHead& head, const DataProtocolLimits& limits) {
  DataRequest req;
  Status st = DecodeRequest(head, &req);
  if (!st.ok()) {
    Check(st.code() == EINVAL || st.code() == ENAMETOOLONG, "DecodeRequest: unexpected code");
    return;
  }
  Check(req.op == head.op && req.payload_size == head.payload_size, "decoded op/payload");
  if (req.op != DataOp::kHealth && req.op != DataOp::kList) {
    Check(ValidateChunkId(req.chunk).ok(), "decoded an invalid chunk id");
  }
  if (req.op == DataOp::kList) Check(req.limit >= 1 && req.limit <= kListMaxLimit, "limit");
  auto enc = EncodeRequestHead(req, limits);
  Check(enc.ok(), "EncodeRequestHead refused a request that decoded");
  size_t consumed = 0;
  auto again = ParseRequestHead(*enc, &consumed, limits);
  Check(again.ok() && again->has_value() && consumed == enc->size(), "re-encoded head");
  DataRequest req2;
  Check(DecodeRequest(**again, &req2).ok(), "re-encoded request does not decode");
  Check(SameRequest(req, req2), "request changed in an encode/decode round trip");
}

void CheckReply(std::string_view buf, DataOp op) {
  size_t consumed = 12345;
  auto r = ParseReplyHead(buf, &consumed, op, 4096);
  if (!r.ok()) {
    Check(consumed == 0, "reply error with consumed != 0");
    Check(r.status().code() == EPROTO || r.status().code() == EMSGSIZE, "reply error code");
    return;
  }
  if (!r->has_value()) {
    Check(consumed == 0, "reply need-more-bytes with consumed != 0");
    return;
  }
  const ReplyHead& h = **r;
  Check(consumed <= buf.size() && consumed >= 4, "reply consumed");
  Check(h.has_payload == (op == DataOp::kDownload && h.status.ok()), "reply has_payload");
  Check(h.fields.is_object(), "reply fields not an object");
  // The typed readers must reject, not crash on, whatever a hostile server sends.
  (void)HealthFromJson(h.fields);
  (void)ListPageFromJson(h.fields);
  (void)VerifyReportFromJson(h.fields);
  (void)DownloadInfoFromJson(h.fields);
  // Round trip through the server's encoder.
  std::string enc =
      EncodeReply(h.id, h.status, h.fields,
                  h.has_payload ? std::optional<uint64_t>(h.payload_size) : std::nullopt);
  size_t consumed2 = 0;
  auto again = ParseReplyHead(enc, &consumed2, op, kDataMaxHeader);
  Check(again.ok() && again->has_value() && consumed2 == enc.size(), "re-encoded reply");
  const ReplyHead& h2 = **again;
  Check(h2.id == h.id && h2.status.code() == h.status.code() && h2.has_payload == h.has_payload &&
            h2.payload_size == h.payload_size,
        "reply changed in an encode/parse round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte picks the limits: the server's defaults, or small ones so the EMSGSIZE
  // paths are reachable with short inputs.
  DataProtocolLimits limits;
  if (data[0] & 1) {
    limits.max_header = 16 + (data[0] >> 1);
    limits.max_payload = data[0];
  }
  const std::string_view buf(reinterpret_cast<const char*>(data) + 1, size - 1);

  CheckPrefixes(buf, limits);

  // Take pipelined requests off the stream the way the server does, skipping 'U' payloads.
  std::string_view rest = buf;
  while (!rest.empty()) {
    size_t consumed = 0;
    auto head = ParseRequestHead(rest, &consumed, limits);
    if (!head.ok() || !head->has_value()) break;
    CheckRequest(**head, limits);
    rest.remove_prefix(consumed);
    const uint64_t payload = (*head)->payload_size;
    if (payload > rest.size()) break;
    rest.remove_prefix(payload);
  }

  for (DataOp op : kOps) CheckReply(buf, op);
  (void)ValidateChunkId(buf);
  return 0;
}
