"""Sweep rates of the local engine against a Dask LocalCluster and a dask-jobqueue SLURMCluster
on this machine (rows/s).

    python benchmarks/dask_rates.py            # 1,000,000 variants per space, best of 3
    python benchmarks/dask_rates.py --quick    # 200,000 variants, best of 2
    python benchmarks/dask_rates.py --slurm    # and a SLURMCluster of --workers jobs

The local engine runs chunks in this process on all cores (rayon threads); the LocalCluster has
--workers worker processes (default 2, one Dask thread each) that each evaluate their chunk on
--worker-threads rayon threads (default 1), writing the same Parquet parts. With --slurm a
one-node SLURM is started on localhost (tests/slurm_local.py: slurm-wlm and munge installed,
run as root) and dask-jobqueue's SLURMCluster submits --workers jobs of one worker each (the
recipe of docs/distributed.md). Clusters are started and warmed up (imports, compiled space)
before timing; their start-up time is printed apart. Rates are the best of --repeat runs (other
work on the machine only slows a run down). Nothing is asserted: speed is measured here, never in
tests.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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
    ap.add_argument("--slurm", action="store_true", help="also a dask-jobqueue SLURMCluster of --workers jobs (starts a one-node SLURM)")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        return run(args, stack)


def slurm_cluster(args: argparse.Namespace, stack: contextlib.ExitStack) -> Any:
    """A SLURMCluster of --workers jobs on a one-node SLURM started here, with its client."""
    sys.path.insert(0, str(ROOT / "tests"))
    from dask_jobqueue import SLURMCluster
    from distributed import Client
    from slurm_local import one_node_slurm

    root = Path(tempfile.mkdtemp(prefix="dask_rates-slurm-"))
    s = stack.enter_context(one_node_slurm(root, os.cpu_count() or 1))
    os.environ.update(s.env)  # sbatch and scancel, called by dask-jobqueue, find this cluster
    cluster = stack.enter_context(SLURMCluster(queue="cpu", cores=1, processes=1, job_cpu=args.worker_threads, memory="1GB",
                                               walltime="01:00:00", log_directory=str(root / "log")))
    cluster.scale(jobs=args.workers)
    client = stack.enter_context(Client(cluster))
    client.wait_for_workers(args.workers, timeout=120)
    return client


def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> int:
    from distributed import Client, LocalCluster

    n = 200_000 if args.quick else 1_000_000
    repeat = args.repeat or (2 if args.quick else 3)
    chunk = max(1, n // 16)  # 16 chunks: enough to keep every worker busy
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f}; archsweep {archsweep.__version__}; "
          f"{n:,} sampled variants per run in chunks of {chunk:,}; best of {repeat}")
    t = time.perf_counter()
    cluster = stack.enter_context(LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                               dashboard_address=None, silence_logs=50))
    clients = {f"dask LocalCluster {args.workers} workers x {args.worker_threads} thr": stack.enter_context(Client(cluster))}
    print(f"LocalCluster of {args.workers} workers started in {time.perf_counter() - t:.1f} s")
    if args.slurm:
        t = time.perf_counter()
        clients[f"dask SLURMCluster {args.workers} jobs x {args.worker_threads} thr"] = slurm_cluster(args, stack)
        print(f"SLURM (one node) and a SLURMCluster of {args.workers} jobs started in {time.perf_counter() - t:.1f} s")
    tmp = Path(tempfile.mkdtemp(prefix="dask_rates-"))
    print(f"{'space':<8} {'engine':<36} {'in memory':>14} {'to Parquet':>14}")
    try:
        for name in args.spaces.split(","):
            space = archsweep.Space.load(ROOT / "data" / "spaces" / f"{name}.toml")
            archsweep.sweep(space, sample=20_000, seed=9, chunk_rows=1_000)  # warm-up: imports, compile
            runs: dict[str, dict[str, Any]] = {"local (this process, all cores)": {}}
            for label, client in clients.items():
                runs[label] = dict(engine="dask", client=client, threads=args.worker_threads)
                archsweep.sweep(space, sample=20_000, seed=9, chunk_rows=1_000, **runs[label])
            for label, kw in runs.items():
                def in_memory(space=space, kw=kw):
                    archsweep.sweep(space, sample=n, seed=1, chunk_rows=chunk, **kw)

                mem = best_rate(in_memory, n, repeat)

                def to_parquet(space=space, kw=kw):
                    d = tmp / "ds"
                    shutil.rmtree(d, ignore_errors=True)
                    archsweep.sweep_to_dataset(space, d, sample=n, seed=1, chunk_rows=chunk, **kw)

                pq = best_rate(to_parquet, n, repeat)
                print(f"{name:<8} {label:<36} {mem:>10,.0f} row/s {pq:>10,.0f} row/s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
