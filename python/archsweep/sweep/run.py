"""The two ways to run a sweep: :func:`sweep` returns the rows as a polars DataFrame,
:func:`sweep_to_dataset` writes them as a Parquet dataset and returns a :class:`SweepSummary`.
Both check their options and plan the run the same way (:func:`_prepare`)."""

from __future__ import annotations

import concurrent.futures as cf
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from archsweep import _core, checks
from archsweep.space import Space
from archsweep.sweep import slurm
from archsweep.sweep.chunk import cache_compiled, check_not_forked, chunk_frame, frame_of_rows, spec_json_of
from archsweep.sweep.dataset import write_dataset
from archsweep.sweep.executors import ENGINES, LOCAL_WORKERS, LocalExecutor, ProgressBar, completed, dask_executor
from archsweep.sweep.plan import (
    DEFAULT_CHUNK,
    IN_MEMORY_GRID_CHUNK,
    IN_MEMORY_SAMPLE_CHUNK,
    SAMPLERS,
    SMALL_IDS,
    DtypeName,
    Engine,
    OptimizerName,
    Sampler,
    SweepSummary,
    chunk_ranges,
    make_run_meta,
    plan_positions,
)
from archsweep.units import big_int

#: The most rayon threads (``threads``) or Dask worker processes (``workers``) a sweep may ask for.
MAX_THREADS = 4096


@dataclass
class _Run:
    """A planned run: its chunks ``(index, start, end)``, run table and how to reach the engine."""

    space: Space
    chunks: list[tuple[int, int, int]]
    meta: dict[str, Any]
    spec_json: str
    ids: list[int] | None
    threads: int
    summary: SweepSummary
    t0: float
    engine: str
    executor: cf.Executor | None
    client: Any
    scheduler: str | None
    workers: int | None

    def chunk_ids(self, start: int, end: int) -> list[int] | None:
        return None if self.ids is None else self.ids[start:end]

    @contextmanager
    def engine_executor(self) -> Iterator[cf.Executor]:
        if self.executor is not None:
            yield self.executor
        elif self.engine == "dask":
            with dask_executor(self.client, self.scheduler, self.workers) as ex:
                yield ex
        else:
            # two chunks in flight in memory too: one chunk's serial tail (its last piece, its
            # record batches crossing into pyarrow and polars) overlaps the next one's evaluation
            with LocalExecutor(LOCAL_WORKERS) as ex:
                yield ex

    def progress(self, enabled: bool) -> ProgressBar:
        label = f"sweep {self.space.name}" + (" on dask" if self.engine == "dask" else "")
        return ProgressBar(enabled, sum(e - s for _, s, e in self.chunks), label)


_ARGUMENTS = ("space", "out", "where", "sample", "seed", "sampler", "ids", "grid_range", "shard", "threads", "batch", "dtype",
              "optimizer", "chunk_rows", "max_variants", "engine", "scheduler", "workers")


