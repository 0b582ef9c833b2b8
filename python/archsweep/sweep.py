"""Sweeps: evaluate many variants of a space in Rust and write/read them as Parquet.

A run covers *positions* 0..n: in grid mode position = variant id; with ``sample=N`` position k
is the k-th id of a seeded permutation of all ids (sampling without replacement: the same seed
gives the same ids on any machine, with any thread count); with ``ids=[...]`` position k is
``ids[k]``. Positions are cut into fixed chunks; chunk k is written as
``part-<k>.parquet`` (under a temporary name first, renamed when complete) and recorded in the
manifest, so ``resume`` redoes only what is missing and never duplicates a variant id.

Every chunk of a dataset is computed by :func:`run_chunk`, a plain function submitted to a
``concurrent.futures.Executor``: the local engine (this process, rayon threads) or Dask's
``Client.get_executor()``. Only the coordinating process (the one that called :func:`sweep`)
writes the manifest, from the entries ``run_chunk`` returns.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import polars as pl
import pyarrow as pa

from archsweep import _core
from archsweep.space import Space, _canonical

#: Metric columns of a sweep table (stable names; see README "Sweep columns").
METRICS = [
    "params", "trainable_params", "buffers", "macs", "flops", "other_ops", "weight_bytes",
    "buffer_bytes", "activation_bytes", "peak_activation_bytes", "train_bytes", "num_layers",
]
MANIFEST = "_manifest.json"
# The bindings declare the error in a module named "_core"; its import path is archsweep._core.
# Pickle looks classes up by that name, so errors raised in worker processes travel back intact.
if _core.ArchsweepError.__module__ == "_core":
    _core.ArchsweepError.__module__ = "archsweep._core"
#: Samplers a sample may use (``sampler=``; the default is ``_core.SAMPLER``).
SAMPLERS = (1, 2)
#: Grids larger than this need sample=, ids= or an explicit max_variants.
DEFAULT_MAX_GRID = 10**10
# ids are u128 and travel as Decimal(38, 0) beyond 2^64: a space of up to 10^38 variants can be
# sampled or addressed by id
MAX_IDS = 10**38
#: Rows per chunk of an in-memory grid sweep (``out=None``) left at the default ``chunk_rows``.
IN_MEMORY_GRID_CHUNK = 1 << 22
#: The same for in-memory samples and explicit ids (they run ~5-10x slower a row than grids).
IN_MEMORY_SAMPLE_CHUNK = 1 << 20
DEFAULT_CHUNK = 1 << 18  # rows per part: bounds memory (~0.2 GiB peak RSS on the VGG space)
#: Chunks the local engine has in flight when it writes a dataset (one written while the next is
#: evaluated: a pipeline two chunks deep, so peak memory is about two chunks' rows).
LOCAL_WORKERS = 2
#: Chunks submitted to an executor ahead of the ones that completed (bounds scheduler memory).
MAX_PENDING = 256
#: How part files are written (polars' write_parquet). zstd level 1 rather than zstd's default 3:
#: on the VGG and ResNet spaces' samples it costs ~25% less CPU per row than level 3 (~15% less
#: than level 2) and gives files of the same size as level 3 (level 2 is ~2-3% smaller, level 3
#: is slower and no smaller on these integer columns), reading equally fast; statistics and
#: dictionary pages as polars writes them by default (statistics let scans skip row groups).
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 1}
#: Dask retries a chunk whose task raised this many times (a dead worker's chunks are rescheduled).
DASK_RETRIES = 2
ENGINES = ("local", "dask")


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
    engine: str = "local"

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
        if size > MAX_IDS:
            raise _core.ArchsweepError(f"the space has {size:,} variants, more than 10^38 ids: ids cannot address it; constrain it")
        if len(ids) and (min(ids) < 0 or max(ids) >= size):
            bad = min(ids) if min(ids) < 0 else max(ids)
            raise _core.ArchsweepError(f"variant id {bad} is out of range [0, {size:,})")
        return "ids", len(ids)
    if sample is not None:
        if sample < 0:
            raise _core.ArchsweepError(f"sample={sample} must not be negative")
        if sample > size:
            raise _core.ArchsweepError(f"cannot sample {sample:,} distinct variants from a space of {size:,}")
        if size > MAX_IDS:
            raise _core.ArchsweepError(f"the space has {size:,} variants, more than 10^38 ids: ids cannot address it; constrain it")
        return "sample", sample
    limit = DEFAULT_MAX_GRID if max_variants is None else max_variants
    if size >= 2**64:
        raise _core.ArchsweepError(
            f"the space has {size:,} variants (about 10^{len(str(size)) - 1}), more than 2^64 grid positions: a full grid "
            f"cannot cover it; pass sample=N (--sample N)" + ("" if size <= MAX_IDS else ", after constraining it below 10^38 variants")
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


def _run_meta(space: Space, mode: str, n: int, seed: int, where: str | None, batch: int, dtype: str, optimizer: str, chunk: int, ids,
              sampler: int = _core.SAMPLER) -> dict[str, Any]:
    return {
        "spec_hash": space.spec_hash,
        "mode": mode,
        "positions": n,
        "seed": seed,
        # a sample's permutation (None for grids and explicit ids)
        "sampler": sampler if mode == "sample" else None,
        "where": where,
        "batch": batch,
        "dtype": dtype,
        "optimizer": optimizer,
        "chunk_rows": chunk,
        "ids_hash": None if ids is None else _hash_ids(ids),
    }


def run_sampler(run: dict) -> int:
    """A run's sampler: runs recorded before the option existed sampled with sampler 1."""
    return run.get("sampler") or 1


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


