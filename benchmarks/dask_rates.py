"""Sweep rates of the local engine against a Dask LocalCluster on this machine (rows/s).

    python benchmarks/dask_rates.py            # 1,000,000 variants per space, best of 3
    python benchmarks/dask_rates.py --quick    # 200,000 variants, best of 2

The local engine runs chunk after chunk in this process on all cores (rayon threads); the
LocalCluster has --workers worker processes (default 2, one Dask thread each) that each evaluate
their chunk on --worker-threads rayon threads (default 1), writing the same Parquet parts. The
cluster is started and warmed up (imports, compiled space) before timing; its start-up time is
printed apart. Rates are the best of --repeat runs (other work on the machine only slows a run
down). Nothing is asserted: speed is measured here, never in tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import archsweep

ROOT = Path(__file__).resolve().parents[1]


def best_rate(run, n: int, repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        best = max(best, n / (time.perf_counter() - t))
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200,000 variants per space, best of 2")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    ap.add_argument("--worker-threads", type=int, default=1, help="rayon threads per worker (default 1)")
    ap.add_argument("--repeat", type=int, default=None, help="runs per measurement (default 3, 2 with --quick)")
    ap.add_argument("--spaces", default="vgg,resnet", help="spaces of data/spaces/ (default vgg,resnet)")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    n = 200_000 if args.quick else 1_000_000
    repeat = args.repeat or (2 if args.quick else 3)
    chunk = max(1, n // 16)  # 16 chunks: enough to keep every worker busy
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f}; archsweep {archsweep.__version__}; "
          f"{n:,} sampled variants per run in chunks of {chunk:,}; best of {repeat}")
    t = time.perf_counter()
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=50)
    client = Client(cluster)
    print(f"LocalCluster of {args.workers} workers started in {time.perf_counter() - t:.1f} s")
    tmp = Path(tempfile.mkdtemp(prefix="dask_rates-"))
    print(f"{'space':<8} {'engine':<34} {'in memory':>14} {'to Parquet':>14}")
    try:
        for name in args.spaces.split(","):
            space = archsweep.Space.load(ROOT / "data" / "spaces" / f"{name}.toml")
            dask_kw = dict(engine="dask", client=client, threads=args.worker_threads)
            archsweep.sweep(space, sample=20_000, seed=9, chunk_rows=1_000, **dask_kw)  # warm-up: imports, compile
            archsweep.sweep(space, sample=20_000, seed=9, chunk_rows=1_000)
            runs = {"local (this process, all cores)": {},
                    f"dask LocalCluster {args.workers} workers x {args.worker_threads} thr": dask_kw}
            for label, kw in runs.items():
                def in_memory(space=space, kw=kw):
                    archsweep.sweep(space, sample=n, seed=1, chunk_rows=chunk, **kw)

                mem = best_rate(in_memory, n, repeat)

                def to_parquet(space=space, kw=kw):
                    d = tmp / "ds"
                    shutil.rmtree(d, ignore_errors=True)
                    archsweep.sweep_to_dataset(space, d, sample=n, seed=1, chunk_rows=chunk, **kw)

                pq = best_rate(to_parquet, n, repeat)
                print(f"{name:<8} {label:<34} {mem:>8,.0f} row/s {pq:>8,.0f} row/s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        client.close()
        cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
