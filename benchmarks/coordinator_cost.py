"""What a sweep's coordinator pays per part, at 10^5 parts (docs/distributed.md, "Scale on paper").

    python benchmarks/coordinator_cost.py                 # 10^5 manifest entries, 2,000 real parts
    python benchmarks/coordinator_cost.py --parts 1000000 --files 5000

1. The manifest: a synthetic one of --parts entries shaped as a run writes them (chunk, positions,
   rows, the counts, seconds, bytes, sha256 and footer sha256); its size, and the time to write it
   (``write_manifest``: a Parquet file of no rows, fsynced), to read it (``read_manifest``) and to
   save it as the coordinator does at most once a second while a run goes on (``_save_manifest``:
   read the copy on disk, merge, write).
2. The parts: a real run of --files parts of 10 rows each; the time of ``archsweep status`` on it
   (every part's footer checked: a stat and two small reads) and of ``--resume`` when everything
   is done, per part. The per-part cost does not depend on the part's size (the footer is read,
   not the rows), so it is the cost at 10^5 parts of any size, on the same file system.

Nothing is asserted: speed is measured here, never in tests. The machine is named with its load.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import archsweep
from archsweep.sweep import read_manifest, sweep_status
from archsweep.sweep.dataset import _save_manifest
from archsweep.sweep.layout import FORMAT, write_manifest
from archsweep.sweep.plan import make_run_meta, part_name

ROOT = Path(__file__).resolve().parents[1]


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", type=int, default=100_000, help="manifest entries (default 10^5)")
    ap.add_argument("--files", type=int, default=2_000, help="real part files for the status/resume timing (default 2,000)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f}; archsweep {archsweep.__version__}")
    space = archsweep.Space.load(ROOT / "data" / "spaces" / "vgg.toml")
    chunk = 1 << 22
    n = args.parts * chunk
    meta = make_run_meta(space, "sample", n, 0, None, 1, "fp32", "adam", chunk, None)
    digest = hashlib.sha256(b"x").hexdigest()
    parts = {part_name(k): {"chunk": k, "start": k * chunk, "end": (k + 1) * chunk, "rows": chunk, "evaluated": chunk, "kept": chunk,
                            "invalid": 0, "rejected_by_constraints": 0, "filtered_out": 0, "seconds": 3.217, "bytes": 201_326_592,
                            "sha256": digest, "footer_sha256": digest} for k in range(args.parts)}
    manifest = {"format": FORMAT, "space": space.name, "spec": space.spec, "spec_hash": space.spec_hash, "run": meta, "shard": None,
                "parts": parts, "failed": {}}
    frame = space.empty_frame()
    tmp = Path(tempfile.mkdtemp(prefix="coordinator_cost-"))
    try:
        path = tmp / "_manifest.parquet"
        w = best(lambda: write_manifest(path, manifest, frame), args.repeat)
        r = best(lambda: read_manifest(path), args.repeat)
        s = best(lambda: _save_manifest(path, {**manifest, "parts": dict(parts)}, frame, {}), args.repeat)
        size = path.stat().st_size
        print(f"manifest of {args.parts:,} parts: {size / 2**20:.1f} MiB ({size / args.parts:.0f} bytes a part); "
              f"write {w:.2f} s, read {r:.2f} s, save while a run goes on (read + merge + write) {s:.2f} s "
              f"= {s / args.parts * 1e6:.1f} µs a part")

        d = tmp / "ds"
        t = time.perf_counter()
        archsweep.sweep_to_dataset(space, d, sample=args.files * 10, chunk_rows=10, threads=1)
        made = time.perf_counter() - t
        st = best(lambda: sweep_status(d, ask_squeue=False), args.repeat)
        rs = best(lambda: archsweep.sweep_to_dataset(space, d, sample=args.files * 10, chunk_rows=10, threads=1, resume=True),
                  args.repeat)
        print(f"{args.files:,} real parts of 10 rows: written in {made:.1f} s ({made / args.files * 1e3:.2f} ms a part: "
              f"evaluate, write, sha256, fsync, link, record); status {st:.2f} s ({st / args.files * 1e6:.0f} µs a part); "
              f"resume of the complete run {rs:.2f} s ({rs / args.files * 1e6:.0f} µs a part)")
        print(f"at {args.parts:,} parts: status ≈ {st / args.files * args.parts:.0f} s, resume check ≈ "
              f"{rs / args.files * args.parts:.0f} s (linear in parts; same file system)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
