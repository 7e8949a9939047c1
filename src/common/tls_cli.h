// The servers' TLS command-line flags (CLI11), declared once so every server spells and
// documents them alike. Header-only: only the server mains include it.
#pragma once

#include <CLI/CLI.hpp>

#include "src/common/tls_options.h"

namespace vaultfs::tls {

inline void AddTlsOptions(CLI::App& app, TlsOptions* o) {
  app.add_option("--tls-ca", o->ca_file, "the cluster CA certificate (PEM)");
  app.add_option("--tls-cert", o->cert_file, "this node's certificate, issued by the cluster CA");
  app.add_option("--tls-key", o->key_file, "this node's private key (PEM, mode 0600)");
  app.add_flag("--insecure", o->insecure,
               "plain TCP without TLS (logged as a warning at every start; trusted networks only)");
}

}  // namespace vaultfs::tls
