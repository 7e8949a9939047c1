#!/usr/bin/env bash
# FUSE mount benchmark (issue 6): the vaultfs mount next to the same workloads on the raw disk
# and on gocryptfs (Debian's encrypted FUSE filesystem: no network, no erasure coding, the bar
# to clear), all on the same disk, interleaved in one run: every round runs each target once
# (the order rotates per round) so background noise on a shared machine hits all alike.
#
# Workloads, per target and round (each on a fresh mount, FUSE targets remounted and the kernel
# caches dropped before every cold step):
#   seq write   fio, 1 MiB blocks, --size bytes, end_fsync=1: fio's bandwidth (fsync included)
#   seq read    fio, 1 MiB blocks, same file, cold caches and a fresh mount
#   cp -a       `cp -a TREE MNT/` (TREE = /usr/include), then `sync -f` of the disk under test
#               (it holds the raw folder, gocryptfs's ciphertext and the cluster's storage):
#               seconds until the copy is on disk
#   ls -lR      `ls -lR` of the copy, cold caches and a fresh mount
#   rm -rf      `rm -rf` of the copy then `sync -f`, cold caches and a fresh mount
#   small changes on the seq write's file (issue 22): append 1 KiB + fsync (median of 5, in
#               ms); fio 4 KiB random writes with an fsync after each for --change-secs
#               (ops/s); SQLite (rollback journal, synchronous=FULL) one-row transactions for
#               --change-secs (transactions/s); and append 1 KiB + fsync to a --big file
#               (written first with dd, untimed). A step that fails is shown as "failed".
# plus each FUSE daemon's peak RSS (VmHWM, reset once mounted: start-up key derivation is not
# the data path) over the write mount, over the read, and over the cp -a mount, and its growth
# over the RSS it had once mounted. Round 1 also checks the copy with `diff -r` (not timed).
#
# Reading the table: figures are medians over the rounds; "vaultfs/gocryptfs" is the ratio of
# medians (for MB/s higher is better, for seconds lower is better). The issue's targets: seq
# write and read >= 0.7x gocryptfs, cp -a time <= 3x gocryptfs, daemon RSS bounded (checked
# here as: the daemon's RSS grows by less than half the file size over its footprint once
# mounted, i.e. it does not buffer the file). "unmount after seq write" is a sanity row: a
# filesystem that defers work past fsync and close() shows it there (its write figure would
# flatter it). Per-round samples follow the table.
#
# Needs root (drop_caches, FUSE mounts), fio, gocryptfs, fusermount3 (tools/install-deps).
# vaultfs runs on a fresh tools/mkcluster cluster (3 meta + 14 data servers) from BUILD_DIR
# (default build-release, built by `tools/bench fuse`). Everything lives in a temp folder
# under $BENCH_TMP (default /var/tmp), removed at the end; servers and daemons are stopped by
# pid on every exit path, Ctrl-C included.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

usage() {
  cat <<'EOF'
Usage: bench/fuse/fuse_bench.sh [OPTIONS]      (or: tools/bench fuse [OPTIONS])

Benchmarks the vaultfs FUSE mount against the raw disk and gocryptfs, interleaved in one run,
and prints a markdown table with ratios and PASS/MISS against the issue's targets.

Options:
  --size SIZE         fio file size, K/M/G/T suffixes are binary (default 1G)
  --rounds N          rounds of every target, figures are medians (default 3)
  --only LIST         comma-separated subset of raw,gocryptfs,vaultfs (default all three)
  --keep-going        a failed step marks that target's round failed and the run goes on
                      (default: stop at the first failure)
  --tree DIR          the small-file tree to copy (default /usr/include)
  --out FILE          also write the report to FILE
  --step-timeout S    give up on any single step after S seconds (default 1800)
  --change-secs S     how long the random-write and SQLite rows run (default 20)
  --big SIZE          the large file of the append row (default 8G; 0 skips the row)
  --keep-work         keep the temp folder (logs, cluster) for debugging
  -h, --help          this help

Environment: BUILD_DIR (default build-release), BENCH_TMP (default /var/tmp).
EOF
}

die() { echo "fuse_bench: $*" >&2; exit 1; }
log() { echo "fuse_bench: $*" >&2; }

