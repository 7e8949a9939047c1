#!/usr/bin/env python3
"""The disk's floor under an erasure-coded file's close() on a one-disk test cluster.

Closing a file larger than the inline threshold stores 14 shards, each on its own data server
(DESIGN.md section 3: temp file, write, fsync, rename, directory fsync). On a local cluster all
14 servers share one disk, so every such close waits for 14 concurrent durable creates. This
script does exactly that disk work with no vaultfs code: N processes, in lockstep rounds, each
create a small file, write it, fsync it, rename it and fsync its directory. The time per round
is the least a sharded close() can cost on this disk; compare it with the mount's close of a
20 KB file (README, benchmark notes).

  bench/fuse/shard_fsync_floor.py [--dir /var/tmp] [--servers 14] [--rounds 200] [--bytes 2400]
"""
import argparse
import multiprocessing as mp
import os
import shutil
import tempfile
import time


def worker(d, rounds, size, barrier, out):
    os.makedirs(d)
    dfd = os.open(d, os.O_RDONLY)
    payload = os.urandom(size)
    for r in range(rounds):
        barrier.wait()
        t = time.perf_counter()
        tmp = f"{d}/t{r}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, payload)
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, f"{d}/c{r}")
        os.fsync(dfd)
        out.put(time.perf_counter() - t)
    os.close(dfd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=os.environ.get("BENCH_TMP", "/var/tmp"),
                    help="a folder on the disk to measure (default /var/tmp)")
    ap.add_argument("--servers", type=int, default=14, help="concurrent writers (k + m)")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--bytes", type=int, default=2400,
                    help="bytes per shard (a 20 KB file: about 2.4 KB per shard)")
    a = ap.parse_args()
    if a.servers < 1 or a.rounds < 1 or a.bytes < 0:
        ap.error("--servers and --rounds must be at least 1, --bytes at least 0")
    root = tempfile.mkdtemp(prefix="vaultfs-fsync-floor-", dir=a.dir)
    try:
        barrier = mp.Barrier(a.servers)
        out = mp.Queue()
        procs = [mp.Process(target=worker, args=(f"{root}/s{i}", a.rounds, a.bytes, barrier, out))
                 for i in range(a.servers)]
        start = time.perf_counter()
        for p in procs:
            p.start()
        times = sorted(out.get() for _ in range(a.servers * a.rounds))
        for p in procs:
            p.join()
            if p.exitcode != 0:
                raise SystemExit(f"a writer failed (exit {p.exitcode})")
        elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(root, ignore_errors=True)
    n = len(times)
    print(f"{a.servers} writers x {a.rounds} rounds, {a.bytes} B each, on {a.dir}:")
    print(f"  per round (one sharded close's disk work): {elapsed / a.rounds * 1e3:.2f} ms")
    print(f"  per create+write+fsync+rename+dir fsync: p50 {times[n // 2] * 1e3:.2f} ms, "
          f"p90 {times[9 * n // 10] * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
