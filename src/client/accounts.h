// Accounts: registering a user, logging in, changing the password (DESIGN.md §6), and
// renewing an expired session.
//
// The password runs through scrypt on this machine; HKDF splits the result into the auth key
// (sent at login; the server keeps a hash) and the KEK, which unwraps the master key the server
// stores for us. The master key is bound to the user name (the id does not exist yet when it
// is wrapped at registration). A successful Login fills in the vault's SessionKeys.
#pragma once

#include <string>

#include "src/client/session_keys.h"
#include "src/client/vault_options.h"
#include "src/cluster/meta_client.h"
#include "src/common/status.h"

namespace vaultfs::client {

class Accounts {
 public:
  // `meta`, `options` and `keys` belong to the Vault and outlive this object.
  Accounts(MetaClient* meta, const VaultOptions* options, SessionKeys* keys)
      : meta_(meta), options_(*options), keys_(keys) {}
  Accounts(const Accounts&) = delete;
  Accounts& operator=(const Accounts&) = delete;

  // Creates the account; does not log in. EEXIST if the name is taken.
  Status Register(const std::string& user, const std::string& password);
  // EACCES for a wrong password, and for an unknown user (with a hint to register). Not
  // thread-safe: log in once, before using the vault from other threads.
  Status Login(const std::string& user, const std::string& password);
  // Re-wraps the master key under the new password; file data is untouched.
  Status ChangePassword(const std::string& old_password, const std::string& new_password);

 private:
  MetaClient* meta_;
  const VaultOptions& options_;
  SessionKeys* keys_;
};

}  // namespace vaultfs::client
