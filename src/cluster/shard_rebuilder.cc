// ShardRebuilder: see shard_rebuilder.h.
#include "src/cluster/shard_rebuilder.h"

#include <cstring>
#include <memory>

#include "src/cluster/data_client.h"
#include "src/crypto/hash.h"

namespace vaultfs::cluster {
namespace {

struct Target {
  RebuiltShard out;
  std::unique_ptr<ShardUpload> upload;
  std::unique_ptr<ShardIndexBuilder> index;
  bool alive() const { return upload != nullptr; }
};

void Fail(Target& t, ServerHealth* health, const Status& st) {
  if (IsServerFailure(st)) health->ReportFailure(t.out.where.server, st.ToString());
  t.out.ok = false;
  t.out.error =
      st.Annotate("rebuilt shard " + std::to_string(t.out.index) + " to server " +
                  std::to_string(t.out.where.server) + " (" + t.out.where.address.ToString() + ")");
  t.upload.reset();  // aborts the stream; the server drops the partial object
}

}  // namespace

Result<RebuildOutcome> RebuildShards(ShardTransport* transport, ServerHealth* health,
                                     const erasure::Codec* codec, const RebuildRequest& req) {
  const SegmentLayout& layout = *req.layout;
  const int k = layout.k(), m = layout.m();
  if (codec->k() != k || codec->m() != m || static_cast<int>(req.sources.size()) != k + m) {
    return InvalidArgument("rebuild: sources, codec and layout disagree on k and m");
  }
  if (req.targets.empty()) return InvalidArgument("rebuild: no shard to rebuild");
  const uint32_t block0 = static_cast<uint32_t>(layout.block_size(0));
  const uint64_t object_size = ShardIndexBuilder::ObjectSize(layout.shard_data_size(), block0);

  std::vector<Target> targets(req.targets.size());
  bool need_parity = false;
  for (size_t i = 0; i < targets.size(); ++i) {
    Target& t = targets[i];
    t.out.index = req.targets[i].index;
    t.out.where = req.targets[i];
    if (t.out.index < 0 || t.out.index >= k + m) return InvalidArgument("rebuild: bad index");
    need_parity |= t.out.index >= k;
    t.index = std::make_unique<ShardIndexBuilder>(block0);
    auto up = transport->BeginUpload(t.out.where, req.write_token, object_size);
    if (!up.ok()) {
      Fail(t, health, up.status());
      continue;
    }
    t.upload = std::move(up).value();
  }

  ObjectReader reader(transport, health, codec, nullptr, layout, req.sources, req.token,
                      req.reader);
  std::vector<std::string> parity(need_parity ? m : 0);
  Status read = reader.ReadSealed(
      0, layout.segment_count() - 1, [&](uint64_t seg, std::string_view sealed) -> Status {
        const size_t bs = layout.block_size(seg);
        if (need_parity) {
          std::vector<const uint8_t*> data(k);
          std::vector<uint8_t*> out(m);
          for (int i = 0; i < k; ++i) {
            data[i] = reinterpret_cast<const uint8_t*>(sealed.data()) + i * bs;
          }
          for (int i = 0; i < m; ++i) {
            parity[i].resize(bs);
            out[i] = reinterpret_cast<uint8_t*>(parity[i].data());
          }
          VFS_RETURN_IF_ERROR(codec->Encode(data.data(), out.data(), bs));
        }
        int alive = 0;
        for (Target& t : targets) {
          if (!t.alive()) continue;
          const int i = t.out.index;
          std::string_view block = i < k ? sealed.substr(static_cast<size_t>(i) * bs, bs)
                                         : std::string_view(parity[i - k]);
          Status st = t.index->AddBlock(block);
          if (st.ok()) st = t.upload->Write(block);
          if (!st.ok()) {
            Fail(t, health, st);
            continue;
          }
          ++alive;
        }
        if (alive == 0) return Status(EIO, "every rebuilt shard's upload failed");
        return req.on_segment ? req.on_segment(bs * static_cast<uint64_t>(alive)) : Status::Ok();
      });
  if (!read.ok()) {
    // A target's own failure message says more than "all failed".
    for (const Target& t : targets) {
      if (!t.out.error.ok()) read = read.Annotate(t.out.error.message());
    }
    return read;
  }

  RebuildOutcome outcome;
  for (Target& t : targets) {
    if (t.alive()) {
      crypto::Sha256Digest root;
      auto trailer = t.index->Finish(&root);
      Status st = trailer.ok() ? t.upload->Write(*trailer) : trailer.status();
      if (st.ok()) {
        auto stored = t.upload->Finish();
        st = stored.ok() ? Status::Ok() : stored.status();
      }
      if (st.ok()) {
        t.out.ok = true;
        t.out.root_hex = crypto::DigestToHex(root);
        health->ReportSuccess(t.out.where.server);
      } else {
        Fail(t, health, st);
      }
    }
    outcome.shards.push_back(std::move(t.out));
  }
  outcome.problems = reader.problems();
  return outcome;
}

}  // namespace vaultfs::cluster
