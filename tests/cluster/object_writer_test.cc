// ObjectWriter's verdict when the write quorum is lost: ENOSPC when full data servers alone
// cost it (so an application sees "no space", and deleting helps), EIO otherwise. Driven
// through a fake ShardTransport whose servers refuse at the start or at the commit.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "src/cluster/object_writer.h"
#include "src/cluster/segment_layout.h"
#include "src/cluster/server_health.h"
#include "src/crypto/key.h"
#include "src/crypto/segment_cipher.h"
#include "src/erasure/codec.h"

namespace vaultfs::cluster {
namespace {

// Server id -> the error its uploads fail with (absent: stores fine); `at_finish` moves the
// failure from BeginUpload to Finish (the data server's commit reply).
class FakeTransport : public ShardTransport {
 public:
  std::map<uint64_t, int> fail;
  bool at_finish = false;

  Result<std::unique_ptr<ShardUpload>> BeginUpload(const ShardPlacement& where, const std::string&,
                                                   uint64_t) override {
    auto it = fail.find(where.server);
    const int code = it == fail.end() ? 0 : it->second;
    if (code != 0 && !at_finish) return Status(code, "refused at start");
    return std::unique_ptr<ShardUpload>(new Upload(code));
  }
  std::future<Result<std::string>> Download(const ShardPlacement&, const std::string&, uint64_t,
                                            uint64_t) override {
    std::promise<Result<std::string>> p;
    p.set_value(Status(ENOTSUP, "not used"));
    return p.get_future();
  }
  std::future<Status> Delete(const ShardPlacement&, const std::string&) override {
    std::promise<Status> p;
    p.set_value(Status::Ok());
    return p.get_future();
  }

 private:
  class Upload : public ShardUpload {
   public:
    explicit Upload(int code) : code_(code) {}
    Status Write(std::string_view bytes) override {
      n_ += bytes.size();
      return Status::Ok();
    }
    Result<uint64_t> Finish() override {
      if (code_ != 0) return Status(code_, "refused at commit");
      return n_;
    }

   private:
    int code_;
    uint64_t n_ = 0;
  };
};

// Writes 100 KiB with k=2, m=2, quorum 3 over servers 1..4; returns the writer's status.
Status WriteWith(FakeTransport& transport) {
  auto codec = erasure::MakeCodec(2, 2);
  EXPECT_TRUE(codec.ok());
  auto layout = SegmentLayout::Make(100 << 10, 64 << 10, 2, 2);
  EXPECT_TRUE(layout.ok());
  auto key = crypto::Key::Random();
  auto cipher = crypto::SegmentCipher::Create(*key, {"alice", 7, 9});
  EXPECT_TRUE(cipher.ok());
  WriteRequest req;
  req.layout = &*layout;
  for (int i = 0; i < 4; ++i) {
    req.shards.push_back(
        {i, static_cast<uint64_t>(i + 1), {"127.0.0.1", 1}, "c" + std::to_string(i)});
  }
  req.token = "t";
  req.quorum = 3;
  ServerHealth health;
  ObjectWriter writer(&transport, &health, codec->get());
  auto r = writer.Write(req, *cipher, [](uint8_t* buf, size_t n) {
    std::memset(buf, 'p', n);
    return Status::Ok();
  });
  return r.ok() ? Status::Ok() : r.status();
}

TEST(ObjectWriterQuorum, FullServersAloneAnswerEnospc) {
  for (bool at_finish : {false, true}) {
    SCOPED_TRACE(at_finish ? "at finish" : "at start");
    FakeTransport t;
    t.at_finish = at_finish;
    t.fail = {{1, ENOSPC}, {3, ENOSPC}};
    Status st = WriteWith(t);
    EXPECT_EQ(st.code(), ENOSPC) << st.ToString();
    EXPECT_NE(st.message().find("write quorum"), std::string::npos) << st.message();
  }
}

TEST(ObjectWriterQuorum, OtherFailuresStayEio) {
  for (bool at_finish : {false, true}) {
    SCOPED_TRACE(at_finish ? "at finish" : "at start");
    FakeTransport t;
    t.at_finish = at_finish;
    // One full, two dead: even with room on the full one only 2 of the quorum of 3 would be
    // stored, so space is not what is missing.
    t.fail = {{1, ENOSPC}, {2, ECONNREFUSED}, {3, ECONNREFUSED}};
    EXPECT_EQ(WriteWith(t).code(), EIO);
    t.fail = {{1, EIO}, {2, ECONNREFUSED}};
    EXPECT_EQ(WriteWith(t).code(), EIO);
    // One full, one dead: room on the full one would have made the quorum.
    t.fail = {{1, ENOSPC}, {2, ECONNREFUSED}};
    EXPECT_EQ(WriteWith(t).code(), ENOSPC);
  }
}

TEST(ObjectWriterQuorum, OneFullServerWithinTheQuorumStillWrites) {
  FakeTransport t;
  t.fail = {{4, ENOSPC}};
  EXPECT_TRUE(WriteWith(t).ok());
}

}  // namespace
}  // namespace vaultfs::cluster