# --- options ------------------------------------------------------------------------------------
SIZE_ARG=1G ROUNDS=3 ONLY=raw,gocryptfs,vaultfs KEEP_GOING=0 TREE=/usr/include OUT=""
STEP_TIMEOUT=1800 KEEP_WORK=0 CHANGE_SECS=20 BIG_ARG=8G
while [ $# -gt 0 ]; do
  case "$1" in
    --size) [ $# -ge 2 ] || die "--size needs a value"; SIZE_ARG=$2; shift 2 ;;
    --rounds) [ $# -ge 2 ] || die "--rounds needs a value"; ROUNDS=$2; shift 2 ;;
    --only) [ $# -ge 2 ] || die "--only needs a list"; ONLY=$2; shift 2 ;;
    --keep-going) KEEP_GOING=1; shift ;;
    --tree) [ $# -ge 2 ] || die "--tree needs a folder"; TREE=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || die "--out needs a file"; OUT=$2; shift 2 ;;
    --step-timeout) [ $# -ge 2 ] || die "--step-timeout needs seconds"; STEP_TIMEOUT=$2; shift 2 ;;
    --keep-work) KEEP_WORK=1; shift ;;
    --change-secs) [ $# -ge 2 ] || die "--change-secs needs seconds"; CHANGE_SECS=$2; shift 2 ;;
    --big) [ $# -ge 2 ] || die "--big needs a size"; BIG_ARG=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds: '$ROUNDS' is not a positive number"
[[ $STEP_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--step-timeout: '$STEP_TIMEOUT' is not a positive number"
[[ $CHANGE_SECS =~ ^[1-9][0-9]*$ ]] || die "--change-secs: '$CHANGE_SECS' is not a positive number"
parse_size() {  # parse_size OPTION TEXT: bytes (K/M/G/T binary suffixes) on stdout
  [[ $2 =~ ^([0-9]+)([KkMmGgTt]?)$ ]] || die "$1: '$2' is not a size (e.g. 256M, 1G)"
  local n=${BASH_REMATCH[1]}
  case "${BASH_REMATCH[2]}" in
    K|k) n=$((n << 10)) ;; M|m) n=$((n << 20)) ;;
    G|g) n=$((n << 30)) ;; T|t) n=$((n << 40)) ;;
  esac
  echo "$n"
}
SIZE=$(parse_size --size "$SIZE_ARG")
BIG=$(parse_size --big "$BIG_ARG")
[ "$BIG" -eq 0 ] || [ "$BIG" -ge $((1 << 20)) ] || die "--big: at least 1M (or 0 to skip)"
[ "$SIZE" -ge $((1 << 20)) ] || die "--size: at least 1M (fio writes 1 MiB blocks)"
TARGETS=()
IFS=, read -r -a only_list <<<"$ONLY"
for t in raw gocryptfs vaultfs; do  # keep the canonical order whatever the list's order
  for o in "${only_list[@]}"; do [ "$o" = "$t" ] && TARGETS+=("$t") && break; done
done
for o in "${only_list[@]}"; do
  case "$o" in raw|gocryptfs|vaultfs) ;; *) die "--only: unknown target '$o' (raw, gocryptfs, vaultfs)" ;; esac
done
[ ${#TARGETS[@]} -gt 0 ] || die "--only: no target selected"
[ -d "$TREE" ] || die "--tree: '$TREE' is not a folder"
has_target() { local t; for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }

# --- prerequisites ------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "needs root: cold-cache figures need /proc/sys/vm/drop_caches (run with sudo)"
for tool in fio python3 timeout openssl; do
  command -v "$tool" >/dev/null || die "'$tool' is missing; run tools/install-deps"
done
if has_target gocryptfs || has_target vaultfs; then
  command -v fusermount3 >/dev/null || die "fusermount3 is missing; run tools/install-deps"
  [ -c /dev/fuse ] || die "/dev/fuse is missing: FUSE mounts cannot work here"
fi
if has_target gocryptfs; then
  command -v gocryptfs >/dev/null || die "gocryptfs is missing; run tools/install-deps"
fi

BUILD_DIR=${BUILD_DIR:-build-release}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
export BUILD_DIR
VAULTFS=$BUILD_DIR/src/cli/vaultfs
if has_target vaultfs; then
  [ -f "$BUILD_DIR/build.ninja" ] ||
    die "no build in $BUILD_DIR; run 'tools/bench fuse' (it sets up and builds $BUILD_DIR)"
  # Benchmark what is in the tree, not a stale binary (a no-op when tools/bench just built it).
  if ! ninja -C "$BUILD_DIR" src/cli/vaultfs servers/data/vaultfs-data \
      servers/meta/vaultfs-meta >"$BUILD_DIR/fuse-bench-build.log" 2>&1; then
    tail -30 "$BUILD_DIR/fuse-bench-build.log" >&2
    die "build failed (full log: $BUILD_DIR/fuse-bench-build.log)"
  fi
  "$VAULTFS" --help 2>/dev/null | grep -qE '^  mount( |$)' ||
    die "$VAULTFS has no 'mount' subcommand yet (use --only raw,gocryptfs)"
fi

# --- state and cleanup ----------------------------------------------------------------------------
WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/vaultfs-fuse-bench-XXXXXX")
RESULTS=$WORK/results.tsv        # target metric round value
: >"$RESULTS"
CLUSTER_UP=0
declare -A MOUNT_PID=()          # mountpoint -> daemon pid, for every live FUSE mount
SAMPLER_PID=""                   # the background VmHWM sampler, if one runs
STEP_PID=""                      # the benchmark step running now, if any

# Daemons are never our children (they daemonize, or start from a subshell); an exited one
# may stay a zombie for a while under a lazy init, so "alive" means present and not a zombie.
pid_alive() {
  local st
  st=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]
}
wait_exit() {  # wait_exit PID SECONDS: true once PID has exited
  local deadline=$((SECONDS + $2))
  while pid_alive "$1"; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.05
  done
}
stop_pid() {  # stop_pid PID: SIGTERM, then SIGKILL after 10 s; only this pid
  local p=$1
  pid_alive "$p" || return 0
  kill -TERM "$p" 2>/dev/null || true
  wait_exit "$p" 10 || kill -KILL "$p" 2>/dev/null || true
}

# Is MNT mounted? Reads the mount table only: a hung FUSE daemon cannot block this.
is_mounted() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts; }

