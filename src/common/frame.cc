// Frame codec: see frame.h.
#include "src/common/frame.h"

namespace vaultfs {

void PutBigEndian32(uint32_t v, char* out) {
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

void PutBigEndian64(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

uint32_t GetBigEndian32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

uint64_t GetBigEndian64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

Result<std::string> EncodeFrame(std::string_view body, size_t max_frame) {
  if (body.size() > max_frame) {
    return Status(EMSGSIZE, "frame of " + std::to_string(body.size()) +
                                " bytes exceeds the maximum of " + std::to_string(max_frame));
  }
  std::string out(kFrameHeaderSize + body.size(), '\0');
  PutBigEndian32(static_cast<uint32_t>(body.size()), out.data());
  out.replace(kFrameHeaderSize, body.size(), body);
  return out;
}

Status FrameDecoder::CheckHeader() const {
  if (buffered() < kFrameHeaderSize) return Status::Ok();
  uint32_t len = GetBigEndian32(buf_.data() + pos_);
  if (len > max_frame_) {
    return Status(EMSGSIZE, "peer announced a frame of " + std::to_string(len) +
                                " bytes; the maximum is " + std::to_string(max_frame_));
  }
  return Status::Ok();
}

Status FrameDecoder::Feed(std::string_view bytes) {
  if (!error_.ok()) return error_;
  // Compact consumed bytes before growing, so a long-lived connection's buffer stays small.
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
  error_ = CheckHeader();
  return error_;
}

std::optional<std::string> FrameDecoder::Next() {
  if (!error_.ok() || buffered() < kFrameHeaderSize) return std::nullopt;
  uint32_t len = GetBigEndian32(buf_.data() + pos_);
  if (buffered() < kFrameHeaderSize + len) return std::nullopt;
  std::string body = buf_.substr(pos_ + kFrameHeaderSize, len);
  pos_ += kFrameHeaderSize + len;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  // The next frame's header may already be here; check it now so Feed()'s contract holds.
  error_ = CheckHeader();
  return body;
}

Status FrameDecoder::Finish() const {
  if (!error_.ok()) return error_;
  if (buffered() != 0) {
    return Status(EPROTO, "connection closed inside a frame (" + std::to_string(buffered()) +
                              " bytes of an incomplete frame)");
  }
  return Status::Ok();
}

}  // namespace vaultfs
