// libFuzzer target for the frame codec (src/common/frame.h). The input chooses a frame limit
// and how the byte stream is cut into Feed() calls; the decoder's output is checked against a
// straightforward reference parse of the whole stream, so any dependence on where recv()
// happened to split the bytes, a frame above the limit, a wrong buffered() count or a decoder
// that recovers after an error is a finding. Frames that come out are re-encoded and decoded
// again (EncodeFrame round trip).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "src/common/frame.h"

namespace {

using vaultfs::FrameDecoder;

void Check(bool cond, const char* what) {
  if (!cond) {
    std::fprintf(stderr, "frame_fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

// The frames a correct decoder yields for `stream`, and whether the stream holds a complete
// header announcing more than `max_frame` bytes (after which nothing more may come out).
struct Reference {
  std::vector<std::string> frames;
  size_t consumed = 0;  // bytes of the complete frames
  bool oversized = false;
};

Reference Parse(const std::string& stream, size_t max_frame) {
  Reference ref;
  size_t pos = 0;
  while (stream.size() - pos >= vaultfs::kFrameHeaderSize) {
    const uint32_t len = vaultfs::GetBigEndian32(stream.data() + pos);
    if (len > max_frame) {
      ref.oversized = true;
      break;
    }
    if (stream.size() - pos - vaultfs::kFrameHeaderSize < len) break;
    ref.frames.push_back(stream.substr(pos + vaultfs::kFrameHeaderSize, len));
    pos += vaultfs::kFrameHeaderSize + len;
  }
  ref.consumed = pos;
  return ref;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  // Small limits make the EMSGSIZE path reachable with short inputs; the default limit is the
  // one every server uses.
  const size_t max_frame =
      in.ConsumeBool() ? vaultfs::kDefaultMaxFrame : in.ConsumeIntegralInRange<size_t>(0, 512);
  std::vector<size_t> cuts(in.ConsumeIntegralInRange<size_t>(1, 8));
  for (size_t& c : cuts) c = in.ConsumeIntegralInRange<size_t>(0, 40);
  const std::string stream = in.ConsumeRemainingBytesAsString();
  const Reference ref = Parse(stream, max_frame);

  FrameDecoder dec(max_frame);
  std::vector<std::string> got;
  size_t fed = 0, taken = 0;  // bytes given to the decoder / bytes of frames taken out
  bool failed = false;
  for (size_t i = 0; fed < stream.size(); ++i) {
    const size_t n = std::min(cuts[i % cuts.size()], stream.size() - fed);
    vaultfs::Status st = dec.Feed(std::string_view(stream).substr(fed, n));
    if (!failed) fed += n;  // a failed decoder must not take more bytes
    if (!st.ok()) {
      Check(st.code() == EMSGSIZE, "Feed failed with a code other than EMSGSIZE");
      failed = true;
    }
    while (auto frame = dec.Next()) {
      Check(!failed, "Next() returned a frame after an error");
      Check(frame->size() <= max_frame, "a frame exceeds max_frame");
      taken += vaultfs::kFrameHeaderSize + frame->size();
      got.push_back(std::move(*frame));
    }
    if (!dec.Finish().ok() && dec.Finish().code() == EMSGSIZE) failed = true;
    if (!failed) Check(dec.buffered() == fed - taken, "buffered() disagrees with fed - taken");
    if (failed) {
      // Stays failed: more bytes are refused, nothing more comes out.
      Check(dec.Feed("\0\0\0\0x").code() == EMSGSIZE, "a failed decoder accepted bytes");
      Check(!dec.Next().has_value(), "a failed decoder produced a frame");
      Check(dec.Finish().code() == EMSGSIZE, "a failed decoder finished cleanly");
      break;
    }
    if (n == 0 && i > 64 * cuts.size()) {
      // Every cut is zero: feed the rest at once so the loop ends.
      cuts.assign(1, stream.size());
    }
  }

  Check(failed == ref.oversized, "decoder and reference disagree on an oversized header");
  Check(got.size() == ref.frames.size(), "decoder and reference yield different frame counts");
  for (size_t i = 0; i < got.size(); ++i) Check(got[i] == ref.frames[i], "frame bytes differ");
  if (!failed) {
    Check(dec.buffered() == stream.size() - ref.consumed, "buffered() at end of stream");
    Check(dec.Finish().ok() == (dec.buffered() == 0), "Finish() disagrees with buffered()");
    if (!dec.Finish().ok()) Check(dec.Finish().code() == EPROTO, "truncated frame is not EPROTO");
  }

  // Round trip: re-encode what came out and decode it in one piece.
  std::string again;
  for (const std::string& f : got) {
    auto enc = vaultfs::EncodeFrame(f, max_frame);
    Check(enc.ok(), "EncodeFrame refused a frame the decoder accepted");
    Check(enc->size() == vaultfs::kFrameHeaderSize + f.size(), "encoded frame size");
    again += *enc;
  }
  if (max_frame < 4096) {
    auto too_big = vaultfs::EncodeFrame(std::string(max_frame + 1, 'x'), max_frame);
    Check(too_big.status().code() == EMSGSIZE, "EncodeFrame accepted a body above max_frame");
  }
  FrameDecoder dec2(max_frame);
  Check(dec2.Feed(again).ok(), "re-encoded frames rejected");
  for (const std::string& f : got) {
    auto frame = dec2.Next();
    Check(frame.has_value() && *frame == f, "round trip changed a frame");
  }
  Check(!dec2.Next().has_value() && dec2.Finish().ok(), "round trip left bytes behind");
  return 0;
}
