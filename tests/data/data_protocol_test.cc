// Data-server wire codec (src/common/data_protocol.h): round trips, incremental parsing, and
// refusal of unknown ops, oversized headers/payloads and malformed fields.
#include "src/common/data_protocol.h"

#include <gtest/gtest.h>

#include "src/common/frame.h"

namespace vaultfs {
namespace {

TEST(DataProtocol, RequestRoundTripIncremental) {
  DataRequest req;
  req.op = DataOp::kDownload;
  req.id = 42;
  req.token = "tok";
  req.chunk = "abc-123";
  req.offset = 7;
  req.length = 9;
  auto wire = EncodeRequestHead(req);
  ASSERT_TRUE(wire.ok());
  for (size_t cut = 0; cut < wire->size(); ++cut) {
    size_t used = 99;
    auto head = ParseRequestHead(std::string_view(*wire).substr(0, cut), &used);
    ASSERT_TRUE(head.ok()) << cut;
    EXPECT_FALSE(head->has_value());
    EXPECT_EQ(used, 0u);
  }
  size_t used = 0;
  auto head = ParseRequestHead(*wire + "extra", &used);
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ(used, wire->size());
  DataRequest out;
  ASSERT_TRUE(DecodeRequest(**head, &out).ok());
  EXPECT_EQ(out.id, 42u);
  EXPECT_EQ(out.chunk, "abc-123");
  EXPECT_EQ(out.offset, 7u);
  EXPECT_EQ(out.length, std::optional<uint64_t>(9));

  DataRequest up;
  up.op = DataOp::kUpload;
  up.id = 1;
  up.token = "t";
  up.chunk = "ff";
  up.payload_size = 12345;
  wire = EncodeRequestHead(up);
  ASSERT_TRUE(wire.ok());
  head = ParseRequestHead(*wire, &used);
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->payload_size, 12345u);
}

TEST(DataProtocol, RefusesBadFraming) {
  size_t used = 0;
  EXPECT_EQ(ParseRequestHead("Q", &used).status().code(), EPROTO);
  std::string big = "D";
  big.append(4, '\0');
  PutBigEndian32(kDataMaxHeader + 1, big.data() + 1);
  EXPECT_EQ(ParseRequestHead(big, &used).status().code(), EMSGSIZE);
  DataRequest up;
  up.op = DataOp::kUpload;
  up.token = "t";
  up.chunk = "ff";
  up.payload_size = 100;
  DataProtocolLimits small;
  small.max_payload = 99;
  auto wire = EncodeRequestHead(up);
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ(ParseRequestHead(*wire, &used, small).status().code(), EMSGSIZE);
}

RequestHead Head(DataOp op, const std::string& json) {
  RequestHead h;
  h.op = op;
  h.header = json;
  return h;
}

TEST(DataProtocol, DecodeRefusesBadFields) {
  DataRequest out;
  EXPECT_FALSE(DecodeRequest(Head(DataOp::kHealth, "not json"), &out).ok());
  EXPECT_FALSE(DecodeRequest(Head(DataOp::kHealth, "[1]"), &out).ok());
  EXPECT_FALSE(DecodeRequest(Head(DataOp::kHealth, "{}"), &out).ok());
  EXPECT_FALSE(DecodeRequest(Head(DataOp::kHealth, R"({"id":-1})"), &out).ok());
  EXPECT_TRUE(DecodeRequest(Head(DataOp::kHealth, R"({"id":5})"), &out).ok());
  EXPECT_EQ(out.id, 5u);
  EXPECT_FALSE(DecodeRequest(Head(DataOp::kDownload, R"({"id":5,"chunk":"aa"})"), &out).ok());
  EXPECT_EQ(out.id, 5u);  // readable for the error reply
  EXPECT_FALSE(
      DecodeRequest(Head(DataOp::kDownload, R"({"id":5,"token":1,"chunk":"aa"})"), &out).ok());
  EXPECT_FALSE(
      DecodeRequest(Head(DataOp::kDownload, R"({"id":5,"token":"t","chunk":"aa","offset":"x"})"),
                    &out)
          .ok());
  for (const char* bad : {"", "../x", "a/b", ".", "..", "ABC", "a b", "g"}) {
    std::string j = std::string(R"({"id":1,"token":"t","chunk":")") + bad + "\"}";
    EXPECT_FALSE(DecodeRequest(Head(DataOp::kDelete, j), &out).ok()) << bad;
  }
  std::string long_id(kChunkIdMaxLength + 1, 'a');
  EXPECT_EQ(ValidateChunkId(long_id).code(), ENAMETOOLONG);
  EXPECT_TRUE(ValidateChunkId(std::string(kChunkIdMaxLength, 'a')).ok());
  EXPECT_FALSE(DecodeRequest(Head(DataOp::kList, R"({"id":1,"token":"t","limit":0})"), &out).ok());
  EXPECT_FALSE(
      DecodeRequest(Head(DataOp::kList, R"({"id":1,"token":"t","cursor":"../"})"), &out).ok());
}

// A header nested deeper than the JSON bound is refused before anything copies it, in either
// direction (issue 20, item 1): from a client to a server, and from a server to a client.
TEST(DataProtocol, DeeplyNestedHeadersAreRefused) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  DataRequest out;
  Status st = DecodeRequest(
      Head(DataOp::kDownload, R"({"id":5,"token":"t","chunk":"aa","x":)" + deep + "}"), &out);
  EXPECT_EQ(st.code(), EINVAL) << st.ToString();
  st = DecodeRequest(Head(DataOp::kDownload, R"({"id":)" + deep + "}"), &out);
  EXPECT_EQ(st.code(), EINVAL) << st.ToString();
  auto reply = EncodeFrame(R"({"id":1,"ok":true,"x":)" + deep + "}", SIZE_MAX);
  ASSERT_TRUE(reply.ok());
  size_t used = 0;
  EXPECT_EQ(ParseReplyHead(*reply, &used, DataOp::kHealth, SIZE_MAX).status().code(), EPROTO);
}

TEST(DataProtocol, ReplyRoundTrip) {
  std::string ok = EncodeReply(7, Status::Ok(), {{"size", 3}}, 3);
  size_t used = 0;
  auto r = ParseReplyHead(ok + "abc", &used, DataOp::kDownload);
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->id, 7u);
  EXPECT_TRUE((*r)->has_payload);
  EXPECT_EQ((*r)->payload_size, 3u);
  EXPECT_EQ(used, ok.size());
  std::string err = EncodeReply(8, Status(ENOENT, "gone"));
  r = ParseReplyHead(err, &used, DataOp::kDownload);
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->status.code(), ENOENT);
  EXPECT_FALSE((*r)->has_payload);
  auto bad = EncodeFrame("[]");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(ParseReplyHead(*bad, &used, DataOp::kHealth).status().code(), EPROTO);
}

}  // namespace
}  // namespace vaultfs
