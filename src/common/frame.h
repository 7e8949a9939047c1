// The frame codec every vaultfs client and server speaks: a 4-byte big-endian body length,
// then the body. Decoding is incremental (feed whatever recv() returned; take whole frames
// out) and refuses a declared length above the configured maximum before buffering it, so a
// hostile peer cannot make us allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "src/common/status.h"

namespace vaultfs {

inline constexpr size_t kFrameHeaderSize = 4;
inline constexpr size_t kDefaultMaxFrame = 8u << 20;  // 8 MiB

// Big-endian integer helpers shared by every binary format.
void PutBigEndian32(uint32_t v, char* out);
void PutBigEndian64(uint64_t v, char* out);
uint32_t GetBigEndian32(const char* in);
uint64_t GetBigEndian64(const char* in);

// Returns header + body. Fails (EMSGSIZE) if body exceeds max_frame.
Result<std::string> EncodeFrame(std::string_view body, size_t max_frame = kDefaultMaxFrame);

class FrameDecoder {
 public:
  explicit FrameDecoder(size_t max_frame = kDefaultMaxFrame) : max_frame_(max_frame) {}

  // Appends received bytes. Fails (EMSGSIZE) as soon as a header declares an oversized body;
  // after an error the decoder stays failed and the connection should be closed.
  Status Feed(std::string_view bytes);

  // The next complete frame body, or nullopt when more bytes are needed.
  std::optional<std::string> Next();

  // Bytes held that do not yet form a whole frame. At end of stream, a non-zero value means
  // the peer sent a truncated frame; Finish() turns that into an error.
  size_t buffered() const { return buf_.size() - pos_; }
  Status Finish() const;

 private:
  Status CheckHeader() const;

  size_t max_frame_;
  std::string buf_;
  size_t pos_ = 0;
  Status error_;
};

}  // namespace vaultfs