cleanup() {
  local rc=$? mnt
  trap - EXIT INT TERM
  # The running step first (timeout passes SIGTERM on to it), then the mounts, then servers.
  [ -z "$STEP_PID" ] || { kill -TERM "$STEP_PID" 2>/dev/null || true; }
  [ -z "$SAMPLER_PID" ] || { kill "$SAMPLER_PID" 2>/dev/null || true; }
  for mnt in "${!MOUNT_PID[@]}"; do
    if is_mounted "$mnt" && [[ $mnt == */vaultfs/mnt ]]; then
      timeout 60 "$VAULTFS" umount "$mnt" >/dev/null 2>&1 || true
    fi
    if is_mounted "$mnt"; then fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || true; fi
    stop_pid "${MOUNT_PID[$mnt]}"
  done
  if [ "$CLUSTER_UP" = 1 ]; then
    "$ROOT/tools/mkcluster" down --dir "$WORK/cluster" >/dev/null 2>&1 ||
      log "mkcluster down failed; servers may still run from $WORK/cluster"
  fi
  if [ "$KEEP_WORK" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# --- helpers ---------------------------------------------------------------------------------------
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; }

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

wait_until() {  # wait_until SECONDS COMMAND...: poll until COMMAND succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# step NAME COMMAND...: runs one benchmark step under the step timeout, its output in the log;
# on failure prints the log's tail. Sets STEP_SECS to the wall time.
STEP_SECS=0
step() {
  local name=$1 t0 rc=0; shift
  local out=$WORK/logs/$CUR_TARGET-r$CUR_ROUND-$name.log
  t0=$(now)
  # In the background and waited for: a trapped Ctrl-C interrupts `wait` at once, where it
  # would wait for a foreground command to finish first.
  timeout --kill-after=30 "$STEP_TIMEOUT" "$@" >"$out" 2>&1 </dev/null &
  STEP_PID=$!
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  STEP_SECS=$(elapsed "$t0" "$(now)")
  if [ "$rc" -ne 0 ]; then
    local why="exit $rc"
    [ "$rc" -ne 124 ] || why="timed out after $STEP_TIMEOUT s"
    log "$CUR_TARGET round $CUR_ROUND: '$name' failed ($why): $*"
    tail -15 "$out" | sed 's/^/    /' >&2
    if [ "$CUR_TARGET" = vaultfs ] && [ -f "$V_CACHE/vaultfs.log" ]; then
      log "the vaultfs daemon's log ($V_CACHE/vaultfs.log) ends with:"
      tail -15 "$V_CACHE/vaultfs.log" | sed 's/^/    /' >&2
    fi
    return 1
  fi
}

vmhwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
vmrss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# The peak RSS of a daemon over a whole mount: a sampler polls VmHWM (monotonic) until the
# daemon exits, so the figure covers the unmount's final work too.
start_sampler() {  # start_sampler PID FILE
  local pid=$1 file=$2
  (
    while pid_alive "$pid"; do
      v=$(vmhwm_kib "$pid") && [ -n "$v" ] && echo "$v" >"$file.tmp" && mv "$file.tmp" "$file"
      sleep 0.1
    done
  ) &
  SAMPLER_PID=$!
}
stop_sampler() {  # stop_sampler [kill]: wait for it (it ends with the daemon), or kill it
  [ -n "$SAMPLER_PID" ] || return 0
  [ "${1:-}" != kill ] || kill "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=""
}

# --- targets: mount_T MNT / umount_T MNT; DAEMON_PID is the FUSE daemon's pid (empty for raw) -------
DAEMON_PID=""

mount_raw() { mkdir -p "$1"; DAEMON_PID=""; }
umount_raw() { :; }

GC_CIPHER=$WORK/gocryptfs/cipher
GC_PASS=$WORK/gocryptfs/pass
setup_gocryptfs() {
  mkdir -p "$GC_CIPHER" "$WORK/gocryptfs/mnt"
  openssl rand -hex 16 >"$GC_PASS"
  gocryptfs -init -quiet -passfile "$GC_PASS" "$GC_CIPHER" >"$WORK/logs/gocryptfs-init.log" 2>&1 ||
    { cat "$WORK/logs/gocryptfs-init.log" >&2; die "gocryptfs -init failed"; }
}
mount_gocryptfs() {
  local mnt=$1
  # -fg in the background (own session, so Ctrl-C reaches only this script) gives us the
  # daemon's pid for RSS and for a by-pid stop; -nosyslog keeps its messages in our log.
  # Started from a subshell so that it is not our child (we never have to reap it).
  DAEMON_PID=$( (setsid gocryptfs -fg -quiet -nosyslog -passfile "$GC_PASS" "$GC_CIPHER" "$mnt" \
    >>"$WORK/logs/gocryptfs-daemon.log" 2>&1 </dev/null & echo $!) )
  MOUNT_PID[$mnt]=$DAEMON_PID
  if ! wait_until 30 is_mounted "$mnt"; then
    tail -5 "$WORK/logs/gocryptfs-daemon.log" >&2
    log "gocryptfs did not mount $mnt within 30 s"
    return 1
  fi
}
umount_gocryptfs() {
  local mnt=$1 pid=${MOUNT_PID[$1]:-}
  fusermount3 -u "$mnt" || return 1
  if [ -n "$pid" ]; then
    wait_exit "$pid" 60 || { log "gocryptfs pid $pid did not exit after unmount"; return 1; }
  fi
  unset "MOUNT_PID[$mnt]"
}

V_CACHE_N=0
V_CACHE=""                       # the cache folder of the current vaultfs mount
setup_vaultfs() {
  log "starting a cluster (tools/mkcluster up, 3 meta + 14 data servers)"
  CLUSTER_UP=1  # set first: a half-started cluster is torn down too
  "$ROOT/tools/mkcluster" up --dir "$WORK/cluster" --base-port $((30000 + RANDOM % 20000)) \
    >"$WORK/logs/mkcluster-up.log" 2>&1 ||
    { tail -20 "$WORK/logs/mkcluster-up.log" >&2; die "tools/mkcluster up failed"; }
  export VAULTFS_CLUSTER=$WORK/cluster/cluster.json VAULTFS_USER=fusebench
  VAULTFS_PASSWORD=$(openssl rand -hex 16)
  export VAULTFS_PASSWORD
  "$VAULTFS" -q register "$VAULTFS_USER" >"$WORK/logs/register.log" 2>&1 ||
    { cat "$WORK/logs/register.log" >&2; die "vaultfs register failed"; }
  mkdir -p "$WORK/vaultfs/mnt"
}
mount_vaultfs() {
  local mnt=$1
  # A fresh cache folder per mount: a cold mount must not read segments cached on disk by the
  # previous one (the old folder goes once its unmount has finished every upload).
  V_CACHE_N=$((V_CACHE_N + 1))
  V_CACHE=$WORK/vaultfs/cache-$V_CACHE_N
  local cache=$V_CACHE pidf=$WORK/vaultfs/daemon.pid
  rm -f "$pidf"
  if ! timeout 120 "$VAULTFS" mount --cache-dir "$cache" --pid-file "$pidf" "$mnt" \
      >>"$WORK/logs/vaultfs-mount.log" 2>&1; then
    tail -10 "$WORK/logs/vaultfs-mount.log" >&2
    [ ! -f "$cache/vaultfs.log" ] || tail -10 "$cache/vaultfs.log" >&2
    log "vaultfs mount failed: $VAULTFS mount --cache-dir $cache --pid-file $pidf $mnt"
    return 1
  fi
  DAEMON_PID=$(cat "$pidf" 2>/dev/null || true)
  [[ $DAEMON_PID =~ ^[0-9]+$ ]] || { log "vaultfs mount returned 0 but wrote no pid to $pidf"; return 1; }
  MOUNT_PID[$mnt]=$DAEMON_PID
  is_mounted "$mnt" || { log "vaultfs mount returned 0 but $mnt is not mounted"; return 1; }
}
umount_vaultfs() {
  local mnt=$1 pid=${MOUNT_PID[$1]:-}
  if ! timeout "$STEP_TIMEOUT" "$VAULTFS" umount "$mnt" >>"$WORK/logs/vaultfs-umount.log" 2>&1; then
    tail -10 "$WORK/logs/vaultfs-umount.log" >&2
    [ ! -f "$V_CACHE/vaultfs.log" ] || tail -10 "$V_CACHE/vaultfs.log" >&2
    log "vaultfs umount $mnt failed"
    return 1
  fi
  if [ -n "$pid" ] && pid_alive "$pid"; then
    log "vaultfs umount returned but daemon pid $pid still runs"
    wait_exit "$pid" 60 || return 1
  fi
  unset "MOUNT_PID[$mnt]"
  # Every upload is committed: keep the daemon's log (for --keep-work), drop the cache.
  [ ! -f "$V_CACHE/vaultfs.log" ] || cat "$V_CACHE/vaultfs.log" >>"$WORK/logs/vaultfs-daemon.log"
  rm -rf "$V_CACHE"
}

target_mnt() {
  case "$1" in raw) echo "$WORK/raw" ;; *) echo "$WORK/$1/mnt" ;; esac
}

