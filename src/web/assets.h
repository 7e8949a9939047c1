// The page's static files (src/web/assets/), compiled into the binary so the gateway works
// offline and needs nothing installed next to it. embed_assets.py generates the table at
// build time (see meson.build).
#pragma once

#include <string_view>

namespace vaultfs::web {

struct Asset {
  std::string_view path;          // URL path, e.g. "/app.js"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view body;
};

// The asset served at `path` ("/" is index.html), or nullptr.
const Asset* FindAsset(std::string_view path);

}  // namespace vaultfs::web
