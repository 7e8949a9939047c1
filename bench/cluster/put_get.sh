#!/usr/bin/env bash
# End-to-end benchmark: put and get of one large file through a real local cluster
# (3 metadata + 14 data servers from tools/mkcluster), next to `cp` of the same file on the same
# disk measured in the same run, plus the client's peak RSS.
#
#   bench/cluster/put_get.sh [SIZE_MIB]      default 1024 (1 GiB)
#
# Uses BUILD_DIR (default build-release, built by tools/bench). Everything lives in a temp
# folder under $BENCH_TMP (default /var/tmp) and is removed at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIZE_MIB=${1:-1024}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-release}
export BUILD_DIR
V=$BUILD_DIR/src/cli/vaultfs
[ -x "$V" ] || { echo "put_get: build first (tools/bench builds $BUILD_DIR)" >&2; exit 1; }

WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/vaultfs-bench-XXXXXX")
cleanup() {
  "$ROOT/tools/mkcluster" down --dir "$WORK/cluster" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$ROOT/tools/mkcluster" up --dir "$WORK/cluster" --base-port $((30000 + RANDOM % 20000)) >/dev/null
export VAULTFS_CLUSTER=$WORK/cluster/cluster.json VAULTFS_USER=bench VAULTFS_PASSWORD=bench-password
"$V" -q register bench

echo "put_get: writing a ${SIZE_MIB} MiB test file"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$WORK/src"
sync

secs() { python3 -c 'import sys; print(f"{float(sys.argv[1]):.2f}")' "$1"; }
# Runs a command, prints "<seconds> <peak RSS KiB>".
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], check=True)
dt = time.monotonic() - t
print(f"{dt:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}

# Interleave: cp, put, cp, get — so background noise hits both sides alike.
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
drop; read -r cp1 _ < <(measure sh -c "cp '$WORK/src' '$WORK/copy1' && sync '$WORK/copy1'")
drop; read -r put put_rss < <(measure "$V" -q put "$WORK/src" /big)
drop; read -r cp2 _ < <(measure sh -c "cp '$WORK/src' '$WORK/copy2' && sync '$WORK/copy2'")
drop; read -r get get_rss < <(measure "$V" -q get /big "$WORK/back")
cmp "$WORK/src" "$WORK/back" || { echo "put_get: DATA MISMATCH" >&2; exit 1; }

python3 - "$SIZE_MIB" "$cp1" "$cp2" "$put" "$get" "$put_rss" "$get_rss" <<'PY'
import sys
mib = float(sys.argv[1]); cp1, cp2, put, get = map(float, sys.argv[2:6])
put_rss, get_rss = int(sys.argv[6]), int(sys.argv[7])
cp = (cp1 + cp2) / 2
print(f"| workload ({mib:.0f} MiB) | seconds | MB/s | vs cp |")
print("|---|---|---|---|")
print(f"| cp (same disk, +sync) | {cp:.2f} | {mib*1.048576/cp:.0f} | 1.00x |")
print(f"| vaultfs put | {put:.2f} | {mib*1.048576/put:.0f} | {cp/put:.2f}x |")
print(f"| vaultfs get | {get:.2f} | {mib*1.048576/get:.0f} | {cp/get:.2f}x |")
print(f"client peak RSS: put {put_rss/1024:.0f} MiB, get {get_rss/1024:.0f} MiB")
PY