# Mount; for FUSE targets reset the daemon's VmHWM once mounted (both daemons derive their key
# with a memory-hard KDF at start, a 64+ MiB peak that would hide the data path's), note its
# footprint then (MOUNT_BASE_KIB) and start the RSS sampler over this mount's lifetime.
MOUNT_BASE_KIB=""
open_mount() {  # open_mount TARGET MNT [sample]
  rm -f "$WORK/hwm"
  "mount_$1" "$2" || return 1
  MOUNT_BASE_KIB=""
  if [ -n "$DAEMON_PID" ]; then
    # "5" resets the peak RSS to the current RSS (proc(5), clear_refs).
    echo 5 >"/proc/$DAEMON_PID/clear_refs" || { log "cannot reset VmHWM of pid $DAEMON_PID"; return 1; }
    MOUNT_BASE_KIB=$(vmrss_kib "$DAEMON_PID")
  fi
  if [ -n "${3:-}" ] && [ -n "$DAEMON_PID" ]; then start_sampler "$DAEMON_PID" "$WORK/hwm"; fi
}
# Records a daemon's peak RSS as METRIC (MiB) and its growth over the mounted footprint as
# METRIC with _growth (what a bounded daemon keeps small whatever the file size).
record_rss() {  # record_rss TARGET METRIC PEAK_KIB
  record "$1" "$2" "$CUR_ROUND" "$(awk -v k="$3" 'BEGIN { printf "%.1f", k / 1024 }')"
  [ -z "$MOUNT_BASE_KIB" ] || record "$1" "${2%_mib}_growth_mib" "$CUR_ROUND" \
    "$(awk -v k="$3" -v b="$MOUNT_BASE_KIB" 'BEGIN { printf "%.1f", (k - b) / 1024 }')"
}
# Unmount (timed as UMOUNT_SECS), record the sampled peak RSS as RSS_METRIC if given.
UMOUNT_SECS=0
close_mount() {  # close_mount TARGET MNT [RSS_METRIC]
  local t0
  t0=$(now)
  "umount_$1" "$2" || { stop_sampler kill; return 1; }
  UMOUNT_SECS=$(elapsed "$t0" "$(now)")
  stop_sampler
  if [ -n "${3:-}" ] && [ -s "$WORK/hwm" ]; then record_rss "$1" "$3" "$(cat "$WORK/hwm")"; fi
  rm -f "$WORK/hwm"
}
# A cold start for the next step: unmount, drop the kernel's caches, mount again.
cold_remount() {  # cold_remount TARGET MNT [RSS_METRIC of the mount being closed]
  close_mount "$1" "$2" "${3:-}" || return 1
  drop_caches
  open_mount "$1" "$2"
}

