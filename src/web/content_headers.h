// Content-Type and Content-Disposition of a download, from the file's name.
//
// Downloads are always attachments (never rendered on the gateway's origin, where a stored
// HTML file could otherwise run script with the user's session); the name is given both as a
// quoted ASCII fallback and as RFC 8187 UTF-8 (`filename*`), so any vault name survives.
#pragma once

#include <string>
#include <string_view>

namespace vaultfs::web {

// A media type from the name's extension (case-insensitive); "application/octet-stream" if
// unknown. Text types carry "; charset=utf-8".
std::string MediaTypeForName(std::string_view name);

// `attachment; filename="..."; filename*=UTF-8''...` for `name`.
std::string AttachmentDisposition(std::string_view name);

// RFC 3986 percent-encoding of everything but unreserved characters (for filename*).
std::string PercentEncode(std::string_view s);

}  // namespace vaultfs::web
