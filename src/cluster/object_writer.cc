// Write pipeline: see object_writer.h.
#include "src/cluster/object_writer.h"

#include <cstring>
#include <memory>

#include "src/cluster/data_client.h"
#include "src/common/hex.h"

namespace vaultfs::cluster {

namespace {

struct ShardSink {
  const ShardPlacement* where = nullptr;
  std::unique_ptr<ShardUpload> upload;
  std::unique_ptr<ShardIndexBuilder> index;
  ShardResult result;
  bool alive() const { return upload != nullptr; }
};

void Fail(ShardSink& s, ServerHealth* health, const Status& st) {
  if (IsServerFailure(st)) health->ReportFailure(s.where->server, st.ToString());
  s.result.ok = false;
  s.result.error =
      st.Annotate("shard " + std::to_string(s.result.index) + " on server " +
                  std::to_string(s.where->server) + " (" + s.where->address.ToString() + ")");
  s.upload.reset();  // aborts the stream
}

int Alive(const std::vector<ShardSink>& sinks) {
  int n = 0;
  for (const auto& s : sinks) n += s.alive() ? 1 : 0;
  return n;
}

Status QuorumLost(const std::vector<ShardSink>& sinks, int quorum) {
  std::string msg = "only " + std::to_string(Alive(sinks)) + " of " + std::to_string(sinks.size()) +
                    " shards can be stored, the write quorum is " + std::to_string(quorum) +
                    "; nothing was committed";
  int full = 0;  // shards refused for lack of space
  for (const auto& s : sinks) {
    if (!s.alive()) {
      msg += "\n  " + s.result.error.message();
      full += s.result.error.code() == ENOSPC ? 1 : 0;
    }
  }
  // Full data servers alone cost the quorum: the application sees ENOSPC (deleting files
  // helps), not EIO.
  return Status(Alive(sinks) + full >= quorum ? ENOSPC : EIO, msg);
}

}  // namespace

Result<std::vector<ShardResult>> ObjectWriter::Write(
    const WriteRequest& req, crypto::SegmentSealer& cipher, const PlaintextReader& read,
    const std::function<void(uint64_t)>& progress) {
  const SegmentLayout& layout = *req.layout;
  const int k = layout.k(), m = layout.m(), n = k + m;
  if (codec_->k() != k || codec_->m() != m || static_cast<int>(req.shards.size()) != n) {
    return InvalidArgument("write: placement, codec and layout disagree on k and m");
  }
  const uint64_t block0 = layout.block_size(0);
  const uint64_t object_size =
      ShardIndexBuilder::ObjectSize(layout.shard_data_size(), static_cast<uint32_t>(block0));

  std::vector<ShardSink> sinks(n);
  for (int i = 0; i < n; ++i) {
    ShardSink& s = sinks[i];
    s.where = &req.shards[i];
    s.result.index = i;
    s.index = std::make_unique<ShardIndexBuilder>(static_cast<uint32_t>(block0));
    if (!health_->ShouldTry(s.where->server)) {
      s.result.error = Status(EHOSTUNREACH, "server " + std::to_string(s.where->server) + " (" +
                                                s.where->address.ToString() + ") is down: " +
                                                health_->LastError(s.where->server));
      continue;
    }
    auto up = transport_->BeginUpload(*s.where, req.token, object_size);
    if (!up.ok()) {
      Fail(s, health_, up.status());
      continue;
    }
    s.upload = std::move(up).value();
  }
  if (Alive(sinks) < req.quorum) return QuorumLost(sinks, req.quorum);

  // One segment at a time: plaintext is read into `seg`, sealed in place, zero-padded to
  // k * block size; the k data blocks are slices of it, parity goes to `parity`.
  std::vector<uint8_t> seg(layout.segment_padded_size(0));
  std::vector<std::vector<uint8_t>> parity(m, std::vector<uint8_t>(block0));
  std::vector<const uint8_t*> data_ptrs(k);
  std::vector<uint8_t*> parity_ptrs(m);
  uint64_t done = 0;
  for (uint64_t si = 0; si < layout.segment_count(); ++si) {
    const uint64_t plain = layout.segment_plain_size(si);
    const uint64_t sealed = layout.segment_sealed_size(si);
    const uint64_t bs = layout.block_size(si);
    const uint64_t padded = layout.segment_padded_size(si);
    if (plain > 0) VFS_RETURN_IF_ERROR(read(seg.data(), plain).Annotate("read input"));
    VFS_RETURN_IF_ERROR(cipher.Seal(si, layout.is_last(si), std::span(seg.data(), plain),
                                    std::span(seg.data(), sealed)));
    std::memset(seg.data() + sealed, 0, padded - sealed);
    for (int i = 0; i < k; ++i) data_ptrs[i] = seg.data() + i * bs;
    for (int j = 0; j < m; ++j) parity_ptrs[j] = parity[j].data();
    VFS_RETURN_IF_ERROR(codec_->Encode(data_ptrs.data(), parity_ptrs.data(), bs));

    for (int i = 0; i < n; ++i) {
      ShardSink& s = sinks[i];
      if (!s.alive()) continue;
      const uint8_t* p = i < k ? data_ptrs[i] : parity_ptrs[i - k];
      std::string_view block(reinterpret_cast<const char*>(p), bs);
      VFS_RETURN_IF_ERROR(s.index->AddBlock(block));
      Status st = s.upload->Write(block);
      if (!st.ok()) Fail(s, health_, st);
    }
    if (Alive(sinks) < req.quorum) return QuorumLost(sinks, req.quorum);
    done += plain;
    if (progress) progress(done);
  }

  // Trailers first for every shard, then wait for the replies so the fsyncs overlap.
  for (auto& s : sinks) {
    if (!s.alive()) continue;
    crypto::Sha256Digest root{};
    auto trailer = s.index->Finish(&root);
    if (!trailer.ok()) return trailer.status();
    s.result.root_hex = crypto::DigestToHex(root);
    Status st = s.upload->Write(*trailer);
    if (!st.ok()) Fail(s, health_, st);
  }
  for (auto& s : sinks) {
    if (!s.alive()) continue;
    auto stored = s.upload->Finish();
    if (!stored.ok()) {
      Fail(s, health_, stored.status());
      continue;
    }
    if (*stored != object_size) {
      Fail(s, health_,
           IoError("server stored " + std::to_string(*stored) + " bytes, expected " +
                   std::to_string(object_size)));
      continue;
    }
    health_->ReportSuccess(s.where->server);
    s.result.ok = true;
    s.upload.reset();  // finished
  }
  int ok = 0;
  std::vector<ShardResult> results;
  for (auto& s : sinks) {
    ok += s.result.ok ? 1 : 0;
    results.push_back(std::move(s.result));
  }
  if (ok < req.quorum) {
    std::string msg = "only " + std::to_string(ok) + " of " + std::to_string(n) +
                      " shards were stored durably, the write quorum is " +
                      std::to_string(req.quorum) + "; nothing was committed";
    int full = 0;
    for (const auto& r : results) {
      if (!r.ok) msg += "\n  " + r.error.message();
      full += !r.ok && r.error.code() == ENOSPC ? 1 : 0;
    }
    return Status(ok + full >= req.quorum ? ENOSPC : EIO, msg);
  }
  return results;
}

}  // namespace vaultfs::cluster
