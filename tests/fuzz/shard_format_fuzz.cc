// libFuzzer target for the shard object format (src/common/shard_format.h): the trailer a data
// server, the repairer and every reader parse from the end of a possibly hostile object.
//
// Input: 1 control byte, 8 bytes of a raw object size, then the trailer bytes. Each parser runs
// with several object sizes: the raw one, the trailer's own length, and the size the trailer's
// fixed fields claim (the only one a strict parser can accept), each nudged by a delta chosen
// by the control byte. Whatever parses must be valid, agree between the three entry points,
// describe block extents inside the data, and serialize back to exactly the bytes it came
// from. A second round trip goes the other way: an index built from the input bytes must
// serialize iff it validates, and parse back to itself.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "src/common/frame.h"
#include "src/common/shard_format.h"

namespace {

using vaultfs::ShardIndex;

void Check(bool cond, const char* what) {
  if (!cond) {
    std::fprintf(stderr, "shard_format_fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

bool SameIndex(const ShardIndex& a, const ShardIndex& b) {
  return a.block_count == b.block_count && a.block_size == b.block_size &&
         a.last_block_size == b.last_block_size && a.block_hashes == b.block_hashes;
}

void CheckIndex(const ShardIndex& index, uint64_t object_size) {
  Check(index.Validate().ok(), "a parsed index does not validate");
  Check(index.ObjectSize() == object_size, "a parsed index disagrees with the object size");
  const uint64_t probes[] = {0, index.block_count / 2, index.block_count - 1, index.block_count,
                             index.block_count + 1};
  for (uint64_t j : probes) {
    auto e = index.BlockExtent(j);
    if (j >= index.block_count) {
      Check(!e.ok(), "BlockExtent accepted a block past the end");
      continue;
    }
    Check(e.ok(), "BlockExtent refused a block in range");
    Check(e->length >= 1 && e->length <= index.block_size, "block length out of range");
    Check(e->offset + e->length <= index.DataSize(), "a block extends past the data");
  }
}

// Parses `trailer` as the end of an object of `object_size` bytes through every entry point.
void CheckTrailer(std::string_view trailer, uint64_t object_size) {
  auto whole = vaultfs::ParseShardTrailer(trailer, object_size);
  if (trailer.size() < vaultfs::kShardFooterSize) {
    Check(!whole.ok(), "a trailer shorter than the footer parsed");
    return;
  }
  auto body_len = vaultfs::ParseShardFooter(
      trailer.substr(trailer.size() - vaultfs::kShardFooterSize), object_size);
  if (body_len.ok()) {
    Check(*body_len >= vaultfs::kShardIndexFixedSize &&
              (*body_len - vaultfs::kShardIndexFixedSize) % vaultfs::kShardHashSize == 0,
          "footer index length is not 20 + 32n");
    Check(*body_len + vaultfs::kShardFooterSize <= object_size, "footer exceeds the object");
  } else {
    Check(body_len.status().code() == EBADMSG, "footer error is not EBADMSG");
  }
  // The index body as the footer locates it, or (when the footer is bad) everything before it.
  const size_t body_size = body_len.ok() && *body_len <= trailer.size() - vaultfs::kShardFooterSize
                               ? static_cast<size_t>(*body_len)
                               : trailer.size() - vaultfs::kShardFooterSize;
  const std::string_view body =
      trailer.substr(trailer.size() - vaultfs::kShardFooterSize - body_size, body_size);
  auto index = vaultfs::ParseShardIndexBody(body, object_size);
  if (index.ok()) {
    CheckIndex(*index, object_size);
    auto ser = vaultfs::SerializeShardTrailer(*index);
    Check(ser.ok(), "a parsed index does not serialize");
    Check(std::string_view(*ser).substr(0, body.size()) == body,
          "index body changed in a parse/serialize round trip");
  } else {
    Check(index.status().code() == EBADMSG, "index body error is not EBADMSG");
  }

  const bool expect =
      body_len.ok() && *body_len + vaultfs::kShardFooterSize == trailer.size() && index.ok();
  Check(whole.ok() == expect, "ParseShardTrailer disagrees with footer + body parsing");
  if (!whole.ok()) {
    Check(whole.status().code() == EBADMSG, "trailer error is not EBADMSG");
    return;
  }
  CheckIndex(*whole, object_size);
  Check(SameIndex(*whole, *index), "trailer and body parse give different indexes");
  auto ser = vaultfs::SerializeShardTrailer(*whole);
  Check(ser.ok() && *ser == trailer, "trailer changed in a parse/serialize round trip");
}

// The object size the trailer's fixed fields claim, if they are in bounds.
uint64_t ClaimedObjectSize(std::string_view trailer) {
  if (trailer.size() < vaultfs::kShardIndexFixedSize + vaultfs::kShardFooterSize) {
    return trailer.size();
  }
  const uint64_t body = trailer.size() - vaultfs::kShardFooterSize;
  const char* p = trailer.data();
  const uint64_t n = vaultfs::GetBigEndian64(p + 4);
  const uint64_t bs = vaultfs::GetBigEndian32(p + 12);
  const uint64_t last = vaultfs::GetBigEndian32(p + 16);
  if (n == 0 || n > vaultfs::kShardMaxBlockCount || bs > vaultfs::kShardMaxBlockSize) return body;
  return (n - 1) * bs + last + trailer.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  const uint8_t control = data[0];
  const uint64_t raw_size = vaultfs::GetBigEndian64(reinterpret_cast<const char*>(data) + 1);
  const std::string_view trailer(reinterpret_cast<const char*>(data) + 9, size - 9);
  // Mostly exact sizes (delta 0), sometimes off by a little either way.
  const int64_t delta = (control & 0x80) ? static_cast<int8_t>(control << 1) / 2 : 0;

  CheckTrailer(trailer, raw_size);
  CheckTrailer(trailer, trailer.size() + delta);
  CheckTrailer(trailer, ClaimedObjectSize(trailer) + delta);

  // Build an index from the same bytes: block count from the control byte, sizes and hashes
  // from the trailer bytes. It must serialize iff it validates, and parse back to itself.
  ShardIndex built;
  built.block_count = control & 0x0f;
  if (control & 0x10) built.block_count += 1;  // an off-by-one against the hashes below
  if (trailer.size() >= 8) {
    built.block_size = vaultfs::GetBigEndian32(trailer.data()) >> (control & 0x20 ? 0 : 8);
    built.last_block_size = vaultfs::GetBigEndian32(trailer.data() + 4) >> (control & 0x40 ? 0 : 8);
  }
  for (size_t i = 0; i < (control & 0x0f); ++i) {
    vaultfs::ShardBlockHash h{};
    for (size_t b = 0; b < h.size(); ++b) {
      const size_t at = 8 + i * h.size() + b;
      h[b] = at < trailer.size() ? static_cast<uint8_t>(trailer[at]) : static_cast<uint8_t>(b);
    }
    built.block_hashes.push_back(h);
  }
  auto ser = vaultfs::SerializeShardTrailer(built);
  Check(ser.ok() == built.Validate().ok(), "SerializeShardTrailer disagrees with Validate");
  if (ser.ok()) {
    Check(ser->size() == built.BodySize() + vaultfs::kShardFooterSize, "trailer size");
    auto back = vaultfs::ParseShardTrailer(*ser, built.ObjectSize());
    Check(back.ok() && SameIndex(*back, built), "a serialized index does not parse back");
    CheckTrailer(*ser, built.ObjectSize());
    Check(!vaultfs::ParseShardTrailer(*ser, built.ObjectSize() + 1).ok(),
          "a trailer parsed with slack bytes before it");
  }
  return 0;
}
