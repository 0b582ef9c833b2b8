"""Sweeps: evaluate many variants of a space in Rust and write/read them as Parquet.

A run covers *positions* 0..n: in grid mode position = variant id; with ``sample=N`` position k
is the k-th id of a seeded permutation of all ids (sampling without replacement: the same seed
gives the same ids on any machine, with any thread count); with ``ids=[...]`` position k is
``ids[k]``. Positions are cut into fixed chunks; chunk k is written as
``part-<k>.parquet`` (under a temporary name first, renamed when complete) and recorded in the
manifest, so ``resume`` redoes only what is missing and never duplicates a variant id.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import polars as pl
import pyarrow as pa

from archsweep import _core
from archsweep.io import atomic_write, atomic_write_text
from archsweep.space import Space, _canonical

#: Metric columns of a sweep table (stable names; see README "Sweep columns").
METRICS = [
    "params", "trainable_params", "buffers", "macs", "flops", "other_ops", "weight_bytes",
    "buffer_bytes", "activation_bytes", "peak_activation_bytes", "train_bytes", "num_layers",
]
MANIFEST = "_manifest.json"
#: Grids larger than this need sample=, ids= or an explicit max_variants.
DEFAULT_MAX_GRID = 10**10
DEFAULT_CHUNK = 1 << 20


@dataclass
class SweepSummary:
    """What a sweep did (``archsweep sweep`` prints it)."""

    positions: int
    evaluated: int = 0
    kept: int = 0
    invalid: int = 0
    rejected_by_constraints: int = 0
    filtered_out: int = 0
    parts_written: int = 0
    parts_skipped: int = 0
    seconds: float = 0.0
    out: str | None = None
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, counts: dict[str, int]) -> None:
        for k in ("evaluated", "kept", "invalid", "rejected_by_constraints", "filtered_out"):
            setattr(self, k, getattr(self, k) + counts[k])

    @property
    def rate(self) -> float:
        return self.evaluated / self.seconds if self.seconds > 0 else 0.0


def _plan(space: Space, sample: int | None, ids: Sequence[int] | None, max_variants: int | None) -> tuple[str, int]:
    size = space.size
    if ids is not None:
        if sample is not None:
            raise _core.ArchsweepError("give sample or ids, not both")
        if len(ids) and (min(ids) < 0 or max(ids) >= min(size, 2**64)):
            bad = min(ids) if min(ids) < 0 else max(ids)
            raise _core.ArchsweepError(f"variant id {bad} is out of range [0, {min(size, 2**64):,})")
        return "ids", len(ids)
    if sample is not None:
        if sample < 0:
            raise _core.ArchsweepError(f"sample={sample} must not be negative")
        if sample > size:
            raise _core.ArchsweepError(f"cannot sample {sample:,} distinct variants from a space of {size:,}")
        if size >= 2**64:
            raise _core.ArchsweepError(f"the space has {size:,} variants, more than 2^64 ids; constrain it")
        return "sample", sample
    limit = DEFAULT_MAX_GRID if max_variants is None else max_variants
    if size >= 2**64:
        raise _core.ArchsweepError(
            f"the space has {size:,} variants (about 10^{len(str(size)) - 1}), more than 2^64 ids: neither a full grid "
            f"nor sample=N can address it; constrain it (fewer variables or choices)"
        )
    if size > limit:
        raise _core.ArchsweepError(
            f"the space has {size:,} variants (about 10^{len(str(size)) - 1}); a full grid is refused above {limit:,}: "
            f"pass sample=N (--sample N), explicit ids, or raise max_variants"
        )
    return "grid", size


def _chunks(n: int, chunk: int, shard: tuple[int, int] | None) -> list[tuple[int, int, int]]:
    """(index, start, end) of every chunk this run covers; shard (i, N) takes every N-th."""
    out = []
    for k, start in enumerate(range(0, n, chunk)):
        if shard is None or k % shard[1] == shard[0]:
            out.append((k, start, min(start + chunk, n)))
    return out


def _part_name(k: int) -> str:
    return f"part-{k:08d}.parquet"


def _run_meta(space: Space, mode: str, n: int, seed: int, where: str | None, batch: int, dtype: str, optimizer: str, chunk: int, ids) -> dict[str, Any]:
    return {
        "spec_hash": space.spec_hash,
        "mode": mode,
        "positions": n,
        "seed": seed,
        "where": where,
        "batch": batch,
        "dtype": dtype,
        "optimizer": optimizer,
        "chunk_rows": chunk,
        "ids_hash": None if ids is None else _hash_ids(ids),
    }


def _hash_ids(ids) -> str:
    import hashlib

    return hashlib.sha256(json.dumps([int(i) for i in ids]).encode()).hexdigest()


class _Progress:
    def __init__(self, enabled: bool, total: int, label: str):
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TextColumn("kept {task.fields[kept]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                refresh_per_second=4,
            )
            self.task = self.bar.add_task(label, total=total, rate="", kept="0")
            self.bar.start()
        self.t0 = time.perf_counter()
        self.done = 0

    def update(self, advanced: int, kept: int) -> None:
        self.done += advanced
        if self.bar is not None:
            dt = time.perf_counter() - self.t0
            rate = f"{self.done / dt / 1e6:.2f} M variants/s" if dt > 0 else ""
            self.bar.update(self.task, advance=advanced, rate=rate, kept=f"{kept:,}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def sweep(
    space: Space | str | Path,
    *,
    where: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    ids: Sequence[int] | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    shard: tuple[int, int] | None = None,
    threads: int = 0,
    batch: int = 1,
    dtype: str = "fp32",
    optimizer: str = "adam",
    chunk_rows: int = DEFAULT_CHUNK,
    max_variants: int | None = None,
    progress: bool = False,
) -> pl.DataFrame | SweepSummary:
    """Evaluate variants of ``space``: the full grid, ``sample`` seeded random variants
    without replacement, or the given ``ids``. ``where`` is an expression over the metric
    columns and variables (``"params < 5e6 and macs < 3e8"``, ``"peak_activation_bytes <
    64 MiB"``) evaluated in Rust, so rejected variants never reach Python.

    Without ``out`` returns a polars DataFrame. With ``out`` writes a Parquet dataset (part
    files + ``_manifest.json``) in bounded memory and returns a :class:`SweepSummary`;
    ``resume=True`` completes an interrupted run; ``shard=(i, n)`` computes only every n-th chunk.
    """
    if not isinstance(space, Space):
        space = Space.load(space)
    if chunk_rows < 1:
        raise _core.ArchsweepError("chunk_rows must be at least 1")
    if shard is not None:
        i, n_sh = shard
        if not (n_sh >= 1 and 0 <= i < n_sh):
            raise _core.ArchsweepError(f"shard {i}/{n_sh}: need 0 <= I < N")
    mode, n = _plan(space, sample, ids, max_variants)
    ids_list = None if ids is None else [int(x) for x in ids]
    summary = SweepSummary(positions=n, out=None if out is None else str(out))
    t0 = time.perf_counter()
    chunks = _chunks(n, chunk_rows, shard)

    def run(start: int, end: int) -> tuple[pl.DataFrame, dict[str, int]]:
        batches, counts = space._c.evaluate(
            mode, start, end, seed=seed, ids=ids_list, where=where, batch=batch,
            dtype=dtype, optimizer=optimizer, threads=threads,
        )
        # Arrow record batches from Rust become one polars frame without copying the columns
        return pl.from_arrow(pa.Table.from_batches(batches)), counts

    bar = _Progress(progress, sum(e - s for _, s, e in chunks), f"sweep {space.name}")
    try:
        if out is None:
            frames = []
            for _, start, end in chunks:
                df, counts = run(start, end)
                summary.add(counts)
                frames.append(df)
                bar.update(end - start, summary.kept)
            summary.seconds = time.perf_counter() - t0
            if not frames:
                return run(0, 0)[0]
            return pl.concat(frames, rechunk=False)
        return _sweep_to_dir(space, Path(out), chunks, run, summary, bar, t0, resume, shard,
                             _run_meta(space, mode, n, seed, where, batch, dtype, optimizer, chunk_rows, ids_list))
    finally:
        bar.close()


def _manifest_name(shard: tuple[int, int] | None) -> str:
    return MANIFEST if shard is None else f"_manifest.shard-{shard[0]}-of-{shard[1]}.json"


def _sweep_to_dir(space, out: Path, chunks, run, summary: SweepSummary, bar, t0, resume, shard, meta) -> SweepSummary:
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / _manifest_name(shard)
    # shards of one run share the directory: only this run's own manifest and parts mean "resume"
    mine = {_part_name(k) for k, _, _ in chunks}
    existing = [p for p in out.glob("*.parquet") if shard is None or p.name in mine]
    if manifest_path.exists() or existing:
        if not resume:
            raise _core.ArchsweepError(f"{out} already holds a sweep; pass --resume to complete it, or choose an empty directory")
    for other in sorted(out.glob("_manifest*.json")):
        ref = json.loads(other.read_text())
        for k, v in meta.items():
            if ref["run"].get(k) != v:
                what = "cannot resume" if other == manifest_path else f"{other.name} belongs to another run"
                raise _core.ArchsweepError(f"{out}: {what}: {k} was {ref['run'].get(k)!r}, now {v!r} (same spec and options needed)")
    manifest = {
        "format": "archsweep-sweep/1",
        "space": space.name,
        "spec": space.spec,
        "spec_hash": space.spec_hash,
        "run": meta,
        "shard": None if shard is None else list(shard),
        "parts": {},
    }
    if manifest_path.exists():
        manifest["parts"] = json.loads(manifest_path.read_text()).get("parts", {})
    atomic_write_text(manifest_path, json.dumps(manifest, indent=1))
    file_meta = {"archsweep.spec": _canonical(space.spec), "archsweep.spec_hash": space.spec_hash, "archsweep.run": json.dumps(meta)}
    for k, start, end in chunks:
        name = _part_name(k)
        path = out / name
        if path.exists():
            # renamed into place only when complete, so an existing part is a finished part
            if name not in manifest["parts"]:
                rows = pl.scan_parquet(path).select(pl.len()).collect().item()
                manifest["parts"][name] = {"chunk": k, "start": start, "end": end, "rows": rows}
                atomic_write_text(manifest_path, json.dumps(manifest, indent=1))
            summary.parts_skipped += 1
            bar.update(end - start, summary.kept)
            continue
        df, counts = run(start, end)
        summary.add(counts)
        atomic_write(path, lambda p: df.write_parquet(p, compression="zstd", metadata=file_meta))
        manifest["parts"][name] = {"chunk": k, "start": start, "end": end, "rows": df.height, **counts}
        atomic_write_text(manifest_path, json.dumps(manifest, indent=1))
        summary.parts_written += 1
        bar.update(end - start, summary.kept)
    summary.seconds = time.perf_counter() - t0
    return summary


def scan(directory: str | Path) -> pl.LazyFrame:
    """The sweep dataset in ``directory`` as a polars LazyFrame (complete parts only)."""
    d = Path(directory)
    if not d.is_dir():
        raise _core.ArchsweepError(f"{d}: no such sweep directory")
    if not any(d.glob("*.parquet")):
        raise _core.ArchsweepError(f"{d}: no finished part files (*.parquet) yet")
    return pl.scan_parquet(str(d / "*.parquet"))


def _frame(data: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    return data.lazy() if isinstance(data, pl.DataFrame) else data


def top_k(data: pl.DataFrame | pl.LazyFrame, by: str, k: int = 10, descending: bool = False, where: str | pl.Expr | None = None) -> pl.DataFrame:
    """The k valid rows with the smallest (or largest) ``by``, ties broken by variant id."""
    lf = _frame(data).filter(pl.col("valid"))
    if where is not None:
        lf = lf.filter(pl.sql_expr(where) if isinstance(where, str) else where)
    return lf.sort([by, "variant_id"], descending=[descending, False]).head(k).collect()


def pareto(data: pl.DataFrame | pl.LazyFrame, minimize: Sequence[str] = ("params", "macs"), where: str | pl.Expr | None = None) -> pl.DataFrame:
    """Rows not dominated in ``minimize`` (no other row is <= in every objective and < in
    one). Sorted by the objectives. Computed in Rust after a sort, in O(n · front)."""
    objectives = list(minimize)
    if not objectives:
        raise _core.ArchsweepError("pareto needs at least one column to minimize")
    lf = _frame(data).filter(pl.col("valid"))
    if where is not None:
        lf = lf.filter(pl.sql_expr(where) if isinstance(where, str) else where)
    df = lf.sort(objectives + ["variant_id"]).collect()
    if df.height == 0:
        return df
    cols = [df[c].cast(pl.UInt64).to_arrow() for c in objectives]
    keep = _core.pareto_sorted(cols)
    return df[keep]
