#!/bin/bash
# The repairer holds no user key and must be unable to derive or unwrap one (issue 21): neither
# the key code (libvaultfs_crypto_keys.a) nor the client (libvaultfs_client.a) may be on its
# link line, and no function they define may be in its binary. The same symbols must be found
# in the vaultfs client, which shows the check can see them.
#   keyless_link_check.sh BUILD_NINJA REPAIR_TARGET REPAIR_BIN CLIENT_BIN LIB...
set -euo pipefail
ninja_file=$1 repair_target=$2 repair_bin=$3 client_bin=$4
shift 4
fail() { echo "keyless_link_check: $*" >&2; exit 1; }

# The link statement of the repairer: its "build" line and the indented lines under it.
link=$(awk -v t="build $repair_target:" 'index($0, t) == 1 {on = 1; print; next}
                                          on && /^ / {print; next} {on = 0}' "$ninja_file")
[ -n "$link" ] || fail "no link statement for $repair_target in $ninja_file"

# Strong global symbols (functions and data) a library defines, mangled.
defined() { nm --defined-only --format=posix "$1" 2>/dev/null | awk '$2 ~ /^[TDBR]$/ {print $1}' | sort -u; }

for lib in "$@"; do
  name=$(basename "$lib")
  if grep -qF "$name" <<<"$link"; then fail "$repair_target links $name"; fi
  syms=$(defined "$lib")
  [ -n "$syms" ] || fail "$name defines no symbols: wrong path?"
  in_client=$(comm -12 <(echo "$syms") <(defined "$client_bin") | wc -l)
  [ "$in_client" -gt 0 ] || fail "none of $name's symbols found in $client_bin: the check is blind"
  leaked=$(comm -12 <(echo "$syms") <(defined "$repair_bin"))
  if [ -n "$leaked" ]; then
    echo "$leaked" | c++filt | head -20 >&2
    fail "$repair_bin contains code of $name (above)"
  fi
  echo "ok: $repair_target has none of the $(wc -l <<<"$syms") symbols of $name ($in_client in the client)"
done
