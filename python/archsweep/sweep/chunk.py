"""One chunk: the shard runner. Plain functions of plain arguments, so any executor can ship them
to another process or machine (the worker imports archsweep and compiles the spec once)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from archsweep import _core
from archsweep.space import Space, canonical_json
from archsweep.sweep import verify
from archsweep.sweep.layout import PART_KEY, RUN_KEY, SPEC_HASH_KEY, SPEC_KEY, fsync_dir, fsync_file, tmp_name
from archsweep.sweep.plan import part_name, run_sampler

#: How part files are written (polars' write_parquet). zstd level 1 rather than zstd's default 3:
#: less CPU per row for files of the same size on these integer columns (docs/performance.md);
#: statistics and dictionary pages as polars writes them by default (statistics let scans skip
#: row groups).
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 1}


# The bindings declare the error in a module named "_core"; its import path is archsweep._core.
# Pickle looks classes up by that name, so errors raised in worker processes travel back intact.
if _core.ArchsweepError.__module__ == "_core":
    _core.ArchsweepError.__module__ = "archsweep._core"


# --------------------------------------------------------------------------------------------
# One chunk: the shard runner. Plain functions of plain arguments, so any executor can ship them
# to another process or machine (the worker imports archsweep and compiles the spec once).

_IMPORT_PID = os.getpid()
_COMPILED: dict[str, _core.CompiledSpace] = {}


def _compiled(spec_json: str) -> _core.CompiledSpace:
    """The compiled space of ``spec_json`` (cached per process, keyed by the text's sha256)."""
    key = hashlib.sha256(spec_json.encode()).hexdigest()
    c = _COMPILED.get(key)
    if c is None:
        if len(_COMPILED) >= 8:
            _COMPILED.clear()
        c = _COMPILED[key] = _core.CompiledSpace(spec_json)
    return c


def cache_compiled(spec_json: str, compiled: _core.CompiledSpace) -> None:
    """Let this process's chunks of ``spec_json`` use ``compiled`` rather than compile it again."""
    _COMPILED.setdefault(hashlib.sha256(spec_json.encode()).hexdigest(), compiled)


def spec_json_of(space: Space) -> str:
    """The spec text a chunk is given: ``json.dumps(space.spec)``."""
    # declaration order kept (it decides the digit order of unused variables); the hash is of
    # the canonical (sorted) form
    return json.dumps(space.spec)


def check_not_forked() -> None:
    # rayon's global pool (threads=0) and polars' thread pool are inherited by a fork()ed child
    # without their threads: the first parallel call would wait forever. A process that imported
    # archsweep itself (a spawned or forkserver child, a Dask worker, a job-array task) is fine.
    if os.getpid() != _IMPORT_PID:
        raise _core.ArchsweepError(
            "this process was forked (multiprocessing 'fork') from one that had imported archsweep: rayon's and "
            "polars' thread pools do not survive fork(), so a sweep here could hang; start workers with 'spawn' or "
            "'forkserver' (multiprocessing.get_context('spawn')), as Dask's nannies do"
        )


def _evaluate(spec_json: str, run_meta: dict[str, Any], start: int, end: int, threads: int, ids: Sequence[int] | None) -> tuple[pl.DataFrame, dict[str, int]]:
    check_not_forked()
    c = _compiled(spec_json)
    kw = dict(where=run_meta["where"], batch=run_meta["batch"], dtype=run_meta["dtype"], optimizer=run_meta["optimizer"],
              threads=threads)
    if run_meta["mode"] == "ids":
        assert ids is not None, "ids mode: every chunk is given its ids"
        chunk_ids = [int(x) for x in ids]  # the chunk's own ids: positions start..end of the run
        if len(chunk_ids) != end - start:
            raise _core.ArchsweepError(f"chunk [{start}, {end}) got {len(chunk_ids)} ids")
        batches, counts = c.evaluate("ids", 0, len(chunk_ids), ids=chunk_ids, **kw)
    else:
        batches, counts = c.evaluate(run_meta["mode"], start, end, seed=run_meta["seed"], sampler=run_sampler(run_meta), **kw)
    # Arrow record batches from Rust become one polars frame without copying the columns
    frame = pl.from_arrow(pa.Table.from_batches(batches))
    assert isinstance(frame, pl.DataFrame)
    return frame, counts


def frame_of_rows(rows: _core.ArrowRows) -> pl.DataFrame:
    """The DataFrame of a small call's rows (one Arrow struct array): polars imports it through
    the Arrow PyCapsule interface, without pyarrow (a polars too old for that goes through it)."""
    try:
        return pl.DataFrame(rows)
    except TypeError:
        frame = pl.from_arrow(pa.record_batch(rows))
        assert isinstance(frame, pl.DataFrame)
        return frame


def _part_metadata(spec_json: str, run_meta: dict, chunk_index: int, start: int, end: int, rows: int,
                   counts: dict[str, int]) -> dict[str, str]:
    """A part's footer: the canonical spec, its sha256, the run table and the part's own record
    (chunk, positions, rows, and the chunk's counts: evaluated, kept, invalid, ...), so that each
    part says what it is wherever it is copied, and a chunk whose part another writer finished
    (a Dask task recomputed after its worker died, two runs racing) still reports its counts."""
    canonical = canonical_json(json.loads(spec_json))
    return {SPEC_KEY.decode(): canonical, SPEC_HASH_KEY.decode(): hashlib.sha256(canonical.encode()).hexdigest(),
            RUN_KEY.decode(): json.dumps(run_meta),
            PART_KEY.decode(): json.dumps({"chunk": chunk_index, "start": start, "end": end, "rows": rows, "counts": counts})}


def _write_part(path: Path, write: Callable[[Path], None]) -> dict[str, Any] | None:
    """Write a part under a temporary name, fsync it, then give it ``path`` unless a finished file
    is already there (a hard link fails on an existing name: never an overwrite), and fsync the
    directory. Returns the part's record (size, sha256 of the file and of its footer), or None if
    another writer's part was there first."""
    tmp = tmp_name(path)
    try:
        write(tmp)
        record = verify.part_record(tmp)
        fsync_file(tmp)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return None
        except FileNotFoundError:  # a cleaner removed our copy: only once the chunk's part is in place
            if path.exists():
                return None
            raise
        except OSError:  # a file system without hard links
            if path.exists():
                return None
            os.replace(tmp, path)
        fsync_dir(path.parent)
        return record
    finally:
        tmp.unlink(missing_ok=True)


def run_chunk(spec_json: str, run_meta: dict, chunk_index: int, start: int, end: int, out_dir: str,
              threads: int = 0, ids: Sequence[int] | None = None) -> dict[str, Any]:
    """Evaluate positions ``[start, end)`` of a run and write them as ``part-<chunk_index>.parquet``
    in ``out_dir``; return the manifest entry (``chunk``, ``start``, ``end``, ``rows``, the counts
    ``evaluated``, ``kept``, ... and ``seconds``) plus ``part`` (the file name) and ``written``.

    ``spec_json`` is ``json.dumps(space.spec)``; ``run_meta`` the manifest's ``run`` table (mode,
    seed, where, batch, dtype, optimizer, ...); ``ids`` the chunk's ids in ``ids`` mode; ``threads``
    rayon threads (0: all cores). The entry also holds the part's ``bytes``, ``sha256`` and
    ``footer_sha256``, which later checks compare the file with. Idempotent: a finished part (same
    run) is checked and never rewritten — ``written`` is False and the counts are those its footer
    records — and a
    part is written under a temporary name (``.part-….tmp-<host>-<pid>-<random>``), fsynced, and
    linked into place only when complete (then the directory is fsynced), so a writer killed
    half-way leaves no file that ``DIR/*.parquet`` matches, and of two writers racing on one chunk
    exactly one file wins (the chunks are deterministic: both computed the same rows). Writes no
    manifest: the caller records the entry.
    """
    t0 = time.perf_counter()
    name = part_name(chunk_index)
    path = Path(out_dir) / name
    entry: dict[str, Any] = {"part": name, "chunk": chunk_index, "start": start, "end": end}
    if hashlib.sha256(canonical_json(json.loads(spec_json)).encode()).hexdigest() != run_meta["spec_hash"]:
        raise _core.ArchsweepError(f"chunk {chunk_index}: the spec's hash does not match the run's spec_hash")
    if path.exists():
        return _existing(path, entry, run_meta)
    df, counts = _evaluate(spec_json, run_meta, start, end, threads, ids)
    path.parent.mkdir(parents=True, exist_ok=True)
    file_meta = _part_metadata(spec_json, run_meta, chunk_index, start, end, df.height, counts)
    record = _write_part(path, lambda p: df.write_parquet(p, metadata=file_meta, **PARQUET_OPTIONS))
    if record is None:  # another writer's copy won the race: record that file (the same rows)
        return {**_existing(path, entry, run_meta), **counts, "seconds": round(time.perf_counter() - t0, 3)}
    return {**entry, "rows": df.height, **counts, "seconds": round(time.perf_counter() - t0, 3), **record, "written": True}


def _existing(path: Path, entry: dict[str, Any], run_meta: dict) -> dict[str, Any]:
    """The entry of a chunk whose part is already finished: checked, never rewritten, with the
    counts its footer records (none for parts written before footers held them)."""
    c = verify.check_part(path, verify.Expected(run_meta["spec_hash"], run_meta, {entry["chunk"]: (entry["start"], entry["end"])}))
    if c.problem is not None:
        raise _core.ArchsweepError(f"{path}: {c.problem}")
    counts = (c.own or {}).get("counts")
    return {**entry, "rows": c.rows, **(counts if isinstance(counts, dict) else {}), **verify.part_record(path), "written": False}


def chunk_frame(spec_json: str, run_meta: dict[str, Any], start: int, end: int, threads: int, ids: Sequence[int] | None) -> tuple[pl.DataFrame, dict[str, int]]:
    """In-memory sweeps: one chunk's rows and counts (shipped back to the caller)."""
    return _evaluate(spec_json, run_meta, start, end, threads, ids)
