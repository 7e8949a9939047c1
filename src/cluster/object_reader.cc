// Read pipeline: see object_reader.h.
#include "src/cluster/object_reader.h"

#include <cstring>
#include <deque>

#include "src/cluster/data_client.h"
#include "src/crypto/hash.h"

namespace vaultfs::cluster {

ObjectReader::ObjectReader(ShardTransport* transport, ServerHealth* health,
                           const erasure::Codec* codec,
                           std::unique_ptr<crypto::SegmentSealer> cipher, SegmentLayout layout,
                           std::vector<ShardSource> shards, std::string token,
                           ReaderOptions options)
    : transport_(transport),
      health_(health),
      codec_(codec),
      cipher_(std::move(cipher)),
      layout_(layout),
      shards_(std::move(shards)),
      token_(std::move(token)),
      options_(options) {
  const size_t n = shards_.size();
  object_size_ = ShardIndexBuilder::ObjectSize(layout_.shard_data_size(),
                                               static_cast<uint32_t>(layout_.block_size(0)));
  trailer_fetch_.resize(n);
  index_.resize(n);
  bad_.assign(n, false);
  slow_.assign(n, false);
  runs_.resize(n);
  cleared_.assign(n, false);
  for (size_t i = 0; i < n; ++i) {
    if (shards_[i].root_hex.empty()) {
      bad_[i] = true;  // known missing: the metadata service has no root for it
    }
  }
}

void ObjectReader::MarkBad(int shard, const std::string& kind, const Status& why, bool report) {
  if (bad_[shard]) return;
  bad_[shard] = true;
  const ShardPlacement& w = shards_[shard].where;
  std::string state = kind;
  if (IsServerFailure(why)) {
    if (report) health_->ReportFailure(w.server, why.ToString());
    state = "unreachable";
  } else if (why.code() == ERANGE) {
    state = "corrupt";  // shorter than its layout says: truncated
  }
  problems_.push_back({shard, w.server, state,
                       "shard " + std::to_string(shard) + " on server " + std::to_string(w.server) +
                           " (" + w.address.ToString() + "): " + why.ToString()});
}

bool ObjectReader::Usable(size_t shard) {
  if (bad_[shard]) return false;
  // Asked once per reader: a server being probed says no to everyone but the prober.
  if (cleared_[shard]) return true;
  if (health_->ShouldTry(shards_[shard].where.server)) {
    cleared_[shard] = true;
    return true;
  }
  // Skipped, not tried: no new failure to report (that would also nest the last error).
  MarkBad(
      static_cast<int>(shard), "missing",
      Status(EHOSTUNREACH, "server is down: " + health_->LastError(shards_[shard].where.server)),
      /*report=*/false);
  return false;
}

void ObjectReader::StartIndexLoads() {
  const uint64_t data = layout_.shard_data_size();
  for (size_t i = 0; i < shards_.size(); ++i) {
    if (index_[i] || trailer_fetch_[i] || !Usable(i)) continue;
    trailer_fetch_[i] = transport_->Download(shards_[i].where, token_, data, object_size_ - data);
  }
}

const ShardIndex* ObjectReader::IndexOf(int shard) {
  if (bad_[shard]) return nullptr;
  if (index_[shard]) return &*index_[shard];
  if (!trailer_fetch_[shard]) StartIndexLoads();
  if (!trailer_fetch_[shard]) return nullptr;
  Result<std::string> trailer = trailer_fetch_[shard]->get();
  trailer_fetch_[shard].reset();
  if (!trailer.ok()) {
    MarkBad(shard, "missing", trailer.status());
    return nullptr;
  }
  if (crypto::DigestToHex(crypto::Sha256(*trailer)) != shards_[shard].root_hex) {
    MarkBad(shard, "corrupt", Corruption("shard trailer does not match its recorded root"));
    return nullptr;
  }
  auto idx = ParseShardTrailer(*trailer, object_size_);
  if (!idx.ok()) {
    MarkBad(shard, "corrupt", idx.status());
    return nullptr;
  }
  const uint64_t last = layout_.segment_count() - 1;
  if (idx->block_count != layout_.segment_count() || idx->block_size != layout_.block_size(0) ||
      idx->last_block_size != layout_.block_size(last)) {
    MarkBad(shard, "corrupt", Corruption("shard index does not match the version's layout"));
    return nullptr;
  }
  index_[shard] = std::move(idx).value();
  return &*index_[shard];
}

bool ObjectReader::CheckBlock(int shard, uint64_t seg, std::string_view block) {
  const ShardIndex* idx = IndexOf(shard);
  if (idx == nullptr) return false;  // the shard is marked bad
  auto want = idx->block_hashes[seg];
  auto got = crypto::Sha256(block);
  if (std::memcmp(want.data(), got.data(), got.size()) != 0) {
    MarkBad(shard, "corrupt", Corruption("block " + std::to_string(seg) + " fails its hash"));
    return false;
  }
  return true;
}

bool ObjectReader::NeedsDecode(const SegmentFetch& f) const {
  for (int i = 0; i < layout_.k(); ++i) {
    if (!f.good.count(i)) return true;
  }
  return false;
}

ObjectReader::Fetch ObjectReader::BlockOf(size_t shard, uint64_t seg) {
  std::optional<Run>& r = runs_[shard];
  if (!r || seg < r->first || seg > r->last) {
    // Large segments get fewer blocks per request: a request holds at most ~1 MiB (or one
    // block), so memory stays bounded whatever segment size a version was written with.
    constexpr uint64_t kMaxRunBytes = 1 << 20;
    const uint64_t per =
        std::clamp<uint64_t>(kMaxRunBytes / layout_.block_size(0), 1,
                             static_cast<uint64_t>(std::max(1, options_.blocks_per_request)));
    const uint64_t last = std::max(seg, std::min(window_last_, seg + per - 1));
    const uint64_t off = layout_.block_offset(seg);
    const uint64_t len = layout_.block_offset(last) + layout_.block_size(last) - off;
    r = Run{seg, last, transport_->Download(shards_[shard].where, token_, off, len).share()};
  }
  return {static_cast<int>(shard), r->blocks,
          static_cast<size_t>(layout_.block_offset(seg) - layout_.block_offset(r->first))};
}

void ObjectReader::Launch(SegmentFetch& f, size_t total) {
  // Fast shards first (data before parity); shards that were slow only as a last resort.
  for (bool allow_slow : {false, true}) {
    for (size_t s = 0; s < shards_.size() && f.good.size() + f.pending.size() < total; ++s) {
      if (f.tried[s] || (slow_[s] && !allow_slow) || !Usable(s)) continue;
      f.tried[s] = true;
      f.pending.push_back(BlockOf(s, f.seg));
    }
  }
}

ObjectReader::SegmentFetch ObjectReader::Begin(uint64_t seg, bool check_all) {
  if (check_all) StartIndexLoads();  // in parallel with the first blocks
  SegmentFetch f;
  f.seg = seg;
  f.check_all = check_all;
  f.tried.assign(shards_.size(), false);
  Launch(f, static_cast<size_t>(layout_.k()));
  return f;
}

Result<std::string> ObjectReader::CompleteSealed(SegmentFetch& f) {
  using std::chrono::steady_clock;
  const int k = layout_.k(), m = layout_.m();
  const size_t need = static_cast<size_t>(k);
  const uint64_t bs = layout_.block_size(f.seg);
  // Requests to shards that went bad or slow since Begin (in another segment) get a
  // replacement right away rather than after a hedge delay of their own.
  auto top_up = [&] {
    size_t slow_pending = 0;
    for (const auto& p : f.pending) slow_pending += slow_[p.shard] ? 1 : 0;
    Launch(f, need + slow_pending);
  };
  top_up();
  auto hedge_at = steady_clock::now() + options_.hedge_after;
  while (f.good.size() < need) {
    if (f.pending.empty()) {
      std::string msg = "segment " + std::to_string(f.seg) + ": only " +
                        std::to_string(f.good.size()) + " of " + std::to_string(k + m) +
                        " blocks are readable, need " + std::to_string(k);
      for (const auto& p : problems_) msg += "\n  " + p.detail;
      return Status(EIO, msg);
    }
    size_t ready = f.pending.size();
    for (size_t i = 0; i < f.pending.size(); ++i) {
      if (f.pending[i].run.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
        ready = i;
        break;
      }
    }
    if (ready == f.pending.size()) {
      if (steady_clock::now() >= hedge_at) {
        // Something is slow: ask one more shard than we still need, if any is left, and skip
        // the laggards in later segments. Their requests stay in flight and are used if they
        // answer first.
        for (const auto& p : f.pending) slow_[p.shard] = true;
        Launch(f, f.good.size() + f.pending.size() + 1);
        hedge_at = steady_clock::now() + options_.hedge_after;
      }
      // Block on the oldest request that is not known slow, until the hedge deadline: the
      // segment needs k blocks anyway, so others that finish meanwhile come right after.
      Fetch* wait_on = &f.pending.front();
      for (auto& p : f.pending) {
        if (!slow_[p.shard]) {
          wait_on = &p;
          break;
        }
      }
      wait_on->run.wait_until(hedge_at);
      continue;
    }
    Fetch done = std::move(f.pending[ready]);
    f.pending.erase(f.pending.begin() + static_cast<std::ptrdiff_t>(ready));
    const Result<std::string>& run = done.run.get();
    if (!run.ok()) {
      MarkBad(done.shard, "missing", run.status());
    } else if (run->size() < done.offset + bs) {
      MarkBad(done.shard, "corrupt",
              Corruption("block " + std::to_string(f.seg) + " is short: the server sent " +
                         std::to_string(run->size()) + " bytes"));
    } else {
      std::string_view block = std::string_view(*run).substr(done.offset, bs);
      const bool trust_gcm = !f.check_all && done.shard < k;
      if (trust_gcm || CheckBlock(done.shard, f.seg, block)) {
        if (trust_gcm) f.unchecked.push_back(done.shard);
        health_->ReportSuccess(shards_[done.shard].where.server);
        f.good.emplace(done.shard, block);
        f.held.push_back(std::move(done.run));
      }
    }
    if (f.good.size() >= need && !f.unchecked.empty() && NeedsDecode(f)) {
      // GCM cannot tell which block is bad after a decode: check them now.
      for (int s : f.unchecked) {
        if (!CheckBlock(s, f.seg, f.good.at(s))) f.good.erase(s);
      }
      f.unchecked.clear();
    }
    top_up();
  }
  // Slow stragglers still in flight are abandoned; their futures complete on their own.
  f.pending.clear();

  // Assemble the k data blocks; decode whatever data block is missing.
  std::string sealed;
  if (!NeedsDecode(f)) {  // the common case: appended, so the buffer is written once
    sealed.reserve(static_cast<size_t>(bs) * k);
    for (int i = 0; i < k; ++i) sealed.append(f.good[i]);
    return sealed;
  }
  sealed.assign(static_cast<size_t>(bs) * k, '\0');
  std::vector<std::string> parity(m, std::string(bs, '\0'));
  std::vector<uint8_t*> ptrs(k + m);
  std::vector<int> erased;
  for (int i = 0; i < k + m; ++i) {
    uint8_t* p = i < k ? reinterpret_cast<uint8_t*>(sealed.data() + i * bs)
                       : reinterpret_cast<uint8_t*>(parity[i - k].data());
    ptrs[i] = p;
    auto it = f.good.find(i);
    if (it == f.good.end()) {
      erased.push_back(i);
    } else {
      std::memcpy(p, it->second.data(), bs);
    }
  }
  VFS_RETURN_IF_ERROR(
      codec_->Decode(ptrs.data(), erased, bs).Annotate("decode segment " + std::to_string(f.seg)));
  return sealed;
}

Result<std::string> ObjectReader::Open(uint64_t seg, std::string sealed) {
  const uint64_t plain = layout_.segment_plain_size(seg);
  auto* p = reinterpret_cast<uint8_t*>(sealed.data());
  VFS_RETURN_IF_ERROR(cipher_
                          ->Open(seg, layout_.is_last(seg),
                                 std::span(p, layout_.segment_sealed_size(seg)),
                                 std::span(p, plain))
                          .Annotate("segment " + std::to_string(seg)));
  sealed.resize(plain);
  return sealed;
}

Status ObjectReader::Read(uint64_t offset, uint64_t length, const PlaintextSink& sink) {
  if (length == 0) return Status::Ok();
  uint64_t first = 0, last = 0;
  VFS_RETURN_IF_ERROR(layout_.SegmentsFor(offset, length, &first, &last));
  return ReadSegments(first, last, [&](uint64_t seg, std::string plain) -> Status {
    uint64_t seg_off = layout_.segment_plain_offset(seg);
    uint64_t from = offset > seg_off ? offset - seg_off : 0;
    uint64_t to = std::min<uint64_t>(plain.size(), offset + length - seg_off);
    return sink(std::string_view(plain).substr(from, to - from));
  });
}

Status ObjectReader::ReadSegments(uint64_t first, uint64_t last, const SegmentSink& sink) {
  if (!cipher_) return InvalidArgument("a keyless reader cannot open segments");
  return ReadWindow(first, last, /*check_all=*/false,
                    [&](uint64_t seg, std::string& sealed) -> Status {
                      Result<std::string> plain = Open(seg, std::move(sealed));
                      if (!plain.ok() && plain.status().code() == EBADMSG) {
                        // Some data block is bad: read the segment again checking every block,
                        // which marks the bad shard and decodes from the others.
                        SegmentFetch f = Begin(seg, /*check_all=*/true);
                        VFS_ASSIGN_OR_RETURN(std::string again, CompleteSealed(f));
                        plain = Open(seg, std::move(again));
                      }
                      if (!plain.ok()) return plain.status();
                      return sink(seg, std::move(plain).value());
                    });
}

Status ObjectReader::ReadSealed(
    uint64_t first, uint64_t last,
    const std::function<Status(uint64_t seg, std::string& sealed)>& sink) {
  return ReadWindow(first, last, /*check_all=*/true, sink);
}

Status ObjectReader::ReadWindow(
    uint64_t first, uint64_t last, bool check_all,
    const std::function<Status(uint64_t seg, std::string& sealed)>& sink) {
  if (first > last || last >= layout_.segment_count()) return InvalidArgument("no such segment");
  std::deque<SegmentFetch> window;
  window_last_ = last;
  uint64_t next = first;
  const uint64_t ahead = static_cast<uint64_t>(std::max(1, options_.readahead));
  Status st = Status::Ok();
  for (uint64_t seg = first; seg <= last && st.ok(); ++seg) {
    while (next <= last && next < seg + ahead) window.push_back(Begin(next++, check_all));
    SegmentFetch f = std::move(window.front());
    window.pop_front();
    Result<std::string> sealed = CompleteSealed(f);
    st = sealed.ok() ? sink(seg, *sealed) : sealed.status();
  }
  // Requests still in flight complete on their own; an idle reader keeps no blocks.
  for (auto& r : runs_) r.reset();
  return st;
}

}  // namespace vaultfs::cluster
