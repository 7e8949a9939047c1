// The TLS flags every vaultfs server takes (--tls-ca, --tls-cert, --tls-key or --insecure) and
// their one interpretation: all three files, or an explicit --insecure that is logged as a
// warning at every start. Nothing silently falls back to plain TCP.
#pragma once

#include <optional>
#include <string>

#include "src/common/cluster_config.h"
#include "src/common/status.h"
#include "src/common/tls.h"

namespace vaultfs::tls {

struct TlsOptions {
  std::string ca_file;    // --tls-ca: the cluster CA certificate
  std::string cert_file;  // --tls-cert: this node's certificate
  std::string key_file;   // --tls-key: its key (mode 0600)
  bool insecure = false;  // --insecure: plain TCP
};

// The identity a server presents, or nullopt under --insecure (after logging the warning).
// EINVAL names what is missing or conflicting.
Result<std::optional<TlsIdentity>> LoadServerIdentity(const TlsOptions& o);

// The client context for reaching `config`'s servers: verifies them against its ca_cert and,
// for server-to-server links, presents `own` (a node identity issued by the cluster CA). Null for
// an "insecure" cluster (warned about once per process). EPROTO when cluster.json has neither.
Result<std::shared_ptr<TlsContext>> ClientContext(const ClusterConfig& config,
                                                  const std::optional<TlsIdentity>& own = {});

}  // namespace vaultfs::tls
