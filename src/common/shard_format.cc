// Shard object format: see shard_format.h.
#include "src/common/shard_format.h"

#include <cstring>

#include "src/common/frame.h"

namespace vaultfs {
namespace {

Status Bad(const std::string& what) { return Corruption("shard index: " + what); }

}  // namespace

uint64_t ShardIndex::DataSize() const {
  if (block_count == 0) return 0;
  return (block_count - 1) * static_cast<uint64_t>(block_size) + last_block_size;
}

Result<ShardIndex::Extent> ShardIndex::BlockExtent(uint64_t j) const {
  if (j >= block_count) {
    return InvalidArgument("block " + std::to_string(j) + " out of range (shard has " +
                           std::to_string(block_count) + " blocks)");
  }
  Extent e;
  e.offset = j * static_cast<uint64_t>(block_size);
  e.length = (j + 1 == block_count) ? last_block_size : block_size;
  return e;
}

Status ShardIndex::Validate() const {
  if (block_count > kShardMaxBlockCount) {
    return InvalidArgument("block count " + std::to_string(block_count) + " exceeds " +
                           std::to_string(kShardMaxBlockCount));
  }
  if (block_hashes.size() != block_count) {
    return InvalidArgument("block count " + std::to_string(block_count) + " but " +
                           std::to_string(block_hashes.size()) + " hashes");
  }
  if (block_count == 0) {
    if (block_size != 0 || last_block_size != 0) {
      return InvalidArgument("an empty shard must have block sizes 0");
    }
    return Status::Ok();
  }
  if (block_size == 0 || block_size > kShardMaxBlockSize) {
    return InvalidArgument("block size " + std::to_string(block_size) + " out of range");
  }
  if (last_block_size == 0 || last_block_size > block_size) {
    return InvalidArgument("last block size " + std::to_string(last_block_size) +
                           " must be in 1.." + std::to_string(block_size));
  }
  return Status::Ok();
}

Result<std::string> SerializeShardTrailer(const ShardIndex& index) {
  VFS_RETURN_IF_ERROR(index.Validate());
  const uint64_t body = index.BodySize();
  std::string out(body + kShardFooterSize, '\0');
  char* p = out.data();
  PutBigEndian32(kShardFormatVersion, p);
  PutBigEndian64(index.block_count, p + 4);
  PutBigEndian32(index.block_size, p + 12);
  PutBigEndian32(index.last_block_size, p + 16);
  p += kShardIndexFixedSize;
  for (const ShardBlockHash& h : index.block_hashes) {
    std::memcpy(p, h.data(), kShardHashSize);
    p += kShardHashSize;
  }
  PutBigEndian32(static_cast<uint32_t>(body), p);
  PutBigEndian32(kShardFormatVersion, p + 4);
  std::memcpy(p + 8, kShardMagic, sizeof(kShardMagic));
  return out;
}

Result<uint64_t> ParseShardFooter(std::string_view footer, uint64_t object_size) {
  if (footer.size() != kShardFooterSize) return Bad("footer has the wrong size");
  if (object_size < kShardFooterSize + kShardIndexFixedSize) {
    return Bad("object of " + std::to_string(object_size) + " bytes is too small for a shard");
  }
  if (std::memcmp(footer.data() + 8, kShardMagic, sizeof(kShardMagic)) != 0) {
    return Bad("bad magic");
  }
  const uint32_t version = GetBigEndian32(footer.data() + 4);
  if (version != kShardFormatVersion) return Bad("unknown version " + std::to_string(version));
  const uint64_t body = GetBigEndian32(footer.data());
  if (body < kShardIndexFixedSize || (body - kShardIndexFixedSize) % kShardHashSize != 0) {
    return Bad("index length " + std::to_string(body) + " is not 20 + 32*n");
  }
  if (body > object_size - kShardFooterSize) {
    return Bad("index length " + std::to_string(body) + " exceeds the object");
  }
  return body;
}

Result<ShardIndex> ParseShardIndexBody(std::string_view body, uint64_t object_size) {
  if (body.size() < kShardIndexFixedSize) return Bad("index body too short");
  if (object_size < body.size() + kShardFooterSize) return Bad("index body exceeds the object");
  const char* p = body.data();
  const uint32_t version = GetBigEndian32(p);
  if (version != kShardFormatVersion) return Bad("unknown version " + std::to_string(version));
  ShardIndex index;
  index.block_count = GetBigEndian64(p + 4);
  index.block_size = GetBigEndian32(p + 12);
  index.last_block_size = GetBigEndian32(p + 16);
  if (index.block_count > kShardMaxBlockCount) {
    return Bad("block count " + std::to_string(index.block_count) + " too large");
  }
  if (body.size() != kShardIndexFixedSize + kShardHashSize * index.block_count) {
    return Bad("index body of " + std::to_string(body.size()) + " bytes does not hold " +
               std::to_string(index.block_count) + " hashes");
  }
  if (index.block_count == 0) {
    if (index.block_size != 0 || index.last_block_size != 0) {
      return Bad("an empty shard must have block sizes 0");
    }
  } else {
    if (index.block_size == 0 || index.block_size > kShardMaxBlockSize) {
      return Bad("block size " + std::to_string(index.block_size) + " out of range");
    }
    if (index.last_block_size == 0 || index.last_block_size > index.block_size) {
      return Bad("last block size " + std::to_string(index.last_block_size) + " out of range");
    }
  }
  // Sizes must add up exactly: no slack bytes between data and index. (Bounded above, so
  // DataSize() cannot overflow: 2^22 blocks * 2^26 bytes = 2^48.)
  if (index.DataSize() + body.size() + kShardFooterSize != object_size) {
    return Bad("object size " + std::to_string(object_size) + " does not match the index (" +
               std::to_string(index.DataSize()) + " data bytes)");
  }
  index.block_hashes.resize(index.block_count);
  p += kShardIndexFixedSize;
  for (ShardBlockHash& h : index.block_hashes) {
    std::memcpy(h.data(), p, kShardHashSize);
    p += kShardHashSize;
  }
  return index;
}

Result<ShardIndex> ParseShardTrailer(std::string_view trailer, uint64_t object_size) {
  if (trailer.size() < kShardFooterSize) return Bad("trailer shorter than the footer");
  VFS_ASSIGN_OR_RETURN(
      uint64_t body_len,
      ParseShardFooter(trailer.substr(trailer.size() - kShardFooterSize), object_size));
  if (body_len + kShardFooterSize != trailer.size()) {
    return Bad("trailer length does not match the footer's index length");
  }
  return ParseShardIndexBody(trailer.substr(0, body_len), object_size);
}

}  // namespace vaultfs
