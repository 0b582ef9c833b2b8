"""Sweep-engine rates: variants/s in memory and to Parquet, against polars' own write rate.

    python benchmarks/sweep_rates.py            # the full run (several minutes: the RSS run sweeps 10^8)
    python benchmarks/sweep_rates.py --quick    # smaller counts
    python benchmarks/sweep_rates.py --table    # one row per shipped space and zoo family (below)
    python benchmarks/sweep_rates.py --table --rss   # ... and the peak RSS of 10^8 to disk, VGG and OFA (slow)

--table: a row per space of data/spaces/*.toml and family of data/families/*.toml (a family is
swept as the CLI sweeps it, the file as a space: all its knobs free), so that no space is out of
sight. Columns: size (variants), layer instances, the warm sampled rate in memory (variants/s of
``sweep(space, sample=n, seed=1)`` after warm-up calls, best of --repeat), the first call's rate
in a fresh process (a subprocess: load, then one timed sweep of the same n), small-call latency
(the median call of ``sweep(space, ids=[1 new random id])``, of 100 new random ids, and of
``space.evaluate(new random id)``, after the sampled runs; and of ``space.evaluate`` in a fresh
process before any sweep, where no table is made yet), the to-Parquet ratio
(``sweep_to_dataset`` of the sample against polars' ``write_parquet(compression="zstd")`` of the
same table), bytes a row in memory (``DataFrame.estimated_size()``) and the warm and first-call
rates against VGG's (data/spaces/vgg.toml) in the same run. Each measurement is sized by time
(--budget seconds: n grows until a warm call takes half of it, at most 2*10^6), so slow spaces finish in
seconds. --rss adds the peak RSS (VmHWM) of a child sweeping --rss-variants (default 10^8) to
disk, for VGG and OFA only.

Prints rates and ratios; it asserts nothing (speed is measured here, never in tests).

Per space: "grid/sample in memory" are ``archsweep.sweep(space, grid_range=(0, m))`` and
``archsweep.sweep(space, sample=n, seed=1)`` returning a polars DataFrame (no disk); each run's
result is released before the next, and the first (cold) grid call is printed separately;
"polars write" is ``df.write_parquet(path, compression="zstd")`` of the finished table (polars'
defaults otherwise: the denominator of the ratio); "parts write" is the same table written with
the engine's own part options (``archsweep.sweep.PARQUET_OPTIONS``); "to Parquet" is
``archsweep.sweep_to_dataset(space, sample=n, seed=1, out=DIR)`` end to end, and ratio = to Parquet / polars
write. "grid to Parquet" is ``archsweep.sweep_to_dataset(space, grid_range=(0, n), out=DIR)`` (consecutive
ids), with its own ratio against polars' write of that grid table. CPU figures are this process's user+sys CPU per row: on a machine where evaluation and the
write each use every core, overlapping them cannot beat 1 / (cpu eval + cpu write) x cores.
Each measurement is the best of --repeat runs (the machine may be shared: noisy).
For scale: profilers that build the model and run a forward pass (fvcore, thop, ptflops,
torchinfo, FlopCounterMode) need 20-200 ms per candidate, i.e. 5-50 variants/s.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

import archsweep
from archsweep.sweep import LOCAL_WORKERS, PARQUET_OPTIONS

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"vgg": 20e6, "resnet": 2e6}


def timed(fn):
    t, c = time.perf_counter(), cpu_seconds()
    out = fn()
    return out, time.perf_counter() - t, cpu_seconds() - c


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def best(fn, repeat: int):
    """(result of the last run, the fastest run's seconds and CPU seconds) of ``repeat`` runs.
    Each run's result is released before the next starts, as a long sweep releases its chunks:
    the allocator then reuses that memory instead of the kernel handing out (and, on this VM,
    zeroing and backing) fresh pages; the first, cold call is reported separately."""
    out, best_dt, best_cpu = None, float("inf"), 0.0
    for _ in range(repeat):
        out = None  # release the previous result first
        out, dt, cpu = timed(fn)
        if dt < best_dt:
            best_dt, best_cpu = dt, cpu
    return out, best_dt, best_cpu


def bench_space(path: Path, n: int, threads: int, repeat: int) -> dict:
    space = archsweep.Space.load(path)
    res = {"space": space.name, "size": space.size, "n": n}
    # warm-up (thread pool, page faults)
    archsweep.sweep(space, ids=list(range(min(1000, space.size))), threads=threads)
    grid_n = min(n, space.size)
    # a grid prefix: positions 0..m of the full grid (consecutive ids share leading digits), as a
    # DataFrame from archsweep.sweep; the first call is cold (fresh memory, empty memo and block
    # tables). m = 4n: at tens of millions of rows a second a smaller run is over too soon to time.
    m = res["grid_mem_n"] = min(4 * n, space.size)
    _, dt, _ = timed(lambda: archsweep.sweep(space, grid_range=(0, m), threads=threads))
    res["grid_cold_rate"] = m / dt
    _, dt, _ = best(lambda: archsweep.sweep(space, grid_range=(0, m), threads=threads), repeat)
    res["grid_rate"] = m / dt
    # the engine alone: Arrow record batches, no DataFrame
    _, dt, _ = best(lambda: space.compiled.evaluate("grid", 0, m, threads=threads), repeat)
    res["grid_engine_rate"] = m / dt
    filt = "params < 5e6 and macs < 3e8"
    df_where, dt, _ = best(lambda: archsweep.sweep(space, grid_range=(0, m), where=filt, threads=threads), repeat)
    res["grid_where_rate"], res["grid_where_kept"] = m / dt, df_where.height
    del df_where
    df, dt, cpu = best(lambda: archsweep.sweep(space, sample=n, seed=1, threads=threads), repeat)
    res["sample_rate"], res["sample_cpu"] = n / dt, cpu / n
    # the engine alone: Arrow record batches of the same sample, no DataFrame
    _, dt, cpu = best(lambda: space.compiled.evaluate("sample", 0, n, seed=1, threads=threads), repeat)
    res["sample_engine_rate"], res["sample_engine_cpu"] = n / dt, cpu / n
    with tempfile.TemporaryDirectory() as d:
        def to_parquet():
            shutil.rmtree(Path(d) / "ds", ignore_errors=True)
            return archsweep.sweep_to_dataset(space, sample=n, seed=1, out=Path(d) / "ds", threads=threads)

        def polars_write():
            df.write_parquet(Path(d) / "polars.parquet", compression="zstd")

        def parts_write():
            df.write_parquet(Path(d) / "parts.parquet", **PARQUET_OPTIONS)

        grid_df = archsweep.sweep(space, grid_range=(0, grid_n), threads=threads)

        def grid_to_parquet():
            shutil.rmtree(Path(d) / "gds", ignore_errors=True)
            return archsweep.sweep_to_dataset(space, grid_range=(0, grid_n), out=Path(d) / "gds", threads=threads)

        def grid_polars_write():
            grid_df.write_parquet(Path(d) / "grid.parquet", compression="zstd")

        runs = {"parquet": [], "polars_write": [], "parts_write": [], "grid_parquet": [], "grid_polars_write": []}
        for _ in range(repeat):  # interleaved, so a busy spell of the machine hits all three
            for key, fn in (("parquet", to_parquet), ("polars_write", polars_write), ("parts_write", parts_write),
                            ("grid_parquet", grid_to_parquet), ("grid_polars_write", grid_polars_write)):
                runs[key].append(timed(fn)[1:])
        for key, rs in runs.items():
            dt, cpu = min(rs)
            rows = grid_n if key.startswith("grid") else n
            res[f"{key}_rate"], res[f"{key}_cpu"] = rows / dt, cpu / rows
        res["parquet_bytes"] = sum(p.stat().st_size for p in (Path(d) / "ds").glob("*.parquet"))
        res["polars_bytes"] = (Path(d) / "polars.parquet").stat().st_size
    res["rows"] = df.height
    return res


def fmt_options(opts: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in opts.items())


def rss_of_big_sweep(path: Path, n: int) -> tuple[float, float]:
    """Peak RSS (MiB) and seconds of a child process sweeping n variants to disk."""
    with tempfile.TemporaryDirectory() as d:
        # VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child forked from this (large)
        # benchmark process would report this process's size
        code = (
            "import archsweep, re;"
            f"archsweep.sweep_to_dataset(archsweep.Space.load({str(path)!r}), sample={n}, seed=3, out={d!r} + '/ds');"
            "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
        )
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        return int(out.strip().splitlines()[-1]) / 1024, time.perf_counter() - t


# --------------------------------------------------------------------------------------------
# --table: one row per shipped space and family

#: the largest sample a table row sweeps (memory: ~300 bytes a row, two copies at a time)
TABLE_MAX_ROWS = 2_000_000
#: spaces whose peak RSS of a 10^8 sweep to disk --table --rss measures
RSS_SPACES = ("spaces/vgg", "spaces/ofa_mbv3")


def table_paths() -> list[Path]:
    return sorted((ROOT / "data" / "spaces").glob("*.toml")) + sorted((ROOT / "data" / "families").glob("*.toml"))


def label(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def first_call_rate(path: Path, n: int, threads: int) -> tuple[float, float]:
    """(variants/s of the first sampled sweep, seconds to load and compile) in a fresh process."""
    code = (
        "import json, sys, time, archsweep;"
        "t = time.perf_counter();"
        f"s = archsweep.Space.load({str(path)!r});"
        "c = time.perf_counter() - t;"
        "t = time.perf_counter();"
        f"archsweep.sweep(s, sample={n}, seed=1, threads={threads});"
        "print(json.dumps([time.perf_counter() - t, c]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    dt, compile_s = json.loads(out.strip().splitlines()[-1])
    return n / dt, compile_s


def fresh_point_call(path: Path, n: int = 300) -> float:
    """Median seconds of ``space.evaluate(id)`` over ``n`` random ids in a fresh process, before
    any sweep (the engine's tables are empty: each candidate is evaluated in full)."""
    code = (
        "import json, random, statistics, time, archsweep\n"
        f"s = archsweep.Space.load({str(path)!r})\n"
        "rng = random.Random(11)\n"
        "times = []\n"
        f"for _ in range({n}):\n"
        "    i = rng.randrange(s.size)\n"
        "    t = time.perf_counter()\n"
        "    try:\n"
        "        s.evaluate(i)\n"
        "    except archsweep.ArchsweepError:\n"
        "        pass\n"
        "    times.append(time.perf_counter() - t)\n"
        "print(json.dumps(statistics.median(times)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1]))


def median_call(fn, args: list, budget: float) -> float:
    """Median seconds of ``fn(a)`` over the arguments (each call its own), for at most ``budget``
    seconds (at least 5 calls)."""
    times = []
    start = time.perf_counter()
    for a in args:
        t = time.perf_counter()
        fn(a)
        times.append(time.perf_counter() - t)
        if len(times) >= 5 and time.perf_counter() - start > budget:
            break
    return statistics.median(times)


def parquet_ratio(space: archsweep.Space, df: pl.DataFrame, n: int, threads: int, repeat: int) -> float:
    """Rate of ``sweep_to_dataset`` of the sample over polars' rate writing ``df`` (the same rows)."""
    with tempfile.TemporaryDirectory() as d:
        def to_parquet():
            shutil.rmtree(Path(d) / "ds", ignore_errors=True)
            archsweep.sweep_to_dataset(space, Path(d) / "ds", sample=n, seed=1, threads=threads)

        def polars_write():
            df.write_parquet(Path(d) / "polars.parquet", compression="zstd")

        runs: dict[str, list[float]] = {"parquet": [], "polars": []}
        for _ in range(repeat):  # interleaved, so a busy spell of the machine hits both
            runs["parquet"].append(timed(to_parquet)[1])
            runs["polars"].append(timed(polars_write)[1])
    return min(runs["polars"]) / min(runs["parquet"])


def table_row(path: Path, budget: float, repeat: int, threads: int) -> dict:
    space = archsweep.Space.load(path)
    r: dict = {"space": label(path), "size": space.size, "layers": space.num_layer_instances}
    # how many variants fit in the budget: pilots, larger each time (the first calls fill the
    # engine's tables and run slower) until one takes half the budget; the last is the warm-up
    cap = min(space.size, TABLE_MAX_ROWS)
    n = min(2000, cap)
    for _ in range(8):
        dt = timed(functools.partial(archsweep.sweep, space, sample=n, seed=1, threads=threads))[1]
        if dt >= budget / 2 or n == cap:
            break
        n = min(cap, max(2 * n, int(n / dt * budget)))
    r["n"] = n
    sample = functools.partial(archsweep.sweep, space, sample=n, seed=1, threads=threads)
    df, dt, _ = best(sample, repeat)
    r["warm_rate"] = n / dt
    r["bytes_per_row"] = df.estimated_size() / max(df.height, 1)
    r["kept"] = df.height
    r["first_rate"], r["compile_s"] = first_call_rate(path, n, threads)
    r["parquet_ratio"] = parquet_ratio(space, df, n, threads, repeat)
    del df
    # small calls: new random ids every call, as a search loop's candidates
    rng = random.Random(7)
    one = [[rng.randrange(space.size)] for _ in range(2000)]
    hundred = [[rng.randrange(space.size) for _ in range(100)] for _ in range(200)]
    single = [rng.randrange(space.size) for _ in range(5000)]

    def point(vid: int) -> None:
        try:
            space.evaluate(vid)
        except archsweep.ArchsweepError:  # rejected by a constraint: raised, as a search loop would see it
            pass

    r["call_1"] = median_call(lambda ids: archsweep.sweep(space, ids=ids, threads=threads), one, budget / 3)
    r["call_100"] = median_call(lambda ids: archsweep.sweep(space, ids=ids, threads=threads), hundred, budget / 3)
    r["evaluate"] = median_call(point, single, budget / 3)
    r["evaluate_fresh"] = fresh_point_call(path)
    return r


def fmt_rate(x: float) -> str:
    return f"{x / 1e6:.2f} M/s" if x >= 1e6 else f"{x / 1e3:.1f} k/s"


def fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"


TABLE_COLUMNS = [
    ("space", "space", lambda r: r["space"]),
    ("size", "variants", lambda r: f"{r['size']:.2e}"),
    ("layers", "layer instances", lambda r: f"{r['layers']:,}"),
    ("n", "sample n", lambda r: f"{r['n']:,}"),
    ("warm", "warm, in memory", lambda r: fmt_rate(r["warm_rate"])),
    ("first", "first call (fresh process)", lambda r: fmt_rate(r["first_rate"])),
    ("ids=[1]", "sweep, 1 id", lambda r: fmt_time(r["call_1"])),
    ("ids=[100]", "sweep, 100 ids", lambda r: fmt_time(r["call_100"])),
    ("evaluate", "evaluate(id)", lambda r: fmt_time(r["evaluate"])),
    ("eval fresh", "evaluate(id), fresh process", lambda r: fmt_time(r["evaluate_fresh"])),
    ("pq ratio", "to Parquet / polars write", lambda r: f"{r['parquet_ratio']:.2f}"),
    ("B/row", "bytes a row in memory", lambda r: f"{r['bytes_per_row']:.0f}"),
    ("warm xVGG", "warm rate / VGG's", lambda r: f"{r['warm_vs_vgg']:.3f}"),
    ("first xVGG", "first-call rate / VGG's", lambda r: f"{r['first_vs_vgg']:.3f}"),
]


def print_table(rows: list[dict], markdown: bool) -> None:
    cells = [[f(r) for _, _, f in TABLE_COLUMNS] for r in rows]
    if markdown:
        print("| " + " | ".join(long for _, long, _ in TABLE_COLUMNS) + " |")
        print("|---|" + "---:|" * (len(TABLE_COLUMNS) - 1))
        for c in cells:
            print("| " + " | ".join(f"`{c[0]}`" if i == 0 else c[i] for i in range(len(c))) + " |")
        return
    heads = [short for short, _, _ in TABLE_COLUMNS]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(heads, widths))))
    for c in cells:
        print("  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(c, widths))))


def run_table(args: argparse.Namespace) -> int:
    paths = table_paths()
    if args.only:
        paths = [p for p in paths if any(o in label(p) for o in args.only.split(","))]
    print(f"machine: {os.cpu_count()} cores; archsweep {archsweep.__version__}; polars {pl.__version__}; best of {args.repeat}; "
          f"budget {args.budget} s a measurement; load average at start {os.getloadavg()[0]:.2f}")
    rows = []
    for path in paths:
        t = time.perf_counter()
        rows.append(table_row(path, args.budget, args.repeat, args.threads))
        print(f"  {label(path)}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    vgg = next((r for r in rows if r["space"] == "spaces/vgg"), None)
    for r in rows:
        r["warm_vs_vgg"] = r["warm_rate"] / vgg["warm_rate"] if vgg else float("nan")
        r["first_vs_vgg"] = r["first_rate"] / vgg["first_rate"] if vgg else float("nan")
    print_table(rows, args.markdown)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.rss:
        big = args.rss_variants or 100_000_000
        for name in RSS_SPACES:
            path = ROOT / "data" / f"{name}.toml"
            rss, secs = rss_of_big_sweep(path, big)
            print(f"peak RSS of a {big:,}-variant {name} sample swept to disk: {rss:.0f} MiB in {secs:.1f} s")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller counts")
    ap.add_argument("--table", action="store_true", help="one row per shipped space and family (see above)")
    ap.add_argument("--budget", type=float, default=1.0, help="--table: seconds a measurement aims at (default 1)")
    ap.add_argument("--only", help="--table: only spaces whose 'spaces/NAME' or 'families/NAME' contains one of these (comma-separated)")
    ap.add_argument("--markdown", action="store_true", help="--table: print the table as Markdown")
    ap.add_argument("--rss", action="store_true", help="--table: also the peak RSS of --rss-variants swept to disk, VGG and OFA")
    ap.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement, the best kept (default 3)")
    ap.add_argument("--rss-variants", type=int, default=None, help="variants for the peak-RSS run (default 10^8, 10^6 with --quick)")
    args = ap.parse_args()
    if args.table:
        return run_table(args)
    n = 200_000 if args.quick else 2_000_000
    print(f"machine: {os.cpu_count()} cores; archsweep {archsweep.__version__}; polars {pl.__version__}; "
          f"best of {args.repeat}; local engine: {LOCAL_WORKERS} chunks in flight")
    print(f"{'space':<8} {'variants':>14} {'grid in memory':>16} {'sample in memory':>18} {'to Parquet':>14} {'polars write':>14} {'ratio':>6} {'target (memory)':>16}")
    for name in ("vgg", "resnet"):
        path = ROOT / "data" / "spaces" / f"{name}.toml"
        if not path.exists():
            print(f"{name:<8} (missing {path})")
            continue
        r = bench_space(path, n, args.threads, args.repeat)
        ratio = r["parquet_rate"] / r["polars_write_rate"]
        met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
        verdict = f"grid {met(r['grid_rate'] >= TARGETS[name])}, sample {met(r['sample_rate'] >= TARGETS[name])}"
        print(
            f"{name:<8} {r['size']:>14.3g} {r['grid_rate'] / 1e6:>12.2f} M/s {r['sample_rate'] / 1e6:>14.2f} M/s "
            f"{r['parquet_rate'] / 1e6:>10.2f} M/s {r['polars_write_rate'] / 1e6:>10.2f} M/s {ratio:>6.2f} "
            f"{TARGETS[name] / 1e6:>6.0f} M/s {verdict}"
        )
        print(f"{'':<8} grid in memory ({r['grid_mem_n']:,} rows): engine alone (Arrow batches) {r['grid_engine_rate'] / 1e6:.2f} M/s; "
              f"first (cold) call {r['grid_cold_rate'] / 1e6:.2f} M/s; with where='params < 5e6 and macs < 3e8' "
              f"{r['grid_where_rate'] / 1e6:.2f} M/s ({r['grid_where_kept']:,} kept)")
        us = 1e6
        print(f"{'':<8} sample in memory ({r['n']:,} rows): engine alone (Arrow batches) {r['sample_engine_rate'] / 1e6:.2f} M/s "
              f"({r['sample_engine_cpu'] * us:.2f} us CPU/row)")
        serial = 1 / (1 / r["sample_rate"] + 1 / r["parts_write_rate"])
        print(f"{'':<8} split: evaluate {r['sample_rate'] / 1e6:.2f} M/s ({r['sample_cpu'] * us:.2f} us CPU/row), "
              f"parts write {r['parts_write_rate'] / 1e6:.2f} M rows/s ({r['parts_write_cpu'] * us:.2f} us CPU/row), "
              f"polars write {r['polars_write_cpu'] * us:.2f} us CPU/row, to Parquet {r['parquet_cpu'] * us:.2f} us CPU/row")
        print(f"{'':<8} one after the other: {serial / 1e6:.2f} M/s; fully overlapped: "
              f"{min(r['sample_rate'], r['parts_write_rate']) / 1e6:.2f} M/s, or with {os.cpu_count()} cores busy in both "
              f"phases {os.cpu_count() / (r['sample_cpu'] + r['parts_write_cpu']) / 1e6:.2f} M/s")
        print(f"{'':<8} grid order to Parquet: {r['grid_parquet_rate'] / 1e6:.2f} M/s vs polars write of that table "
              f"{r['grid_polars_write_rate'] / 1e6:.2f} M rows/s: ratio {r['grid_parquet_rate'] / r['grid_polars_write_rate']:.2f}")
        gratio = r["grid_parquet_rate"] / r["grid_polars_write_rate"]
        print(f"{'':<8} to Parquet >= 0.7 x polars' write: grid order {gratio:.2f} {met(gratio >= 0.7)}, "
              f"sample order {ratio:.2f} {met(ratio >= 0.7)}")
        print(f"{'':<8} Parquet: {r['parquet_bytes'] / r['n']:.1f} bytes/row (parts: {fmt_options(PARQUET_OPTIONS)}; "
              f"polars write: {r['polars_bytes'] / r['n']:.1f} bytes/row, compression='zstd' at its default level)")
    big = args.rss_variants or (1_000_000 if args.quick else 100_000_000)
    rss, secs = rss_of_big_sweep(ROOT / "data" / "spaces" / "vgg.toml", big)
    print(f"peak RSS of a {big:,}-variant VGG sweep to disk: {rss:.0f} MiB in {secs:.1f} s (target <= 1024 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
