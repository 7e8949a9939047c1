// Where the CLI gets a password from, in order: --password-file FILE (first line),
// $VAULTFS_PASSWORD, else a prompt on the terminal without echo. Never from argv, so it
// does not show up in `ps`.
#pragma once

#include <string>

#include "src/common/status.h"

namespace vaultfs::cli {

struct PasswordSource {
  std::string file;     // --password-file, empty if not given
  bool use_env = true;  // consult $VAULTFS_PASSWORD
};

// `prompt` is shown when asking on the terminal; `confirm` asks twice (register, passwd).
// EINVAL for an empty password; ENOTTY when no source is available (not a terminal).
Result<std::string> ReadPassword(const PasswordSource& src, const std::string& prompt,
                                 bool confirm = false);

}  // namespace vaultfs::cli
