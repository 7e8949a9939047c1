// The HTTP Range header of a download (RFC 9110 §14), resolved against the file's size.
//
// The gateway answers one byte range itself (206 + Content-Range) instead of leaving it to
// cpp-httplib: the library version Debian 12 ships does not clamp a range that runs past the
// end of the body, so it would announce a Content-Length it cannot send. Several ranges in one
// request are answered with the whole file (200), which RFC 9110 allows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vaultfs::web {

struct RangeRequest {
  enum class Kind {
    kWhole,          // no Range header, or one we ignore: send everything with 200
    kPartial,        // send [offset, offset+length) with 206
    kUnsatisfiable,  // 416 with "Content-Range: bytes */SIZE"
  };
  Kind kind = Kind::kWhole;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// `header` is the Range header's value ("" if absent). Syntax errors and units other than
// "bytes" are ignored (-> kWhole), as RFC 9110 asks.
RangeRequest ResolveRange(std::string_view header, uint64_t size);

// "bytes 0-99/1000" for a kPartial range; "bytes */1000" for kUnsatisfiable.
std::string ContentRangeValue(const RangeRequest& r, uint64_t size);

}  // namespace vaultfs::web