# --------------------------------------------------------------------------------------------
# One chunk: the shard runner. Plain functions of plain arguments, so any executor can ship them
# to another process or machine (the worker imports archsweep and compiles the spec once).

_IMPORT_PID = os.getpid()
_COMPILED: dict[str, Any] = {}


def _compiled(spec_json: str):
    """The compiled space of ``spec_json`` (cached per process, keyed by the text's sha256)."""
    key = hashlib.sha256(spec_json.encode()).hexdigest()
    c = _COMPILED.get(key)
    if c is None:
        if len(_COMPILED) >= 8:
            _COMPILED.clear()
        c = _COMPILED[key] = _core.CompiledSpace(spec_json)
    return c


def _spec_json(space: Space) -> str:
    # declaration order kept (it decides the digit order of unused variables); the hash is of
    # the canonical (sorted) form
    return json.dumps(space.spec)


def _check_not_forked() -> None:
    # rayon's global pool (threads=0) and polars' thread pool are inherited by a fork()ed child
    # without their threads: the first parallel call would wait forever. A process that imported
    # archsweep itself (a spawned or forkserver child, a Dask worker, a job-array task) is fine.
    if os.getpid() != _IMPORT_PID:
        raise _core.ArchsweepError(
            "this process was forked (multiprocessing 'fork') from one that had imported archsweep: rayon's and "
            "polars' thread pools do not survive fork(), so a sweep here could hang; start workers with 'spawn' or "
            "'forkserver' (multiprocessing.get_context('spawn')), as Dask's nannies do"
        )


def _evaluate(spec_json: str, run_meta: dict, start: int, end: int, threads: int, ids) -> tuple[pl.DataFrame, dict[str, int]]:
    _check_not_forked()
    c = _compiled(spec_json)
    kw = dict(where=run_meta["where"], batch=run_meta["batch"], dtype=run_meta["dtype"], optimizer=run_meta["optimizer"],
              threads=threads)
    if run_meta["mode"] == "ids":
        chunk_ids = [int(x) for x in ids]  # the chunk's own ids: positions start..end of the run
        if len(chunk_ids) != end - start:
            raise _core.ArchsweepError(f"chunk [{start}, {end}) got {len(chunk_ids)} ids")
        batches, counts = c.evaluate("ids", 0, len(chunk_ids), ids=chunk_ids, **kw)
    else:
        batches, counts = c.evaluate(run_meta["mode"], start, end, seed=run_meta["seed"], sampler=run_sampler(run_meta), **kw)
    # Arrow record batches from Rust become one polars frame without copying the columns
    return pl.from_arrow(pa.Table.from_batches(batches)), dict(counts)


