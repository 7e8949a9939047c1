// Server TLS flags: see tls_options.h.
#include "src/common/tls_options.h"

#include <atomic>

#include "src/common/log.h"

namespace vaultfs::tls {

Result<std::optional<TlsIdentity>> LoadServerIdentity(const TlsOptions& o) {
  const bool any = !o.ca_file.empty() || !o.cert_file.empty() || !o.key_file.empty();
  const bool all = !o.ca_file.empty() && !o.cert_file.empty() && !o.key_file.empty();
  if (o.insecure) {
    if (any)
      return InvalidArgument("--insecure cannot be combined with --tls-ca/--tls-cert/--tls-key");
    VFS_LOG(kWarn) << "running WITHOUT TLS (--insecure): session tokens and data tokens cross the "
                      "network in the clear; use this only on a trusted test network";
    return std::optional<TlsIdentity>();
  }
  if (!all) {
    return InvalidArgument(
        "TLS needs --tls-ca, --tls-cert and --tls-key (tools/mkcerts makes them), or "
        "--insecure to run without TLS on a trusted network");
  }
  VFS_ASSIGN_OR_RETURN(TlsIdentity id, LoadIdentity(o.ca_file, o.cert_file, o.key_file));
  return std::optional<TlsIdentity>(std::move(id));
}

Result<std::shared_ptr<TlsContext>> ClientContext(const ClusterConfig& config,
                                                  const std::optional<TlsIdentity>& own) {
  if (config.ca_cert.empty()) {
    if (!config.insecure) {
      return Status(EPROTO,
                    "cluster.json has no \"ca_cert\" (the cluster CA that servers are checked "
                    "against); use the cluster.json written by tools/mkcluster, or mark a cluster "
                    "run without TLS with \"insecure\": true");
    }
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) {
      VFS_LOG(kWarn) << "cluster.json says \"insecure\": connecting WITHOUT TLS";
    }
    return std::shared_ptr<TlsContext>();
  }
  TlsIdentity id;
  if (own.has_value()) id = *own;
  id.ca_pem = config.ca_cert;
  return TlsContext::Client(id);
}

}  // namespace vaultfs::tls