fio_bw() {  # fio_bw JSON read|write: bytes/s as fio reports it
  python3 - "$1" "$2" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
# fio may print notices before the JSON document.
job = json.loads(text[text.index("{"):])["jobs"][0]
print(job[sys.argv[2]]["bw_bytes"])
PY
}

# Issue 22's rows: what a small change to a large file costs. A failed step records METRIC_failed
# (the table shows "failed") and the round goes on: today's vaultfs is expected to fail some.
soft_step() {  # soft_step METRIC COMMAND...: records the last line of COMMAND's output
  local metric=$1; shift
  if step "$metric" "$@"; then
    record "$CUR_TARGET" "$metric" "$CUR_ROUND" \
      "$(tail -1 "$WORK/logs/$CUR_TARGET-r$CUR_ROUND-$metric.log")"
  else
    record "$CUR_TARGET" "${metric}_failed" "$CUR_ROUND" 1
  fi
}
APPEND_PY='
import os, statistics, sys, time
path, n = sys.argv[1], int(sys.argv[2])
times = []
for i in range(n):
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.write(fd, os.urandom(1024))
    os.fsync(fd)
    os.close(fd)
    times.append((time.perf_counter() - t0) * 1000)
print("ms per append:", " ".join(f"{t:.1f}" for t in times))
print(f"{statistics.median(times):.1f}")
'
SQLITE_PY='
import sqlite3, sys, time
path, secs = sys.argv[1], float(sys.argv[2])
con = sqlite3.connect(path, isolation_level=None)
con.execute("PRAGMA synchronous=FULL")
con.execute("CREATE TABLE t(i INTEGER PRIMARY KEY, v BLOB NOT NULL)")
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < secs or n < 3:
    con.execute("INSERT INTO t(v) VALUES(randomblob(100))")  # one fsynced transaction
    n += 1