def _part_metadata(spec_json: str, run_meta: dict) -> dict[str, str]:
    canonical = _canonical(json.loads(spec_json))
    return {"archsweep.spec": canonical, "archsweep.spec_hash": hashlib.sha256(canonical.encode()).hexdigest(),
            "archsweep.run": json.dumps(run_meta)}


def _check_part(path: Path, run_meta: dict) -> int:
    """Rows of a finished part, after checking it was written by the same spec and options."""
    import pyarrow.parquet as pq

    md = pq.read_metadata(path)
    kv = md.metadata or {}
    theirs = json.loads(kv.get(b"archsweep.run", b"{}"))
    for k, v in run_meta.items():
        if k in theirs and theirs[k] != v:
            raise _core.ArchsweepError(f"{path} belongs to another run: {k} was {theirs[k]!r}, now {v!r}")
    return md.num_rows


def _tmp_name(path: Path) -> Path:
    # starts with "." and does not end in ".parquet": globs of finished parts never match it
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def _write_new(path: Path, write: Callable[[Path], None]) -> bool:
    """Write under a temporary name, then give it ``path`` unless a finished file is already
    there (a hard link fails on an existing name: never an overwrite). False if one was."""
    tmp = _tmp_name(path)
    try:
        write(tmp)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links
            if path.exists():
                return False
            os.replace(tmp, path)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _write_replace(path: Path, text: str) -> None:
    tmp = _tmp_name(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run_chunk(spec_json: str, run_meta: dict, chunk_index: int, start: int, end: int, out_dir: str,
              threads: int = 0, ids: Sequence[int] | None = None) -> dict[str, Any]:
    """Evaluate positions ``[start, end)`` of a run and write them as ``part-<chunk_index>.parquet``
    in ``out_dir``; return the manifest entry (``chunk``, ``start``, ``end``, ``rows``, the counts
    ``evaluated``, ``kept``, ... and ``seconds``) plus ``part`` (the file name) and ``written``.

    ``spec_json`` is ``json.dumps(space.spec)``; ``run_meta`` the manifest's ``run`` table (mode,
    seed, where, batch, dtype, optimizer, ...); ``ids`` the chunk's ids in ``ids`` mode; ``threads``
    rayon threads (0: all cores). Idempotent: a finished part (same run) is never rewritten —
    ``written`` is False and only ``rows`` is reported — and a part is written under a temporary
    name (``.part-….tmp-<pid>-<random>``) and linked into place only when complete, so a writer
    killed half-way leaves no file that ``DIR/*.parquet`` matches, and of two writers racing on one
    chunk exactly one file wins (the chunks are deterministic: both computed the same rows).
    Writes no manifest: the caller records the entry.
    """
    t0 = time.perf_counter()
    name = _part_name(chunk_index)
    path = Path(out_dir) / name
    entry: dict[str, Any] = {"part": name, "chunk": chunk_index, "start": start, "end": end}
    file_meta = _part_metadata(spec_json, run_meta)
    if file_meta["archsweep.spec_hash"] != run_meta["spec_hash"]:
        raise _core.ArchsweepError(f"chunk {chunk_index}: the spec's hash does not match the run's spec_hash")
    if path.exists():
        return {**entry, "rows": _check_part(path, run_meta), "written": False}
    df, counts = _evaluate(spec_json, run_meta, start, end, threads, ids)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = _write_new(path, lambda p: df.write_parquet(p, metadata=file_meta, **PARQUET_OPTIONS))
    return {**entry, "rows": df.height, **counts, "seconds": round(time.perf_counter() - t0, 3), "written": written}


def _chunk_frame(spec_json: str, run_meta: dict, start: int, end: int, threads: int, ids) -> tuple[pl.DataFrame, dict[str, int]]:
    """In-memory sweeps: one chunk's rows and counts (shipped back to the caller)."""
    return _evaluate(spec_json, run_meta, start, end, threads, ids)


# --------------------------------------------------------------------------------------------
# Engines: anything shaped like concurrent.futures.Executor


class LocalExecutor(cf.ThreadPoolExecutor):
    """The default engine: chunks run in this process, each evaluated on rayon's threads (the
    Rust core releases the GIL, and so does polars' Parquet writer).

    ``workers`` chunks are in flight at once (default :data:`LOCAL_WORKERS`): while one chunk's
    part file is written the next one is evaluated, so neither waits for the other; the rows held
    in memory are those of at most ``workers`` chunks. Each chunk's rows do not depend on which
    worker computed it, only the order in which parts complete does."""

    def __init__(self, workers: int = 0) -> None:
        super().__init__(max_workers=workers or LOCAL_WORKERS, thread_name_prefix="archsweep-sweep")


@contextmanager
def dask_executor(client=None, scheduler: str | None = None, workers: int | None = None,
                  retries: int = DASK_RETRIES) -> Iterator[cf.Executor]:
    """``client.get_executor(retries=..., pure=False)`` of ``client``, of a new Client of the
    scheduler at ``scheduler`` (``tcp://HOST:PORT``), or of an embedded ``LocalCluster`` (worker
    processes with nannies bound to 127.0.0.1, ``workers`` of them (default 2), one Dask thread
    each). What it started it closes on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise _core.ArchsweepError("the dask engine needs dask.distributed: pip install 'archsweep[dask]'") from None
    owned: list[Any] = []
    try:
        if client is None:
            if scheduler:
                if workers is not None:
                    raise _core.ArchsweepError("--workers starts a local cluster; with --scheduler the cluster's own workers are used")
                try:
                    client = Client(scheduler)
                except (OSError, ValueError) as e:
                    raise _core.ArchsweepError(f"cannot connect to the Dask scheduler at {scheduler}: {e}") from None
                owned.append(client)
            else:
                import logging

                if workers is not None and workers < 1:
                    raise _core.ArchsweepError(f"--workers {workers}: need at least 1")
                cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=logging.CRITICAL)
                owned.append(cluster)
                client = Client(cluster)
                owned.append(client)
        executor = client.get_executor(retries=retries, pure=False)
        try:
            yield executor
        finally:
            executor.shutdown(wait=False)
    finally:
        for thing in reversed(owned):
            thing.close()


def _completed(executor: cf.Executor, calls: list[tuple[Any, Callable, tuple]], window: int = MAX_PENDING) -> Iterator[tuple[Any, cf.Future]]:
    """Submit ``fn(*args)`` for each ``(key, fn, args)``, at most ``window`` ahead, and yield
    ``(key, future)`` as the futures complete; pending ones are cancelled if the caller stops."""
    todo = iter(calls)
    pending: dict[cf.Future, Any] = {}

    def fill() -> None:
        for key, fn, args in todo:
            pending[executor.submit(fn, *args)] = key
            if len(pending) >= window:
                return

    try:
        fill()
        while pending:
            for fut in cf.as_completed(list(pending)):
                yield pending.pop(fut), fut
                if len(pending) < window // 2:
                    fill()
                    break
    finally:
        for fut in pending:
            fut.cancel()


def sweep(
    space: Space | str | Path,
    *,
    where: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    sampler: int = _core.SAMPLER,
    ids: Sequence[int] | None = None,
    grid_range: tuple[int, int] | None = None,
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
    engine: str = "local",
    client=None,
    scheduler: str | None = None,
    workers: int | None = None,
    executor: cf.Executor | None = None,
) -> pl.DataFrame | SweepSummary:
    """Evaluate variants of ``space``: the full grid, ``sample`` seeded random variants
    without replacement, the given ``ids``, or ``grid_range=(start, end)``: the grid positions
    (= ids) start..end-1, consecutive, e.g. one slice of a grid too large to sweep whole. ``where`` is an expression over the metric
    columns and variables (``"params < 5e6 and macs < 3e8"``, ``"peak_activation_bytes <
    64 MiB"``) evaluated in Rust, so rejected variants never reach Python. ``sampler`` chooses
    the sample's permutation: 2 (default) or 1, the one archsweep's first builds used, whose
    samples differ from 2's only for spaces whose size needs an odd number of bits (README,
    "Variant ids").

    Without ``out`` returns a polars DataFrame. With ``out`` writes a Parquet dataset (part
    files + ``_manifest.json``) in bounded memory and returns a :class:`SweepSummary`;
    ``resume=True`` completes an interrupted run; ``shard=(i, n)`` computes only every n-th chunk.

    ``engine="local"`` (default) computes chunk after chunk in this process on ``threads`` rayon
    threads (0: all cores); with ``out``, the next chunk is evaluated while the previous one's part
    is written (two chunks in flight, see :class:`LocalExecutor`). ``engine="dask"`` sends each
    chunk to a Dask worker: ``client`` (a ``distributed.Client``), else a new client of
    ``scheduler`` (``"tcp://HOST:PORT"``), else an embedded ``LocalCluster`` of ``workers``
    processes (default 2); each worker uses ``threads`` rayon threads (default 1). ``out`` must
    then be a path every worker can write (a local or shared file system). ``executor`` (any
    ``concurrent.futures.Executor``) overrides ``engine``.
    """
    if not isinstance(space, Space):
        space = Space.load(space)
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
        start, end = (int(x) for x in grid_range)
        if not 0 <= start < end <= min(space.size, 2**64):
            raise _core.ArchsweepError(f"grid_range [{start:,}, {end:,}) must lie in [0, {min(space.size, 2**64):,}) and not be empty")
        mode, n, offset = "grid", end - start, start
    else:
        mode, n = _plan(space, sample, ids, max_variants)
    ids_list = None if ids is None else [int(x) for x in ids]
    summary = SweepSummary(positions=n, out=None if out is None else str(out), engine="custom" if executor is not None else engine)
    t0 = time.perf_counter()
    # chunk positions are absolute (grid positions are ids); ids mode slices ids_list by them.
    # In memory, a grid runs at tens of millions of rows a second: a 2^18-row chunk is over in
    # milliseconds and per-chunk costs would dominate, so it goes in larger chunks. So do samples
    # and ids: each chunk's ~16 record batches of ~35 columns cross into pyarrow and polars one
    # array at a time (~4 ms a chunk, measured), which held a 2*10^6 VGG sample to 4.6 M/s in
    # 2^18-row chunks against 7.1 M/s in 2^20-row ones.
    eval_rows = chunk_rows
    if out is None and engine == "local" and executor is None and chunk_rows == DEFAULT_CHUNK:
        eval_rows = IN_MEMORY_GRID_CHUNK if mode == "grid" else IN_MEMORY_SAMPLE_CHUNK
    chunks = [(k, s + offset, e + offset) for k, s, e in _chunks(n, eval_rows, shard)]
    meta = _run_meta(space, mode, n, seed, where, batch, dtype, optimizer, chunk_rows, ids_list, sampler)
    if grid_range is not None:
        meta["grid_range"] = [offset, offset + n]
    # checks the options (where, dtype, ...) here, once, and gives the schema of an empty result
    empty = pl.from_arrow(pa.Table.from_batches(space._c.evaluate(
        mode, 0, 0, seed=seed, ids=None if ids_list is None else [], where=where, batch=batch, dtype=dtype,
        optimizer=optimizer, threads=threads)[0]))
    spec_json = _spec_json(space)
    _COMPILED.setdefault(hashlib.sha256(spec_json.encode()).hexdigest(), space._c)
    if engine == "dask" and executor is None:
        threads = threads or 1
    work_threads = threads

    def chunk_ids(start: int, end: int):
        return None if ids_list is None else ids_list[start:end]

    @contextmanager
    def engine_executor() -> Iterator[cf.Executor]:
        if executor is not None:
            yield executor
        elif engine == "dask":
            with dask_executor(client, scheduler, workers) as ex:
                yield ex
        else:
            # two chunks in flight in memory too: one chunk's serial tail (its last piece, its
            # record batches crossing into pyarrow and polars, ~6 ms a 2^20-row chunk) overlaps
            # the next one's evaluation. 4*10^6-row VGG samples, 2 processes of 6 calls: the
            # machine's idle time 11-19 -> 5-12 jiffies a call of ~65
            with LocalExecutor(LOCAL_WORKERS) as ex:
                yield ex

    bar = _Progress(progress, sum(e - s for _, s, e in chunks), f"sweep {space.name}" + (" on dask" if engine == "dask" else ""))
    try:
        if out is None:
            frames: dict[int, pl.DataFrame] = {}
            calls = [((k, s, e), _chunk_frame, (spec_json, meta, s, e, work_threads, chunk_ids(s, e))) for k, s, e in chunks]
            with engine_executor() as ex:
                bar.t0 = time.perf_counter()  # the rate leaves out starting a cluster
                for (k, s, e), fut in _completed(ex, calls):
                    df, counts = fut.result()
                    summary.add(counts)
                    frames[k] = df
                    bar.update(e - s, summary.kept)
            summary.seconds = time.perf_counter() - t0
            if not frames:
                return empty
            return pl.concat([frames[k] for k in sorted(frames)], rechunk=False)
        out_dir = Path(os.path.abspath(out))
        return _sweep_to_dir(space, out_dir, chunks, summary, bar, t0, resume, shard, meta, engine_executor,
                             lambda k, s, e: (spec_json, meta, k, s, e, str(out_dir), work_threads, chunk_ids(s, e)),
                             keep_going=executor is not None or engine != "local")
    finally:
        bar.close()


def _manifest_name(shard: tuple[int, int] | None) -> str:
    return MANIFEST if shard is None else f"_manifest.shard-{shard[0]}-of-{shard[1]}.json"


def _save_manifest(path: Path, manifest: dict) -> None:
    """Write the manifest, keeping entries another coordinator of the same run recorded there
    since (two runs may fill one directory at once; each records every chunk it covers)."""
    try:
        disk = json.loads(path.read_text())
    except (OSError, ValueError):
        disk = {}
    if disk.get("run") == manifest["run"]:
        for name, e in disk.get("parts", {}).items():
            manifest["parts"].setdefault(name, e)
    for name in list(manifest.get("failed", {})):
        if name in manifest["parts"]:
            del manifest["failed"][name]
    _write_replace(path, json.dumps(manifest, indent=1))


def _sweep_to_dir(space, out: Path, chunks, summary: SweepSummary, bar, t0, resume, shard, meta, engine_executor,
                  chunk_args, keep_going: bool) -> SweepSummary:
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
        recorded = dict(ref["run"])
        if recorded.get("mode") == "sample":
            recorded["sampler"] = run_sampler(recorded)
        for k, v in meta.items():
            if recorded.get(k) != v:
                what = "cannot resume" if other == manifest_path else f"{other.name} belongs to another run"
                hint = f"; pass sampler={recorded[k]} (--sampler {recorded[k]}) to complete it" if k == "sampler" else ""
                raise _core.ArchsweepError(f"{out}: {what}: {k} was {recorded.get(k)!r}, now {v!r} (same spec and options needed{hint})")
    manifest = {
        "format": "archsweep-sweep/1",
        "space": space.name,
        "spec": space.spec,
        "spec_hash": space.spec_hash,
        "run": meta,
        "shard": None if shard is None else list(shard),
        "parts": {},
        "failed": {},
    }
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        manifest["parts"] = old.get("parts", {})
        manifest["failed"] = old.get("failed", {})
    todo = []
    for k, start, end in chunks:
        name = _part_name(k)
        path = out / name
        if path.exists():
            # linked into place only when complete, so an existing part is a finished part
            if name not in manifest["parts"]:
                manifest["parts"][name] = {"chunk": k, "start": start, "end": end, "rows": _check_part(path, meta)}
            summary.parts_skipped += 1
            bar.update(end - start, summary.kept)
        else:
            todo.append((k, start, end))
    _save_manifest(manifest_path, manifest)
    failures: list[tuple[int, BaseException]] = []
    last_save = time.monotonic()
    try:
        with engine_executor() as ex:
            bar.t0 = time.perf_counter()  # the rate leaves out starting a cluster
            calls = [((k, s, e), run_chunk, chunk_args(k, s, e)) for k, s, e in todo]
            for (k, s, e), fut in _completed(ex, calls):
                try:
                    entry = fut.result()
                except Exception as exc:  # recorded for `archsweep status`, then stop or go on
                    manifest["failed"][_part_name(k)] = {"chunk": k, "start": s, "end": e, "error": f"{type(exc).__name__}: {exc}"}
                    failures.append((k, exc))
                    if not keep_going or isinstance(exc, _core.ArchsweepError):
                        raise
                    continue
                name, written = entry.pop("part"), entry.pop("written")
                manifest["parts"][name] = entry
                if "evaluated" in entry:
                    summary.add(entry)
                if written:
                    summary.parts_written += 1
                else:
                    summary.parts_skipped += 1
                bar.update(e - s, summary.kept)
                if time.monotonic() - last_save > 1.0:
                    _save_manifest(manifest_path, manifest)
                    last_save = time.monotonic()
    finally:
        _save_manifest(manifest_path, manifest)
    if failures:
        k, exc = min(failures, key=lambda f: f[0])
        raise _core.ArchsweepError(
            f"{len(failures)} of {len(todo)} chunks failed (chunk {k}: {type(exc).__name__}: {exc}); the finished parts are "
            f"kept: rerun with --resume to compute the rest") from exc
    summary.seconds = time.perf_counter() - t0
    return summary


def sweep_status(directory: str | Path) -> dict[str, Any]:
    """Progress of the sweep in ``directory``, from its manifest(s) and part files.

    Returns ``space``, ``spec_hash``, ``run`` (the manifest's run table, None without a
    manifest), ``chunks`` (expected: every chunk of the run), ``done`` (expected chunks whose part
    file exists), ``pending`` (indices of expected chunks with no part file), ``positions_done``,
    ``rows`` (rows in the finished parts), ``shards`` (per shard of a job array: done, pending and
    its manifest, or None for a shard that has not started), ``failed`` (chunks a coordinator
    recorded as failed that still have no part), ``temporary`` (``.part-*.tmp-*`` files: parts being
    written, or left by a killed writer) and ``problems`` (manifests of other runs, stray parts).
    """
    import pyarrow.parquet as pq

    d = Path(directory)
    if not d.is_dir():
        raise _core.ArchsweepError(f"{d}: no such sweep directory")
    manifests = {p.name: json.loads(p.read_text()) for p in sorted(d.glob("_manifest*.json"))}
    present = {p.name for p in d.glob("part-*.parquet")}
    st: dict[str, Any] = {"directory": str(d), "space": None, "spec_hash": None, "run": None, "chunks": None, "done": 0,
                          "pending": [], "positions_done": 0, "rows": 0, "shards": [], "failed": [],
                          "temporary": sorted(p.name for p in d.glob(".part-*.tmp-*")), "problems": []}
    known_rows: dict[str, int] = {}
    ref = None
    for name, m in manifests.items():
        if ref is None:
            ref = m
        elif m.get("run") != ref.get("run") or m.get("spec_hash") != ref.get("spec_hash"):
            st["problems"].append(f"{name} belongs to another run than {next(iter(manifests))}")
            continue
        for part, e in m.get("parts", {}).items():
            known_rows[part] = e["rows"]

    def rows_of(part: str) -> int:
        if part not in known_rows:
            known_rows[part] = pq.read_metadata(d / part).num_rows
        return known_rows[part]

    if ref is None:
        st["done"] = len(present)
        st["rows"] = sum(rows_of(p) for p in present)
        return st
    run = ref["run"]
    n, chunk = run["positions"], run["chunk_rows"]
    st.update(space=ref.get("space"), spec_hash=ref.get("spec_hash"), run=run)
    expected = _chunks(n, chunk, None)
    st["chunks"] = len(expected)
    for k, start, end in expected:
        if _part_name(k) in present:
            st["done"] += 1
            st["positions_done"] += end - start
            st["rows"] += rows_of(_part_name(k))
        else:
            st["pending"].append(k)
    stray = sorted(present - {_part_name(k) for k, _, _ in expected})
    if stray:
        st["problems"].append(f"{len(stray)} part files outside the run's {len(expected)} chunks (e.g. {stray[0]})")
    shard_counts = sorted({tuple(m["shard"])[1] for m in manifests.values() if m.get("shard")})
    for count in shard_counts:
        for i in range(count):
            mine = [k for k, _, _ in _chunks(n, chunk, (i, count))]
            done = sum(_part_name(k) in present for k in mine)
            name = _manifest_name((i, count))
            st["shards"].append({"shard": f"{i}/{count}", "done": done, "pending": len(mine) - done,
                                 "manifest": name if name in manifests else None})
    for m in manifests.values():
        for part, f in sorted(m.get("failed", {}).items()):
            if part not in present and all(f["chunk"] != g["chunk"] for g in st["failed"]):
                st["failed"].append(f)
    return st


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


#: Rows of objective keys held at once while a front is computed batch by batch.
PARETO_BATCH = 1 << 18


def _front_keys(keys: pl.DataFrame, objectives: list[str]) -> pl.DataFrame:
    """The non-dominated rows of ``keys`` (variant_id + objectives), sorted by the objectives."""
    keys = keys.sort(objectives + ["variant_id"])
    if keys.height == 0:
        return keys
    return keys[_core.pareto_sorted([keys[c].cast(pl.UInt64).to_arrow() for c in objectives])]


def pareto(data: pl.DataFrame | pl.LazyFrame, minimize: Sequence[str] = ("params", "macs"), where: str | pl.Expr | None = None) -> pl.DataFrame:
    """Rows not dominated in ``minimize`` (no other row is <= in every objective and < in
    one), sorted by the objectives (then variant id).

    Memory is bounded: only the ids and objective columns are read, in batches of
    ``PARETO_BATCH`` rows (polars' streaming ``collect_batches``); each batch is reduced to its own
    front in Rust (sort, then O(n · front)) and the fronts are merged — the front of a union is
    the front of its parts' fronts. The front's full rows are fetched afterwards by id."""
    objectives = list(minimize)
    if not objectives:
        raise _core.ArchsweepError("pareto needs at least one column to minimize")
    lf = _frame(data).filter(pl.col("valid"))
    if where is not None:
        lf = lf.filter(pl.sql_expr(where) if isinstance(where, str) else where)
    keys_lf = lf.select(["variant_id", *objectives])
    if hasattr(keys_lf, "collect_batches"):  # polars >= 1.34
        batches = keys_lf.collect_batches(chunk_size=PARETO_BATCH, maintain_order=False)
    else:
        batches = [keys_lf.collect()]
    candidates: list[pl.DataFrame] = []
    held, limit = 0, PARETO_BATCH
    for batch in batches:
        candidates.append(_front_keys(batch, objectives))
        held += candidates[-1].height
        if held > limit:  # the batches' fronts hold as much as a batch: merge them
            candidates = [_front_keys(pl.concat(candidates), objectives)]
            held = candidates[0].height
            limit = max(PARETO_BATCH, 2 * held)  # a front this large is not merged again at every batch
    if not candidates:
        return lf.head(0).collect()
    front = _front_keys(pl.concat(candidates), objectives)
    ids = front["variant_id"]
    return lf.filter(pl.col("variant_id").is_in(ids.implode())).collect().sort(objectives + ["variant_id"])


def query(directory: str | Path, sql: str) -> pl.DataFrame:
    """Run ``sql`` through polars' SQL context over the dataset in ``directory``, registered
    as the table ``sweep`` (lazily: only what the query needs is read)."""
    ctx = pl.SQLContext(sweep=scan(directory))
    return ctx.execute(sql, eager=True)
