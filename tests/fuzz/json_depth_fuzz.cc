// libFuzzer target for ParseJson (src/common/json_parse.h), the bounded parser every outside
// JSON document goes through. The input picks a depth bound, an optional wrapping of the text in
// up to 100,000 levels of brackets, and the text. Reference: nlohmann's SAX parser (iterative:
// it builds nothing) says whether the text is valid JSON and how deep it nests. ParseJson must
// accept exactly the valid texts within the bound, refuse the rest with EINVAL, never recurse
// per level (ASan's stack would catch it), and return a value that dumps and parses back equal.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "src/common/json_parse.h"

namespace {

using json = nlohmann::json;

void Check(bool cond, const char* what) {
  if (!cond) {
    std::fprintf(stderr, "json_depth_fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

// Counts the deepest nesting of containers without building anything.
struct DepthCounter : json::json_sax_t {
  int depth = 0;
  int max_depth = 0;
  bool Open() {
    max_depth = std::max(max_depth, ++depth);
    return true;
  }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(json::number_integer_t) override { return true; }
  bool number_unsigned(json::number_unsigned_t) override { return true; }
  bool number_float(json::number_float_t, const json::string_t&) override { return true; }
  bool string(json::string_t&) override { return true; }
  bool binary(json::binary_t&) override { return true; }
  bool start_object(std::size_t) override { return Open(); }
  bool key(json::string_t&) override { return true; }
  bool end_object() override { return --depth, true; }
  bool start_array(std::size_t) override { return Open(); }
  bool end_array() override { return --depth, true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }
};

// Depth of a parsed value, iteratively (the value may be as deep as the bound allows).
int DepthOf(const json& root) {
  int deepest = 0;
  std::vector<std::pair<const json*, int>> stack{{&root, 0}};
  while (!stack.empty()) {
    auto [v, d] = stack.back();
    stack.pop_back();
    if (!v->is_structured()) continue;
    deepest = std::max(deepest, d + 1);
    for (const json& child : *v) stack.push_back({&child, d + 1});
  }
  return deepest;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const int bound = in.ConsumeIntegralInRange<int>(1, 80);
  const bool wrap = in.ConsumeBool();
  const size_t levels = wrap ? in.ConsumeIntegralInRange<size_t>(0, 100000) : 0;
  const bool objects = in.ConsumeBool();
  std::string text = in.ConsumeRemainingBytesAsString();
  if (levels > 0) {
    std::string open, close;
    for (size_t i = 0; i < levels; ++i) open += objects ? R"({"k":)" : "[";
    close.assign(levels, objects ? '}' : ']');
    text = open + text + close;
  }

  DepthCounter counter;
  // strict: the whole text must be one JSON value, as ParseJson requires.
  const bool valid = json::sax_parse(text, &counter, json::input_format_t::json, /*strict=*/true);
  auto r = vaultfs::ParseJson(text, bound);
  if (!valid) {
    Check(!r.ok(), "accepted text that is not valid JSON");
  } else if (counter.max_depth > bound) {
    Check(!r.ok(), "accepted JSON deeper than the bound");
  } else {
    Check(r.ok(), "refused valid JSON within the bound");
  }
  if (!r.ok()) {
    Check(r.status().code() == EINVAL, "error is not EINVAL");
    return 0;
  }
  Check(DepthOf(*r) <= bound, "parsed value deeper than the bound");
  json copy = *r;  // copying is what the bound makes safe
  auto again = vaultfs::ParseJson(copy.dump(), bound);
  Check(again.ok(), "dump of a parsed value does not parse again");
  Check(*again == *r || r->dump() == again->dump(), "dump/parse round trip differs");
  return 0;
}