def _arguments(
    space: Space | str | Path, *, out: str | Path | None, where: str | None, sample: int | None, seed: int, sampler: int,
    ids: Sequence[int] | None, grid_range: tuple[int, int] | None, shard: tuple[int, int] | None, threads: int, batch: int,
    dtype: str, optimizer: str, chunk_rows: int, max_variants: int | None, engine: str, scheduler: str | None,
    workers: int | None,
) -> dict[str, Any]:
    """Every argument of a sweep checked for its type and range (an ``ArgumentTypeError`` or an
    ``ArchsweepError`` naming the argument and its CLI option), before any work; the space loaded
    if a path was given. Returns the arguments, normalised, by name."""
    if not isinstance(space, (Space, str, os.PathLike)):
        raise checks.ArgumentTypeError(f"space must be a Space or the path of a spec file, got {checks.show(space)}")
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise checks.ArgumentTypeError(f"out must be the path of a directory, got {checks.show(out)}")
    where = checks.optional_text(where, "where", flag="--where")
    sample = checks.optional_integer(sample, "sample", flag="--sample")
    seed = checks.integer(seed, "seed", low=0, high=checks.U64_MAX, flag="--seed")
    sampler = checks.integer(sampler, "sampler", flag="--sampler")
    if ids is not None:
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__") or not hasattr(ids, "__iter__"):
            raise checks.ArgumentTypeError(f"ids must be a sequence of variant ids (integers), got {checks.show(ids)}")
        ids = [checks.integer(x, f"ids[{i}]") for i, x in enumerate(ids)]
    grid_range = checks.pair(grid_range, "grid_range", flag="--range", example="(0, 1000000)")
    shard = checks.pair(shard, "shard", flag="--shard", example="(0, 8)")
    threads = checks.integer(threads, "threads", low=0, high=MAX_THREADS, flag="--threads", hint=" (0: all cores)")
    batch = checks.integer(batch, "batch", low=1, high=checks.U64_MAX, flag="--batch")
    dtype = checks.text(dtype, "dtype", flag="--dtype")
    optimizer = checks.text(optimizer, "optimizer", flag="--optimizer")
    chunk_rows = checks.integer(chunk_rows, "chunk_rows", low=1, high=checks.U64_MAX, flag="--chunk-rows")
    max_variants = checks.optional_integer(max_variants, "max_variants", low=0, flag="--max-variants")
    engine = checks.text(engine, "engine", flag="--engine")
    scheduler = checks.optional_text(scheduler, "scheduler", flag="--scheduler")
    workers = checks.optional_integer(workers, "workers", low=1, high=MAX_THREADS, flag="--workers")
    if not isinstance(space, Space):
        space = Space.load(space)
    values = locals()
    return {k: values[k] for k in _ARGUMENTS}


def _check(
    space: Space, *, sample: int | None, sampler: int, ids: Sequence[int] | None, grid_range: tuple[int, int] | None,
    shard: tuple[int, int] | None, chunk_rows: int, max_variants: int | None, engine: str, client: Any, scheduler: str | None,
    workers: int | None,
) -> tuple[str, int, int]:
    """Check the options that say which positions a run covers (the same messages, in the same
    order, for every kind of sweep); return its mode, number of positions and first position."""
    if chunk_rows < 1:
        raise _core.ArchsweepError("chunk_rows must be at least 1")
    if sampler not in SAMPLERS:
        raise _core.ArchsweepError(f"unknown sampler {sampler!r} ({' or '.join(map(str, SAMPLERS))})")
    if engine not in ENGINES:
        raise _core.ArchsweepError(f"unknown engine '{engine}' ({', '.join(ENGINES)})")
    if engine == "local" and (client is not None or scheduler or workers is not None):
        raise _core.ArchsweepError("client, scheduler (--scheduler) and workers (--workers) need engine='dask' (--engine dask)")
    if shard is not None:
        i, n_sh = shard
        if not (n_sh >= 1 and 0 <= i < n_sh):
            raise _core.ArchsweepError(f"shard {i}/{n_sh}: need 0 <= I < N")
    offset = 0
    if grid_range is not None:
        if sample is not None or ids is not None:
            raise _core.ArchsweepError("give one of sample, ids and grid_range")
        start, end = grid_range
        if not 0 <= start < end <= min(space.size, 2**64):
            raise _core.ArchsweepError(f"grid_range [{big_int(start)}, {big_int(end)}) must lie in [0, {min(space.size, 2**64):,}) "
                                       "and not be empty")
        mode, n, offset = "grid", end - start, start
    else:
        mode, n = plan_positions(space, sample, ids, max_variants)
    return mode, n, offset


