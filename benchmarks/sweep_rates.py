"""Sweep-engine rates: variants/s in memory and to Parquet, against polars' own write rate.

    python benchmarks/sweep_rates.py            # the full run (~1-2 minutes)
    python benchmarks/sweep_rates.py --quick    # smaller counts

Prints rates and ratios; it asserts nothing (speed is measured here, never in tests).
For scale: profilers that build the model and run a forward pass (fvcore, thop, ptflops,
torchinfo, FlopCounterMode) need 20-200 ms per candidate, i.e. 5-50 variants/s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

import archsweep

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"vgg": 20e6, "resnet": 2e6}


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def bench_space(path: Path, n: int, threads: int) -> dict:
    space = archsweep.Space.load(path)
    res = {"space": space.name, "size": space.size, "n": n}
    # warm-up (thread pool, page faults)
    archsweep.sweep(space, ids=list(range(min(1000, space.size))), threads=threads)
    grid_n = min(n, space.size)
    # a grid prefix: positions 0..n of the full grid (consecutive ids share leading digits)
    _, dt = timed(lambda: space._c.evaluate("grid", 0, grid_n, threads=threads))
    res["grid_rate"] = grid_n / dt
    df, dt = timed(lambda: archsweep.sweep(space, sample=n, seed=1, threads=threads))
    res["sample_rate"] = n / dt
    with tempfile.TemporaryDirectory() as d:
        summary, dt = timed(lambda: archsweep.sweep(space, sample=n, seed=1, out=Path(d) / "ds", threads=threads))
        res["parquet_rate"] = n / dt
        res["parquet_bytes"] = sum(p.stat().st_size for p in (Path(d) / "ds").glob("*.parquet"))
        _, dt = timed(lambda: df.write_parquet(Path(d) / "polars.parquet", compression="zstd"))
        res["polars_write_rate"] = n / dt
    res["rows"] = df.height
    return res


def rss_of_big_sweep(path: Path, n: int) -> tuple[float, float]:
    """Peak RSS (MiB) and seconds of a child process sweeping n variants to disk."""
    with tempfile.TemporaryDirectory() as d:
        code = (
            "import archsweep, resource, sys;"
            f"archsweep.sweep(archsweep.Space.load({str(path)!r}), sample={n}, seed=3, out={d!r} + '/ds');"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        )
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        return int(out.strip().splitlines()[-1]) / 1024, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller counts")
    ap.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    ap.add_argument("--rss-variants", type=int, default=None, help="variants for the peak-RSS run (default 10^8, 10^6 with --quick)")
    args = ap.parse_args()
    n = 200_000 if args.quick else 2_000_000
    print(f"machine: {os.cpu_count()} cores; archsweep {archsweep.__version__}; polars {pl.__version__}")
    print(f"{'space':<8} {'variants':>14} {'grid in memory':>16} {'sample in memory':>18} {'to Parquet':>14} {'polars write':>14} {'ratio':>6} {'target (memory)':>16}")
    for name in ("vgg", "resnet"):
        path = ROOT / "data" / "spaces" / f"{name}.toml"
        if not path.exists():
            print(f"{name:<8} (missing {path})")
            continue
        r = bench_space(path, n, args.threads)
        ratio = r["parquet_rate"] / r["polars_write_rate"]
        best = max(r["grid_rate"], r["sample_rate"])
        verdict = "met" if best >= TARGETS[name] else "NOT met"
        print(
            f"{name:<8} {r['size']:>14.3g} {r['grid_rate'] / 1e6:>12.2f} M/s {r['sample_rate'] / 1e6:>14.2f} M/s "
            f"{r['parquet_rate'] / 1e6:>10.2f} M/s {r['polars_write_rate'] / 1e6:>10.2f} M/s {ratio:>6.2f} "
            f"{TARGETS[name] / 1e6:>6.0f} M/s {verdict}"
        )
        print(f"{'':<8} Parquet: {r['parquet_bytes'] / r['n']:.1f} bytes/row (zstd); 'to Parquet' = evaluate + write, "
              f"'polars write' = write_parquet of the same finished table alone")
    big = args.rss_variants or (1_000_000 if args.quick else 100_000_000)
    rss, secs = rss_of_big_sweep(ROOT / "data" / "spaces" / "vgg.toml", big)
    print(f"peak RSS of a {big:,}-variant VGG sweep to disk: {rss:.0f} MiB in {secs:.1f} s (target <= 1024 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
