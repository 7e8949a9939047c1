// The page's static files: see assets.h. The table itself is generated (assets_data.cc).
#include "src/web/assets.h"

#include <cstddef>

namespace vaultfs::web {

extern const Asset kAssets[];
extern const size_t kAssetCount;

const Asset* FindAsset(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (size_t i = 0; i < kAssetCount; ++i) {
    if (kAssets[i].path == path) return &kAssets[i];
  }
  return nullptr;
}

}  // namespace vaultfs::web
