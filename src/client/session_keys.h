// SessionKeys: who is logged in and the keys that came with the login — the state Accounts
// fills in and the tree and content modules read. Owned by the Vault; never leaves this
// process (the metadata service sees only what these keys derive: lookup keys, sealed names,
// wrapped keys).
//
// Written by Accounts::Login before any tree or content call (those refuse with "log in first"
// until then), then only read, except auth_key, which ChangePassword replaces.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "src/crypto/key.h"
#include "src/crypto/name_cipher.h"

namespace vaultfs::client {

struct SessionKeys {
  std::string user_name;
  std::string user_id;
  uint64_t root = 0;                          // the user's root directory inode
  std::unique_ptr<crypto::Key> master;        // unwraps file keys
  std::unique_ptr<crypto::Key> auth_key;      // to renew an expired session
  std::unique_ptr<crypto::NameCipher> names;  // seals and opens names and symlink targets

  bool logged_in() const { return master != nullptr; }
};

}  // namespace vaultfs::client
