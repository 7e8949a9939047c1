// The Range header of a download: see http_range.h.
#include "src/web/http_range.h"

#include <optional>

namespace vaultfs::web {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A decimal number of at most 19 digits (no sign, no overflow); nullopt otherwise.
std::optional<uint64_t> ParseNumber(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

RangeRequest ResolveRange(std::string_view header, uint64_t size) {
  RangeRequest whole;
  header = Trim(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() <= kUnit.size()) return whole;
  for (size_t i = 0; i < kUnit.size(); ++i) {  // the unit is case-insensitive
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kUnit[i]) return whole;
  }
  std::string_view spec = Trim(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return whole;  // several ranges: send all
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return whole;
  std::string_view first_text = Trim(spec.substr(0, dash));
  std::string_view last_text = Trim(spec.substr(dash + 1));

  RangeRequest r;
  r.kind = RangeRequest::Kind::kPartial;
  if (first_text.empty()) {
    // "bytes=-N": the last N bytes.
    auto n = ParseNumber(last_text);
    if (!n) return whole;
    if (*n == 0 || size == 0) {
      r.kind = RangeRequest::Kind::kUnsatisfiable;
      return r;
    }
    r.length = *n < size ? *n : size;
    r.offset = size - r.length;
    return r;
  }
  auto first = ParseNumber(first_text);
  if (!first) return whole;
  std::optional<uint64_t> last;
  if (!last_text.empty()) {
    last = ParseNumber(last_text);
    if (!last || *last < *first) return whole;
  }
  if (*first >= size) {
    r.kind = RangeRequest::Kind::kUnsatisfiable;
    return r;
  }
  uint64_t end = (last && *last < size - 1) ? *last : size - 1;  // inclusive, clamped
  r.offset = *first;
  r.length = end - *first + 1;
  return r;
}

std::string ContentRangeValue(const RangeRequest& r, uint64_t size) {
  if (r.kind == RangeRequest::Kind::kPartial) {
    return "bytes " + std::to_string(r.offset) + "-" + std::to_string(r.offset + r.length - 1) +
           "/" + std::to_string(size);
  }
  return "bytes */" + std::to_string(size);
}

}  // namespace vaultfs::web