def _prepare(
    space: Space | str | Path, *, out: str | Path | None, where: str | None, sample: int | None, seed: int, sampler: int,
    ids: Sequence[int] | None, grid_range: tuple[int, int] | None, shard: tuple[int, int] | None, threads: int, batch: int,
    dtype: str, optimizer: str, chunk_rows: int, max_variants: int | None, engine: str, client: Any, scheduler: str | None,
    workers: int | None, executor: cf.Executor | None,
) -> _Run:
    """Check the options (the same messages, in the same order, for both kinds of sweep) and
    plan the run's chunks."""
    a = _arguments(space, out=out, where=where, sample=sample, seed=seed, sampler=sampler, ids=ids, grid_range=grid_range,
                   shard=shard, threads=threads, batch=batch, dtype=dtype, optimizer=optimizer, chunk_rows=chunk_rows,
                   max_variants=max_variants, engine=engine, scheduler=scheduler, workers=workers)
    (space, where, sample, seed, sampler, ids, grid_range, shard, threads, batch, dtype, optimizer, chunk_rows, max_variants,
     engine, scheduler, workers) = (a["space"], a["where"], a["sample"], a["seed"], a["sampler"], a["ids"], a["grid_range"],
                                    a["shard"], a["threads"], a["batch"], a["dtype"], a["optimizer"], a["chunk_rows"],
                                    a["max_variants"], a["engine"], a["scheduler"], a["workers"])
    assert isinstance(space, Space)
    mode, n, offset = _check(space, sample=sample, sampler=sampler, ids=ids, grid_range=grid_range, shard=shard,
                             chunk_rows=chunk_rows, max_variants=max_variants, engine=engine, client=client,
                             scheduler=scheduler, workers=workers)
    ids_list = None if ids is None else [int(x) for x in ids]
    summary = SweepSummary(positions=n, out=None if out is None else str(out), engine="custom" if executor is not None else engine)
    t0 = time.perf_counter()
    # chunk positions are absolute (grid positions are ids); ids mode slices ids_list by them.
    # In memory, a grid runs at tens of millions of rows a second: a 2^18-row chunk is over in
    # milliseconds and per-chunk costs would dominate, so it goes in larger chunks. So do samples
    # and ids: each chunk's ~16 record batches of ~35 columns cross into pyarrow and polars one
    # array at a time, a cost per chunk.
    # A shard keeps the run's chunks (``chunk_rows``): in memory too, shard i holds the rows of a
    # dataset's shard i.
    eval_rows = chunk_rows
    if out is None and engine == "local" and executor is None and chunk_rows == DEFAULT_CHUNK and shard is None:
        eval_rows = IN_MEMORY_GRID_CHUNK if mode == "grid" else IN_MEMORY_SAMPLE_CHUNK
    if shard is not None:
        n_chunks = -(-n // eval_rows)
        if 0 < n_chunks < shard[1]:
            idle = str(n_chunks) if n_chunks == shard[1] - 1 else f"{n_chunks}-{shard[1] - 1}"
            raise _core.ArchsweepError(
                f"shard {shard[0]}/{shard[1]}: the run has {n_chunks:,} chunk{'s' if n_chunks > 1 else ''} of {eval_rows:,} "
                f"positions, so shard{'s' if '-' in idle else ''} {idle} would get nothing; use at most {n_chunks:,} shards, or "
                f"smaller chunks (chunk_rows, --chunk-rows)")
    chunks = [(k, s + offset, e + offset) for k, s, e in chunk_ranges(n, eval_rows, shard)]
    meta = make_run_meta(space, mode, n, seed, where, batch, dtype, optimizer, chunk_rows, ids_list, sampler)
    if grid_range is not None:
        meta["grid_range"] = [offset, offset + n]
    # the options (where, dtype, ...) are checked here, once, before any chunk runs
    space.compiled.check_options(where=where, batch=batch, dtype=dtype, optimizer=optimizer)
    spec_json = spec_json_of(space)
    cache_compiled(spec_json, space.compiled)
    if engine == "dask" and executor is None:
        threads = threads or 1
    return _Run(space, chunks, meta, spec_json, ids_list, threads, summary, t0, engine, executor, client, scheduler, workers)


def _no_filter_errors(summary: SweepSummary, where: str | None) -> None:
    """An in-memory sweep has no summary to count them in: rows the filter failed on are an
    error (a sweep to a dataset counts them in its summary and manifest)."""
    if summary.filter_errors:
        raise _core.ExpressionError(summary.filter_error_message(where) + "; fix the filter, or filter the rows after the sweep")


def sweep(
    space: Space | str | Path,
    *,
    where: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    sampler: Sampler = _core.SAMPLER,
    ids: Sequence[int] | None = None,
    grid_range: tuple[int, int] | None = None,
    shard: tuple[int, int] | None = None,
    threads: int = 0,
    batch: int = 1,
    dtype: DtypeName = "fp32",
    optimizer: OptimizerName = "adam",
    chunk_rows: int = DEFAULT_CHUNK,
    max_variants: int | None = None,
    progress: bool = False,
    engine: Engine = "local",
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    executor: cf.Executor | None = None,
) -> pl.DataFrame:
    """Evaluate variants of ``space`` and return their rows as a polars DataFrame, in position
    order (to write them to disk in bounded memory use :func:`sweep_to_dataset`).

    Which variants: the full grid, ``sample`` seeded random variants without replacement, the
    given ``ids``, or ``grid_range=(start, end)``: the grid positions (= ids) start..end-1,
    consecutive, e.g. one slice of a grid too large to sweep whole. ``shard=(i, n)`` computes only
    every n-th chunk. ``where`` is an expression over the metric columns and variables
    (``"params < 5e6 and macs < 3e8"``, ``"peak_activation_bytes < 64 MiB"``) evaluated in Rust,
    so rejected variants never reach Python. ``sampler`` chooses the sample's permutation: 2
    (default) or 1, the one archsweep's first builds used, whose samples differ from 2's only for
    spaces whose size needs an odd number of bits (README, "Variant ids").

    ``engine="local"`` (default) computes chunks in this process on ``threads`` rayon threads (0:
    all cores). ``engine="dask"`` sends each chunk to a Dask worker: ``client`` (a
    ``distributed.Client``), else a new client of ``scheduler`` (``"tcp://HOST:PORT"``), else an
    embedded ``LocalCluster`` of ``workers`` processes (default 2); each worker uses ``threads``
    rayon threads (default 1). ``executor`` (any ``concurrent.futures.Executor``) overrides
    ``engine``. The columns are those of ``space.schema()``.

    A few explicit ids (up to :data:`SMALL_IDS`, the local engine, no progress bar) are
    evaluated in one call, without chunks or an executor: the same rows, for 0.03-0.2 ms a call
    plus their evaluation (search loops; docs/performance.md, "Small calls"). One variant's row
    as a dict: :meth:`Space.evaluate`.
    """
    if (ids is not None and sample is None and grid_range is None and shard is None and not progress and engine == "local"
            and executor is None and client is None and scheduler is None and workers is None and hasattr(ids, "__len__")
            and len(ids) <= SMALL_IDS):
        a = _arguments(space, out=None, where=where, sample=sample, seed=seed, sampler=sampler, ids=ids, grid_range=grid_range,
                       shard=shard, threads=threads, batch=batch, dtype=dtype, optimizer=optimizer, chunk_rows=chunk_rows,
                       max_variants=max_variants, engine=engine, scheduler=scheduler, workers=workers)
        space, where, ids, threads, batch = a["space"], a["where"], a["ids"], a["threads"], a["batch"]
        assert isinstance(space, Space) and ids is not None
        _, n, _ = _check(space, sample=sample, sampler=sampler, ids=ids, grid_range=grid_range, shard=shard,
                         chunk_rows=chunk_rows, max_variants=max_variants, engine=engine, client=client, scheduler=scheduler,
                         workers=workers)
        if n == 0:
            space.compiled.check_options(where=where, batch=batch, dtype=dtype, optimizer=optimizer)
            return space.empty_frame()
        check_not_forked()
        rows, counts = space.compiled.evaluate_ids([int(x) for x in ids], where=where, batch=batch, dtype=dtype,
                                                   optimizer=optimizer, threads=threads)
        _no_filter_errors(SweepSummary(positions=n, filter_errors=counts.get("filter_errors", 0)), where)
        return frame_of_rows(rows)
    run = _prepare(space, out=None, where=where, sample=sample, seed=seed, sampler=sampler, ids=ids, grid_range=grid_range,
                   shard=shard, threads=threads, batch=batch, dtype=dtype, optimizer=optimizer, chunk_rows=chunk_rows,
                   max_variants=max_variants, engine=engine, client=client, scheduler=scheduler, workers=workers,
                   executor=executor)
    bar = run.progress(progress)
    try:
        frames: dict[int, pl.DataFrame] = {}
        calls = [((k, s, e), chunk_frame, (run.spec_json, run.meta, s, e, run.threads, run.chunk_ids(s, e)))
                 for k, s, e in run.chunks]
        with run.engine_executor() as ex:
            bar.t0 = time.perf_counter()  # the rate leaves out starting a cluster
            for (k, s, e), fut in completed(ex, calls):
                df, counts = fut.result()
                run.summary.add(counts)
                frames[k] = df
                bar.update(e - s, run.summary.kept)
    finally:
        bar.close()
    _no_filter_errors(run.summary, where)
    if not frames:
        return run.space.empty_frame()
    return pl.concat([frames[k] for k in sorted(frames)], rechunk=False)


def sweep_to_dataset(
    space: Space | str | Path,
    out: str | Path,
    *,
    resume: bool = False,
    where: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    sampler: Sampler = _core.SAMPLER,
    ids: Sequence[int] | None = None,
    grid_range: tuple[int, int] | None = None,
    shard: tuple[int, int] | Literal["auto"] | None = None,
    threads: int = 0,
    batch: int = 1,
    dtype: DtypeName = "fp32",
    optimizer: OptimizerName = "adam",
    chunk_rows: int = DEFAULT_CHUNK,
    max_variants: int | None = None,
    progress: bool = False,
    engine: Engine = "local",
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    executor: cf.Executor | None = None,
    force: bool = False,
    verify_full: bool = False,
) -> SweepSummary:
    """Evaluate variants of ``space`` as :func:`sweep` does (same options, same rows) and write
    them to the directory ``out`` as a Parquet dataset: ``part-<k>.parquet`` files of
    ``chunk_rows`` positions each plus ``_manifest.parquet`` (no rows; the manifest in its
    metadata), in bounded memory. The directory reads as it is with ``pl.scan_parquet(out)``. Returns a
    :class:`SweepSummary` of what was done.

    ``resume=True`` completes an interrupted run of the same spec and options: every part already
    there is checked against the manifest (its footer: spec, options, positions, rows, size and
    footer checksum; with ``verify_full=True`` also the sha256 of the whole file and every row),
    a damaged, truncated or foreign one is removed and computed again (listed in the summary's
    ``repaired``), and only missing parts are computed; temporary files of dead writers are
    removed. ``out`` must be new or empty unless it holds this sweep (``resume``) or ``force=True``
    (then the parts are written beside the files already there). ``shard=(i, n)`` computes only
    every n-th chunk, for job arrays sharing ``out``; a directory holding shards of another count
    is refused. ``shard="auto"`` (a task of a SLURM job array) takes i from ``SLURM_ARRAY_TASK_ID``
    and n from the shard manifests in ``out`` (before there are any, from the array's bounds,
    which must be 0..n-1), so a rerun of some of the array's indices cuts the run as its first
    submission did (docs/distributed.md).
    With the local engine the next chunk is evaluated while the previous one's part is written
    (two chunks in flight, see :class:`LocalExecutor`). With ``engine="dask"`` ``out`` must be a
    path every worker can write (a local or shared file system).
    """
    if isinstance(out, (str, os.PathLike)):
        # the shard count a job array's first submission recorded decides (see archsweep.sweep.slurm)
        if isinstance(shard, str) and shard == "auto":
            shard = slurm.auto_shard(out)
        elif isinstance(shard, (tuple, list)) and len(shard) == 2 and all(type(x) is int for x in shard):
            slurm.check_shard_count(out, (shard[0], shard[1]))
    run = _prepare(space, out=out, where=where, sample=sample, seed=seed, sampler=sampler, ids=ids, grid_range=grid_range,
                   shard=shard, threads=threads, batch=batch, dtype=dtype, optimizer=optimizer, chunk_rows=chunk_rows,
                   max_variants=max_variants, engine=engine, client=client, scheduler=scheduler, workers=workers,
                   executor=executor)
    out_dir = Path(os.path.abspath(out))
    bar = run.progress(progress)
    try:
        return write_dataset(
            run.space, out_dir, run.chunks, run.summary, bar, run.t0, resume, shard, run.meta, run.engine_executor,
            lambda k, s, e: (run.spec_json, run.meta, k, s, e, str(out_dir), run.threads, run.chunk_ids(s, e)),
            keep_going=executor is not None or engine != "local", force=force, verify_full=verify_full)
    finally:
        bar.close()