rate = n / (time.perf_counter() - t0)
ok = con.execute("PRAGMA integrity_check").fetchone()[0]
print(n, "transactions, integrity_check:", ok)
if ok != "ok":
    sys.exit(1)
print(f"{rate:.1f}")
'
small_changes() {  # small_changes TARGET DIR (DIR holds the seq write's fio.dat)
  local dir=$2
  soft_step append_fsync_ms python3 -c "$APPEND_PY" "$dir/fio.dat" 5
  local iops_cmd
  # shellcheck disable=SC2016  # $1.. expand in the inner shell
  iops_cmd='fio --name=rand --filename="$1" --bs=4k --size="$2" --rw=randwrite --fsync=1 \
    --ioengine=psync --runtime="$3" --time_based --output-format=json --output="$4" &&
    python3 -c "import json,sys; t=open(sys.argv[1]).read(); j=json.loads(t[t.index(chr(123)):]);
print(\"%.1f\" % j[\"jobs\"][0][\"write\"][\"iops\"])" "$4"'
  soft_step randwrite_fsync_iops bash -c "$iops_cmd" _ "$dir/fio.dat" "$SIZE" "$CHANGE_SECS" \
    "$WORK/fio-rand.json"
  soft_step sqlite_tx_s python3 -c "$SQLITE_PY" "$dir/bench.db" "$CHANGE_SECS"
  step rm-db rm -f "$dir/bench.db" "$dir/bench.db-journal" || return 1
  [ "$BIG" -gt 0 ] || return 0
  if step write-big dd if=/dev/zero of="$dir/big.dat" bs=1M count=$((BIG >> 20)) conv=fsync; then
    soft_step append_fsync_big_ms python3 -c "$APPEND_PY" "$dir/big.dat" 5
  else
    record "$CUR_TARGET" append_fsync_big_ms_failed "$CUR_ROUND" 1
  fi
  step rm-big rm -f "$dir/big.dat" || return 1
}

# --- one round of one target ---------------------------------------------------------------------------
run_round() {  # run_round TARGET ROUND
  local t=$1 mnt dir fio_common bw
  mnt=$(target_mnt "$t")
  dir=$mnt/r$CUR_ROUND
  fio_common=(--name=seq --filename="$dir/fio.dat" --bs=1M --size="$SIZE" --ioengine=psync
    --fallocate=none --output-format=json)

  # Sequential write: fresh mount, fio until end_fsync returned; then the unmount.
  drop_caches
  open_mount "$t" "$mnt" sample || return 1
  step mkdir mkdir -p "$dir" || return 1
  step fio-write fio "${fio_common[@]}" --rw=write --end_fsync=1 --output="$WORK/fio-write.json" ||
    return 1
  bw=$(fio_bw "$WORK/fio-write.json" write) || return 1
  close_mount "$t" "$mnt" rss_write_mib || return 1
  record "$t" seq_write_mbs "$CUR_ROUND" "$(awk -v b="$bw" 'BEGIN { printf "%.1f", b / 1e6 }')"
  [ "$t" = raw ] || record "$t" umount_after_write_s "$CUR_ROUND" "$UMOUNT_SECS"

  # Sequential read: cold caches, fresh mount (FUSE has no page cache left for the file).
  drop_caches
  open_mount "$t" "$mnt" || return 1
  step fio-read fio "${fio_common[@]}" --rw=read --output="$WORK/fio-read.json" || return 1
  bw=$(fio_bw "$WORK/fio-read.json" read) || return 1
  record "$t" seq_read_mbs "$CUR_ROUND" "$(awk -v b="$bw" 'BEGIN { printf "%.1f", b / 1e6 }')"
  if [ -n "$DAEMON_PID" ]; then
    local hwm
    hwm=$(vmhwm_kib "$DAEMON_PID")
    [ -z "$hwm" ] || record_rss "$t" rss_read_mib "$hwm"
  fi
  small_changes "$t" "$dir" || return 1
  step rm-fio rm -f "$dir/fio.dat" || return 1
  close_mount "$t" "$mnt" || return 1

  # Small files: cp -a of the tree until durable (sync), on a fresh mount.
  drop_caches
  open_mount "$t" "$mnt" sample || return 1
  # shellcheck disable=SC2016  # $1 $2 expand in the inner shell
  step cp-a bash -c 'cp -a "$1" "$2/" && sync -f "$3"' _ "$TREE" "$dir" "$WORK" || return 1
  record "$t" cp_a_s "$CUR_ROUND" "$STEP_SECS"
  cold_remount "$t" "$mnt" rss_cp_mib || return 1

  local copy
  copy=$dir/$(basename "$TREE")
  step ls-lR ls -lR "$copy" || return 1
  record "$t" ls_lR_s "$CUR_ROUND" "$STEP_SECS"
  if [ "$CUR_ROUND" = 1 ]; then
    step diff-r diff -r --no-dereference "$TREE" "$copy" ||
      { log "$t: the copy differs from $TREE (see above)"; return 1; }
  fi
  cold_remount "$t" "$mnt" || return 1

  # shellcheck disable=SC2016
  step rm-rf bash -c 'rm -rf "$1" && sync -f "$2"' _ "$copy" "$WORK" || return 1
  record "$t" rm_rf_s "$CUR_ROUND" "$STEP_SECS"
  close_mount "$t" "$mnt" || return 1
}

# Raw has nothing to unmount; after a failed FUSE round, unmount whatever is left so the next
# round starts clean (its files go to a new r<N> folder anyway).
reset_target() {
  local t=$1 mnt
  mnt=$(target_mnt "$t")
  stop_sampler kill
  [ "$t" = raw ] && return 0
  if is_mounted "$mnt"; then
    "umount_$t" "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || true
  fi
  local pid=${MOUNT_PID[$mnt]:-}
  [ -z "$pid" ] || stop_pid "$pid"
  unset "MOUNT_PID[$mnt]"
}

# --- main ---------------------------------------------------------------------------------------------
mkdir -p "$WORK/logs"
log "work folder $WORK; targets ${TARGETS[*]}; $ROUNDS rounds; fio size $SIZE bytes; tree $TREE"
has_target gocryptfs && setup_gocryptfs
has_target vaultfs && setup_vaultfs

FAILED=()
for ((r = 1; r <= ROUNDS; r++)); do
  n=${#TARGETS[@]}
  for ((i = 0; i < n; i++)); do
    CUR_TARGET=${TARGETS[$(((i + r - 1) % n))]}
    CUR_ROUND=$r
    log "round $r/$ROUNDS: $CUR_TARGET"
    if ! run_round "$CUR_TARGET" "$r"; then
      FAILED+=("$CUR_TARGET round $r")
      [ "$KEEP_GOING" = 1 ] || die "$CUR_TARGET failed in round $r (logs: --keep-work keeps $WORK/logs; --keep-going goes on)"
      reset_target "$CUR_TARGET"
    fi
  done
done

# --- report ---------------------------------------------------------------------------------------------
cluster_shape() {  # cluster_shape CLUSTER_JSON
  python3 - "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
print(f"cluster of {len(c['meta'])} meta + {len(c['data'])} data servers, k={c['k']} m={c['m']}")
PY
}

report() {
  local failed=""
  [ ${#FAILED[@]} -eq 0 ] || failed=$(printf '%s, ' "${FAILED[@]}")
  python3 - "$RESULTS" "$SIZE" "$ROUNDS" "$TREE" "${TARGETS[*]}" "${failed%, }" "$BIG" <<'PY'
import statistics, sys
from collections import defaultdict

path, size, rounds, tree, targets, failed, big = sys.argv[1:8]
size, rounds, targets, big = int(size), int(rounds), targets.split(), int(big)
samples = defaultdict(list)  # (target, metric) -> [(round, value)]
for line in open(path):
    t, m, r, v = line.rstrip("\n").split("\t")
    samples[(t, m)].append((int(r), float(v)))

def med(t, m):
    s = [v for _, v in samples.get((t, m), [])]
    return statistics.median(s) if s else None

def fmt(v, unit):
    if v is None:
        return "-"
    return f"{v:.2f}" if unit == "s" else f"{v:.1f}" if unit in ("ms", "ops/s", "tx/s") else f"{v:.0f}"

def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None

def size_text(n):
    return f"{n >> 30} GiB" if n % (1 << 30) == 0 else f"{n >> 20} MiB"
size_txt, big_txt = size_text(size), size_text(big)
# metric, label, unit, higher_is_better, target (kind, factor, against)
rows = [
    ("seq_write_mbs", f"seq write {size_txt}, 1 MiB, end_fsync (MB/s)", "MB/s", True, ("min", 0.7)),
    ("seq_read_mbs", f"seq read {size_txt}, 1 MiB, cold (MB/s)", "MB/s", True, ("min", 0.7)),
    ("cp_a_s", f"cp -a {tree} + sync (s)", "s", False, ("max", 3.0)),
    ("ls_lR_s", "ls -lR, cold (s)", "s", False, None),
    ("rm_rf_s", "rm -rf + sync, cold (s)", "s", False, None),
    ("append_fsync_ms", f"append 1 KiB + fsync, {size_txt} file (ms)", "ms", False, None),
    ("append_fsync_big_ms", f"append 1 KiB + fsync, {big_txt} file (ms)", "ms", False, None),
    ("randwrite_fsync_iops", "4 KiB random write + fsync (ops/s)", "ops/s", True, None),
    ("sqlite_tx_s", "SQLite fsynced transactions (tx/s)", "tx/s", True, None),
    ("umount_after_write_s", "unmount after seq write (s)", "s", False, None),
    ("rss_write_mib", "daemon peak RSS, seq write mount (MiB)", "MiB", False, None),
    ("rss_read_mib", "daemon peak RSS, seq read (MiB)", "MiB", False, None),
    ("rss_cp_mib", "daemon peak RSS, cp -a mount (MiB)", "MiB", False, None),
    ("rss_write_growth_mib", "daemon RSS growth over seq write (MiB)", "MiB", False, ("rss", None)),
    ("rss_read_growth_mib", "daemon RSS growth over seq read (MiB)", "MiB", False, ("rss", None)),
]
cols = ["raw", "gocryptfs", "vaultfs"]
shown = [c for c in cols if c in targets]
head = ["workload"] + shown
if "vaultfs" in targets:
    head += ["vaultfs/gocryptfs", "vaultfs/raw", "target", "result"]
out = []
out.append(f"FUSE benchmark: medians of {rounds} interleaved rounds, same disk; "
           f"fio file {size_txt}, small files: {tree}")
out.append("")
out.append("| " + " | ".join(head) + " |")
out.append("|" + "---|" * len(head))
for metric, label, unit, _, target in rows:
    if not any((t, metric) in samples or (t, metric + "_failed") in samples for t in shown):
        continue
    def cell(t):
        if (t, metric) not in samples and (t, metric + "_failed") in samples:
            return "failed"
        return fmt(med(t, metric), unit)
    cells = [label] + [cell(t) for t in shown]
    if "vaultfs" in targets:
        v, g, raw = med("vaultfs", metric), med("gocryptfs", metric), med("raw", metric)
        rg, rr = ratio(v, g), ratio(v, raw)
        cells += [f"{rg:.2f}x" if rg is not None else "-", f"{rr:.2f}x" if rr is not None else "-"]
        goal, result = "", ""
        if target and target[0] == "min":
            goal = f">= {target[1]}x gocryptfs"
            result = "-" if rg is None else ("PASS" if rg >= target[1] else "MISS")
        elif target and target[0] == "max":
            goal = f"<= {target[1]:g}x gocryptfs time"
            result = "-" if rg is None else ("PASS" if rg <= target[1] else "MISS")
        elif target and target[0] == "rss":
            bound = size / 2 / (1 << 20)
            goal = f"bounded: < {bound:.0f} MiB (half the file)"
            result = "-" if v is None else ("PASS" if v < bound else "MISS")
        cells += [goal, result]
    out.append("| " + " | ".join(cells) + " |")
out.append("")
out.append("Per-round samples (target: values by round):")
for metric, label, unit, _, _ in rows:
    for t in shown:
        s = sorted(samples.get((t, metric), []))
        if s:
            out.append(f"  {metric:<24} {t:<10} " + "  ".join(f"r{r}={fmt(v, unit)}" for r, v in s))
if failed:
    out.append("")
    out.append(f"FAILED: {failed} (figures of that round's steps before the failure are counted)")
print("\n".join(out))
PY
}

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r)"
  echo "disk: $(df -h --output=source,fstype "$WORK" | tail -1 | tr -s ' ') for every target; $(fio --version); $(gocryptfs -version 2>/dev/null | cut -d';' -f1 || true)"
  echo "small files: $TREE holds $(find "$TREE" | wc -l) entries, $(du -sh "$TREE" | cut -f1)"
  if has_target vaultfs; then
    git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
    git -C "$ROOT" diff --quiet 2>/dev/null || git_rev="$git_rev + uncommitted changes"
    echo "vaultfs: $BUILD_DIR (git $git_rev); $(cluster_shape "$VAULTFS_CLUSTER")"
  fi
  echo
  report
} >"$WORK/report.md"
cat "$WORK/report.md"
[ -z "$OUT" ] || cp "$WORK/report.md" "$OUT"
[ ${#FAILED[@]} -eq 0 ] || exit 1
