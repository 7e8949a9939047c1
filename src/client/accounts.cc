// Accounts: see accounts.h.
#include "src/client/accounts.h"

#include "src/cluster/reply_field.h"
#include "src/common/format_marker.h"
#include "src/common/hex.h"
#include "src/common/log.h"
#include "src/crypto/key_wrap.h"
#include "src/crypto/random.h"

namespace vaultfs::client {

using nlohmann::json;

Status Accounts::Register(const std::string& user, const std::string& password) {
  VFS_ASSIGN_OR_RETURN(std::string salt, crypto::NewSalt());
  VFS_ASSIGN_OR_RETURN(
      auto keys, crypto::DerivePasswordKeys(password, salt, options_.kdf, options_.kdf_limits));
  VFS_ASSIGN_OR_RETURN(crypto::Key master, crypto::Key::Random());
  VFS_ASSIGN_OR_RETURN(std::string wrapped, crypto::WrapMasterKey(keys.kek, master, user));
  json args = {{"user", user},
               {"salt", HexEncode(salt)},
               {"kdf", crypto::KdfParamsToJson(options_.kdf)},
               {"auth_key", HexEncode(keys.auth_key.bytes())},
               {"wrapped_master_key", HexEncode(wrapped)}};
  auto r = meta_->Call("register", std::move(args));
  if (!r.ok()) return r.status().Annotate("register '" + user + "'");
  return Status::Ok();
}

Status Accounts::Login(const std::string& user, const std::string& password) {
  auto salt_reply = meta_->Call("get_salt", {{"user", user}});
  if (!salt_reply.ok()) {
    if (salt_reply.status().code() == ENOENT) {
      return PermissionDenied("no such user '" + user + "' (create it with: vaultfs register " +
                              user + ")");
    }
    return salt_reply.status().Annotate("login");
  }
  const uint32_t format = salt_reply->is_object() && (*salt_reply)["format"].is_number_unsigned()
                              ? (*salt_reply)["format"].get<uint32_t>()
                              : 0;
  if (format != kMetaStoreFormat) {
    return Status(
        EPROTO,
        "the cluster keeps vaultfs storage format " +
            (format == 0 ? std::string("from before format numbers") : std::to_string(format)) +
            " and this vaultfs reads and writes only format " + std::to_string(kMetaStoreFormat) +
            "; run the same vaultfs version on the servers and this client "
            "(there is no migration: recreate the cluster with tools/mkcluster)");
  }
  VFS_ASSIGN_OR_RETURN(std::string salt, cluster::HexField(*salt_reply, "salt"));
  VFS_ASSIGN_OR_RETURN(json kdf_json, cluster::Field<json>(*salt_reply, "kdf"));
  VFS_ASSIGN_OR_RETURN(crypto::KdfParams kdf, crypto::KdfParamsFromJson(kdf_json));
  auto keys = crypto::DerivePasswordKeys(password, salt, kdf, options_.kdf_limits);
  if (!keys.ok()) return keys.status().Annotate("the server's key-derivation parameters");
  auto login = meta_->Login(user, HexEncode(keys->auth_key.bytes()));
  if (!login.ok()) {
    if (login.status().code() == EACCES) {
      // The service answers an unknown name like a wrong password (so that nobody can probe
      // for accounts), so both are possible here.
      return PermissionDenied("wrong password for '" + user +
                              "', or no such user (create it with: vaultfs register " + user + ")");
    }
    return login.status().Annotate("login");
  }
  VFS_ASSIGN_OR_RETURN(std::string wrapped, cluster::HexField(*login, "wrapped_master_key"));
  VFS_ASSIGN_OR_RETURN(std::string user_id, cluster::Field<std::string>(*login, "user_id"));
  VFS_ASSIGN_OR_RETURN(uint64_t root, cluster::Field<uint64_t>(*login, "root"));
  VFS_ASSIGN_OR_RETURN(crypto::Key master, crypto::UnwrapMasterKey(keys->kek, wrapped, user));
  VFS_ASSIGN_OR_RETURN(crypto::NameCipher names, crypto::NameCipher::Create(master));
  keys_->user_name = user;
  keys_->user_id = user_id;
  keys_->root = root;
  keys_->master = std::make_unique<crypto::Key>(std::move(master));
  keys_->auth_key = std::make_unique<crypto::Key>(std::move(keys->auth_key));
  meta_->SetRelogin([this]() -> Status {
    VFS_LOG(kInfo) << "session expired; logging in again";
    return meta_->Login(keys_->user_name, HexEncode(keys_->auth_key->bytes())).status();
  });
  keys_->names = std::make_unique<crypto::NameCipher>(std::move(names));
  return Status::Ok();
}

Status Accounts::ChangePassword(const std::string& old_password, const std::string& new_password) {
  if (!keys_->logged_in()) return PermissionDenied("log in first");
  auto salt_reply = meta_->Call("get_salt", {{"user", keys_->user_name}});
  if (!salt_reply.ok()) return salt_reply.status().Annotate("passwd");
  VFS_ASSIGN_OR_RETURN(std::string old_salt, cluster::HexField(*salt_reply, "salt"));
  VFS_ASSIGN_OR_RETURN(json kdf_json, cluster::Field<json>(*salt_reply, "kdf"));
  VFS_ASSIGN_OR_RETURN(crypto::KdfParams old_kdf, crypto::KdfParamsFromJson(kdf_json));
  VFS_ASSIGN_OR_RETURN(auto old_keys, crypto::DerivePasswordKeys(old_password, old_salt, old_kdf,
                                                                 options_.kdf_limits));
  VFS_ASSIGN_OR_RETURN(std::string salt, crypto::NewSalt());
  VFS_ASSIGN_OR_RETURN(
      auto keys, crypto::DerivePasswordKeys(new_password, salt, options_.kdf, options_.kdf_limits));
  VFS_ASSIGN_OR_RETURN(std::string wrapped,
                       crypto::WrapMasterKey(keys.kek, *keys_->master, keys_->user_name));
  json args = {{"salt", HexEncode(salt)},
               {"kdf", crypto::KdfParamsToJson(options_.kdf)},
               {"old_auth_key", HexEncode(old_keys.auth_key.bytes())},
               {"auth_key", HexEncode(keys.auth_key.bytes())},
               {"wrapped_master_key", HexEncode(wrapped)}};
  auto r = meta_->Call("passwd", std::move(args));
  if (!r.ok()) {
    if (r.status().code() == EACCES) return PermissionDenied("the current password is wrong");
    return r.status().Annotate("passwd");
  }
  if (auto s = r->find("session"); s != r->end() && s->is_string()) {
    meta_->SetSession(s->get<std::string>());
  }
  keys_->auth_key = std::make_unique<crypto::Key>(std::move(keys.auth_key));
  return Status::Ok();
}

}  // namespace vaultfs::client
