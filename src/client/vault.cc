// Vault: see vault.h.
#include "src/client/vault.h"

#include "src/common/tls_options.h"
#include "src/crypto/hkdf.h"
#include "src/crypto/key_labels.h"

namespace vaultfs::client {

namespace {

// One TLS client context for the metadata and the data connections. On failure both stay
// null and the metadata client reports the reason at the first call.
VaultOptions WithTls(const ClusterConfig& config, VaultOptions o) {
  if (o.meta.tls == nullptr && o.data.tls == nullptr) {
    auto ctx = tls::ClientContext(config);
    if (ctx.ok()) o.meta.tls = o.data.tls = *ctx;
  }
  return o;
}

}  // namespace

Vault::Vault(ClusterConfig config, VaultOptions options)
    : config_(std::move(config)),
      options_(WithTls(config_, std::move(options))),
      meta_(std::make_unique<MetaClient>(config_, options_.meta)),
      data_(std::make_unique<cluster::DataClient>(options_.data)),
      real_transport_(std::make_unique<cluster::DataClientTransport>(data_.get())),
      health_(options_.health),
      accounts_(std::make_unique<Accounts>(meta_.get(), &options_, &keys_)),
      tree_(std::make_unique<Tree>(meta_.get(), &keys_)),
      content_(std::make_unique<Content>(
          &config_, &options_, meta_.get(),
          options_.transport != nullptr ? options_.transport : real_transport_.get(), data_.get(),
          &health_, &keys_, tree_.get())) {}

Vault::~Vault() = default;

Result<StagingKeys> Vault::DeriveStagingKeys() const {
  if (!keys_.logged_in()) return PermissionDenied("log in first");
  VFS_ASSIGN_OR_RETURN(crypto::Key seal,
                       crypto::DeriveSubkey(*keys_.master, crypto::labels::kStagingSeal));
  VFS_ASSIGN_OR_RETURN(crypto::Key mac,
                       crypto::DeriveSubkey(*keys_.master, crypto::labels::kStagingJournalMac));
  return StagingKeys{std::move(seal), std::move(mac)};
}

ClusterHealth Vault::Health() { return QueryClusterHealth(config_, *meta_, *data_, logged_in()); }

}  // namespace vaultfs::client
