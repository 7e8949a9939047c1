// Bounded JSON parsing: see json_parse.h.
#include "src/common/json_parse.h"

#include <string>

namespace vaultfs {

Result<nlohmann::json> ParseJson(std::string_view text, int max_depth) {
  using json = nlohmann::json;
  bool too_deep = false;
  // The callback sees each container as it opens, with the number of containers around it.
  // Refusing one makes the parser drop it and everything inside unbuilt (it keeps only a
  // bit per level), so memory and recursion stay bounded whatever the input.
  json::parser_callback_t limit = [&too_deep, max_depth](int depth, json::parse_event_t event,
                                                         json& /*parsed*/) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= max_depth) {
      too_deep = true;
    }
    return !too_deep;
  };
  json j = json::parse(text, limit, /*allow_exceptions=*/false);
  if (too_deep) {
    return InvalidArgument("JSON nests deeper than " + std::to_string(max_depth) + " levels");
  }
  if (j.is_discarded()) return InvalidArgument("not valid JSON");
  return j;
}

}  // namespace vaultfs
